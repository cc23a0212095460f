"""``JiraControl``: a typed client for the simulator's control API (``/_control/``).

Works across processes (the demo runs the simulator in one, syncd in another).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

# "Argument not given", where None means something (a visibility of None clears it).
_UNSET: Any = object()


class ControlError(Exception):
    """The control API refused a request."""


class JiraControl:
    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url + "/_control", timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JiraControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self._client.request(
            method, path, json=body if body is not None else None, params=params or None
        )
        if response.status_code >= 400:
            raise ControlError(f"{method} {path}: {response.status_code} {response.text}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def reset(self) -> None:
        """Back to the seeded site: no issues, default settings, no faults, zero counters."""
        self._call("POST", "/reset")

    # ----- users and projects ------------------------------------------------------------

    def add_user(
        self,
        email: str,
        *,
        api_token: str | None = None,
        pat: str | None = None,
        time_zone: str = "UTC",
        display_name: str | None = None,
        name: str | None = None,
    ) -> str:
        """Create a user; return its accountId."""
        body = {
            "email": email,
            "api_token": api_token,
            "pat": pat,
            "time_zone": time_zone,
            "display_name": display_name,
            "name": name,
        }
        result: dict[str, str] = self._call("POST", "/users", body)
        return result["accountId"]

    def update_user(self, email: str, **changes: str | None) -> None:
        """Change ``api_token``, ``pat`` (``None`` revokes: later calls get 401) or
        ``time_zone`` of a user."""
        unknown = set(changes) - {"api_token", "pat", "time_zone"}
        if unknown:
            raise ValueError(f"unknown user fields: {sorted(unknown)}")
        self._call("PATCH", f"/users/{email}", changes)

    def revoke_api_token(self, email: str) -> None:
        self.update_user(email, api_token=None)

    def add_project(self, key: str, name: str | None = None) -> str:
        """Create a project with the standard workflow; return its id."""
        result: dict[str, str] = self._call("POST", "/projects", {"key": key, "name": name})
        return result["id"]

    def remove_status(self, project: str, status: str) -> None:
        """Take ``status`` out of the project's workflow, as an admin editing it would."""
        self._call("POST", f"/projects/{project}/workflow/remove-status", {"status": status})

    # ----- issues as a human would touch them -------------------------------------------------

    def create_issue(
        self,
        project: str,
        summary: str,
        *,
        issuetype: str = "Task",
        priority: str | None = None,
        labels: list[str] | None = None,
        description: str | None = None,
        status: str | None = None,
        resolution: str | None = None,
        fields: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"project": project, "summary": summary, "issuetype": issuetype}
        optional = {
            "priority": priority,
            "labels": labels,
            "description": description,
            "status": status,
            "resolution": resolution,
            "fields": dict(fields) if fields else None,
            "properties": dict(properties) if properties else None,
            "actor": actor,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        result: dict[str, Any] = self._call("POST", "/issues", body)
        return result

    def bulk_create(
        self,
        project: str,
        count: int,
        *,
        summary_prefix: str = "Seeded issue",
        labels: list[str] | None = None,
    ) -> list[str]:
        body: dict[str, Any] = {
            "project": project,
            "count": count,
            "summary_prefix": summary_prefix,
        }
        if labels is not None:
            body["labels"] = labels
        result: dict[str, list[str]] = self._call("POST", "/issues/bulk", body)
        return result["keys"]

    def issue(self, ref: str) -> dict[str, Any]:
        """The issue's plain state (key, status, resolution, labels, properties, links...)."""
        result: dict[str, Any] = self._call("GET", f"/issues/{ref}")
        return result

    def issues(self, project: str | None = None) -> list[dict[str, Any]]:
        params = {"project": project} if project else {}
        result: list[dict[str, Any]] = self._call("GET", "/issues", **params)
        return result

    def set_status(
        self, ref: str, status: str, *, resolution: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Move an issue straight to a status by name, as a human clicking through would."""
        body = {"status": status, "resolution": resolution, "actor": actor}
        result: dict[str, Any] = self._call("POST", f"/issues/{ref}/status", body)
        return result

    def edit(
        self,
        ref: str,
        *,
        fields: Mapping[str, Any] | None = None,
        update: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Edit fields as a human (v2 shapes: ``{"priority": {"name": "High"}}``)."""
        body = {"fields": dict(fields or {}), "update": dict(update or {}), "actor": actor}
        result: dict[str, Any] = self._call("POST", f"/issues/{ref}/edit", body)
        return result

    def set_priority(self, ref: str, priority: str) -> dict[str, Any]:
        return self.edit(ref, fields={"priority": {"name": priority}})

    def set_labels(self, ref: str, labels: list[str]) -> dict[str, Any]:
        return self.edit(ref, fields={"labels": labels})

    def move(self, ref: str, project: str) -> dict[str, Any]:
        """Move an issue to another project: it gets a new key, its id stays."""
        result: dict[str, Any] = self._call("POST", f"/issues/{ref}/move", {"project": project})
        return result

    def delete(self, ref: str) -> None:
        self._call("DELETE", f"/issues/{ref}")

    def add_comment(
        self,
        ref: str,
        body: str,
        *,
        visibility: Mapping[str, str] | None = None,
        internal: bool = False,
        author: str | None = None,
    ) -> str:
        """A human comments (v2 wiki ``body``); returns the comment id. ``internal`` makes
        it a JSM internal note (``jsdPublic: false``); ``author`` is a seeded user's email
        (default: the human analyst)."""
        payload = {
            "body": body,
            "visibility": dict(visibility) if visibility else None,
            "internal": internal,
            "actor": author,
        }
        result: dict[str, str] = self._call("POST", f"/issues/{ref}/comments", payload)
        return result["id"]

    def update_comment(
        self,
        ref: str,
        comment_id: str,
        *,
        body: str | None = None,
        visibility: Mapping[str, str] | None = _UNSET,
        internal: bool | None = None,
    ) -> None:
        """The human analyst edits a comment: only what is given changes (``visibility=None``
        lifts the restriction). Bumps the comment's and the issue's ``updated`` and sends
        ``comment_updated``."""
        payload: dict[str, Any] = {}
        if body is not None:
            payload["body"] = body
        if visibility is not _UNSET:
            payload["visibility"] = dict(visibility) if isinstance(visibility, Mapping) else None
        if internal is not None:
            payload["internal"] = internal
        self._call("PUT", f"/issues/{ref}/comments/{comment_id}", payload)

    def delete_comment(self, ref: str, comment_id: str) -> None:
        """A human deletes a comment: bumps the issue's ``updated``, sends
        ``comment_deleted``."""
        self._call("DELETE", f"/issues/{ref}/comments/{comment_id}")

    def set_timestamps(
        self, ref: str, *, created: datetime | None = None, updated: datetime | None = None
    ) -> dict[str, Any]:
        body = {
            "created": created.isoformat() if created else None,
            "updated": updated.isoformat() if updated else None,
        }
        result: dict[str, Any] = self._call("POST", f"/issues/{ref}/timestamps", body)
        return result

    def link(self, link_type: str, inward: str, outward: str) -> str:
        """Link two issues as a human would: ``inward`` <outward phrase> ``outward``
        (``link("Duplicate", "SEC-2", "SEC-1")``: SEC-2 duplicates SEC-1). Returns the id."""
        body = {"type": link_type, "inward": inward, "outward": outward}
        result: dict[str, str] = self._call("POST", "/links", body)
        return result["id"]

    def links(self, ref: str) -> list[dict[str, Any]]:
        """The issue's links as its own side reads them (``direction``, ``phrase``, ``issue``)."""
        links: list[dict[str, Any]] = self.issue(ref)["links"]
        return links

    def attachments(self, ref: str) -> list[dict[str, Any]]:
        attachments: list[dict[str, Any]] = self.issue(ref)["attachments"]
        return attachments

    def comments(self, ref: str) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = self.issue(ref)["comments"]
        return comments

    def set_property(self, ref: str, key: str, value: Any) -> None:
        self._call("PUT", f"/issues/{ref}/properties/{key}", value)

    # ----- settings, faults, counters ----------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/settings")
        return result

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings: search_lag_seconds, deployment_type, burst_capacity,
        burst_refill_per_second, issue_write_capacity, issue_write_refill_per_second,
        property_max_bytes, remote_link_cap, property_jql, clock_offset_seconds."""
        result: dict[str, Any] = self._call("PUT", "/settings", settings)
        return result

    def set_search_lag(self, seconds: float) -> None:
        self.configure(search_lag_seconds=seconds)

    def settle_search(self) -> None:
        """Let search catch up now: every issue becomes visible as it currently is."""
        self._call("POST", "/search/settle")

    def inject(
        self,
        kind: str,
        route: str = "*",
        *,
        count: int | None = None,
        rate: float = 1.0,
        status: int = 503,
        retry_after: int | None = None,
        seconds: float = 0.0,
        reason: str = "jira-burst-based",
    ) -> dict[str, Any]:
        """Arm a fault on requests matching ``route`` (a shell pattern over
        ``"METHOD /rest/api/2/issue/{issueIdOrKey}"`` or ``"METHOD /concrete/path"``).

        Kinds: ``error`` (answer ``status``; with ``rate`` < 1 a random share of requests),
        ``rate_limit`` (429 with headers), ``stall`` (sleep ``seconds`` then answer),
        ``drop_after_commit`` (apply, then cut the connection mid-response), ``malformed``
        (apply, then answer a truncated JSON body). ``count`` is how many requests it hits
        (default 1, or unlimited when ``rate`` < 1).
        """
        body = {
            "kind": kind,
            "route": route,
            "count": count,
            "rate": rate,
            "status": status,
            "retry_after": retry_after,
            "seconds": seconds,
            "reason": reason,
        }
        result: dict[str, Any] = self._call("POST", "/faults", body)
        return result

    def fail_next(
        self, route: str, count: int = 1, *, status: int = 503, retry_after: int | None = None
    ) -> None:
        self.inject("error", route, count=count, status=status, retry_after=retry_after)

    def rate_limit_storm(
        self,
        count: int,
        *,
        route: str = "*",
        retry_after: int = 1,
        reason: str = "jira-burst-based",
    ) -> None:
        self.inject("rate_limit", route, count=count, retry_after=retry_after, reason=reason)

    def stall(self, seconds: float, *, route: str = "*", count: int = 1) -> None:
        self.inject("stall", route, count=count, seconds=seconds)

    def drop_after_commit(self, route: str = "POST /rest/api/*/issue", count: int = 1) -> None:
        self.inject("drop_after_commit", route, count=count)

    def malformed(self, route: str, count: int = 1) -> None:
        self.inject("malformed", route, count=count)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def counters(self) -> dict[str, int]:
        """Requests per ``"METHOD /route/template"`` since the last reset."""
        result: dict[str, int] = self._call("GET", "/counters")
        return result

    def count(self, method: str, route: str) -> int:
        """Requests served for one route template, e.g. ``count("POST", "/rest/api/2/issue")``."""
        return self.counters().get(f"{method} {route}", 0)

    def faults(self) -> list[dict[str, Any]]:
        """The armed faults (with how often each has fired and how many hits remain)."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def journal(self) -> list[dict[str, Any]]:
        """Every mutating API request served, in order: at, method, path, status."""
        return list(self._call("GET", "/journal"))

    def reset_counters(self) -> None:
        self._call("DELETE", "/counters")

    def reset_rate_limits(self) -> None:
        self._call("POST", "/rate-limits/reset")

    # ----- webhooks ------------------------------------------------------------------------

    def configure_webhook(
        self,
        url: str,
        secret: str,
        *,
        duplicate: bool = False,
        delay_seconds: float = 0,
        reorder: bool = False,
        retries: int = 3,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Send a signed admin webhook to ``url`` on every change (REST or control API).

        ``duplicate`` sends every delivery twice with the same identifier (a replay),
        ``delay_seconds`` holds each back, ``reorder`` shuffles small batches, ``retries``
        is how many more attempts a 408/409/425/429/5xx answer or a connection error gets
        (same identifier, ``X-Atlassian-Webhook-Retry: n``). Replaces any webhook before;
        ``reset()`` removes it. Returns ``webhook_stats()``.
        """
        body = {
            "url": url,
            "secret": secret,
            "duplicate": duplicate,
            "delay_seconds": delay_seconds,
            "reorder": reorder,
            "retries": retries,
            "seed": seed,
            "site_url": self.base_url,
        }
        result: dict[str, Any] = self._call("PUT", "/webhook", body)
        return result

    def disable_webhook(self) -> None:
        """Stop sending webhooks (queued deliveries are dropped)."""
        self._call("DELETE", "/webhook")

    def webhook_stats(self) -> dict[str, Any]:
        """``configured``, and when configured: ``idle``, ``pending``, ``emitted`` (per
        event), ``attempts``, ``retries``, ``sent`` (answered 2xx), ``failed`` (gave up),
        ``dropped``, ``by_status`` (per attempt: "200", "500", "error:ConnectError", ...)."""
        result: dict[str, Any] = self._call("GET", "/webhook")
        return result

    def wait_webhooks_idle(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until every queued delivery was sent, failed or dropped; return the stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.webhook_stats()
            if not stats.get("configured") or stats.get("idle"):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook deliveries still pending: {stats}")
            time.sleep(0.02)
