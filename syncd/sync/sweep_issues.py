"""The Jira side of a full sweep: the tagged issues of one chunk of submissions at a time.

The sweep once searched every tagged issue up front and held them all, indexed by id and
by tag, for the whole pass: about 0.6 KiB an issue, most of the daemon's heap after a
sweep of 100,000 links. Now each chunk of the listing asks Jira for the issues tagged
with its own codes (the same search, narrowed by code: ``JiraSide.tagged_issues``) and
drops them with the chunk. The requests stay about the same: the full search paged
through every tagged issue too, 100 a page.

What the whole search gave the sweep besides the issues is gathered chunk by chunk: the
submissions several issues are tagged with, and the (key, updated) pairs the Jira
watermark looks at. A search that fails ends the sweep's Jira reads: no later chunk is
compared with Jira (never infer from a failed read), as when the one search failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from syncd.errors import CredentialError, RemoteError
from syncd.records import Issue
from syncd.sync.ports import JiraSide
from syncd.sync.watermark import WatermarkItems


class IssueIndex:
    """One search's issues by id, and by the submission code they are tagged with."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.by_id: dict[str, Issue] = {}
        self.by_code: dict[str, list[Issue]] = {}
        for found in issues:
            self.by_id[found.id] = found
            if found.submission_code:
                self.by_code.setdefault(found.submission_code.casefold(), []).append(found)
        for tagged in self.by_code.values():
            tagged.sort(key=issue_order)

    def first_tagged(self, code: str) -> Issue | None:
        """The issue syncd links when several carry one tag: the oldest."""
        tagged = self.by_code.get(code.casefold())
        return tagged[0] if tagged else None


def issue_order(issue: Issue) -> tuple[int, str]:
    """Oldest first: the issue syncd links when several carry one tag."""
    return (int(issue.id) if issue.id.isdigit() else 2**62, issue.key)


class SweepIssues:
    """Searches Jira chunk by chunk for one sweep, and keeps what outlives a chunk."""

    def __init__(
        self,
        jira: JiraSide,
        started: datetime,
        on_failure: Callable[[RemoteError], None],
    ) -> None:
        self._jira = jira
        #: the local clock before the first search: the read time when Jira gives none
        self._started = started
        self._on_failure = on_failure
        #: False once a search failed; nothing is searched (or compared) after that
        self.ok = True
        #: the server's clock at the first search: what the sweep read of Jira is as
        #: new as (None: nothing searched yet)
        self.read_at: datetime | None = None
        self._items: WatermarkItems | None = None
        #: submission code -> its tagged issues, oldest first, where several carry it
        self.duplicates: dict[str, list[Issue]] = {}

    def chunk(self, codes: Sequence[str]) -> IssueIndex:
        """The tagged issues of ``codes``; an empty index when Jira cannot be read."""
        if not self.ok or not codes:
            return IssueIndex(())
        try:
            batch = self._jira.tagged_issues(codes)
        except CredentialError:
            raise
        except RemoteError as exc:
            self.ok = False
            self._on_failure(exc)
            return IssueIndex(())
        if self._items is None:
            self.read_at = batch.server_time or self._started
            self._items = WatermarkItems(self.read_at)
        for issue in batch.issues:
            self._items.add(issue.key, issue.updated_at)
        index = IssueIndex(batch.issues)
        wanted = {code.casefold() for code in codes}
        for code, tagged in index.by_code.items():
            # only this chunk's codes: an issue whose two tags disagree can turn up in
            # another chunk's search too, and must not be counted twice
            if len(tagged) > 1 and code in wanted:
                self.duplicates[code] = tagged
        return index

    def watermark_items(self) -> WatermarkItems | None:
        """What the Jira watermark looks at; None when nothing was searched."""
        return self._items
