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
ijson is stricter than the standard parser in a few corners (a lone surrogate escape in
a researcher's text, an integer beyond 64 bits, a byte-order mark): a body it refuses is
parsed once more with ``json``, whole, so such a body syncs as it did before instead of
stopping every sweep; only a body neither accepts is malformed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import IO, Any

import ijson
import structlog

from syncd.errors import MalformedResponse
from syncd.intigriti import parse
from syncd.records import SubmissionBatch

SYSTEM = "intigriti"
ROUTE = "GET /submissions"

log = structlog.get_logger(__name__)

#: the parser events that begin one item of the array
_VALUE_EVENTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


class StreamedListing:
    """Every submission of one full read, handed out in chunks (a ``SubmissionListing``)."""

    def __init__(
        self, body: IO[bytes], server_time: datetime | None, programs: frozenset[str]
    ) -> None:
        self.server_time = server_time
        self._body = body
        self._programs = programs
        #: the whole body parsed by ``json``, when ijson refused it (rare; see above)
        self._whole: list[Any] | None = None
        try:
            try:
                self.codes, self.count = _survey(body)
            except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
                self._whole = _parse_whole(body, exc)
                self.codes = frozenset(
                    item["code"]
                    for item in self._whole
                    if isinstance(item, dict) and isinstance(item.get("code"), str)
                )
                self.count = len(self._whole)
        except BaseException:
            body.close()
            raise

    def chunks(self, size: int) -> Iterator[SubmissionBatch]:
        items: Iterator[Any]
        if self._whole is not None:
            items = iter(self._whole)
        else:
            self._body.seek(0)
            items = ijson.items(self._body, "item", use_float=True)
        offset = 0
        while True:
            raw = list(islice(items, size))
            if not raw:
                return
            batch = parse.submission_batch(
                raw, programs=self._programs, route=ROUTE, offset=offset
            )
            parse.log_unparsable(batch)
            yield batch
            offset += len(raw)

    def close(self) -> None:
        self._body.close()


def _survey(body: IO[bytes]) -> tuple[frozenset[str], int]:
    """The codes and number of items of a listing; MalformedResponse when the body is
    JSON but not an array."""
    codes: set[str] = set()
    count = 0
    first = True
    # ijson's own errors (and a UnicodeDecodeError) go to the caller, which tries ``json``
    # use_float as in ``chunks``: a number the chunks could not read fails here, up front
    for prefix, event, value in ijson.parse(body, use_float=True):
        if first:
            if (prefix, event) != ("", "start_array"):
                raise _malformed(f"expected a JSON array, got a JSON {_kind(event)}")
            first = False
        elif prefix == "item" and event in _VALUE_EVENTS:
            count += 1
        elif prefix == "item.code" and event == "string":
            codes.add(value)
    if first:
        raise _malformed("the body is empty")
    return frozenset(codes), count


def _parse_whole(body: IO[bytes], refused: BaseException) -> list[Any]:
    """The body by the standard parser, whole; MalformedResponse naming ijson's
    complaint when that refuses it too."""
    body.seek(0)
    try:
        whole = json.load(body)
    except (ValueError, UnicodeDecodeError):
        raise _malformed(f"the body is not valid JSON ({_first_line(refused)})") from None
    if not isinstance(whole, list):
        raise _malformed(f"expected a JSON array, got a JSON {type(whole).__name__}")
    log.info("intigriti_listing_parsed_whole", reason=_first_line(refused), items=len(whole))
    return whole


def _kind(event: str) -> str:
    return {"start_map": "object", "start_array": "array"}.get(event, event)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _malformed(message: str) -> MalformedResponse:
    return MalformedResponse(f"{ROUTE}: {message}", system=SYSTEM, route=ROUTE)
