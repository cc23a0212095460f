"""The request context and response value the simulator's handlers use."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from syncd.simulators.jira.errors import ApiError
from syncd.simulators.jira.model import User
from syncd.simulators.jira.render import Renderer
from syncd.simulators.jira.state import INVALID_PAYLOAD, JiraState

__all__ = ["INVALID_PAYLOAD", "Ctx", "Handler", "Resp"]


@dataclass
class Resp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.status == 204 or self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class Ctx:
    state: JiraState
    method: str
    version: str  # "2", "3" or "latest"
    params: dict[str, str]
    query: QueryParams
    raw_body: bytes
    base: str
    user: User | None
    #: request headers (case-insensitive, as Starlette gives them)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        """The representation version: "latest" answers like v2."""
        return "3" if self.version == "3" else "2"

    @property
    def me(self) -> User:
        assert self.user is not None
        return self.user

    @property
    def renderer(self) -> Renderer:
        zone = self.user.zone if self.user is not None else Renderer.utc()
        return Renderer(self.state, self.base, self.api_version, zone, self.version)

    def json(self, *, allow_empty: bool = False) -> Any:
        if not self.raw_body.strip():
            if allow_empty:
                return None
            raise ApiError(400, [INVALID_PAYLOAD])
        try:
            return json.loads(self.raw_body)
        except ValueError:
            raise ApiError(400, [INVALID_PAYLOAD]) from None

    def int_param(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            message = f"The value '{raw}' for '{name}' is not a valid integer."
            raise ApiError(400, [message]) from None

    def list_param(self, name: str) -> list[str]:
        return [part for value in self.query.getlist(name) for part in value.split(",") if part]


Handler = Callable[[Ctx], Resp]
