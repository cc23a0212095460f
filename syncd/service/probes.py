"""The checks behind /healthz and /readyz, asked of the live objects at request time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncd.errors import StoreError
from syncd.intigriti.oauth import TokenStatus
from syncd.quota import Priority
from syncd.service.health import Check, ServiceState
from syncd.service.metrics import Side
from syncd.store.repository import Repository
from syncd.sync.engine import ReadBook


@dataclass
class Probes:
    state: ServiceState
    repository: Repository
    token_status: Callable[[], TokenStatus]
    reads: ReadBook
    sides: Sequence[Side]

    def alive(self) -> Check:
        return self.state.liveness(self._last_activity, self._waiting_for_quota)

    def ready(self) -> list[Check]:
        return [
            self._database(),
            self._token(),
            self._active(),
            *self.state.cycles_check(self.reads.last_success),
        ]

    def _last_activity(self) -> float:
        return max(side.tally.last_at for side in self.sides)

    def _waiting_for_quota(self) -> bool:
        return any(
            bucket.waiting(priority) > 0
            for side in self.sides
            for bucket in side.buckets()
            for priority in Priority
        )

    def _database(self) -> Check:
        try:
            self.repository.ping()
        except StoreError as exc:
            return Check("database", False, str(exc))
        return Check("database", True, "answers")

    def _token(self) -> Check:
        try:
            token = self.token_status()
        except StoreError as exc:
            return Check("intigriti_token", False, f"cannot read the stored token: {exc}")
        if token.mode == "static":
            return Check("intigriti_token", True, "static access token configured")
        if not token.has_token:
            return Check("intigriti_token", False, "no token stored: run `syncd auth login`")
        expired = token.seconds_left is not None and token.seconds_left <= 0
        if expired and not token.has_refresh_token:
            return Check(
                "intigriti_token", False, "the token expired and cannot be refreshed:"
                " run `syncd auth login`"
            )
        return Check("intigriti_token", True, "usable")

    def _active(self) -> Check:
        role = self.state.role
        if role == "active":
            return Check("active", True, "this instance holds the leader lease")
        if role == "standby":
            return Check("active", False, "standby: another instance is active")
        return Check("active", False, role)
