"""The shared Intigriti id tables and the trigger state machine (pure, no HTTP)."""

from __future__ import annotations

import pytest

from syncd.intigriti import enums


def test_verified_ids() -> None:
    assert [enums.trigger_id(n) for n in ("Reject", "Validate", "Accept", "Close")] == [1, 2, 3, 4]
    assert (enums.trigger_name(5), enums.trigger_name(6)) == ("Archive", "Undo")
    assert enums.close_reason_id("Accepted risk") == 3
    assert enums.close_reason_name(7) == "Not applicable"


def test_lookups_are_case_insensitive_and_canonical() -> None:
    assert enums.status_id("triage") == enums.status_id("Triage") == 2
    assert enums.SUBMISSION_STATUS.canonical("ACCEPTED") == "Accepted"
    assert enums.severity_name(enums.severity_id("exceptional")) == "Exceptional"


def test_unknown_lookups_raise_key_error_naming_the_table() -> None:
    with pytest.raises(KeyError, match="submission status name 'Frozen'"):
        enums.status_id("Frozen")
    with pytest.raises(KeyError, match="close reason id 99"):
        enums.close_reason_name(99)
    with pytest.raises(KeyError, match="severity"):
        enums.severity_id("Catastrophic")


@pytest.mark.parametrize(
    ("start", "target", "path"),
    [
        ("Triage", "Triage", []),
        ("Triage", "Pending", ["Validate"]),
        ("Triage", "Accepted", ["Validate", "Accept"]),
        ("Triage", "Closed", ["Reject"]),
        ("Accepted", "Closed", ["Close"]),
        ("Accepted", "Archived", ["Close", "Archive"]),
        ("pending", "archived", ["Reject", "Archive"]),
        ("Closed", "Triage", None),
        ("Archived", "Closed", None),
        ("Draft", "Triage", None),
    ],
)
def test_trigger_path(start: str, target: str, path: list[str] | None) -> None:
    assert enums.trigger_path(start, target) == path


def test_trigger_path_rejects_unknown_status() -> None:
    with pytest.raises(KeyError):
        enums.trigger_path("Triage", "Done")


def test_allowed_triggers_and_next_status() -> None:
    assert enums.allowed_triggers("Pending") == ["Reject", "Accept"]
    assert enums.allowed_triggers("Closed", can_undo=True) == ["Archive", "Undo"]
    assert enums.next_status("Accepted", "Close") == "Closed"
    assert enums.next_status("Triage", "Accept") is None
    assert "Reject" in enums.REQUIRES_CLOSE_REASON
