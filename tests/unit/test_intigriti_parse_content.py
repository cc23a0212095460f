"""Report content from Intigriti JSON: attachments, reward totals, duplicateInfo, the list's
totalPayout, the detail flag, and the cleaning of untrusted attachment file names."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
import structlog
from test_intigriti_parse import detail, overview

from syncd.errors import ItemError
from syncd.intigriti import parse
from syncd.intigriti.filenames import MAX_NAME_CHARS, attachment_name
from syncd.records import Attachment, Payouts, Submission

FILES = "https://api.intigriti.example/files/ACME-AAAA1111"


def money(value: float | None, currency: str | None = "EUR") -> dict[str, Any]:
    return {"value": value, "currency": currency}


def reward(total: Any = None, bounty: Any = None, bonus: Any = None) -> dict[str, Any]:
    return {
        "totalPayout": total,
        "totalBountyPayout": bounty,
        "totalBonusPayout": bonus,
        "possibleBounty": None,
        "totalRetestBountyPayout": money(0.0),
    }


def detail_with(
    *,
    attachments: Any = None,
    reward_json: Any = None,
    duplicate_info: Any = None,
    code: str = "ACME-AAAA1111",
) -> dict[str, Any]:
    item = detail(code)
    if attachments is not None:
        item["report"]["attachments"] = attachments
    if reward_json is not None:
        item["reward"] = reward_json
    item["state"] = {
        "status": {"id": 5, "value": "Closed"} if duplicate_info else {"id": 3, "value": "Pending"},
        "closeReason": {"id": 2, "value": "Duplicate"} if duplicate_info else None,
        "duplicateInfo": duplicate_info,
    }
    return item


def parsed_detail(**changes: Any) -> Submission:
    return parse.submission_detail(detail_with(**changes))


def item_error(**changes: Any) -> ItemError:
    with pytest.raises(ItemError) as info:
        parse.submission_detail(detail_with(**changes))
    return info.value


# -- attachments ------------------------------------------------------------------------


def test_attachments_keep_order_and_integer_codes_become_text() -> None:
    sub = parsed_detail(
        attachments=[
            {"url": f"{FILES}/1/shot.png", "code": 1},
            {"url": f"{FILES}/2/poc.txt", "code": "2"},
        ]
    )
    assert sub.report is not None
    assert sub.report.attachments == (
        Attachment(code="1", url=f"{FILES}/1/shot.png"),
        Attachment(code="2", url=f"{FILES}/2/poc.txt"),
    )
    assert all(isinstance(a.code, str) for a in sub.report.attachments)


@pytest.mark.parametrize("url", [None, ""])
def test_an_attachment_without_url_is_skipped_and_logged(url: str | None) -> None:
    with structlog.testing.capture_logs() as logs:
        sub = parsed_detail(
            attachments=[
                {"url": url, "code": 7},
                {"url": f"{FILES}/8/ok.png", "code": 8},
            ]
        )
    assert sub.report is not None
    assert [a.code for a in sub.report.attachments] == ["8"]
    (warned,) = [e for e in logs if e["event"] == "attachment_without_url"]
    assert (warned["submission"], warned["attachment"]) == ("ACME-AAAA1111", "7")


def test_missing_or_empty_attachments_are_no_attachments() -> None:
    without = detail()
    assert "attachments" not in without["report"]
    sub = parse.submission_detail(without)
    assert sub.report is not None
    assert sub.report.attachments == ()
    empty = parsed_detail(attachments=[])
    assert empty.report is not None
    assert empty.report.attachments == ()


@pytest.mark.parametrize("attachments", [{"url": f"{FILES}/1/a.png", "code": 1}, "a.png", 3])
def test_attachments_that_are_not_a_list_are_an_item_error(attachments: Any) -> None:
    error = item_error(attachments=attachments)
    assert error.field == "report.attachments"
    assert error.item == "ACME-AAAA1111"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("a.png", "report.attachments[0]"),
        ({"url": f"{FILES}/1/a.png", "code": None}, "report.attachments[0].code"),
        ({"url": f"{FILES}/1/a.png", "code": True}, "report.attachments[0].code"),
        ({"url": f"{FILES}/1/a.png", "code": ""}, "report.attachments[0].code"),
        ({"url": 5, "code": 1}, "report.attachments[0].url"),
    ],
)
def test_a_malformed_attachment_entry_is_an_item_error_naming_it(entry: Any, field: str) -> None:
    assert item_error(attachments=[entry]).field == field


# -- reward totals ----------------------------------------------------------------------


def test_payouts_carry_bounty_bonus_total_and_currency() -> None:
    sub = parsed_detail(
        reward_json=reward(total=money(550.0), bounty=money(500.0), bonus=money(50.0))
    )
    assert sub.payouts == Payouts(total=550.0, bounty=500.0, bonus=50.0, currency="EUR")
    assert sub.total_payout == 550.0


def test_a_total_that_differs_from_the_sum_is_taken_as_given() -> None:
    # totalPayout may include more than bounty and bonus (a retest bounty)
    sub = parsed_detail(
        reward_json=reward(total=money(600.0), bounty=money(500.0), bonus=money(50.0))
    )
    assert sub.payouts is not None
    assert sub.payouts.total == 600.0


def test_a_null_money_object_is_zero() -> None:
    sub = parsed_detail(reward_json=reward(total=money(500.0), bounty=money(500.0), bonus=None))
    assert sub.payouts == Payouts(total=500.0, bounty=500.0, bonus=0.0, currency="EUR")


def test_a_null_value_in_a_money_object_is_zero() -> None:
    sub = parsed_detail(reward_json=reward(total=money(None), bounty=money(None), bonus=None))
    assert sub.payouts == Payouts(total=0.0, bounty=0.0, bonus=0.0, currency="EUR")


def test_a_missing_total_is_bounty_plus_bonus() -> None:
    sub = parsed_detail(reward_json=reward(total=None, bounty=money(300.0), bonus=money(25.5)))
    assert sub.payouts == Payouts(total=325.5, bounty=300.0, bonus=25.5, currency="EUR")
    assert sub.total_payout == 325.5


def test_no_reward_object_is_nothing_paid() -> None:
    raw = detail()
    assert "reward" not in raw
    sub = parse.submission_detail(raw)
    assert sub.payouts == Payouts(total=0.0, bounty=0.0, bonus=0.0, currency=None)


def test_currency_spellings_are_one_currency() -> None:
    sub = parsed_detail(
        reward_json=reward(total=money(60.0, "eur"), bounty=money(50.0, " EUR"), bonus=money(10.0))
    )
    assert sub.payouts is not None
    assert sub.payouts.currency == "EUR"


@pytest.mark.parametrize(
    "mixed",
    [
        reward(total=money(550.0), bounty=money(500.0), bonus=money(50.0, "USD")),
        reward(total=money(550.0, "USD"), bounty=money(500.0), bonus=money(50.0)),
        reward(total=None, bounty=money(500.0, "GBP"), bonus=money(50.0)),
    ],
)
def test_mixed_currencies_are_an_item_error_naming_reward(mixed: dict[str, Any]) -> None:
    error = item_error(reward_json=mixed)
    assert error.field == "reward"
    assert error.item == "ACME-AAAA1111"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("550 EUR", "reward"),
        (reward(total=money(550.0), bounty="500", bonus=None), "reward.totalBountyPayout"),
        (
            reward(total=money(550.0), bounty=money(500.0), bonus={"value": "50"}),
            "reward.totalBonusPayout.value",
        ),
    ],
)
def test_a_malformed_reward_is_an_item_error_naming_the_field(bad: Any, field: str) -> None:
    assert item_error(reward_json=bad).field == field


# -- duplicates -------------------------------------------------------------------------


def test_duplicate_of_is_the_parent_submission_code() -> None:
    info = {"parentSubmissionCode": "ACME-ORIGINAL", "childSubmissionCodes": []}
    sub = parsed_detail(duplicate_info=info)
    assert sub.duplicate_of == "ACME-ORIGINAL"
    assert (sub.status, sub.close_reason) == ("Closed", "Duplicate")


def test_an_original_with_children_is_no_duplicate() -> None:
    info = {"parentSubmissionCode": None, "childSubmissionCodes": ["ACME-CHILD001"]}
    assert parsed_detail(duplicate_info=info).duplicate_of is None
    assert parsed_detail().duplicate_of is None  # duplicateInfo null


def test_a_malformed_duplicate_info_is_an_item_error() -> None:
    assert item_error(duplicate_info="ACME-ORIGINAL").field == "state.duplicateInfo"
    bad_parent = {"parentSubmissionCode": 12, "childSubmissionCodes": []}
    error = item_error(duplicate_info=bad_parent)
    assert error.field == "state.duplicateInfo.parentSubmissionCode"


# -- the list read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ({"value": 550.0, "currency": "EUR"}, 550.0),
        ({"value": 0, "currency": "EUR"}, 0.0),
        (125, 125.0),
        (99.5, 99.5),
        (None, None),
    ],
)
def test_list_reads_total_payout_as_money_or_bare_number(
    total: Any, expected: float | None
) -> None:
    batch = parse.submission_batch([overview(totalPayout=total)])
    assert batch.failures == ()
    (sub,) = batch.submissions
    assert sub.total_payout == expected
    assert sub.payouts is None
    assert sub.duplicate_of is None


@pytest.mark.parametrize(
    ("total", "field"),
    [("550", "totalPayout"), (True, "totalPayout"), ({"value": "550"}, "totalPayout.value")],
)
def test_a_malformed_list_total_payout_is_an_item_failure(total: Any, field: str) -> None:
    batch = parse.submission_batch([overview(totalPayout=total), overview("ACME-GOOD0001")])
    assert [s.code for s in batch.submissions] == ["ACME-GOOD0001"]
    assert [(f.item, f.field) for f in batch.failures] == [("ACME-AAAA1111", field)]


def test_the_detail_flag_tells_a_detail_read_from_a_list_read() -> None:
    (listed,) = parse.submission_batch([overview()]).submissions
    assert listed.detail is False
    assert listed.report is None
    read = parse.submission_detail(detail())
    assert read.detail is True
    assert read.report is not None


def test_a_list_item_ignores_detail_only_fields() -> None:
    # Even when a server puts them into the list, they are only read from the detail.
    raw = overview(
        reward=reward(total=money(9.0), bounty=money(9.0)),
        report={"attachments": [{"url": f"{FILES}/1/a.png", "code": 1}]},
    )
    raw["state"]["duplicateInfo"] = {"parentSubmissionCode": "ACME-ORIGINAL"}
    (sub,) = parse.submission_batch([raw]).submissions
    assert (sub.payouts, sub.report, sub.duplicate_of) == (None, None, None)


# -- attachment file names --------------------------------------------------------------


def test_path_traversal_in_the_url_leaves_one_plain_segment() -> None:
    name = attachment_name(f"{FILES}/1/..%2F..%2Fetc%2Fpasswd", None, "attachment-1")
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith(".")
    assert "passwd" in name


@pytest.mark.parametrize(
    "header",
    [
        'attachment; filename="../../etc/passwd"',
        'attachment; filename="..\\\\..\\\\windows\\\\win.ini"',
        "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_in_the_disposition_leaves_one_plain_segment(header: str) -> None:
    name = attachment_name(f"{FILES}/1/x.bin", header, "attachment-1")
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith(".")
    assert name != "x.bin"  # the header's name was used


def test_right_to_left_override_is_replaced() -> None:
    # "invoice<U+202E>gpj.exe" displays as "invoiceexe.jpg"
    header = 'attachment; filename="invoice\u202egpj.exe"'
    name = attachment_name(f"{FILES}/1/y.bin", header, "fallback")
    assert "\u202e" not in name
    assert name.startswith("invoice")
    assert name.endswith("gpj.exe")  # what the file really is stays readable
    url_name = attachment_name(f"{FILES}/1/invoice%E2%80%AEgpj.exe", None, "fallback")
    assert "\u202e" not in url_name
    assert url_name.endswith("gpj.exe")


def test_control_and_format_characters_are_replaced() -> None:
    url = f"{FILES}/1/a%00b%0D%0Ac%E2%81%A6d%E2%80%8Be%E2%80%A8f.png"
    name = attachment_name(url, None, "fallback")
    assert not [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    assert name.startswith("a")
    assert name.endswith("f.png")


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    long_name = "a" * 296 + ".png"
    assert len(long_name) == 300
    name = attachment_name(f"{FILES}/1/{long_name}", None, "fallback")
    assert len(name) <= MAX_NAME_CHARS == 180
    assert name.endswith(".png")
    assert name.startswith("aaaa")
    assert len(name) > 100  # cut, not replaced


def test_the_content_disposition_name_wins_over_the_url() -> None:
    header = 'attachment; filename="report.pdf"'
    assert attachment_name(f"{FILES}/1/opaque-id", header, "fallback") == "report.pdf"
    rfc5987 = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    assert attachment_name(f"{FILES}/1/opaque-id", rfc5987, "fallback") == "résumé.pdf"
    assert attachment_name(f"{FILES}/1/shot%20one.png", None, "fallback") == "shot one.png"
    assert attachment_name(f"{FILES}/1/shot.png", "inline", "fallback") == "shot.png"


@pytest.mark.parametrize(
    ("url", "disposition"),
    [
        ("https://api.intigriti.example/", None),
        ("https://api.intigriti.example/files/1/...", None),
        ("https://api.intigriti.example/files/1/%E2%80%AE%00", 'attachment; filename=""'),
    ],
)
def test_nothing_usable_is_the_fallback(url: str, disposition: str | None) -> None:
    assert attachment_name(url, disposition, "attachment-7") == "attachment-7"


def test_leading_dots_are_stripped() -> None:
    assert attachment_name(f"{FILES}/1/.htaccess", None, "fallback") == "htaccess"


def test_a_zero_amount_in_another_currency_is_not_a_mix() -> None:
    sub = parsed_detail(
        reward_json=reward(total=money(500.0), bounty=money(500.0), bonus=money(0.0, "USD"))
    )
    assert sub.payouts == Payouts(total=500.0, bounty=500.0, bonus=0.0, currency="EUR")
