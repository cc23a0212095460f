"""The full submission listing, read as a stream.

``GET /submissions`` without ``UpdatedSince`` answers one JSON array of every submission
the API user can see; the API has no paging (see the reference). On a large program that
is tens of megabytes, and the parsed objects several times more. So the body goes to a
temporary file (``IntigritiClient.call_to_file``) and is read from there twice with ijson:
once to check that it is one complete JSON array and to collect the codes (the sweep
announces them to the polls before it starts), then in chunks that the sweep parses and
reconciles one at a time. Nothing holds every submission at once.

A malformed body fails the read before any item is reconciled, as a malformed body
always has; a malformed item is a per-item failure, as in ``parse.submission_batch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import IO, Any

import ijson

from syncd.errors import MalformedResponse
from syncd.intigriti import parse
from syncd.records import SubmissionBatch

SYSTEM = "intigriti"
ROUTE = "GET /submissions"


class StreamedListing:
    """Every submission of one full read, handed out in chunks (a ``SubmissionListing``)."""

    def __init__(
        self, body: IO[bytes], server_time: datetime | None, programs: frozenset[str]
    ) -> None:
        self.server_time = server_time
        self._body = body
        self._programs = programs
        try:
            self.codes, self.count = _survey(body)
        except BaseException:
            body.close()
            raise

    def chunks(self, size: int) -> Iterator[SubmissionBatch]:
        self._body.seek(0)
        items: Iterator[Any] = ijson.items(self._body, "item", use_float=True)
        offset = 0
        while True:
            raw = list(islice(items, size))
            if not raw:
                return
            yield parse.submission_batch(
                raw, programs=self._programs, route=ROUTE, offset=offset
            )
            offset += len(raw)

    def close(self) -> None:
        self._body.close()


def _survey(body: IO[bytes]) -> tuple[frozenset[str], int]:
    """The codes and number of items of a listing; MalformedResponse unless the body is
    one complete JSON array."""
    codes: set[str] = set()
    count = 0
    first = True
    try:
        for prefix, event, value in ijson.parse(body):
            if first:
                if (prefix, event) != ("", "start_array"):
                    raise _malformed(f"expected a JSON array, got a JSON {_kind(event)}")
                first = False
            elif prefix == "item" and event in ("start_map", "start_array", "string",
                                                 "number", "boolean", "null"):
                count += 1
            elif prefix == "item.code" and event == "string":
                codes.add(value)
    except ijson.JSONError as exc:
        raise _malformed(f"the body is not valid JSON ({_first_line(exc)})") from None
    if first:
        raise _malformed("the body is empty")
    return frozenset(codes), count


def _kind(event: str) -> str:
    return {"start_map": "object", "start_array": "array"}.get(event, event)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _malformed(message: str) -> MalformedResponse:
    return MalformedResponse(f"{ROUTE}: {message}", system=SYSTEM, route=ROUTE)
