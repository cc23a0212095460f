"""The full listing read as a stream (``IntigritiAdapter.all_submissions``), against the
simulator over real HTTP: the same submissions and failures as the one-shot read, in
chunks, from a body that never sits whole in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from intigriti_client_fixtures import make_adapter

from syncd.errors import MalformedResponse
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.simulators.intigriti.simulator import IntigritiSimulator


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


def test_the_stream_gives_what_the_one_shot_read_gives_in_chunks(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    codes = sim.control.seed_submissions(program["id"], 23)
    broken = codes[7]
    sim.control.set_malformed(broken, "bad_shape")
    whole = adapter.changed_submissions(None)

    listing = adapter.all_submissions()
    try:
        chunks = list(listing.chunks(5))
    finally:
        listing.close()

    assert listing.codes == frozenset(codes)
    assert listing.count == 23
    assert [len(c.submissions) + len(c.failures) for c in chunks] == [5, 5, 5, 5, 3]
    streamed = [s for c in chunks for s in c.submissions]
    assert streamed == list(whole.submissions)
    assert [f for c in chunks for f in c.failures] == list(whole.failures)
    assert [f.item for c in chunks for f in c.failures] == [broken]
    assert listing.server_time is not None
    assert sim.control.count("GET", "/submissions") == 2  # one read each


def test_a_body_that_is_not_json_fails_before_any_chunk(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sim.control.seed_submissions(program["id"], 3)
    sim.control.set_malformed(sim.control.seed_submissions(program["id"], 1)[0], "invalid_json")
    with pytest.raises(MalformedResponse) as info:
        adapter.all_submissions()
    assert info.value.route == "GET /submissions"


def test_a_half_body_is_malformed_as_in_the_one_shot_read(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sim.control.seed_submissions(program["id"], 40)
    sim.control.truncate_next(2, route="GET /submissions")
    with pytest.raises(MalformedResponse):
        adapter.changed_submissions(None)
    with pytest.raises(MalformedResponse):
        adapter.all_submissions()


def test_a_dropped_answer_is_asked_again_and_the_file_holds_one_answer(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    codes = sim.control.seed_submissions(program["id"], 40)
    sim.control.drop_after_commit(1, route="GET /submissions")
    listing = adapter.all_submissions()
    try:
        streamed = [s.code for c in listing.chunks(100) for s in c.submissions]
    finally:
        listing.close()
    assert sorted(streamed) == sorted(codes)
    assert sim.control.count("GET", "/submissions") >= 2  # the dropped one and the retry
