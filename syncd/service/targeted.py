"""One submission or issue named by a webhook, reconciled now through the API.

Nothing from the delivery is used but the name: both sides are read directly (the
executor's fresh reads under the claim), so a stale or forged event cannot write anything
the APIs would not say. A Jira ``issue_deleted`` is believed only when Jira answers 404
for the issue; the link is then orphaned and Intigriti left untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from syncd.errors import NotFound
from syncd.service.webhooks import Source
from syncd.store.repository import AuditEntry
from syncd.sync.executor import Summary
from syncd.wiring import Runtime

log = structlog.get_logger(__name__)


class TargetedReconcile:
    def __init__(self, runtime: Runtime, on_done: Callable[[Summary, float], None]) -> None:
        self._runtime = runtime
        self._on_done = on_done

    def __call__(self, source: Source, item: str, deleted: bool) -> None:
        started = time.monotonic()
        summary = Summary()
        if source == "intigriti":
            self._submission(item, summary)
        else:
            self._issue(item, deleted, summary)
        self._on_done(summary, time.monotonic() - started)

    def _submission(self, code: str, summary: Summary) -> None:
        runtime = self._runtime
        if runtime.repository.get_link(code) is not None:
            runtime.executor.refresh(code, summary)
            self._conversation(code, summary, side="intigriti")
            return
        try:
            submission = runtime.intigriti.get_submission(code)
        except NotFound:
            log.info("webhook_unknown_submission", submission=code)
            return
        # a new submission: planned like any other (statuses_to_create, programs, tag
        # lookup before creating), under the same claim as the polls and the sweep
        runtime.executor.refresh(code, summary, submission=submission)

    def _issue(self, issue_id: str, deleted: bool, summary: Summary) -> None:
        runtime = self._runtime
        link = runtime.repository.link_by_issue_id(issue_id)
        if link is None:
            return  # not an issue syncd made or adopted
        if deleted:
            try:
                runtime.jira.get_issue(issue_id)
            except NotFound:
                reason = f"the Jira issue {link.issue_key} was deleted"
                runtime.repository.orphan(
                    link.submission_code,
                    reason,
                    [
                        AuditEntry(
                            link.submission_code,
                            "*",
                            "from_jira",
                            link.issue_key,
                            None,
                            "orphaned",
                            reason + "; Intigriti left unchanged",
                        )
                    ],
                )
                log.warning("link_orphaned", submission=link.submission_code, issue=link.issue_key)
                return
            log.info("webhook_delete_not_confirmed", issue=link.issue_key)
        runtime.executor.refresh(link.submission_code, summary)
        self._conversation(link.submission_code, summary, side="jira")

    def _conversation(self, code: str, summary: Summary, *, side: Source) -> None:
        """A new message or comment (or any change): the conversation of that side, read
        now. The polls' marks are left alone, so a poll still looks once afterwards."""
        runner = self._runtime.engine.conversation
        if runner is not None:
            runner.sync(
                code,
                summary,
                read_intigriti=side == "intigriti",
                read_jira=side == "jira",
            )
