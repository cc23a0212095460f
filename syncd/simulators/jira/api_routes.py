"""Handlers for the Jira REST API routes syncd (through the ``jira`` library) calls.

Route templates are relative to ``/rest/api/{version}``; ``ROUTES`` lists them with the
HTTP method. Handlers run under the state lock (each state method takes it) and return a
``Resp`` or raise ``ApiError``.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from syncd.simulators.jira.catalog import (
    ALL_FIELDS,
    CUSTOM_FIELDS,
    FIELD_BY_ID,
    GROUPS,
    ISSUE_TYPE_BY_ID,
    LINK_TYPE_BY_ID,
    LINK_TYPES,
    NAVIGABLE_FIELDS,
    PRIORITIES,
    RESOLUTIONS,
    ROLE_IDS,
    STATUS_CATEGORIES,
    STATUSES,
    Group,
)
from syncd.simulators.jira.errors import ApiError
from syncd.simulators.jira.http import INVALID_PAYLOAD, Ctx, Handler, Resp
from syncd.simulators.jira.jql_eval import compile_query
from syncd.simulators.jira.jql_parse import JqlError, parse
from syncd.simulators.jira.model import Issue
from syncd.simulators.jira.render import requested_fields
from syncd.simulators.jira.timefmt import format_jira

SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
MAX_RECONCILE = 50
ID_ONLY_CAP = 5000
FIELDS_CAP = 100
DC_SEARCH_CAP = 1000
COMMENTS_DEFAULT = 100
COMMENTS_CAP = 5000
COMMENT_ORDERS = ("created", "+created", "-created")
GROUP_PICKER_DEFAULT = 20
CLOUD_VERSION = ([1001, 0, 0], "1001.0.0-SNAPSHOT", 100289)
DC_VERSION = ([9, 12, 15], "9.12.15", 9120015)


def _not_found() -> ApiError:
    return ApiError(404, ["Not Found"])


def _cloud_only(ctx: Ctx) -> None:
    if not ctx.state.settings.cloud:
        raise _not_found()


def _issue(ctx: Ctx) -> Issue:
    return ctx.state.issue(ctx.params["issueIdOrKey"])


# ----- bootstrap -------------------------------------------------------------------------


def server_info(ctx: Ctx) -> Resp:
    cloud = ctx.state.settings.cloud
    numbers, version, build = CLOUD_VERSION if cloud else DC_VERSION
    now = ctx.state.now()
    body: dict[str, Any] = {
        "baseUrl": ctx.base,
        "displayUrl": ctx.base,
        "version": version,
        "versionNumbers": numbers,
        "deploymentType": ctx.state.settings.deployment_type,
        "buildNumber": build,
        "buildDate": format_jira(datetime(2026, 11, 2, tzinfo=UTC), ctx.renderer.zone),
        "serverTime": format_jira(now, ctx.renderer.zone),
        "scmInfo": "0123456789abcdef0123456789abcdef01234567",
        "serverTitle": "Jira",
    }
    if not cloud:
        body.pop("displayUrl")
    return Resp(200, body)


def myself(ctx: Ctx) -> Resp:
    return Resp(200, ctx.renderer.myself(ctx.me))


def fields(ctx: Ctx) -> Resp:
    return Resp(200, ctx.renderer.fields())


def projects(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        return Resp(200, [ctx.renderer.project(p) for p in ctx.state.projects.values()])


def project(ctx: Ctx) -> Resp:
    return Resp(200, ctx.renderer.project(ctx.state.project(ctx.params["projectIdOrKey"])))


def project_roles(ctx: Ctx) -> Resp:
    """Role name -> the role's URL under the project (the ``jira`` library's
    ``project_roles`` reads the id from the URL's last segment)."""
    project = ctx.state.project(ctx.params["projectIdOrKey"])
    base = f"{ctx.renderer.api}/project/{project.id}/role"
    return Resp(200, {name: f"{base}/{role_id}" for name, role_id in ROLE_IDS.items()})


def groups_picker(ctx: Ctx) -> Resp:
    """Groups whose names contain ``query``, sorted, with the match in ``<b>``.

    CHOSEN: the match ignores case whatever ``caseInsensitive`` says (the site's group
    names are lower case); ``maxResults`` defaults to 20 (Jira's autocomplete limit, as in
    the OpenAPI example "Showing 20 of 25"); ``exclude``/``excludeId`` drop groups by
    name/id; Data Center groups carry no ``groupId``.
    """
    query = ctx.query.get("query", "")
    excluded = set(ctx.query.getlist("exclude")) | set(ctx.query.getlist("excludeId"))
    limit = max(0, ctx.int_param("maxResults", GROUP_PICKER_DEFAULT))
    found = [
        group
        for group in sorted(GROUPS, key=lambda g: g.name)
        if query.lower() in group.name.lower()
        and group.name not in excluded
        and group.group_id not in excluded
    ]
    shown = found[:limit]
    return Resp(
        200,
        {
            "header": f"Showing {len(shown)} of {len(found)} matching groups",
            "total": len(found),
            "groups": [_found_group(ctx, group, query) for group in shown],
        },
    )


def _found_group(ctx: Ctx, group: Group, query: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": group.name, "html": _highlight(group.name, query)}
    if ctx.state.settings.cloud:
        body["groupId"] = group.group_id
    body["labels"] = []
    return body


def _highlight(name: str, query: str) -> str:
    """The name, HTML-escaped, with the first match of ``query`` in ``<b>``."""
    at = name.lower().find(query.lower()) if query else -1
    if at < 0:
        return html.escape(name)
    end = at + len(query)
    return f"{html.escape(name[:at])}<b>{html.escape(name[at:end])}</b>{html.escape(name[end:])}"


def project_statuses(ctx: Ctx) -> Resp:
    project = ctx.state.project(ctx.params["projectIdOrKey"])
    renderer = ctx.renderer
    used = {t.to_status_id for t in project.workflow} | {
        s for t in project.workflow for s in t.from_status_ids
    }
    listed = [renderer.status(s) for s in STATUSES if s.id in used]
    return Resp(
        200,
        [
            {
                "self": f"{renderer.api}/issuetype/{issue_type.id}",
                "id": issue_type.id,
                "name": issue_type.name,
                "subtask": False,
                "statuses": listed,
            }
            for issue_type in ISSUE_TYPE_BY_ID.values()
        ],
    )


def priorities(ctx: Ctx) -> Resp:
    return Resp(200, [ctx.renderer.priority(p) for p in PRIORITIES])


def statuses(ctx: Ctx) -> Resp:
    return Resp(200, [ctx.renderer.status(s) for s in STATUSES])


def resolutions(ctx: Ctx) -> Resp:
    return Resp(200, [ctx.renderer.resolution(r) for r in RESOLUTIONS])


def status_categories(ctx: Ctx) -> Resp:
    return Resp(200, [ctx.renderer.category(c) for c in STATUS_CATEGORIES])


def createmeta_types(ctx: Ctx) -> Resp:
    ctx.state.project(ctx.params["projectIdOrKey"])
    types = [ctx.renderer.issue_type(t) for t in ISSUE_TYPE_BY_ID.values()]
    return Resp(200, {"issueTypes": types, "maxResults": 50, "startAt": 0, "total": len(types)})


def createmeta_fields(ctx: Ctx) -> Resp:
    ctx.state.project(ctx.params["projectIdOrKey"])
    if ctx.params["issueTypeId"] not in ISSUE_TYPE_BY_ID:
        raise ApiError(
            404,
            [
                "The issue type with id '" + ctx.params["issueTypeId"] + "' does "
                "not exist or is not visible in the project."
            ],
        )
    renderer = ctx.renderer
    listed = (
        "summary",
        "issuetype",
        "project",
        "description",
        "labels",
        "priority",
        "reporter",
        "assignee",
        *CUSTOM_FIELDS,
    )
    entries = []
    for field_id in listed:
        rendered = renderer.field(FIELD_BY_ID[field_id])
        entry: dict[str, Any] = {
            "fieldId": field_id,
            "key": field_id,
            "name": rendered["name"],
            "required": field_id in ("summary", "issuetype", "project", "reporter"),
            "schema": rendered["schema"],
            "operations": ["add", "set", "remove"] if field_id == "labels" else ["set"],
            "hasDefaultValue": field_id == "priority",
        }
        if field_id == "priority":
            entry["allowedValues"] = [renderer.priority(p) for p in PRIORITIES]
        entries.append(entry)
    return Resp(200, {"fields": entries, "maxResults": 50, "startAt": 0, "total": len(entries)})


# ----- issues ------------------------------------------------------------------------------


def create_issue(ctx: Ctx) -> Resp:
    issue = ctx.state.create_issue(ctx.me, ctx.json(), ctx.api_version)
    return Resp(
        201,
        {
            "id": str(issue.core.id),
            "key": issue.core.key,
            "self": f"{ctx.renderer.api}/issue/{issue.core.id}",
        },
    )


def _expand(ctx: Ctx) -> set[str]:
    return {part.strip().lower() for part in ctx.list_param("expand")}


def _render_issue(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    field_ids = requested_fields(ctx.query.getlist("fields"), ALL_FIELDS)
    return ctx.renderer.issue(
        issue,
        issue.core,
        field_ids,
        expand=_expand(ctx),
        properties=tuple(ctx.list_param("properties")),
    )


def get_issue(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        return Resp(200, _render_issue(ctx, _issue(ctx)))


def edit_issue(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        ctx.state.edit_issue(ctx.me, issue, ctx.json(), ctx.api_version)
        if ctx.query.get("returnIssue", "").lower() == "true":
            return Resp(200, _render_issue(ctx, issue))
        return Resp(204)


def delete_issue(ctx: Ctx) -> Resp:
    ctx.state.delete_issue(_issue(ctx))
    return Resp(204)


def assign_issue(ctx: Ctx) -> Resp:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ApiError(400, [INVALID_PAYLOAD])
    # {"accountId": null} (or {"name": null} on DC) unassigns.
    assignee = body if any(value is not None for value in body.values()) else None
    ctx.state.edit_issue(ctx.me, _issue(ctx), {"fields": {"assignee": assignee}}, "2")
    return Resp(204)


def get_transitions(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        with_fields = "transitions.fields" in _expand(ctx)
        wanted = ctx.query.get("transitionId")
        listed = [
            ctx.renderer.transition(t, with_fields)
            for t in ctx.state.transitions(issue)
            if wanted is None or t.id == wanted
        ]
        return Resp(200, {"expand": "transitions", "transitions": listed})


def do_transition(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        ctx.state.transition(ctx.me, _issue(ctx), ctx.json(), ctx.api_version)
    return Resp(204)


def changelog(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        start = max(0, ctx.int_param("startAt", 0))
        limit = min(max(1, ctx.int_param("maxResults", 100)), 100)
        groups = issue.changelog[start : start + limit]
        last = start + limit >= len(issue.changelog)
        base = f"{ctx.renderer.api}/issue/{issue.core.key}/changelog"
        body: dict[str, Any] = {
            "self": f"{base}?maxResults={limit}&startAt={start}",
            "maxResults": limit,
            "startAt": start,
            "total": len(issue.changelog),
            "isLast": last,
            "values": [ctx.renderer.change_group(g) for g in groups],
        }
        if not last:
            body["nextPage"] = f"{base}?maxResults={limit}&startAt={start + limit}"
        return Resp(200, body)


def bulk_changelog(ctx: Ctx) -> Resp:
    _cloud_only(ctx)
    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("issueIdsOrKeys"), list):
        raise ApiError(400, [INVALID_PAYLOAD])
    field_ids = body.get("fieldIds") or []
    limit = min(int(body.get("maxResults") or 1000), 1000)
    token = body.get("nextPageToken")
    offset = int(token) if isinstance(token, str) and token.isdigit() else 0
    with ctx.state.lock:
        rows = []
        for ref in body["issueIdsOrKeys"][:1000]:
            issue = ctx.state.issue(str(ref))
            for group in issue.changelog:
                if field_ids and not any(i.field_id in field_ids for i in group.items):
                    continue
                rows.append((group.created, issue.core.id, group))
        rows.sort(key=lambda row: (row[0], row[1]))
        page = rows[offset : offset + limit]
        logs: dict[int, list[dict[str, Any]]] = {}
        for _, issue_id, group in page:
            logs.setdefault(issue_id, []).append(ctx.renderer.change_group(group))
        result: dict[str, Any] = {
            "issueChangeLogs": [
                {"issueId": str(issue_id), "changeHistories": histories}
                for issue_id, histories in logs.items()
            ]
        }
        if offset + limit < len(rows):
            result["nextPageToken"] = str(offset + limit)
        return Resp(200, result)


# ----- comments ------------------------------------------------------------------------------


def list_comments(ctx: Ctx) -> Resp:
    """A page of comments, oldest first (``orderBy=-created``: newest first).

    ``maxResults`` defaults to 100 (the OpenAPI document); CHOSEN: at most 5000; an
    ``orderBy`` other than created/+created/-created is 400 (the document says so; the
    message is CHOSEN).
    """
    order = ctx.query.get("orderBy")
    if order not in (None, "", *COMMENT_ORDERS):
        raise ApiError(400, [f"Invalid orderBy value '{order}'. Only 'created' is supported."])
    with ctx.state.lock:
        issue = _issue(ctx)
        comments = sorted(issue.comments, key=lambda c: (c.created, c.id))
        if order == "-created":
            comments.reverse()
        start = max(0, ctx.int_param("startAt", 0))
        limit = max(0, min(ctx.int_param("maxResults", COMMENTS_DEFAULT), COMMENTS_CAP))
        return Resp(
            200,
            ctx.renderer.comment_page(
                issue, comments, start, limit, properties="properties" in _expand(ctx)
            ),
        )


def add_comment(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        comment = ctx.state.add_comment(ctx.me, issue, ctx.json(), ctx.api_version)
        return Resp(201, ctx.renderer.comment(issue, comment))


def get_comment(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        comment = ctx.state.comment(issue, ctx.params["id"])
        return Resp(
            200, ctx.renderer.comment(issue, comment, properties="properties" in _expand(ctx))
        )


def update_comment(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        comment = ctx.state.update_comment(
            ctx.me, issue, ctx.params["id"], ctx.json(), ctx.api_version
        )
        return Resp(200, ctx.renderer.comment(issue, comment))


def delete_comment(ctx: Ctx) -> Resp:
    ctx.state.delete_comment(_issue(ctx), ctx.params["id"])
    return Resp(204)


# ----- entity properties ---------------------------------------------------------------------


def property_keys(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        api = ctx.renderer.api
        keys = [
            {"self": f"{api}/issue/{issue.core.id}/properties/{key}", "key": key}
            for key in issue.core.properties
        ]
        return Resp(200, {"keys": keys})


def get_property(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        key = ctx.params["propertyKey"]
        if key not in issue.core.properties:
            raise ApiError(404, [f"The property with key '{key}' does not exist."])
        return Resp(200, {"key": key, "value": issue.core.properties[key]})


def put_property(ctx: Ctx) -> Resp:
    if not ctx.raw_body.strip():
        raise ApiError(400, ["The property value must not be empty."])
    try:
        value = json.loads(ctx.raw_body)
    except ValueError:
        raise ApiError(400, ["The property value must be valid JSON."]) from None
    created = ctx.state.set_property(_issue(ctx), ctx.params["propertyKey"], ctx.raw_body, value)
    return Resp(201 if created else 200)


def delete_property(ctx: Ctx) -> Resp:
    ctx.state.delete_property(_issue(ctx), ctx.params["propertyKey"])
    return Resp(204)


# ----- remote links ----------------------------------------------------------------------------


def list_remote_links(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        global_id = ctx.query.get("globalId")
        if global_id is not None:
            for link in issue.remote_links:
                if link.global_id == global_id:
                    return Resp(200, ctx.renderer.remote_link(issue, link))
            raise ApiError(404, [f"No remote link with globalId '{global_id}' exists."])
        return Resp(200, [ctx.renderer.remote_link(issue, link) for link in issue.remote_links])


def upsert_remote_link(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        link, created = ctx.state.upsert_remote_link(issue, ctx.json())
        rendered = ctx.renderer.remote_link(issue, link)
        return Resp(201 if created else 200, {"id": link.id, "self": rendered["self"]})


def get_remote_link(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        link = ctx.state.remote_link(issue, ctx.params["linkId"])
        return Resp(200, ctx.renderer.remote_link(issue, link))


def put_remote_link(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        issue = _issue(ctx)
        link = ctx.state.remote_link(issue, ctx.params["linkId"])
        body = ctx.json()
        if not isinstance(body, dict):
            raise ApiError(400, [INVALID_PAYLOAD])
        body = {**body, "globalId": link.global_id}
        if link.global_id is None:
            ctx.state.delete_remote_links(issue, lambda candidate: candidate is link)
            new, _ = ctx.state.upsert_remote_link(issue, body)
            new.id = link.id
        else:
            ctx.state.upsert_remote_link(issue, body)
        return Resp(204)


def delete_remote_link(ctx: Ctx) -> Resp:
    issue = _issue(ctx)
    link = ctx.state.remote_link(issue, ctx.params["linkId"])
    ctx.state.delete_remote_links(issue, lambda candidate: candidate is link)
    return Resp(204)


def delete_remote_link_by_global_id(ctx: Ctx) -> Resp:
    issue = _issue(ctx)
    global_id = ctx.query.get("globalId")
    if not global_id:
        raise ApiError(400, ["The globalId parameter is required."])
    if ctx.state.delete_remote_links(issue, lambda link: link.global_id == global_id) == 0:
        raise ApiError(404, [f"No remote link with globalId '{global_id}' exists."])
    return Resp(204)


# ----- issue links ------------------------------------------------------------------------------


def link_types(ctx: Ctx) -> Resp:
    return Resp(200, {"issueLinkTypes": [ctx.renderer.link_type(t) for t in LINK_TYPES]})


def link_type(ctx: Ctx) -> Resp:
    found = LINK_TYPE_BY_ID.get(ctx.params["issueLinkTypeId"])
    if found is None:
        raise ApiError(404, ["No issue link type with id '" + ctx.params["issueLinkTypeId"] + "'."])
    return Resp(200, ctx.renderer.link_type(found))


def create_link(ctx: Ctx) -> Resp:
    # Jira answers 201 with an empty body (the link id is only in the issues' issuelinks).
    ctx.state.create_link(ctx.me, ctx.json())
    return Resp(201)


def get_link(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        return Resp(200, ctx.renderer.issue_link(ctx.state.link(ctx.params["linkId"])))


def delete_link(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        ctx.state.delete_link(ctx.me, ctx.state.link(ctx.params["linkId"]))
    return Resp(204)


# ----- attachments and edit metadata -------------------------------------------------------------

XSRF_FAILED = "XSRF check failed"


def _multipart_files(ctx: Ctx) -> list[tuple[str, str, bytes]]:
    """The parts named ``file`` of a multipart/form-data body: (name, MIME type, bytes)."""
    content_type = ctx.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, ["Unsupported Media Type: use multipart/form-data."])
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + ctx.raw_body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ApiError(400, ["The request is not a valid multipart body."])
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "file":
            continue  # Jira reads only the parameter named "file"
        payload = part.get_payload(decode=True)
        name = part.get_filename() or "file"
        content = payload if isinstance(payload, bytes) else b""
        files.append((name, part.get_content_type(), content))
    return files


def add_attachments(ctx: Ctx) -> Resp:
    # Jira's XSRF protection blocks a multipart POST without this header (403, plain text
    # in real Jira; JSON here so clients' error parsing has something to read).
    if ctx.headers.get("x-atlassian-token", "").lower() != "no-check":
        raise ApiError(403, [XSRF_FAILED])
    with ctx.state.lock:
        issue = _issue(ctx)
        added = ctx.state.add_attachments(ctx.me, issue, _multipart_files(ctx))
        return Resp(200, [ctx.renderer.attachment(issue, a) for a in added])


def editmeta(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        return Resp(200, ctx.renderer.editmeta(_issue(ctx)))


# ----- search --------------------------------------------------------------------------------


def _compile(ctx: Ctx, jql: Any) -> Any:
    if jql is not None and not isinstance(jql, str):
        raise ApiError(400, [INVALID_PAYLOAD])
    try:
        query = parse(jql or "")
        user = ctx.me
        return compile_query(query, ctx.state, user.zone, ctx.state.now())
    except JqlError as error:
        raise ApiError(400, [str(error)]) from None


def _reconcile_ids(ctx: Ctx, raw: Any) -> frozenset[int]:
    if raw is None:
        return frozenset()
    values = raw if isinstance(raw, list) else [raw]
    try:
        ids = [int(value) for value in values]
    except (TypeError, ValueError):
        raise ApiError(400, [INVALID_PAYLOAD]) from None
    if len(ids) > MAX_RECONCILE:
        raise ApiError(400, [f"The number of reconcileIssues can't exceed {MAX_RECONCILE}."])
    missing = [i for i in ids if i not in ctx.state.issues]
    if missing:
        raise ApiError(400, [f"Issues with these ids do not exist: {missing}."])
    return frozenset(ids)


def _search_params(ctx: Ctx) -> dict[str, Any]:
    if ctx.method == "POST":
        body = ctx.json()
        if not isinstance(body, dict):
            raise ApiError(400, [INVALID_PAYLOAD])
        return body
    query = ctx.query
    params: dict[str, Any] = {
        "jql": query.get("jql"),
        "nextPageToken": query.get("nextPageToken"),
        "maxResults": query.get("maxResults"),
        "startAt": query.get("startAt"),
        "fields": query.getlist("fields") or None,
        "expand": query.get("expand"),
        "properties": ctx.list_param("properties") or None,
        "reconcileIssues": ctx.list_param("reconcileIssues") or None,
    }
    return params


def _as_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, [f"The value '{value}' for '{name}' is not a valid integer."]) from None


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ApiError(400, [INVALID_PAYLOAD])


def _expand_set(value: Any) -> set[str]:
    if value is None:
        return set()
    items = value if isinstance(value, list) else str(value).split(",")
    return {str(item).strip().lower() for item in items if str(item).strip()}


def search_jql(ctx: Ctx) -> Resp:
    _cloud_only(ctx)
    params = _search_params(ctx)
    with ctx.state.lock:
        token = params.get("nextPageToken")
        reconcile = _reconcile_ids(ctx, params.get("reconcileIssues"))
        compiled = _compile(ctx, params.get("jql"))
        if not compiled.bounded:
            raise ApiError(400, [UNBOUNDED])
        field_ids = requested_fields(_as_list(params.get("fields")), ("id",))
        cap = ID_ONLY_CAP if all(f in ("id", "key") for f in field_ids) else FIELDS_CAP
        limit = _as_int(params.get("maxResults"), "maxResults", 50)
        if limit < 0:
            raise ApiError(400, ["The 'maxResults' parameter must not be negative."])
        limit = min(limit or 50, cap)
        if isinstance(token, str) and token:
            cursor = ctx.state.cursor(token)
            ids, offset, reconcile = cursor.ids, cursor.offset, cursor.reconcile
        else:
            ids, offset = ctx.state.search(compiled, reconcile), 0
        properties = tuple(_as_list(params.get("properties")) or ())[:5]
        expand = _expand_set(params.get("expand"))
        renderer = ctx.renderer
        issues = []
        for issue_id in ids[offset : offset + limit]:
            issue = ctx.state.issues.get(issue_id)
            view = ctx.state.view(issue, reconcile) if issue is not None else None
            if issue is None or view is None:
                continue
            issues.append(
                renderer.issue(issue, view, field_ids, expand=expand, properties=properties)
            )
        body: dict[str, Any] = {"issues": issues}
        if offset + limit < len(ids):
            body["nextPageToken"] = ctx.state.new_cursor(ids, offset + limit, reconcile)
            body["isLast"] = False
        else:
            body["isLast"] = True
        if "names" in expand:
            body["names"] = {f: FIELD_BY_ID[f].name for f in field_ids if f in FIELD_BY_ID}
        if "schema" in expand:
            body["schema"] = {
                f: renderer.field(FIELD_BY_ID[f]).get("schema", {})
                for f in field_ids
                if f in FIELD_BY_ID
            }
        return Resp(200, body)


def search_old(ctx: Ctx) -> Resp:
    if ctx.state.settings.cloud:
        raise ApiError(410, [SEARCH_REMOVED])
    params = _search_params(ctx)
    with ctx.state.lock:
        compiled = _compile(ctx, params.get("jql"))
        field_ids = requested_fields(_as_list(params.get("fields")), NAVIGABLE_FIELDS)
        start = max(0, _as_int(params.get("startAt"), "startAt", 0))
        limit = _as_int(params.get("maxResults"), "maxResults", 50)
        limit = max(0, min(limit, DC_SEARCH_CAP))
        ids = ctx.state.search(compiled, frozenset())
        expand = _expand_set(params.get("expand"))
        renderer = ctx.renderer
        issues = []
        for issue_id in ids[start : start + limit]:
            issue = ctx.state.issues[issue_id]
            view = ctx.state.view(issue)
            if view is not None:
                issues.append(renderer.issue(issue, view, field_ids, expand=expand))
        return Resp(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(ids),
                "issues": issues,
            },
        )


def approximate_count(ctx: Ctx) -> Resp:
    _cloud_only(ctx)
    body = ctx.json()
    if not isinstance(body, dict):
        raise ApiError(400, [INVALID_PAYLOAD])
    with ctx.state.lock:
        compiled = _compile(ctx, body.get("jql"))
        if not compiled.bounded:
            raise ApiError(400, [UNBOUNDED])
        return Resp(200, {"count": len(ctx.state.search(compiled, frozenset()))})


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/serverInfo", server_info),
    ("GET", "/myself", myself),
    ("GET", "/field", fields),
    ("GET", "/project", projects),
    ("GET", "/project/{projectIdOrKey}", project),
    ("GET", "/project/{projectIdOrKey}/statuses", project_statuses),
    ("GET", "/project/{projectIdOrKey}/role", project_roles),
    ("GET", "/groups/picker", groups_picker),
    ("GET", "/priority", priorities),
    ("GET", "/status", statuses),
    ("GET", "/resolution", resolutions),
    ("GET", "/statuscategory", status_categories),
    ("GET", "/issue/createmeta/{projectIdOrKey}/issuetypes", createmeta_types),
    ("GET", "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}", createmeta_fields),
    ("POST", "/issue", create_issue),
    ("GET", "/issue/{issueIdOrKey}", get_issue),
    ("PUT", "/issue/{issueIdOrKey}", edit_issue),
    ("DELETE", "/issue/{issueIdOrKey}", delete_issue),
    ("PUT", "/issue/{issueIdOrKey}/assignee", assign_issue),
    ("GET", "/issue/{issueIdOrKey}/transitions", get_transitions),
    ("POST", "/issue/{issueIdOrKey}/transitions", do_transition),
    ("GET", "/issue/{issueIdOrKey}/changelog", changelog),
    ("POST", "/changelog/bulkfetch", bulk_changelog),
    ("GET", "/issue/{issueIdOrKey}/comment", list_comments),
    ("POST", "/issue/{issueIdOrKey}/comment", add_comment),
    ("GET", "/issue/{issueIdOrKey}/comment/{id}", get_comment),
    ("PUT", "/issue/{issueIdOrKey}/comment/{id}", update_comment),
    ("DELETE", "/issue/{issueIdOrKey}/comment/{id}", delete_comment),
    ("GET", "/issue/{issueIdOrKey}/properties", property_keys),
    ("GET", "/issue/{issueIdOrKey}/properties/{propertyKey}", get_property),
    ("PUT", "/issue/{issueIdOrKey}/properties/{propertyKey}", put_property),
    ("DELETE", "/issue/{issueIdOrKey}/properties/{propertyKey}", delete_property),
    ("GET", "/issue/{issueIdOrKey}/remotelink", list_remote_links),
    ("POST", "/issue/{issueIdOrKey}/remotelink", upsert_remote_link),
    ("DELETE", "/issue/{issueIdOrKey}/remotelink", delete_remote_link_by_global_id),
    ("GET", "/issue/{issueIdOrKey}/remotelink/{linkId}", get_remote_link),
    ("PUT", "/issue/{issueIdOrKey}/remotelink/{linkId}", put_remote_link),
    ("DELETE", "/issue/{issueIdOrKey}/remotelink/{linkId}", delete_remote_link),
    ("GET", "/issue/{issueIdOrKey}/editmeta", editmeta),
    ("POST", "/issue/{issueIdOrKey}/attachments", add_attachments),
    ("GET", "/issueLinkType", link_types),
    ("GET", "/issueLinkType/{issueLinkTypeId}", link_type),
    ("POST", "/issueLink", create_link),
    ("GET", "/issueLink/{linkId}", get_link),
    ("DELETE", "/issueLink/{linkId}", delete_link),
    ("GET", "/search/jql", search_jql),
    ("POST", "/search/jql", search_jql),
    ("GET", "/search", search_old),
    ("POST", "/search", search_old),
    ("POST", "/search/approximate-count", approximate_count),
)
