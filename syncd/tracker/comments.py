"""Jira comments as neutral ``Comment`` records (REST v2: wiki-markup bodies).

A comment is *restricted* when Jira shows it to fewer people than the issue: a
``visibility`` (role or group), or a Jira Service Management internal note
(``jsdPublic: false``). The conversation sync never lets a restricted comment reach a
researcher, so anything unclear about a comment's audience counts as restricted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncd.errors import MalformedResponse
from syncd.records import Comment
from syncd.tracker.parse import parse_jira_time

#: comments asked per page of ``GET /issue/{id}/comment`` (Jira's own cap is higher)
COMMENT_PAGE = 100
#: Jira refuses a comment body longer than this (characters)
COMMENT_MAX_CHARS = 32_767


def account_names(user: object) -> frozenset[str]:
    """Every identifier a Jira user object carries (Cloud ``accountId``; Data Center
    ``name`` and ``key``), so "written by syncd's account" works on both."""
    if not isinstance(user, Mapping):
        return frozenset()
    return frozenset(
        str(user[key]) for key in ("accountId", "name", "key") if isinstance(user.get(key), str)
    )


#: the comment property Jira Service Management marks an internal note with
JSM_PROPERTY = "sd.public.comment"


def _internal_property(properties: object) -> bool:
    if not isinstance(properties, list):
        return False
    for prop in properties:
        if isinstance(prop, Mapping) and prop.get("key") == JSM_PROPERTY:
            value = prop.get("value")
            if not isinstance(value, Mapping) or value.get("internal") is not False:
                return True  # internal, or a shape we do not know: counted internal
    return False


def _restricted(raw: Mapping[str, Any]) -> bool:
    """Restricted unless Jira plainly says the comment is public: no visibility, and
    ``jsdPublic`` true (Cloud) or the comment's properties read with no internal mark
    (Data Center, where ``jsdPublic`` may be absent). Neither known: restricted."""
    if raw.get("visibility") not in (None, {}):
        return True
    if _internal_property(raw.get("properties")):
        return True
    if "jsdPublic" in raw:
        return raw["jsdPublic"] is not True
    return not isinstance(raw.get("properties"), list)


def parse_comment(raw: object, me: frozenset[str], route: str) -> Comment:
    """One comment object -> ``Comment``; MalformedResponse names what is wrong."""

    def bad(what: str) -> MalformedResponse:
        return MalformedResponse(f"{route}: comment {what}", system="jira", route=route)

    if not isinstance(raw, Mapping):
        raise bad("is not an object")
    ident = raw.get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or str(ident) == "":
        raise bad("without an id")
    body = raw.get("body")
    if not isinstance(body, str):
        raise bad(f"{ident} has no wiki-markup body")
    author = raw.get("author")
    name = author.get("displayName") if isinstance(author, Mapping) else None
    try:
        created = parse_jira_time(str(raw.get("created")))
        updated = parse_jira_time(str(raw.get("updated") or raw.get("created")))
    except ValueError:
        raise bad(f"{ident} has no readable created/updated time") from None
    return Comment(
        id=str(ident),
        author=name if isinstance(name, str) and name else "someone",
        created_at=created,
        updated_at=updated,
        body=body,
        restricted=_restricted(raw),
        mine=bool(account_names(author) & me),
    )


def comment_page(raw: object, route: str) -> tuple[list[Any], int]:
    """The comments of one page and the total Jira reports."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("comments"), list):
        raise MalformedResponse(f"{route}: no comments list", system="jira", route=route)
    total = raw.get("total")
    items: list[Any] = raw["comments"]
    return items, total if isinstance(total, int) else len(items)
