"""The error the simulator's handlers raise; rendered in Jira's error shape."""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """An HTTP error answered as ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self,
        status: int,
        messages: tuple[str, ...] | list[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, list(messages), dict(errors or {}))
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {"errorMessages": self.messages, "errors": self.errors}


def not_found_issue() -> ApiError:
    return ApiError(404, ["Issue does not exist or you do not have permission to see it."])


def cannot_set(field: str) -> str:
    return f"Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."
