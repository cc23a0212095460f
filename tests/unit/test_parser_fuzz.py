"""Fuzzing every parser fed from outside: never a crash, a bad item named and set aside.

Arbitrary JSON, and valid bodies with one value replaced by arbitrary JSON or removed,
go through the Intigriti and Jira parsers; arbitrary TOML (and text that is not TOML)
goes through the settings loader. The only exceptions allowed out are syncd's own
(``MalformedResponse``/``ItemError`` naming the item and field, ``ConfigError``), and in
a list one bad item never takes the others with it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_intigriti_parse import detail, overview
from test_tracker_parse import raw_issue

from syncd.errors import ConfigError, ItemError, MalformedResponse
from syncd.intigriti import parse as intigriti_parse
from syncd.records import Issue, Submission
from syncd.settings import load_settings
from syncd.simulators.world import to_toml
from syncd.tracker.parse import parse_issue

EXAMPLES = 400

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


#: values that confuse a parser expecting another type, tried more often than chance would
CONFUSING = (
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63),
    1e308,
    float("nan"),
    "",
    " ",
    "x" * 5000,
    "\u0000",
    [],
    {},
    [None],
    {"id": None, "value": None},
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three values replaced (by a confusing value or arbitrary
    JSON) or removed."""
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = paths[draw(st.integers(0, 10**6)) % len(paths)]
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        choice = draw(st.integers(0, 9))
        if choice == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif choice <= 6:
            # a copy: a later mutation may go inside it, and CONFUSING must stay as it is
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(CONFUSING)))
        else:
            parent[path[-1]] = draw(json_values)
    return body


fuzz = settings(max_examples=EXAMPLES, deadline=None)


@fuzz
@given(body=json_values)
def test_any_json_as_a_submission_list_parses_or_is_refused_as_malformed(body: Any) -> None:
    try:
        batch = intigriti_parse.submission_batch(body)
    except MalformedResponse:
        return
    assert all(isinstance(s, Submission) for s in batch.submissions)
    if isinstance(body, list):
        assert len(batch.submissions) + len(batch.failures) == len(body)


@fuzz
@given(bad=mutated(overview("ACME-BAD00001")), position=st.integers(0, 3))
def test_one_damaged_submission_never_sinks_the_list(bad: dict[str, Any], position: int) -> None:
    good = [overview(f"ACME-GOOD000{n}") for n in range(3)]
    body = [*good[:position], bad, *good[position:]]
    batch = intigriti_parse.submission_batch(body)
    codes = {s.code for s in batch.submissions}
    assert {f"ACME-GOOD000{n}" for n in range(3)} <= codes
    assert len(batch.submissions) + len(batch.failures) == 4
    for failure in batch.failures:
        assert failure.item and failure.field and failure.message


@fuzz
@given(body=json_values | mutated(detail()))
def test_any_submission_detail_parses_or_names_what_is_wrong(body: Any) -> None:
    try:
        submission = intigriti_parse.submission_detail(body)
    except ItemError as exc:
        assert exc.item and exc.field
        return
    except MalformedResponse:
        return
    assert isinstance(submission, Submission)


@fuzz
@given(body=json_values)
def test_any_events_body_parses_or_is_refused(body: Any) -> None:
    try:
        intigriti_parse.events(body, "ACME-1", "GET /submissions/{code}/events")
    except MalformedResponse:
        return


@fuzz
@given(raw=json_values | mutated(raw_issue()))
def test_any_jira_issue_parses_or_names_what_is_wrong(raw: Any) -> None:
    if not isinstance(raw, dict):
        return  # the adapter sets non-objects aside before parsing (see test_tracker_parse)
    try:
        issue = parse_issue(
            raw,
            label="intigriti",
            property_key="syncd",
            cvss_field="customfield_10050",
            browse_base="https://jira.example",
        )
    except ItemError as exc:
        assert exc.field
        return
    assert isinstance(issue, Issue)


SECTIONS = ("database", "intigriti", "jira", "sync", "logging", "mapping", "nonsense")
KEYS = (
    "url",
    "api_url",
    "client_id",
    "programs",
    "project",
    "poll_interval_seconds",
    "read_rate_per_minute",
    "level",
    "format",
    "token_key",
    "statuses_to_create",
    "typo_key",
)
toml_scalars = (
    st.text(max_size=30)
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)
toml_documents = st.dictionaries(
    st.sampled_from(SECTIONS),
    st.dictionaries(
        st.sampled_from(KEYS), toml_scalars | st.lists(toml_scalars, max_size=3), max_size=4
    ),
    max_size=4,
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SYNCD_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name, raising=False)


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(document=toml_documents | st.text(max_size=200).map(lambda text: {"__raw__": text}))
def test_any_config_file_loads_or_is_a_config_error(
    tmp_path: Path, clean_environment: None, document: dict[str, Any]
) -> None:
    path = tmp_path / "config.toml"
    if "__raw__" in document:
        path.write_text(str(document["__raw__"]))
    else:
        try:
            path.write_text(to_toml(document))
        except TypeError:
            return  # a value the test's own TOML writer cannot express
    try:
        load_settings(str(path))
    except ConfigError as exc:
        assert str(exc)
