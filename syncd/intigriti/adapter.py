"""The Intigriti side of syncd: implements ``syncd.sync.ports.IntigritiSide`` over HTTP.

Paths are relative to ``options.api_url`` (``.../external/company/v2.0``), request bodies
follow reference §3.3, and every failure surfaces as a ``syncd.errors`` exception.

Backfill work runs inside ``with adapter.backfill(): ...``; its calls then yield to live
calls waiting on the same quota (see ``syncd.intigriti.client``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog

from syncd.errors import NotAllowed, Rejected
from syncd.intigriti import enums, parse
from syncd.intigriti import messages as conversation
from syncd.intigriti.client import IntigritiClient, paced_rate
from syncd.intigriti.filenames import attachment_name
from syncd.intigriti.listing import StreamedListing
from syncd.intigriti.oauth import LoginRequest, OAuthSession, TokenStatus
from syncd.intigriti.options import IntigritiOptions
from syncd.intigriti.parse import SubmissionEvent
from syncd.intigriti.tokens import TokenStore
from syncd.quota import Priority, TokenBucket
from syncd.records import (
    Attachment,
    Message,
    OAuthToken,
    Program,
    Submission,
    SubmissionBatch,
)
from syncd.sync.ports import DownloadedFile
from syncd.tally import RequestTally

if TYPE_CHECKING:
    from syncd.sync.ports import IntigritiSide

log = structlog.get_logger(__name__)

SYSTEM = "intigriti"
STATE_ROUTE = "/submissions/{code}/state"


def _epoch(instant: datetime) -> int:
    """Epoch seconds, rounded down so an ``UpdatedSince`` filter includes ``instant``."""
    if instant.tzinfo is None:
        raise ValueError("timestamps passed to the Intigriti adapter must be timezone-aware")
    return math.floor(instant.timestamp())


class IntigritiAdapter:
    """Intigriti for the sync core, the CLI (login/status) and the benchmarks."""

    def __init__(
        self,
        options: IntigritiOptions,
        store: TokenStore,
        *,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.options = options
        self._programs = frozenset(options.programs)
        self.oauth = OAuthSession(options, store, on_response=self._record_token_request)
        self.client = IntigritiClient(
            options.api_url,
            self.oauth,
            read_bucket=TokenBucket(
                "intigriti-read", paced_rate(options.read_rate_per_minute), burst=1
            ),
            write_bucket=TokenBucket(
                "intigriti-write", paced_rate(options.write_rate_per_minute), burst=1
            ),
            timeout_seconds=options.timeout_seconds,
            max_attempts=max_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )

    # -- lifecycle, login, status ----------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> IntigritiAdapter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record_token_request(self, route: str, status: int) -> None:
        self.client.record(route, status)

    def begin_login(self) -> LoginRequest:
        return self.oauth.begin_login()

    def complete_login(self, request: LoginRequest, redirected_url: str) -> OAuthToken:
        return self.oauth.complete_login(request, redirected_url)

    def token_status(self) -> TokenStatus:
        return self.oauth.token_status()

    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests sent, by (``"METHOD /route/{template}"``, status or error name)."""
        return self.client.request_counts()

    def quota_stats(self) -> dict[str, Any]:
        return self.client.bucket_stats()

    def request_tally(self) -> RequestTally:
        return self.client.tally

    def buckets(self) -> list[TokenBucket]:
        return self.client.buckets()

    @contextmanager
    def backfill(self) -> Iterator[None]:
        """Calls in this block take quota at BACKFILL priority (live work goes first)."""
        with self.client.priority(Priority.BACKFILL):
            yield

    # -- reads ---------------------------------------------------------------------------

    def list_programs(self) -> list[Program]:
        return parse.programs(self.client.call("GET", "/programs"))

    def changed_submissions(self, since: datetime | None) -> SubmissionBatch:
        params = None if since is None else {"UpdatedSince": _epoch(since)}
        body, server_time = self.client.call_dated("GET", "/submissions", params=params)
        batch = replace(
            parse.submission_batch(body, programs=self._programs), server_time=server_time
        )
        parse.log_unparsable(batch)
        return batch

    def all_submissions(self) -> StreamedListing:
        body, server_time = self.client.call_to_file("/submissions")
        return StreamedListing(body, server_time, self._programs)

    def get_submission(self, code: str) -> Submission:
        return parse.submission_detail(
            self.client.call("GET", "/submissions/{code}", path={"code": code})
        )

    def download_attachment(self, attachment: Attachment, max_bytes: int) -> DownloadedFile:
        fetched = self.client.download(attachment.url, max_bytes)
        name = attachment_name(fetched.url, fetched.disposition, f"attachment-{attachment.code}")
        log.info(
            "intigriti_attachment_fetched", attachment=attachment.code, size=len(fetched.content)
        )
        return DownloadedFile(name=name, content=fetched.content, content_type=fetched.content_type)

    def events(self, code: str, since: datetime | None = None) -> list[SubmissionEvent]:
        route = "/submissions/{code}/events"
        params = None if since is None else {"CreatedSince": _epoch(since)}
        body = self.client.call("GET", route, path={"code": code}, params=params)
        return parse.events(body, code, f"GET {route}")

    def messages(self, code: str, since: datetime | None = None) -> list[Message]:
        """The submission's messages created at or after ``since`` (all when None), from
        one events read; oldest first."""
        route = "/submissions/{code}/events"
        params = None if since is None else {"CreatedSince": _epoch(since)}
        body = self.client.call("GET", route, path={"code": code}, params=params)
        return conversation.messages(body, code, f"GET {route}")

    # -- writes --------------------------------------------------------------------------

    def set_severity(self, code: str, severity: str, vector: str | None) -> None:
        try:
            severity_id = enums.severity_id(severity)
        except KeyError:
            raise Rejected(
                f"unknown Intigriti severity {severity!r}; known: {enums.SEVERITY.names()}",
                system=SYSTEM,
                route="PUT /submissions/{code}/severity",
            ) from None
        self.client.call(
            "PUT",
            "/submissions/{code}/severity",
            path={"code": code},
            body={"id": severity_id, "vector": vector},
            idempotent=True,
        )

    def move_to_status(self, submission: Submission, status: str, close_reason: str | None) -> None:
        label = f"PUT {STATE_ROUTE}"
        if self._is_reason_change(submission, status, close_reason):
            submission = self._reopen_to_reclose(submission)
        try:
            path = enums.trigger_path(submission.status, status)
            reason_id = None if close_reason is None else enums.close_reason_id(close_reason)
        except KeyError as exc:
            raise Rejected(str(exc.args[0]), system=SYSTEM, route=label) from None
        if path is None:
            raise NotAllowed(
                f"{submission.code}: no status trigger leads from {submission.status} to {status}",
                system=SYSTEM,
                route=label,
            )
        for trigger in path:
            body: dict[str, int] = {"statusTrigger": enums.trigger_id(trigger)}
            if trigger in enums.REQUIRES_CLOSE_REASON and reason_id is None:
                raise Rejected(
                    f"{submission.code}: moving to {status} takes the {trigger} trigger, "
                    "which needs a close reason",
                    system=SYSTEM,
                    route=label,
                )
            if reason_id is not None and trigger in (enums.REJECT, enums.CLOSE):
                body["closeReason"] = reason_id
            # A trigger is not idempotent (sent twice, the second one is refused or does
            # something else), so it is never resent after it may have arrived.
            self.client.call("PUT", STATE_ROUTE, path={"code": submission.code}, body=body)
            log.info(
                "intigriti_status_trigger_sent",
                submission=submission.code,
                trigger=trigger,
                target=status,
            )

    @staticmethod
    def _is_reason_change(submission: Submission, status: str, close_reason: str | None) -> bool:
        """Closed already, to be closed with another reason (Resolved -> Duplicate)."""
        try:
            same = enums.SUBMISSION_STATUS.canonical(submission.status) == (
                enums.SUBMISSION_STATUS.canonical(status)
            )
        except KeyError:
            return False
        old = (submission.close_reason or "").strip().casefold()
        new = (close_reason or "").strip().casefold()
        return same and status.strip().casefold() == "closed" and bool(new) and old != new

    def _reopen_to_reclose(self, submission: Submission) -> Submission:
        """There is no trigger from Closed to Closed: Undo the close (Intigriti answers 403
        when the last transition cannot be undone, which parks the link as blocked), then
        read where that led, so the close with the new reason starts from there."""
        self.client.call(
            "PUT",
            STATE_ROUTE,
            path={"code": submission.code},
            body={"statusTrigger": enums.trigger_id(enums.UNDO)},
        )
        log.info("intigriti_status_trigger_sent", submission=submission.code, trigger=enums.UNDO)
        return self.get_submission(submission.code)

    def set_internal_reference(self, code: str, reference: str | None, url: str | None) -> None:
        self.client.call(
            "PUT",
            "/submissions/{code}/internal-reference",
            path={"code": code},
            body={"reference": reference, "url": url},
            idempotent=True,
        )

    def add_internal_note(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        """Post a company-internal message (never shown to the researcher); returns its id.

        Never resent: a lost answer is AmbiguousWrite.
        """
        return self._post_message(
            code, text, "/submissions/{code}/comments/internal", before_send
        )

    def message_researcher(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        """Post a message the RESEARCHER reads (and is notified of); returns its id.

        A separate, loudly named method rather than a flag, so internal text can never
        reach a researcher through a wrong boolean. Its one caller is the conversation
        sync, which passes ``before_send``: the comment's audience read again after the
        quota wait, at the last moment before the message goes on the wire.
        """
        return self._post_message(
            code, text, "/submissions/{code}/comments/external", before_send
        )

    def _post_message(
        self, code: str, text: str, route: str, before_send: Callable[[], None] | None
    ) -> str:
        body = self.client.call(
            "POST",
            route,
            path={"code": code},
            body={"message": text},
            before_send=before_send,
        )
        return parse.message_id(body, f"POST {route}")

if TYPE_CHECKING:
    # mypy proves the adapter honours the port the sync core is written against.
    def _implements_port(adapter: IntigritiAdapter) -> IntigritiSide:
        return adapter
