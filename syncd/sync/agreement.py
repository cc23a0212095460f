"""Whether one side's snapshot says nothing new: every synced field equals its base.

Pure, like the planner. The polls use it to skip an item whose change query returned a
version that matches the bases (the echo of syncd's own write lands here, and costs no
further request); the sweep uses it on both sides at once: when the submission and the
issue both agree with the bases, the three-way plan has nothing to do (a property test
checks exactly that), so the sweep does not build it.
"""

from __future__ import annotations

from syncd.records import Issue, Submission
from syncd.sync.mapping import (
    FIELDS,
    FieldName,
    Mapping,
    canonical_cvss,
    canonical_issue_key,
    canonical_reference,
)
from syncd.sync.plan import LinkView


def submission_agrees(link: LinkView, submission: Submission, mapping: Mapping) -> bool:
    """Nothing new from Intigriti (as far as a listed submission can tell)."""
    if link.state != "linked" or not _one_way_fields_agree(link, submission, mapping):
        return False
    return _agrees(
        link,
        mapping,
        {
            "severity": mapping.canonical_severity_from_intigriti(submission.severity),
            "status": mapping.canonical_status_from_intigriti(
                submission.status, submission.close_reason
            ),
            "internal_reference": canonical_reference(submission.internal_reference),
            "cvss": canonical_cvss(submission.cvss_vector) or "",
        },
    )


def issue_agrees(link: LinkView, issue: Issue, mapping: Mapping) -> bool:
    """Nothing new from Jira."""
    if link.state != "linked":
        return False
    return _agrees(
        link,
        mapping,
        {
            "severity": mapping.canonical_severity_from_jira(issue.priority),
            "status": mapping.canonical_status_from_jira(issue.status, issue.resolution),
            "internal_reference": canonical_issue_key(issue.key),
            "cvss": canonical_cvss(issue.cvss) or "",
        },
    )


def nothing_to_do(
    link: LinkView, submission: Submission, issue: Issue, mapping: Mapping
) -> bool:
    """Both sides agree with the bases, and every two-way value is one the mapping knows
    (an unplaceable value is the planner's to report): the plan would be empty."""
    if link.issue_id is None or link.issue_id != issue.id or link.blocked_signature:
        return False
    bases = link.bases
    for name in ("severity", "status"):
        if mapping.rule(name).direction != "off" and bases.get(name) is None:
            return False
    if mapping.rule("payouts").direction != "off" and bases.payout_total is None:
        return False  # no payout recorded yet: the planner reads the detail once to say
    return submission_agrees(link, submission, mapping) and issue_agrees(link, issue, mapping)


def _agrees(link: LinkView, mapping: Mapping, values: dict[FieldName, str | None]) -> bool:
    bases = link.bases
    known: dict[FieldName, str | None] = {
        "severity": bases.severity,
        "status": bases.status,
        "internal_reference": bases.internal_reference,
        "cvss": bases.cvss if bases.cvss is not None else "",
    }
    return all(
        values[name] == known[name] for name in FIELDS if mapping.rule(name).direction != "off"
    )


def _one_way_fields_agree(link: LinkView, submission: Submission, mapping: Mapping) -> bool:
    """No payout since the last one written, no unlinked duplicate relation, and (when the
    description follows the report) no new version at all: only the detail would tell."""
    if mapping.rule("description").direction != "off":
        return False
    total = submission.total_payout
    written = link.bases.payout_total or "0.00"
    if mapping.rule("payouts").direction != "off" and total is not None:
        return f"{total:.2f}" == written and _duplicate_agrees(link, submission, mapping)
    return _duplicate_agrees(link, submission, mapping)


def _duplicate_agrees(link: LinkView, submission: Submission, mapping: Mapping) -> bool:
    duplicate = (submission.close_reason or "").strip().casefold() == "duplicate"
    return not (
        duplicate and mapping.rule("duplicate").direction != "off" and link.bases.duplicate is None
    )
