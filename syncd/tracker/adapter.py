"""``JiraSide`` over the ``jira`` library: what the sync core asks of Jira.

Reads: ``/search/jql`` (Data Center: ``/search`` with ``startAt``) with explicit field
lists, and direct GETs for strong consistency. A sweep's search for one chunk of
submissions (``tagged_issues``) is sent as a POST: its JQL names hundreds of tags.
Writes: one create per submission, tagged twice (label ``<label>-<code>`` and entity
property ``<property_key>``, both in the create call itself), priority edits, and status
moves along the shortest transition path.

Duplicate protection for creates, layer by layer:

1. The create POST is never retried after it may have reached Jira; the caller gets
   ``AmbiguousWrite`` and looks the tag up before creating again.
2. Every issue created by this process is remembered (code -> id) and found again by a
   direct GET, whatever the search index says.
3. ``find_by_submission`` searches by property or label and passes the ids this process
   recently wrote as ``reconcileIssues`` (strongly consistent for those ids).
4. What remains: a create whose response was lost (so we never learnt its id) is
   invisible to search until Jira's index catches up (seconds, sometimes more). Only the
   caller can close that window: after an ``AmbiguousWrite`` it must not create again for
   the same submission until a settle window has passed (the executor does this).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import structlog
from jira import JIRA

from syncd.errors import (
    AmbiguousWrite,
    ItemError,
    MalformedResponse,
    NotAllowed,
    NotFound,
    Rejected,
    RemoteError,
)
from syncd.quota import TokenBucket
from syncd.records import Comment, CommentVisibility, Issue, IssueBatch, ItemFailure, NewIssue
from syncd.sync.ports import ProjectSchema
from syncd.tally import RequestTally
from syncd.tracker import jql
from syncd.tracker.catalog import Catalog, FieldInfo, ProjectInfo
from syncd.tracker.comments import (
    COMMENT_PAGE,
    account_names,
    comment_page,
    parse_comment,
)
from syncd.tracker.options import JiraOptions
from syncd.tracker.parse import BASE_FIELDS, parse_issue
from syncd.tracker.transport import Call, Transport
from syncd.tracker.workflow import (
    Edge,
    WorkflowGraph,
    edges_from_transitions,
    reachable_from,
    shortest_path,
    unexplored_frontier,
)

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

PAGE_SIZE = 100
MAX_RECONCILE = 50  # Jira accepts at most 50 ids in reconcileIssues
MAX_PAGES = 10_000
SUMMARY_MAX = 255
#: After a status had no sample issue to read its transitions from, ask again this late.
SAMPLE_RETRY_SECONDS = 600.0
_SPACE = re.compile(r"\s+")
#: the first number of a text ("EUR 550.00 (bounty ...)" -> 550.00), for number fields
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def clean_summary(text: str) -> str:
    """Jira rejects newlines in a summary and caps it at 255 characters."""
    flat = _SPACE.sub(" ", text).strip() or "(no title)"
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "\u2026"


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


class _Position(NamedTuple):
    """Where an issue is, read directly (strongly consistent)."""

    status: str
    project_id: str
    type_id: str
    resolution: str | None


class JiraAdapter:
    """Implements ``syncd.sync.ports.JiraSide``. Thread-safe; ``close()`` when done."""

    def __init__(
        self,
        options: JiraOptions,
        *,
        bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self._transport = Transport(options, bucket=bucket, sleep=sleep)
        self.catalog = Catalog(self._transport, options)
        self._lock = threading.Lock()
        self._created: dict[str, str] = {}  # submission code -> issue id (this process)
        self._recent: OrderedDict[int, None] = OrderedDict()  # ids we wrote, newest last
        self._no_sample: dict[tuple[str, str, str], float] = {}
        self._property_jql: bool | None = None  # None: not tried yet
        self._statuses: dict[tuple[str, str], frozenset[str]] = {}
        self._my_names: frozenset[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def warm_up(self) -> None:
        """Fetch what every later call needs (deployment, time zone, fields, priorities)."""
        self.catalog.is_cloud()
        self.catalog.zone()
        self.catalog.fields()
        self.catalog.priorities()
        self.catalog.resolutions()

    def close(self) -> None:
        self._transport.close()

    def rate_limit_state(self) -> dict[str, Any]:
        """Active server-requested pauses and the bucket's counters (for status/tests)."""
        stats = self._transport.bucket.stats()
        return {
            "pauses": self._transport.pauses.snapshot(),
            "bucket_paused_by_server": stats.paused_by_server,
            "bucket_granted": stats.granted,
        }

    def register_webhook(
        self, name: str, url: str, jql: str, events: Sequence[str], secret: str
    ) -> tuple[str, bool]:
        """Create the admin webhook (or update the one of this ``name``), with its secret;
        returns (its self URL, True when created). Needs a Jira administrator."""
        call = Call("GET /rest/webhooks/1.0/webhook", True)
        existing = self._transport.request(call, "GET", "webhook", api="webhooks/1.0") or []
        body = {
            "name": name,
            "url": url,
            "events": list(events),
            "filters": {"issue-related-events-section": jql},
            "excludeBody": False,
            "secret": secret,
        }
        for hook in existing if isinstance(existing, list) else []:
            if isinstance(hook, dict) and hook.get("name") == name:
                number = str(hook.get("self", "")).rstrip("/").rsplit("/", 1)[-1]
                route = "PUT /rest/webhooks/1.0/webhook/{id}"
                self._transport.request(
                    Call(route, True), "PUT", f"webhook/{number}", body=body, api="webhooks/1.0"
                )
                return str(hook.get("self", "")), False
        created = self._transport.request(
            Call("POST /rest/webhooks/1.0/webhook", False),
            "POST",
            "webhook",
            body=body,
            api="webhooks/1.0",
        )
        where = created.get("self", "") if isinstance(created, dict) else ""
        return str(where), True

    def request_tally(self) -> RequestTally:
        return self._transport.tally

    def buckets(self) -> list[TokenBucket]:
        return [self._transport.bucket]

    # -- helpers -----------------------------------------------------------------------

    def _fields(self) -> list[str]:
        fields = list(BASE_FIELDS)
        cvss = self.catalog.cvss_field()
        if cvss is not None:
            fields.append(cvss.id)
        return fields

    def _parse(self, raw: Mapping[str, Any]) -> Issue:
        cvss = self.catalog.cvss_field()
        return parse_issue(
            raw,
            label=self.options.label,
            property_key=self.options.property_key,
            cvss_field=cvss.id if cvss else None,
            browse_base=self.options.base_url,
            duplicate_link_type=self.options.duplicate_link_type,
        )

    def _remember(self, issue_id: str) -> None:
        if not issue_id.isdigit():
            return
        with self._lock:
            self._recent[int(issue_id)] = None
            self._recent.move_to_end(int(issue_id))
            while len(self._recent) > MAX_RECONCILE:
                self._recent.popitem(last=False)

    def _reconcile_ids(self) -> list[int]:
        with self._lock:
            return list(self._recent)

    def _read_raw(self, issue_id: str, fields: list[str]) -> Mapping[str, Any]:
        raw = self._transport.request(
            Call("GET /issue/{id}", True),
            "GET",
            f"issue/{issue_id}",
            params={"fields": ",".join(fields), "properties": self.options.property_key},
        )
        if not isinstance(raw, Mapping):
            raise MalformedResponse(
                "GET /issue/{id}: not an object", system="jira", route="GET /issue/{id}"
            )
        return raw

    def _search(self, query: str, fields: list[str]) -> list[Any]:
        """Every raw issue of ``query`` (for short searches: a tag look-up)."""
        return self._search_pages(query, fields, lambda pages: [r for p in pages for r in p])

    def _search_pages(
        self,
        query: str,
        fields: list[str],
        consume: Callable[[Iterator[list[Any]]], _T],
        *,
        post: bool = False,
    ) -> _T:
        """``consume`` the search's pages as they arrive (one raw page in memory at a
        time, when ``consume`` parses and drops each).

        If Jira refuses the recently created ids syncd asks it to reconcile ("all issues
        must exist": one was deleted), they are forgotten (they only sharpen consistency)
        and the search starts again without them; ``consume`` is called afresh.

        ``post``: send the query in a POST body (a sweep's chunk names hundreds of tags:
        too long for a URL), straight through the session (the library's search method
        adds nothing a known field list needs).
        """
        ids = self._reconcile_ids()
        while True:
            try:
                if self.catalog.is_cloud():
                    return consume(self._search_cloud(query, fields, ids, post=post))
                return consume(self._search_datacenter(query, fields, post=post))
            except Rejected:
                if not ids:
                    raise
                log.warning("jira_reconcile_ids_dropped", count=len(ids))
                with self._lock:
                    self._recent.clear()
                ids = []

    def _cloud_page(
        self, query: str, token: str | None, fields: list[str], ids: list[int]
    ) -> Callable[[JIRA], Any]:
        def fetch(client: JIRA) -> Any:
            return client.enhanced_search_issues(
                query,
                nextPageToken=token,
                maxResults=PAGE_SIZE,
                fields=list(fields),  # the library rewrites the list in place
                properties=self.options.property_key,
                reconcileIssues=ids or None,
                json_result=True,
            )

        return fetch

    def _datacenter_page(self, query: str, start: int, fields: list[str]) -> Callable[[JIRA], Any]:
        def fetch(client: JIRA) -> Any:
            return client.search_issues(
                query,
                startAt=start,
                maxResults=PAGE_SIZE,
                fields=list(fields),
                properties=self.options.property_key,
                json_result=True,
            )

        return fetch

    def _post_search(
        self, call: Call, path: str, query: str, fields: list[str], page: Mapping[str, Any]
    ) -> Any:
        """One page of a search sent as a POST body; ``page`` says which page."""
        body = {
            "jql": query,
            "maxResults": PAGE_SIZE,
            "fields": list(fields),
            "properties": [self.options.property_key],
            **page,
        }
        return self._transport.request(call, "POST", path, body=body)

    def _search_cloud(
        self, query: str, fields: list[str], ids: list[int], *, post: bool = False
    ) -> Iterator[list[Any]]:
        token: str | None = None
        seen: set[str] = set()
        call = Call("POST /search/jql" if post else "GET /search/jql", True)
        for _ in range(MAX_PAGES):
            if post:
                where: dict[str, Any] = {}
                if token:
                    where["nextPageToken"] = token
                if ids:
                    where["reconcileIssues"] = ids
                page = self._post_search(call, "search/jql", query, fields, where)
            else:
                page = self._transport.execute(call, self._cloud_page(query, token, fields, ids))
            if not isinstance(page, Mapping) or not isinstance(page.get("issues"), list):
                raise MalformedResponse(
                    "GET /search/jql: no issues list", system="jira", route=call.route
                )
            yield page["issues"]
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True:
                return
            if token in seen:
                raise MalformedResponse(
                    "GET /search/jql: page token repeats", system="jira", route=call.route
                )
            seen.add(token)
        raise MalformedResponse("GET /search/jql: too many pages", system="jira")

    def _search_datacenter(
        self, query: str, fields: list[str], *, post: bool = False
    ) -> Iterator[list[Any]]:
        read = 0
        call = Call("POST /search" if post else "GET /search", True)
        for _ in range(MAX_PAGES):
            if post:
                page = self._post_search(call, "search", query, fields, {"startAt": read})
            else:
                page = self._transport.execute(call, self._datacenter_page(query, read, fields))
            batch = page.get("issues") if isinstance(page, Mapping) else None
            if not isinstance(batch, list):
                raise MalformedResponse("GET /search: no issues list", system="jira")
            yield batch
            read += len(batch)
            total = page.get("total")
            if not batch or not isinstance(total, int) or read >= total:
                return
        raise MalformedResponse("GET /search: too many pages", system="jira")

    def _batch(self, pages: Iterable[list[Any]]) -> IssueBatch:
        """Parse each page as it comes; its raw JSON is dropped before the next is read."""
        issues: list[Issue] = []
        failures: list[ItemFailure] = []
        for page in pages:
            for raw in page:
                if not isinstance(raw, Mapping):
                    failures.append(ItemFailure(item="?", field="issue", message="not an object"))
                    continue
                try:
                    issues.append(self._parse(raw))
                except ItemError as exc:
                    failures.append(
                        ItemFailure(item=exc.item, field=exc.field, message=str(exc))
                    )
        return IssueBatch(issues=tuple(issues), failures=tuple(failures))

    # -- JiraSide: reads ---------------------------------------------------------------

    def changed_issues(self, since: datetime | None) -> IssueBatch:
        literal = None
        if since is not None:
            literal = jql.watermark_literal(since, self.catalog.zone())
        query = jql.changed_issues_jql(self.options.label, literal)
        fields = self._fields()
        self._transport.start_server_clock()
        batch = replace(
            self._search_pages(query, fields, self._batch),
            server_time=self._transport.server_time(),
        )
        log.info(
            "jira_changed_issues",
            since=literal,
            issues=len(batch.issues),
            failures=len(batch.failures),
        )
        return batch

    def tagged_issues(self, codes: Sequence[str]) -> IssueBatch:
        if not codes:
            return IssueBatch(issues=())
        fields = self._fields()
        self._transport.start_server_clock()
        batch = self._search_tags(codes, fields)
        return replace(batch, server_time=self._transport.server_time())

    def _search_tags(self, codes: Sequence[str], fields: list[str]) -> IssueBatch:
        with_property = self._property_jql is not False
        query = jql.tagged_with_any_jql(
            self.options.label, self.options.property_key, codes, with_property=with_property
        )
        if query is None:
            # as in _search_tag: never "no issue" for a code we could not look for
            raise Rejected(
                "a submission code cannot be searched by label, and this Jira does not"
                " search entity properties",
                system="jira",
            )
        try:
            batch = self._search_pages(query, fields, self._batch, post=True)
        except Rejected:
            if not with_property:
                raise
            log.warning("jira_property_search_unavailable", property=self.options.property_key)
            self._property_jql = False
            return self._search_tags(codes, fields)
        self._property_jql = True
        return batch

    def get_issue(self, issue_id: str) -> Issue:
        return self._parse(self._read_raw(issue_id, self._fields()))

    def find_by_submission(self, code: str) -> Issue | None:
        known = self._created.get(code)
        if known is not None:
            try:
                return self.get_issue(known)
            except NotFound:
                with self._lock:
                    self._created.pop(code, None)
        raws = [r for r in self._search_tag(code) if isinstance(r, Mapping)]
        if not raws:
            return None
        # Parse errors propagate: an unreadable match still exists, so never "not found".
        issues = sorted((self._parse(r) for r in raws), key=lambda i: int(i.id or 0))
        if len(issues) > 1:
            log.warning(
                "jira_duplicate_submission_tag", submission=code, issues=[i.key for i in issues]
            )
        return issues[0]

    def _search_tag(self, code: str) -> list[Any]:
        with_property = self._property_jql is not False
        query = jql.find_submission_jql(
            self.options.label, self.options.property_key, code, with_property=with_property
        )
        if query is None:
            # Never answer "not found" when we could not look: the caller would create.
            raise Rejected(
                f"submission code {code!r} cannot be searched by label, and this Jira does"
                " not search entity properties",
                system="jira",
            )
        try:
            found = self._search(query, self._fields())
        except Rejected:
            if not with_property:
                raise
            # Jira Cloud only indexes entity properties declared by an app; without that
            # the property clause is refused. Fall back to the label for this process.
            log.warning("jira_property_search_unavailable", property=self.options.property_key)
            self._property_jql = False
            return self._search_tag(code)
        self._property_jql = True
        return found

    def browse_url(self, key: str) -> str:
        return f"{self.options.base_url}/browse/{key}"

    # -- JiraSide: writes --------------------------------------------------------------

    def _cvss_value(self, cvss: str) -> Any:
        info = self.catalog.cvss_field()
        if info is None:
            return None
        if info.schema_type == "number":
            try:
                return float(cvss)
            except ValueError:
                # A vector cannot go into a score field; the rest of the write still can.
                log.warning("jira_cvss_not_numeric", field=info.id)
                return None
        return cvss

    def create_issue(
        self, new: NewIssue, *, before_send: Callable[[], None] | None = None
    ) -> Issue:
        project = self.catalog.project(new.project)
        type_id = project.issue_type_id(new.issue_type or self.options.issue_type)
        labels = [self.options.label]
        per_submission = jql.submission_label(self.options.label, new.submission_code)
        if per_submission is not None:
            labels.append(per_submission)
        for extra in new.labels:
            cleaned = _SPACE.sub("_", extra.strip())  # Jira labels cannot hold spaces
            if cleaned and cleaned not in labels:
                labels.append(cleaned)
        fields: dict[str, Any] = {
            "project": {"id": project.id},
            "issuetype": {"id": type_id},
            "summary": clean_summary(new.summary),
            "description": new.description,
            "labels": labels,
        }
        if new.priority:
            fields["priority"] = {"name": self.catalog.priority_name(new.priority)}
        info = self.catalog.cvss_field()
        cvss_value = self._cvss_value(new.cvss) if new.cvss else None
        if cvss_value is not None and info is not None:
            fields[info.id] = cvss_value
        tag = {"submission": new.submission_code}
        body = {"fields": fields, "properties": [{"key": self.options.property_key, "value": tag}]}
        route = "POST /issue"
        log.info("jira_create_sending", submission=new.submission_code, project=project.key)
        try:
            created = self._transport.request(
                Call(route, False), "POST", "issue", body=body, before_send=before_send
            )
        except MalformedResponse:
            raise AmbiguousWrite(
                f"{route}: unreadable answer; the issue may exist", system="jira", route=route
            ) from None
        if not isinstance(created, Mapping) or "id" not in created:
            raise AmbiguousWrite(
                f"{route}: answer without an id; the issue may exist", system="jira", route=route
            )
        issue_id = str(created["id"])
        with self._lock:
            self._created[new.submission_code] = issue_id
        self._remember(issue_id)
        log.info(
            "jira_issue_created",
            submission=new.submission_code,
            issue=issue_id,
            key=created.get("key"),
        )
        try:
            raw = self._read_raw(issue_id, self._fields())
            props = raw.get("properties")
            if not (isinstance(props, Mapping) and props.get(self.options.property_key)):
                # A Jira that ignored "properties" in the create body: set it now.
                self._transport.request(
                    Call("PUT /issue/{id}/properties/{key}", True, write_issue=issue_id),
                    "PUT",
                    f"issue/{issue_id}/properties/{self.options.property_key}",
                    body=tag,
                )
            return self._parse(raw)
        except RemoteError as exc:
            # The issue exists (we have its id); the caller's tag lookup will find it.
            raise AmbiguousWrite(
                f"created issue {created.get('key')} but could not read it back"
                f" ({type(exc).__name__})",
                system="jira",
                route="GET /issue/{id}",
            ) from None

    def set_priority(self, issue_id: str, priority: str, cvss: str | None) -> None:
        fields: dict[str, Any] = {"priority": {"name": self.catalog.priority_name(priority)}}
        info = self.catalog.cvss_field()
        cvss_value = self._cvss_value(cvss) if cvss is not None else None
        if cvss_value is not None and info is not None:
            fields[info.id] = cvss_value
        self._transport.request(
            Call("PUT /issue/{id}", True, write_issue=issue_id),
            "PUT",
            f"issue/{issue_id}",
            body={"fields": fields},
        )
        self._remember(issue_id)
        log.info("jira_priority_set", issue=issue_id, priority=priority)

    def _edit(self, issue_id: str, fields: Mapping[str, Any]) -> None:
        """One PUT of ``fields`` (idempotent: setting a value twice leaves it set)."""
        self._transport.request(
            Call("PUT /issue/{id}", True, write_issue=issue_id),
            "PUT",
            f"issue/{issue_id}",
            body={"fields": dict(fields)},
        )
        self._remember(issue_id)

    def set_cvss(self, issue_id: str, cvss: str | None) -> None:
        info = self.catalog.cvss_field()
        if info is None:
            raise Rejected("no CVSS field is configured (jira.cvss_field)", system="jira")
        value = self._cvss_value(cvss) if cvss is not None else None
        if cvss is not None and value is None:
            # Writing None would clear the field: refuse instead of losing the score.
            raise Rejected(
                f"jira.cvss_field {info.name!r} is a number field and {cvss!r} is not a"
                " number; use a text field to hold CVSS vectors",
                system="jira",
            )
        self._edit(issue_id, {info.id: value})
        log.info("jira_cvss_set", issue=issue_id, field=info.id, cleared=value is None)

    def set_text_field(self, issue_id: str, field_id: str, value: str) -> None:
        info = self.catalog.field(field_id, "jira.payout_field")
        self._edit(issue_id, {info.id: _field_value(info, value)})
        log.info("jira_field_set", issue=issue_id, field=info.id)

    def set_description(self, issue_id: str, description: str) -> None:
        self._edit(issue_id, {"description": description})
        log.info("jira_description_set", issue=issue_id, chars=len(description))

    def add_comment(self, issue_id: str, body: str) -> str:
        """One POST, never re-sent once it may have reached Jira (a comment has no key to
        find it again by): a lost answer is ``AmbiguousWrite``."""
        call = Call("POST /issue/{id}/comment", False, write_issue=issue_id)
        comment = self._transport.execute(call, lambda client: client.add_comment(issue_id, body))
        self._remember(issue_id)
        comment_id = str(getattr(comment, "id", "") or "")
        if not comment_id:
            raise AmbiguousWrite(
                f"{call.route}: answer without a comment id; the comment may exist",
                system="jira",
                route=call.route,
            )
        log.info("jira_comment_added", issue=issue_id, comment=comment_id)
        return comment_id

    # -- conversation: comments --------------------------------------------------------

    def _me(self) -> frozenset[str]:
        """The identifiers of the account syncd writes as (one read per process)."""
        with self._lock:
            known = self._my_names
        if known is None:
            raw = self._transport.request(Call("GET /myself", True), "GET", "myself")
            known = account_names(raw)
            with self._lock:
                self._my_names = known
        return known

    def comments(self, issue_id: str) -> list[Comment]:
        """Every comment of the issue, oldest first (paged)."""
        route = "GET /issue/{id}/comment"
        me = self._me()
        found: list[Comment] = []
        start = 0
        for _page in range(MAX_PAGES):
            raw = self._transport.request(
                Call(route, True),
                "GET",
                f"issue/{issue_id}/comment",
                params={
                    "startAt": start,
                    "maxResults": COMMENT_PAGE,
                    "orderBy": "created",
                    # a Service Management internal note is marked by a property (jsdPublic
                    # may be absent on Data Center)
                    "expand": "properties",
                },
            )
            items, total = comment_page(raw, route)
            found.extend(parse_comment(item, me, route) for item in items)
            start += len(items)
            if not items or start >= total:
                break
        return found

    def get_comment(self, issue_id: str, comment_id: str) -> Comment:
        """One comment read directly (its audience as it is now)."""
        route = "GET /issue/{id}/comment/{cid}"
        raw = self._transport.request(
            Call(route, True),
            "GET",
            f"issue/{issue_id}/comment/{comment_id}",
            params={"expand": "properties"},
        )
        return parse_comment(raw, self._me(), route)

    def post_comment(
        self,
        issue_id: str,
        body: str,
        visibility: CommentVisibility | None = None,
        *,
        before_send: Callable[[], None] | None = None,
    ) -> Comment:
        """One POST, never re-sent once it may have reached Jira: a lost answer is
        ``AmbiguousWrite`` (the caller finds the comment again by its reference).
        ``before_send`` runs after the pacing wait, right before the request is sent."""
        route = "POST /issue/{id}/comment"
        raw = self._transport.request(
            Call(route, False, write_issue=issue_id),
            "POST",
            f"issue/{issue_id}/comment",
            body={
                "body": body,
                **({"visibility": visibility.as_json()} if visibility is not None else {}),
            },
            before_send=before_send,
        )
        self._remember(issue_id)
        try:
            comment = parse_comment(raw, self._me(), route)
        except MalformedResponse as exc:
            raise AmbiguousWrite(
                f"{route}: unreadable answer ({exc}); the comment may exist",
                system="jira",
                route=route,
            ) from None
        log.info(
            "jira_comment_added",
            issue=issue_id,
            comment=comment.id,
            restricted=visibility is not None,
        )
        return comment

    def project_roles(self, key: str) -> frozenset[str]:
        """The names of a project's roles (what a comment visibility of type role takes)."""
        raw = self._transport.request(
            Call("GET /project/{key}/role", True), "GET", f"project/{key}/role"
        )
        if not isinstance(raw, Mapping):
            raise MalformedResponse(
                "GET /project/{key}/role: not an object",
                system="jira",
                route="GET /project/{key}/role",
            )
        return frozenset(str(name) for name in raw)

    def group_exists(self, name: str) -> bool:
        """Whether a group of exactly this name exists (groups picker)."""
        raw = self._transport.request(
            Call("GET /groups/picker", True),
            "GET",
            "groups/picker",
            params={"query": name, "maxResults": 50},
        )
        groups = raw.get("groups") if isinstance(raw, Mapping) else None
        if not isinstance(groups, list):
            return False
        return any(isinstance(g, Mapping) and g.get("name") == name for g in groups)

    # -- issue links -------------------------------------------------------------------

    def _duplicates_already(self, issue_id: str, original: str, link_type: str) -> bool:
        """Whether ``issue_id`` already shows ``original`` as an outward issue of the type."""
        raw = self._read_raw(issue_id, ["issuelinks"])
        fields = raw.get("fields")
        for link in (fields.get("issuelinks") if isinstance(fields, Mapping) else None) or []:
            if not isinstance(link, Mapping) or not isinstance(link.get("type"), Mapping):
                continue
            other = link.get("outwardIssue")
            if not _same(str(link["type"].get("name") or ""), link_type):
                continue
            if isinstance(other, Mapping) and original in (str(other.get("id")), other.get("key")):
                return True
        return False

    def link_duplicate(self, issue_id: str, original_issue_id: str) -> None:
        """POST /issueLink naming the duplicate ``inwardIssue`` and the original
        ``outwardIssue``: Jira then shows "duplicate <outward: duplicates> original" (see
        CHOICES.md; the field names read backwards). Not via ``create_issue_link``: it
        GETs every link type on each call and may swap the ends on a name it guesses."""
        link_type = self.catalog.link_type_name(self.options.duplicate_link_type)
        if self._duplicates_already(issue_id, original_issue_id, link_type):
            log.info("jira_duplicate_link_exists", issue=issue_id, original=original_issue_id)
            return
        body = {
            "type": {"name": link_type},
            "inwardIssue": _issue_ref(issue_id),
            "outwardIssue": _issue_ref(original_issue_id),
        }
        call = Call("POST /issueLink", False, write_issue=issue_id)
        try:
            self._transport.request(call, "POST", "issueLink", body=body)
        except (AmbiguousWrite, MalformedResponse):
            # The link may have been made: look, and fail only if it is not there.
            if not self._duplicates_already(issue_id, original_issue_id, link_type):
                raise
        self._remember(issue_id)
        log.info("jira_duplicate_linked", issue=issue_id, original=original_issue_id)

    # -- attachments -------------------------------------------------------------------

    def _attachment_names(self, issue_id: str) -> set[str]:
        raw = self._read_raw(issue_id, ["attachment"])
        fields = raw.get("fields")
        listed = fields.get("attachment") if isinstance(fields, Mapping) else None
        return {
            str(item["filename"])
            for item in listed or []
            if isinstance(item, Mapping) and isinstance(item.get("filename"), str)
        }

    def attach_file(self, issue_id: str, name: str, content: bytes) -> None:
        if name in self._attachment_names(issue_id):
            log.info("jira_attachment_exists", issue=issue_id, name=name)
            return
        call = Call("POST /issue/{id}/attachments", False, write_issue=issue_id)
        try:
            self._transport.execute(call, _uploader(issue_id, name, content))
        except AmbiguousWrite:
            if name not in self._attachment_names(issue_id):
                raise
        self._remember(issue_id)
        log.info("jira_attachment_added", issue=issue_id, name=name, size=len(content))

    # -- transitions -------------------------------------------------------------------

    def _learn_live(self, graph: WorkflowGraph, issue_id: str, status: str) -> None:
        payload = self._transport.request(
            Call("GET /issue/{id}/transitions", True),
            "GET",
            f"issue/{issue_id}/transitions",
            params={"expand": "transitions.fields"},
        )
        if not isinstance(payload, Mapping):
            raise MalformedResponse(
                "GET /issue/{id}/transitions: not an object",
                system="jira",
                route="GET /issue/{id}/transitions",
            )
        graph.learn(status, edges_from_transitions(status, payload))

    def _learn_by_samples(self, graph: WorkflowGraph, project_id: str, type_id: str) -> None:
        """Read transitions out of unexplored statuses from other issues sitting in them
        (read-only: nothing moves). Statuses without such an issue stay unexplored."""
        progress = True
        while progress:
            progress = False
            for status in sorted(graph.statuses()):
                if graph.explored(status):
                    continue
                key = (project_id, type_id, status.casefold())
                if time.monotonic() < self._no_sample.get(key, 0.0):
                    continue
                if self._sample_one(graph, project_id, type_id, status):
                    progress = True
                else:
                    self._no_sample[key] = time.monotonic() + SAMPLE_RETRY_SECONDS

    def _status_of(self, issue_id: str) -> _Position:
        """Status, project id, issue type id and resolution, read directly."""
        raw = self._read_raw(issue_id, ["status", "project", "issuetype", "resolution"])
        fields = raw.get("fields") or {}
        try:
            resolution = fields.get("resolution")
            return _Position(
                str(fields["status"]["name"]),
                str(fields["project"]["id"]),
                str(fields["issuetype"]["id"]),
                str(resolution["name"]) if resolution is not None else None,
            )
        except (KeyError, TypeError):
            raise ItemError(
                "status, project or issuetype missing",
                item=str(raw.get("key") or issue_id),
                field="status",
                system="jira",
            ) from None

    def transition_to(self, issue_id: str, status: str, resolution: str | None) -> None:
        """Move along the shortest known path, ``resolution`` set on the last hop when that
        transition's screen has the field. Already in ``status``: nothing when
        ``resolution`` is None or already set, else the resolution alone is changed."""
        current, project_id, type_id, current_resolution = self._status_of(issue_id)
        wanted = self.catalog.resolution_name(resolution) if resolution else None
        if _same(current, status):
            if wanted is not None and not _same(current_resolution or "", wanted):
                position = _Position(current, project_id, type_id, current_resolution)
                self._change_resolution(issue_id, position, wanted)
            return
        known = self._project_statuses(self.catalog.project(project_id), type_id)
        if not any(_same(name, status) for name in known):
            # Refuse before moving anything (exploring would walk the whole workflow).
            raise Rejected(f"the workflow has no status {status!r}", system="jira")
        graph = self.catalog.graph(project_id, type_id)
        max_hops = max(10, 3 * (len(graph.statuses()) + 1))
        relearned: set[str] = set()
        sampled = False
        confirmed = True  # ``current`` was just read from Jira, not inferred from a hop
        for _ in range(max_hops):
            if _same(current, status):
                self._remember(issue_id)
                log.info("jira_transitioned", issue=issue_id, status=status)
                return
            if not graph.explored(current):
                if not confirmed:
                    # Learning attributes the live transition list to ``current``: make
                    # sure the issue really is there (a post-function or a human may
                    # have moved it).
                    actual = self._status_of(issue_id)[0]
                    confirmed = True
                    if not _same(actual, current):
                        current = actual
                        continue
                self._learn_live(graph, issue_id, current)
            path = shortest_path(graph, current, status, wanted)
            if path is None and not sampled:
                sampled = True
                self._learn_by_samples(graph, project_id, type_id)
                path = shortest_path(graph, current, status, wanted)
            if path is None:
                if shortest_path(graph, current, status, strict=False) is not None:
                    # Reachable, but only through a resolution screen we cannot satisfy:
                    # refuse before moving anything.
                    raise Rejected(
                        f"moving to {status!r} needs a resolution its transition screen"
                        f" accepts (given: {wanted!r})",
                        system="jira",
                    )
                frontier = unexplored_frontier(graph, current)
                if not frontier:
                    log.warning(
                        "jira_transition_no_path", issue=issue_id, current=current, target=status
                    )
                    raise NotAllowed(
                        f"no transition path from {current!r} to {status!r}", system="jira"
                    )
                path = frontier[0][1]  # step towards the nearest status we know nothing of
                log.info("jira_workflow_explore", issue=issue_id, towards=frontier[0][0])
            edge = path[0]
            final = _same(edge.target, status)
            if edge.resolution_required and not (final and wanted is not None):
                raise Rejected(f"transition {edge.name!r} requires a resolution", system="jira")
            try:
                self._do_transition(issue_id, edge, wanted if final else None)
            except Rejected:
                actual = self._status_of(issue_id)[0]
                if not _same(actual, current):
                    current = actual  # someone moved it meanwhile: plan from there
                    continue
                if current.casefold() in relearned:
                    raise
                relearned.add(current.casefold())
                graph.forget(current)  # the cached edge is stale: list transitions again
                continue
            except AmbiguousWrite:
                current = self._status_of(issue_id)[0]
                confirmed = True
                continue
            current = edge.target
            confirmed = False
        raise NotAllowed(f"gave up moving {issue_id} to {status!r}", system="jira")

    def _change_resolution(self, issue_id: str, at: _Position, wanted: str) -> None:
        """Change the resolution without leaving the status: an edit when the edit screen
        has the field, else a transition from the status to itself with the field on its
        screen; NotAllowed (the link is parked, not retried) when the workflow has neither."""
        if self._resolution_editable(issue_id, wanted):
            self._edit(issue_id, {"resolution": {"name": wanted}})
            log.info("jira_resolution_edited", issue=issue_id, resolution=wanted)
            return
        graph = self.catalog.graph(at.project_id, at.type_id)
        if not graph.explored(at.status):
            self._learn_live(graph, issue_id, at.status)
        loops = [
            edge
            for edge in graph.out(at.status)
            if _same(edge.target, at.status)
            and edge.has_resolution
            and (
                not edge.resolution_allowed
                or any(_same(n, wanted) for n in edge.resolution_allowed)
            )
        ]
        if not loops:
            raise NotAllowed(
                f"cannot change the resolution of {issue_id} from {at.resolution!r} to"
                f" {wanted!r} in {at.status!r}: the edit screen has no resolution field and"
                f" the workflow has no transition from {at.status!r} to itself that sets it",
                system="jira",
            )
        try:
            self._do_transition(issue_id, loops[0], wanted)
        except AmbiguousWrite:
            # the answer was lost: the transition may have been applied; look before failing
            if not _same(self._status_of(issue_id).resolution or "", wanted):
                raise
        self._remember(issue_id)

    def _resolution_editable(self, issue_id: str, wanted: str) -> bool:
        """Whether the edit screen (GET editmeta) takes ``wanted`` as the resolution."""
        route = "GET /issue/{id}/editmeta"
        meta = self._transport.request(Call(route, True), "GET", f"issue/{issue_id}/editmeta")
        fields = meta.get("fields") if isinstance(meta, Mapping) else None
        entry = fields.get("resolution") if isinstance(fields, Mapping) else None
        if not isinstance(entry, Mapping):
            return False
        allowed = [
            v.get("name") for v in entry.get("allowedValues") or [] if isinstance(v, Mapping)
        ]
        return not allowed or any(isinstance(n, str) and _same(n, wanted) for n in allowed)

    def _do_transition(self, issue_id: str, edge: Edge, resolution: str | None) -> None:
        body: dict[str, Any] = {"transition": {"id": edge.transition_id}}
        if resolution is not None and edge.has_resolution:
            body["fields"] = {"resolution": {"name": resolution}}
        self._transport.request(
            Call("POST /issue/{id}/transitions", False, write_issue=issue_id),
            "POST",
            f"issue/{issue_id}/transitions",
            body=body,
        )
        log.info(
            "jira_transition_done",
            issue=issue_id,
            transition=edge.transition_id,
            source=edge.source,
            target=edge.target,
        )

    # -- start-up validation -----------------------------------------------------------

    def _project_statuses(self, project: ProjectInfo, type_id: str) -> frozenset[str]:
        """Status names of this project's workflow for the issue type (cached)."""
        cached = self._statuses.get((project.id, type_id))
        if cached is None:
            cached = self._fetch_project_statuses(project, type_id)
            self._statuses[(project.id, type_id)] = cached
        return cached

    def _fetch_project_statuses(self, project: ProjectInfo, type_id: str) -> frozenset[str]:
        route = "GET /project/{key}/statuses"
        try:
            raw = self._transport.request(
                Call(route, True), "GET", f"project/{project.key}/statuses"
            )
        except NotFound:
            raw = None
        names: set[str] = set()
        if isinstance(raw, list):
            for per_type in raw:
                if not isinstance(per_type, Mapping) or str(per_type.get("id")) != type_id:
                    continue
                for item in per_type.get("statuses") or []:
                    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                        names.add(item["name"])
        if not names:
            everything = self._transport.request(Call("GET /status", True), "GET", "status")
            for item in everything if isinstance(everything, list) else []:
                if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                    names.add(item["name"])
        return frozenset(names)

    def describe_project(self, key: str) -> ProjectSchema:
        """Statuses, priorities, resolutions and what is reachable from which status.

        Jira lists transitions only for an issue, so reachability is read from one issue
        (of the configured type) per status: a lower bound over the transitions seen.
        A status with no such issue, and never visited by syncd, is absent from
        ``reachable`` (unknown, not a dead end).
        """
        project = self.catalog.project(key)
        type_id = project.issue_type_id(self.options.issue_type)
        statuses = self._project_statuses(project, type_id)
        graph = self.catalog.graph(project.id, type_id)
        # Seed the graph with every status so sampling looks at all of them.
        for name in statuses:
            if not graph.explored(name):
                self._sample_one(graph, project.id, type_id, name)
        return ProjectSchema(
            key=project.key,
            statuses=statuses,
            priorities=frozenset(self.catalog.priorities().values()),
            resolutions=frozenset(self.catalog.resolutions().values()),
            reachable={
                name: reachable_from(graph, name) for name in statuses if graph.explored(name)
            },
            explored=frozenset(name for name in statuses if graph.explored(name)),
            link_types=self._link_type_names(),
            fields=self._screen_fields(project, type_id),
        )

    def _link_type_names(self) -> frozenset[str]:
        try:
            return frozenset(self.catalog.link_types().values())
        except NotFound:
            # Issue linking is switched off on this site (Jira answers 404 then).
            log.warning("jira_issue_linking_disabled")
            return frozenset()

    def _screen_fields(self, project: ProjectInfo, type_id: str) -> frozenset[str]:
        """Ids and names of the fields on the create screen of the issue type, and on the
        edit screen of one issue of that type (when one exists): where syncd writes."""
        found: set[str] = set()
        route = "GET /issue/createmeta/{project}/issuetypes/{type}"
        path = f"issue/createmeta/{project.key}/issuetypes/{type_id}"
        start = 0
        for _ in range(MAX_PAGES):
            try:
                page = self._transport.request(
                    Call(route, True), "GET", path, params={"startAt": start, "maxResults": 50}
                )
            except NotFound:
                break  # a Jira without this endpoint (before DC 8.4): nothing known
            listed = _meta_list(page)
            for entry in listed:
                found.update(_field_names(entry.get("fieldId") or entry.get("key"), entry))
            start += len(listed)
            total = page.get("total") if isinstance(page, Mapping) else None
            if not listed or not isinstance(total, int) or start >= total:
                break
        sample = self._search_sample(jql.sample_of_type_jql(project.id, type_id))
        if sample:
            meta = self._transport.request(
                Call("GET /issue/{id}/editmeta", True), "GET", f"issue/{sample[0]['id']}/editmeta"
            )
            fields = meta.get("fields") if isinstance(meta, Mapping) else None
            for field_id, entry in (fields or {}).items():
                if isinstance(entry, Mapping):
                    found.update(_field_names(field_id, entry))
        return frozenset(found)

    def _sample_one(self, graph: WorkflowGraph, project_id: str, type_id: str, status: str) -> bool:
        query = jql.sample_in_status_jql(project_id, type_id, status)
        raws = self._search_sample(query)
        if not raws:
            return False
        sample = str(raws[0]["id"])
        probe = WorkflowGraph()
        self._learn_live(probe, sample, status)
        # Search is eventually consistent: the sample may have moved on. Keep what we
        # read only if a direct (strong) read still shows it in that status.
        now = self._read_raw(sample, ["status"]).get("fields") or {}
        if not _same(str((now.get("status") or {}).get("name") or ""), status):
            log.info("jira_workflow_sample_moved", issue=sample, status=status)
            return False
        graph.learn(status, probe.out(status))
        return True

    def _search_sample(self, query: str) -> list[Mapping[str, Any]]:
        cloud = self.catalog.is_cloud()
        call = Call("GET /search/jql" if cloud else "GET /search", True)
        found = self._transport.execute(
            call,
            lambda c: (
                c.enhanced_search_issues(query, maxResults=1, fields=["status"], json_result=True)
                if cloud
                else c.search_issues(query, maxResults=1, fields=["status"], json_result=True)
            ),
        )
        issues = found.get("issues") if isinstance(found, Mapping) else None
        return [i for i in issues or [] if isinstance(i, Mapping) and "id" in i]


def _issue_ref(issue_id: str) -> dict[str, str]:
    return {"id": issue_id} if issue_id.isdigit() else {"key": issue_id}


def _meta_list(page: Any) -> list[Mapping[str, Any]]:
    """Create-meta entries: Cloud names the list ``fields``, Data Center ``values``."""
    if not isinstance(page, Mapping):
        return []
    listed = page.get("fields", page.get("values"))
    return [item for item in listed or [] if isinstance(item, Mapping)]


def _field_names(field_id: Any, entry: Mapping[str, Any]) -> set[str]:
    names = {str(field_id)} if isinstance(field_id, str) else set()
    if isinstance(entry.get("name"), str):
        names.add(entry["name"])
    return names


def _field_value(info: FieldInfo, text: str) -> Any:
    """``text`` as the field takes it: a number field gets the text's first number."""
    if info.schema_type in (None, "string"):
        return text
    if info.schema_type == "number":
        match = _NUMBER.search(text)
        if match is None:
            raise Rejected(
                f"field {info.name!r} ({info.id}) takes a number and {text!r} has none",
                system="jira",
            )
        return float(match.group())
    raise Rejected(
        f"field {info.name!r} ({info.id}) is of type {info.schema_type!r}; syncd writes"
        " only text and number fields",
        system="jira",
    )


def _uploader(issue_id: str, name: str, content: bytes) -> Callable[[JIRA], None]:
    """The multipart POST ``JIRA.add_attachment`` sends (part ``file``, the XSRF header
    ``X-Atlassian-Token: no-check``), sent ourselves: the library's method wants a file
    opened ``rb`` (it reads ``.mode``) and raises after a committed upload of an empty
    file, which would turn a write that happened into an error."""

    def upload(client: JIRA) -> None:
        url = client._get_url(f"issue/{issue_id}/attachments")
        client._session.post(
            url,
            files={"file": (name, content, "application/octet-stream")},
            # None drops the session's JSON Content-Type so requests sets the multipart one
            headers={"X-Atlassian-Token": "no-check", "Content-Type": None},
        )

    return upload
