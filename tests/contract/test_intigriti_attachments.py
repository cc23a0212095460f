"""Report content against the Intigriti simulator over real HTTP: attachments listed and
downloaded (size cap, 404, retries, 401 refresh), reward totals, duplicates, and the bearer
token kept to the API's own origin (a second loopback server stands in for another host)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from intigriti_client_fixtures import make_adapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from syncd.errors import Rejected
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.records import Attachment, Payouts
from syncd.simulators.intigriti.simulator import IntigritiSimulator
from syncd.simulators.server import SimulatorServer

FILE_ROUTE = "/files/{submissionCode}/{attachmentCode}/{name}"
ATTACHMENT = "GET {attachment}"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
DECLARED = 1_000_000
TEXT = b"GET /admin HTTP/1.1\r\nHost: app.acme.example\r\n\r\n"


@pytest.fixture(scope="module")
def sim() -> Iterator[IntigritiSimulator]:
    with IntigritiSimulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def clean(sim: IntigritiSimulator) -> None:
    sim.control.reset()


@pytest.fixture
def program(sim: IntigritiSimulator) -> dict[str, Any]:
    return sim.control.seed_program(name="Acme")


@pytest.fixture
def adapter(sim: IntigritiSimulator) -> Iterator[IntigritiAdapter]:
    with make_adapter(sim) as made:
        yield made


def seed(sim: IntigritiSimulator, program: dict[str, Any], **fields: Any) -> str:
    return str(sim.control.seed_submission(program["id"], **fields)["code"])


def file_count(sim: IntigritiSimulator, status: int | None = None) -> int:
    return sim.control.count("GET", FILE_ROUTE, status)


@dataclass
class OtherOrigin:
    """A loopback server on another port (so another origin): serves bytes at
    ``/direct/{name}``, streams them without Content-Length at ``/stream/{name}``, announces
    a megabyte at ``/declared`` but sends ``content`` only, and answers ``/redirect`` with a
    302 to ``location``. Records every request's path and Authorization header."""

    content: bytes = b""
    location: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    encodings: list[str | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: SimulatorServer | None = None

    def start(self) -> OtherOrigin:
        app = Starlette(
            routes=[
                Route("/direct/{name}", self._direct),
                Route("/stream/{name}", self._stream),
                Route("/declared", self._declared),
                Route("/gzipped/{name}", self._gzipped),
                Route("/redirect", self._redirect),
            ]
        )
        self._server = SimulatorServer(app).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    def _record(self, request: Request) -> None:
        with self._lock:
            self.seen.append((request.url.path, request.headers.get("authorization")))

    async def _direct(self, request: Request) -> Response:
        self._record(request)
        return Response(self.content, media_type="image/png")

    async def _stream(self, request: Request) -> Response:
        self._record(request)
        content = self.content

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), 100):
                yield content[start : start + 100]

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def _declared(self, request: Request) -> Response:
        self._record(request)
        return Response(self.content, headers={"Content-Length": str(DECLARED)})

    async def _gzipped(self, request: Request) -> Response:
        """Compressed although the client asked for ``identity``."""
        self._record(request)
        self.encodings.append(request.headers.get("accept-encoding"))
        body = gzip.compress(self.content)
        return Response(body, headers={"Content-Encoding": "gzip"}, media_type="text/plain")

    async def _redirect(self, request: Request) -> Response:
        self._record(request)
        return RedirectResponse(self.location, status_code=302)


@pytest.fixture
def other() -> Iterator[OtherOrigin]:
    server = OtherOrigin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def with_files(sim: IntigritiSimulator, program: dict[str, Any]) -> str:
    """A submission with two attachments (a PNG and a text file) and a bounty and a bonus."""
    code = seed(sim, program, status="Accepted")
    assert sim.control.add_attachment(code, "screenshot.png", PNG, "image/png") == 1
    assert sim.control.add_attachment(code, "request.txt", TEXT) == 2
    sim.control.add_payout(code, 500.0)
    sim.control.add_payout(code, 50.0, kind="bonus")
    return code


def attachments_of(adapter: IntigritiAdapter, code: str) -> tuple[Attachment, ...]:
    report = adapter.get_submission(code).report
    assert report is not None
    return report.attachments


# -- the detail and the list ------------------------------------------------------------


def test_detail_lists_attachments_and_reward_totals(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    sub = adapter.get_submission(with_files)

    assert sub.detail is True
    assert sub.report is not None
    assert [a.code for a in sub.report.attachments] == ["1", "2"]
    for attachment in sub.report.attachments:
        assert attachment.url.startswith(sim.base_url + f"/files/{with_files}/")
    assert sub.payouts == Payouts(total=550.0, bounty=500.0, bonus=50.0, currency="EUR")
    assert sub.total_payout == 550.0
    assert sub.duplicate_of is None
    assert sub.status == "Accepted"


def test_detail_without_files_or_payouts(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sub = adapter.get_submission(seed(sim, program))
    assert sub.report is not None
    assert sub.report.attachments == ()
    assert sub.payouts == Payouts(total=0.0, bounty=0.0, bonus=0.0, currency="EUR")


def test_list_read_shows_the_total_payout(
    sim: IntigritiSimulator, program: dict[str, Any], with_files: str, adapter: IntigritiAdapter
) -> None:
    unpaid = seed(sim, program)
    batch = adapter.changed_submissions(None)
    assert batch.failures == ()
    by_code = {s.code: s for s in batch.submissions}
    assert by_code[with_files].total_payout == 550.0
    assert by_code[unpaid].total_payout == 0.0
    assert all(s.detail is False and s.payouts is None for s in batch.submissions)

    sim.control.add_payout(with_files, 25.0, kind="bonus")
    (later,) = [s for s in adapter.changed_submissions(None).submissions if s.code == with_files]
    assert later.total_payout == 575.0


def test_report_content_seeded_through_the_control_api(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(
        sim, program, category="Injection", impact="Data loss", recommended_solution="Bind it"
    )
    report = adapter.get_submission(code).report
    assert report is not None
    assert (report.category, report.impact, report.recommended_solution) == (
        "Injection",
        "Data loss",
        "Bind it",
    )


def test_mark_duplicate_closes_with_the_original_named(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    original = seed(sim, program, status="Accepted")
    duplicate = seed(sim, program, status="Triage")
    sim.control.mark_duplicate(duplicate, original)

    sub = adapter.get_submission(duplicate)
    assert sub.duplicate_of == original
    assert (sub.status, sub.close_reason) == ("Closed", "Duplicate")
    parent = adapter.get_submission(original)
    assert parent.duplicate_of is None  # it has a child, it is no duplicate itself
    assert parent.status == "Accepted"
    (listed,) = [s for s in adapter.changed_submissions(None).submissions if s.code == duplicate]
    assert (listed.status, listed.close_reason) == ("Closed", "Duplicate")


# -- downloads --------------------------------------------------------------------------


def test_download_returns_the_exact_bytes_name_and_type(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, text = attachments_of(adapter, with_files)

    image = adapter.download_attachment(png, max_bytes=1_000_000)
    assert image.content == PNG
    assert image.name == "screenshot.png"
    assert image.content_type == "image/png"
    request = adapter.download_attachment(text, max_bytes=1_000_000)
    assert (request.content, request.name) == (TEXT, "request.txt")

    assert file_count(sim, 200) == 2
    assert adapter.request_counts()[(ATTACHMENT, "200")] == 2


def test_download_takes_a_read_token_per_request(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, _ = attachments_of(adapter, with_files)
    before = adapter.quota_stats()["read"].granted
    adapter.download_attachment(png, max_bytes=1_000_000)
    assert adapter.quota_stats()["read"].granted == before + 1


def test_a_file_of_exactly_max_bytes_is_accepted_one_more_is_rejected(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, _ = attachments_of(adapter, with_files)
    assert adapter.download_attachment(png, max_bytes=len(PNG)).content == PNG

    with pytest.raises(Rejected, match="larger than") as info:
        adapter.download_attachment(png, max_bytes=len(PNG) - 1)
    assert info.value.route == ATTACHMENT
    # the request was made (and answered); the cap refused the body
    assert file_count(sim, 200) == 2
    assert adapter.request_counts()[(ATTACHMENT, "200")] == 2


def test_a_large_file_is_rejected_and_the_request_was_counted(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.add_attachment(code, "dump.bin", b"\0" * 200_000)
    (big,) = attachments_of(adapter, code)
    with pytest.raises(Rejected):
        adapter.download_attachment(big, max_bytes=10_000)
    assert file_count(sim) == 1  # refused once, not retried
    assert adapter.request_counts()[(ATTACHMENT, "200")] == 1


def test_an_unknown_attachment_code_is_rejected(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, _ = attachments_of(adapter, with_files)
    prefix = f"/files/{with_files}/1/"
    assert prefix in png.url
    missing = Attachment(code="99", url=png.url.replace(prefix, f"/files/{with_files}/99/"))

    with pytest.raises(Rejected) as info:
        adapter.download_attachment(missing, max_bytes=1_000_000)
    assert info.value.status == 404
    assert info.value.route == ATTACHMENT
    assert file_count(sim, 404) == 1  # not retried
    assert adapter.request_counts()[(ATTACHMENT, "404")] == 1


def test_a_503_on_a_download_is_retried(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, _ = attachments_of(adapter, with_files)
    sim.control.fail_next(1, route="GET /files/*", status=503)

    assert adapter.download_attachment(png, max_bytes=1_000_000).content == PNG
    assert file_count(sim, 503) == 1
    assert file_count(sim, 200) == 1
    counts = adapter.request_counts()
    assert (counts[(ATTACHMENT, "503")], counts[(ATTACHMENT, "200")]) == (1, 1)


def test_a_revoked_token_is_refreshed_once_for_a_download(
    sim: IntigritiSimulator, with_files: str, adapter: IntigritiAdapter
) -> None:
    png, _ = attachments_of(adapter, with_files)
    old = adapter.oauth.access_token()
    assert sim.control.revoke_token(old) >= 1

    assert adapter.download_attachment(png, max_bytes=1_000_000).content == PNG
    assert adapter.oauth.access_token() != old
    assert file_count(sim, 401) == 1
    assert file_count(sim, 200) == 1


def test_a_hostile_attachment_name_is_cleaned(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.add_attachment(code, "../../etc/passwd", b"root:x:0:0")
    sim.control.add_attachment(code, "invoice\u202egpj.exe", b"MZ")
    traversal, override = attachments_of(adapter, code)

    fetched = adapter.download_attachment(traversal, max_bytes=1000)
    assert fetched.content == b"root:x:0:0"
    assert "/" not in fetched.name
    assert not fetched.name.startswith(".")
    assert fetched.name.endswith("passwd")
    renamed = adapter.download_attachment(override, max_bytes=1000)
    assert renamed.content == b"MZ"
    assert "\u202e" not in renamed.name
    assert renamed.name.endswith("gpj.exe")


# -- the bearer token stays on the API's origin -----------------------------------------


def test_the_file_route_requires_the_token(sim: IntigritiSimulator, with_files: str) -> None:
    # What the tests below rely on: without the bearer token the simulator refuses a file.
    control_view = sim.control.submission(with_files)
    assert [a["code"] for a in control_view["attachments"]] == [1, 2]
    url = sim.base_url + f"/files/{with_files}/1/screenshot.png"
    assert httpx.get(url, timeout=5.0).status_code == 401


def test_a_file_on_another_origin_gets_no_token(
    sim: IntigritiSimulator, other: OtherOrigin, adapter: IntigritiAdapter
) -> None:
    other.content = PNG
    elsewhere = Attachment(code="5", url=other.base_url + "/direct/cdn.png")

    fetched = adapter.download_attachment(elsewhere, max_bytes=1_000_000)

    assert (fetched.content, fetched.name) == (PNG, "cdn.png")
    assert other.seen == [("/direct/cdn.png", None)]
    assert adapter.request_counts()[(ATTACHMENT, "200")] == 1
    assert file_count(sim) == 0


def test_a_redirect_from_elsewhere_to_the_api_gets_no_token(
    sim: IntigritiSimulator, with_files: str, other: OtherOrigin, adapter: IntigritiAdapter
) -> None:
    """A URL off the API's origin that redirects back to the API could make syncd fetch
    any API resource with the company's token: once off the origin, no token again."""
    png, _ = attachments_of(adapter, with_files)
    other.location = png.url
    via_other = Attachment(code="1", url=other.base_url + "/redirect")
    before = adapter.quota_stats()["read"].granted

    with pytest.raises(Rejected, match="HTTP 401"):
        adapter.download_attachment(via_other, max_bytes=1_000_000)

    assert other.seen == [("/redirect", None)]
    assert file_count(sim, 401) == 1  # the simulator got the request without a token
    assert file_count(sim, 200) == 0
    counts = adapter.request_counts()
    assert (counts[(ATTACHMENT, "302")], counts[(ATTACHMENT, "401")]) == (1, 1)
    assert adapter.quota_stats()["read"].granted == before + 2  # one token per hop


def test_a_redirect_loop_is_refused(other: OtherOrigin, adapter: IntigritiAdapter) -> None:
    other.location = other.base_url + "/redirect"
    looping = Attachment(code="1", url=other.base_url + "/redirect")
    with pytest.raises(Rejected, match="redirects"):
        adapter.download_attachment(looping, max_bytes=1000)
    assert len(other.seen) == 6  # the first request and five redirects followed
    assert all(auth is None for _, auth in other.seen)


def test_a_stream_without_content_length_is_capped_while_reading(
    other: OtherOrigin, adapter: IntigritiAdapter
) -> None:
    other.content = bytes(5_000)
    streamed = Attachment(code="1", url=other.base_url + "/stream/big.bin")
    with httpx.stream("GET", streamed.url, timeout=5.0) as probe:
        assert "content-length" not in probe.headers  # only the streamed count can tell
    other.seen.clear()
    with pytest.raises(Rejected, match="larger than"):
        adapter.download_attachment(streamed, max_bytes=1_000)
    assert adapter.download_attachment(streamed, max_bytes=5_000).content == bytes(5_000)
    assert [auth for _, auth in other.seen] == [None, None]


def test_a_body_compressed_despite_identity_is_the_file_and_capped_decoded(
    other: OtherOrigin, adapter: IntigritiAdapter
) -> None:
    other.content = b"line of a request log\n" * 500  # 11,000 bytes, a few hundred gzipped
    gzipped = Attachment(code="1", url=other.base_url + "/gzipped/requests.log")
    fetched = adapter.download_attachment(gzipped, max_bytes=20_000)
    assert fetched.content == other.content
    assert other.encodings == ["identity"]
    with pytest.raises(Rejected, match="larger than"):
        adapter.download_attachment(gzipped, max_bytes=5_000)  # the decoded size counts


def test_a_declared_content_length_over_the_cap_is_refused_before_reading(
    other: OtherOrigin, adapter: IntigritiAdapter
) -> None:
    # The server announces a megabyte and sends ten bytes: read, the body would end early
    # (a transport error, retried); the cap refuses it on the header, before any reading.
    other.content = b"0123456789"
    declared = Attachment(code="1", url=other.base_url + "/declared")
    with pytest.raises(Rejected, match="larger than"):
        adapter.download_attachment(declared, max_bytes=DECLARED - 1)
    assert len(other.seen) == 1
