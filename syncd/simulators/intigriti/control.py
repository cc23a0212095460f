"""``IntigritiControl``: a typed httpx client for the simulator's ``/_control/`` API.

Works across processes (the demo, a simulator started with ``syncd sim intigriti``).
Errors from the control API raise ``httpx.HTTPStatusError``: this is test tooling, not an
adapter, so it does not translate into ``syncd.errors``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

import httpx

MalformedKind = Literal["unknown_enum", "bad_shape", "invalid_json"]
Author = Literal["researcher", "company"]
_UNSET: Any = object()


class IntigritiControl:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.base_url}/_control", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IntigritiControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    # ----------------------------------------------------------------- data

    def reset(self) -> None:
        """Forget all data, tokens, faults and counters; restore quotas and the clock."""
        self._call("POST", "/reset")

    def seed_program(
        self, *, name: str | None = None, handle: str | None = None, program_id: str | None = None
    ) -> dict[str, Any]:
        """Create a program; returns its ``ProgramOverview`` JSON (``id`` is the program id)."""
        body = {"name": name, "handle": handle, "id": program_id}
        return dict(self._call("POST", "/programs", {k: v for k, v in body.items() if v}))

    def seed_submission(self, program_id: str, **fields: Any) -> dict[str, Any]:
        """Create a submission with generated defaults; returns the internal view.

        Fields: code, title, status, close_reason, severity (name or id; None = unset),
        vector, internal_reference, internal_reference_url, created_at, updated_at
        (epoch seconds), submitter, type_name, category, cwe, endpoint, poc, impact,
        recommended_solution.
        """
        return dict(self._call("POST", "/submissions", {"program_id": program_id, **fields}))

    def seed_submissions(self, program_id: str, count: int) -> list[str]:
        """Create ``count`` submissions with generated defaults; returns their codes."""
        body = {"program_id": program_id, "count": count}
        return list(self._call("POST", "/submissions/bulk", body)["codes"])

    def submission(self, code: str) -> dict[str, Any]:
        """What a human sees in the UI (status/severity names, messages); no faults."""
        return dict(self._call("GET", f"/submissions/{code}"))

    def edit_submission(
        self,
        code: str,
        *,
        severity: str | int | None = _UNSET,
        vector: str | None = _UNSET,
        status: str = _UNSET,
        close_reason: str | None = _UNSET,
        internal_reference: str | None = _UNSET,
        internal_reference_url: str | None = _UNSET,
        title: str = _UNSET,
        message: str = _UNSET,
    ) -> dict[str, Any]:
        """Edit as a company user would in the web app; bumps lastUpdatedAt, adds events.

        Only the arguments given are changed. ``internal_reference`` and its URL are set
        together (an omitted one becomes null) when either is given.
        """
        changes = {
            "severity": severity,
            "vector": vector,
            "status": status,
            "close_reason": close_reason,
            "internal_reference": internal_reference,
            "internal_reference_url": internal_reference_url,
            "title": title,
            "message": message,
        }
        body = {k: v for k, v in changes.items() if v is not _UNSET}
        return dict(self._call("PATCH", f"/submissions/{code}", body))

    def add_attachment(
        self,
        code: str,
        name: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> int:
        """The researcher attaches a file to the report; returns its attachment code."""
        body = {
            "name": name,
            "content_base64": base64.b64encode(content).decode(),
            "content_type": content_type,
        }
        answer = self._call("POST", f"/submissions/{code}/attachments", body)
        return int(answer["code"])

    # ----------------------------------------------------------------- conversation

    def post_message(
        self,
        code: str,
        text: str,
        *,
        author: Author = "researcher",
        internal: bool = False,
        attachments: Sequence[tuple[str, bytes]] = (),
    ) -> dict[str, Any]:
        """A human writes a message in the web app; returns it as ``messages()`` lists it
        (``messageId``, ``createdAt``, ...).

        ``author="researcher"`` is the submission's submitter (always External: a researcher
        cannot post an internal note, ``internal=True`` answers 400); ``"company"`` is the
        company user edits are attributed to. Attachments are ``(file name, bytes)``; their
        MIME type follows the name. Bumps lastUpdatedAt; emits SubmissionMessagePlaced.
        """
        body = {
            "message": text,
            "author": author,
            "internal": internal,
            "attachments": [
                {"name": name, "content_base64": base64.b64encode(content).decode()}
                for name, content in attachments
            ],
        }
        return dict(self._call("POST", f"/submissions/{code}/messages", body))

    def edit_message(self, code: str, message_id: str, text: str) -> dict[str, Any]:
        """The author edits a message: its event shows the new text and ``lastEditedAt``;
        bumps lastUpdatedAt; no new event, no webhook."""
        path = f"/submissions/{code}/messages/{message_id}"
        return dict(self._call("PATCH", path, {"message": text}))

    def delete_message(self, code: str, message_id: str) -> dict[str, Any]:
        """The author deletes a message: its event keeps its place with ``deletedAt`` set,
        ``message`` null and no attachments; bumps lastUpdatedAt; no webhook."""
        return dict(self._call("DELETE", f"/submissions/{code}/messages/{message_id}"))

    def messages(self, code: str) -> list[dict[str, Any]]:
        """The conversation, oldest first: ``messageId``, ``message`` (None once deleted),
        ``external``, ``createdAt``, ``userName``, ``role``, ``attachments``
        (``[{code, name, size}]``), ``editedAt``, ``deletedAt``."""
        return list(self._call("GET", f"/submissions/{code}/messages"))

    def add_payout(self, code: str, amount: float, *, kind: str = "bounty") -> dict[str, Any]:
        """The company pays a bounty or a bonus (EUR) on ``code``."""
        path = f"/submissions/{code}/payouts"
        return dict(self._call("POST", path, {"amount": amount, "kind": kind}))

    def mark_duplicate(self, code: str, original: str) -> dict[str, Any]:
        """A triager closes ``code`` as a duplicate of ``original``."""
        path = f"/submissions/{code}/duplicate"
        return dict(self._call("PUT", path, {"original": original}))

    def set_malformed(self, code: str, kind: MalformedKind | None) -> None:
        """Make one submission render badly in lists and detail (None restores it)."""
        self._call("PUT", f"/submissions/{code}/malformed", {"kind": kind})

    # ----------------------------------------------------------------- clock

    def clock(self) -> dict[str, float]:
        return dict(self._call("GET", "/clock"))

    def set_clock_offset(self, seconds: float) -> dict[str, float]:
        return dict(self._call("POST", "/clock", {"offset": seconds}))

    def advance_clock(self, seconds: float) -> dict[str, float]:
        """Move simulated time forward (token expiry, timestamps, rate-limit windows)."""
        return dict(self._call("POST", "/clock", {"advance": seconds}))

    # ----------------------------------------------------------------- identity

    def mint_token(
        self,
        *,
        scopes: list[str] | tuple[str, ...] | None = None,
        expires_in: int | None = None,
        non_expiring: bool = False,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """A token response (access_token, refresh_token, expires_in, scope) without a browser.

        Default scopes: company_external_api, core_platform:read/write, offline_access.
        """
        body: dict[str, Any] = {"non_expiring": non_expiring}
        if scopes is not None:
            body["scopes"] = list(scopes)
        if expires_in is not None:
            body["expires_in"] = expires_in
        if client_id is not None:
            body["client_id"] = client_id
        return dict(self._call("POST", "/tokens", body))

    def revoke_token(self, token: str) -> int:
        return int(self._call("POST", "/tokens/revoke", {"token": token})["revoked"])

    def revoke_all(self, client_id: str | None = None) -> int:
        """Revoke every token (of one client): like deactivating the integration."""
        body: dict[str, Any] = {"client_id": client_id} if client_id else {"all": True}
        return int(self._call("POST", "/tokens/revoke", body)["revoked"])

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self._call(
            "POST",
            "/clients",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
            },
        )

    # ----------------------------------------------------------------- quotas

    def set_rate_limits(
        self, *, read_per_minute: int | None = None, write_per_minute: int | None = None
    ) -> dict[str, int]:
        """Change the quotas (and empty the current windows)."""
        body = {"read_per_minute": read_per_minute, "write_per_minute": write_per_minute}
        return dict(self._call("POST", "/rate-limits", body))

    def reset_rate_limits(self) -> None:
        """Empty the current windows, keeping the quotas."""
        self._call("DELETE", "/rate-limits")

    # ----------------------------------------------------------------- faults

    def _fault(self, kind: str, route: str, **fields: Any) -> dict[str, Any]:
        body = {"kind": kind, "route": route, **{k: v for k, v in fields.items() if v is not None}}
        return dict(self._call("POST", "/faults", body))

    def fail_next(self, count: int = 1, *, route: str = "*", status: int = 500) -> dict[str, Any]:
        """The next ``count`` requests matching ``route`` answer ``status`` (5xx)."""
        return self._fault("error", route, count=count, status=status)

    def fail_randomly(
        self, probability: float, *, route: str = "*", status: int = 500, seed: int = 0
    ) -> dict[str, Any]:
        """Matching requests answer ``status`` with ``probability`` (seeded, repeatable)."""
        return self._fault("error", route, probability=probability, status=status, seed=seed)

    def rate_limit_storm(
        self, count: int, *, retry_after: int = 30, route: str = "*"
    ) -> dict[str, Any]:
        """The next ``count`` matching requests get 429 with ``Retry-After: retry_after``."""
        return self._fault("rate_limit", route, count=count, retry_after=retry_after)

    def stall_next(
        self, count: int = 1, *, seconds: float = 30.0, route: str = "*"
    ) -> dict[str, Any]:
        """The next ``count`` matching requests wait ``seconds`` before being handled."""
        return self._fault("stall", route, count=count, seconds=seconds)

    def drop_after_commit(self, count: int = 1, *, route: str = "*") -> dict[str, Any]:
        """The next ``count`` matching requests are handled (committed), then cut off."""
        return self._fault("drop", route, count=count)

    def truncate_next(self, count: int = 1, *, route: str = "*") -> dict[str, Any]:
        """The next ``count`` matching requests are handled (committed), then answered with
        half of their JSON body."""
        return self._fault("truncate", route, count=count)

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # ----------------------------------------------------------------- webhooks

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
        """Send a signed company webhook to ``url`` on every change (API or control API).

        A ``TestEvent`` goes first; the webhook is active (others are sent) only once it is
        answered with a 2xx. ``duplicate`` sends every delivery twice, ``delay_seconds``
        holds each back, ``reorder`` shuffles small batches, ``retries`` is how many more
        attempts a non-2xx answer or a connection error gets. Replaces any webhook before.
        Returns ``webhook_stats()``.
        """
        body = {
            "url": url,
            "secret": secret,
            "duplicate": duplicate,
            "delay_seconds": delay_seconds,
            "reorder": reorder,
            "retries": retries,
            "seed": seed,
        }
        return dict(self._call("PUT", "/webhook", body))

    def disable_webhook(self) -> None:
        """Stop sending webhooks (queued deliveries are dropped)."""
        self._call("DELETE", "/webhook")

    def webhook_stats(self) -> dict[str, Any]:
        """``configured``, and when configured: ``active``, ``idle``, ``pending``,
        ``emitted`` (per event), ``attempts``, ``retries``, ``sent`` (answered 2xx),
        ``failed`` (gave up), ``dropped``, ``by_status`` (per attempt: "204", "500",
        "error:ConnectError", ...)."""
        return dict(self._call("GET", "/webhook"))

    def wait_webhooks_idle(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until every queued delivery was sent, failed or dropped; return the stats."""
        return _wait_idle(self.webhook_stats, timeout)

    # ----------------------------------------------------------------- counters

    def counters(self) -> list[dict[str, Any]]:
        """``[{method, route, status, count}]``; route is the template without version."""
        return list(self._call("GET", "/counters"))

    def count(self, method: str, route: str, status: int | None = None) -> int:
        """Requests served for one route template (e.g. ``GET /submissions``)."""
        return sum(
            c["count"]
            for c in self.counters()
            if c["method"] == method
            and c["route"] == route
            and (status is None or c["status"] == status)
        )

    def reset_counters(self) -> None:
        self._call("DELETE", "/counters")

    def journal(self) -> list[dict[str, Any]]:
        """Every mutating API request served, in order: at, method, path, status."""
        return list(self._call("GET", "/journal"))


def _wait_idle(stats: Callable[[], dict[str, Any]], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = stats()
        if not current.get("configured") or current.get("idle"):
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"webhook deliveries still pending: {current}")
        time.sleep(0.02)
