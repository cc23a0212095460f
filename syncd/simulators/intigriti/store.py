"""Programs and submissions held by the simulator, with the mutations the API and tests make.

Every public method takes the store lock, so HTTP handlers (uvicorn's event loop thread)
and the control API can call it freely. Submissions are kept in an index ordered by
``lastUpdatedAt`` so ``UpdatedSince`` reads touch only the changed ones, and each
submission's list JSON is cached until it changes, so a company-wide list of 10,000
submissions does not re-serialise all of them on every call.
"""

from __future__ import annotations

import bisect
import random
import threading
import uuid
from typing import Any

from syncd.intigriti import enums
from syncd.simulators.intigriti import views
from syncd.simulators.intigriti.cvss import base_score, rating
from syncd.simulators.intigriti.model import (
    STATUS_STAMPS,
    ApiError,
    Attachment,
    Clock,
    Event,
    Message,
    Payout,
    Program,
    Report,
    Submission,
    Transition,
    User,
)
from syncd.simulators.intigriti.webhooks import IntigritiWebhooks

COMPANY_ID = "6a1b2f4e-3c5d-4e7f-8a9b-0c1d2e3f4a5b"
COMPANY_HANDLE = "democorp"

# The company user a human edit through the control API is attributed to.
HUMAN_USER = User(
    user_id="2f0c5a7e-9d3b-4c61-8e2a-5b7d9f1c3e40",
    user_name="alice.admin",
    role="Company admin",
    email="alice@democorp.example",
)

_VULN_TYPES: tuple[tuple[str, str, str, str], ...] = (
    # (type name, category, cwe, vector)
    (
        "Reflected Cross-Site Scripting (XSS)",
        "Cross-Site Scripting",
        "CWE-79",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    ),
    ("SQL Injection", "Injection", "CWE-89", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    (
        "Insecure Direct Object Reference (IDOR)",
        "Broken Access Control",
        "CWE-639",
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
    ),
    (
        "Server-Side Request Forgery (SSRF)",
        "Server-Side Request Forgery",
        "CWE-918",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N",
    ),
    (
        "Open Redirect",
        "Unvalidated Redirects",
        "CWE-601",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N",
    ),
    (
        "Information Disclosure",
        "Sensitive Data Exposure",
        "CWE-200",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N",
    ),
    (
        "Remote Code Execution",
        "Injection",
        "CWE-94",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
    ),
)
_ENDPOINTS = ("/login", "/api/v1/users/{id}", "/search?q=", "/account/settings", "/export")
_RESEARCHERS = ("xss_hunter", "r00tkit", "bugfinder42", "nullbyte", "webwitch")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Store:
    def __init__(self, clock: Clock, *, seed: int = 1) -> None:
        self.clock = clock
        self._seed = seed
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._programs: dict[str, Program] = {}
        self._subs: dict[str, Submission] = {}
        self._index: list[tuple[int, str]] = []
        self._program_index: dict[str, list[tuple[int, str]]] = {}
        self._overview_cache: dict[str, bytes] = {}
        # None (the default): no webhook, and no change costs more than recording it.
        self._webhooks: IntigritiWebhooks | None = None

    # ----------------------------------------------------------------- housekeeping

    def set_webhooks(self, webhooks: IntigritiWebhooks | None) -> None:
        """Install (or, with None, remove) the webhook; the one it replaces is stopped."""
        with self._lock:
            previous, self._webhooks = self._webhooks, webhooks
        if previous is not None:
            previous.close()

    def webhooks(self) -> IntigritiWebhooks | None:
        with self._lock:
            return self._webhooks

    def test_event(self) -> dict[str, Any]:
        """The activation ``TestEvent`` payload: the base fields for the first program."""
        with self._lock:
            program = next(iter(self._programs.values()), None)
            handle = program.handle.upper() if program else "TEST"
            return IntigritiWebhooks.base(
                program, f"{handle}-TESTEVENT", HUMAN_USER, self.clock.epoch()
            )

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
            self._programs.clear()
            self._subs.clear()
            self._index.clear()
            self._program_index.clear()
            self._overview_cache.clear()

    def _index_remove(self, sub: Submission) -> None:
        key = (sub.last_updated_at, sub.code)
        for index in (self._index, self._program_index[sub.program_id]):
            pos = bisect.bisect_left(index, key)
            if pos < len(index) and index[pos] == key:
                del index[pos]

    def _index_add(self, sub: Submission) -> None:
        key = (sub.last_updated_at, sub.code)
        bisect.insort(self._index, key)
        bisect.insort(self._program_index.setdefault(sub.program_id, []), key)

    def _touch(self, sub: Submission, user: User, at: int | None = None) -> None:
        """Bump lastUpdatedAt (re-indexing) and drop the cached list JSON."""
        self._index_remove(sub)
        sub.last_updated_at = max(at if at is not None else self.clock.epoch(), sub.created_at)
        sub.last_updater = user
        self._index_add(sub)
        self._overview_cache.pop(sub.code, None)

    def _event(
        self,
        sub: Submission,
        kind: str,
        user: User,
        *,
        external: bool,
        message: Message | None = None,
    ) -> None:
        """Record a change in the submission's event log: every mutation ends here, so it
        is also where the matching webhook (if any) is emitted."""
        visibility = "External" if external else "Internal"
        now = self.clock.epoch()
        sub.events.append(
            Event(
                type_id=enums.EVENT_TYPE.id(kind),
                created_at=now,
                visibility_id=enums.EVENT_VISIBILITY.id(visibility),
                user=user,
                message=message,
            )
        )
        # Kept up to date even without a webhook, so one configured later has the right
        # "from" side of the next change.
        status_before = sub.announced_status or (sub.status, sub.close_reason)
        severity_before = sub.announced_severity or (sub.severity_id, sub.vector, sub.score)
        if kind == "Status changed":
            sub.announced_status = (sub.status, sub.close_reason)
        elif kind == "Severity changed":
            sub.announced_severity = (sub.severity_id, sub.vector, sub.score)
        hooks = self._webhooks
        if hooks is None:
            return
        program = self._programs[sub.program_id]
        if kind == "Status changed":
            hooks.status_changed(program, sub, user, status_before, now)
        elif kind == "Severity changed":
            hooks.severity_changed(program, sub, user, severity_before, now)
        elif kind == "Message":
            hooks.message_placed(program, sub, user, internal=not external, now=now)

    def _get(self, code: str) -> Submission:
        sub = self._subs.get(code)
        if sub is None:
            raise ApiError(404, "submission_not_found", "Submission not found")
        return sub

    # ----------------------------------------------------------------- programs

    def create_program(
        self,
        *,
        name: str | None = None,
        handle: str | None = None,
        program_id: str | None = None,
    ) -> Program:
        with self._lock:
            number = len(self._programs) + 1
            handle = handle or f"program{number}"
            program_id = program_id or _guid(self._rng)
            if program_id in self._programs:
                raise ApiError(409, "program_exists", "Program id already exists")
            now = self.clock.epoch()
            program = Program(
                id=program_id,
                handle=handle,
                name=name or f"Demo Program {number}",
                company_id=COMPANY_ID,
                company_handle=COMPANY_HANDLE,
                created_at=now,
                last_updated_at=now,
                description="A simulated bug bounty program.",
            )
            self._programs[program_id] = program
            self._program_index.setdefault(program_id, [])
            return program

    def programs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [views.program_overview(p) for p in self._programs.values()]

    def program_detail(self, program_id: str) -> dict[str, Any]:
        with self._lock:
            program = self._programs.get(program_id)
            if program is None:
                raise ApiError(404, "program_not_found", "Program not found")
            return views.program_detail(program)

    # ----------------------------------------------------------------- submissions: create

    def _new_code(self, program: Program) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        while True:
            suffix = "".join(self._rng.choice(alphabet) for _ in range(8))
            code = f"{program.handle.upper()}-{suffix}"
            if code not in self._subs:
                return code

    def create_submission(self, program_id: str, **fields: Any) -> Submission:
        """A new submission with generated defaults for every field not given.

        Accepted fields: code, title, status, close_reason, severity (name or id, or None),
        vector, internal_reference, internal_reference_url, created_at, updated_at,
        submitter (user name), type_name, category, cwe, endpoint, poc, impact,
        recommended_solution.
        """
        with self._lock:
            program = self._programs.get(program_id)
            if program is None:
                raise ApiError(404, "program_not_found", "Program not found")
            unknown = set(fields) - _CREATE_FIELDS
            if unknown:
                raise ApiError(400, "unknown_field", f"unknown fields: {sorted(unknown)}")
            rng = self._rng
            vtype = rng.choice(_VULN_TYPES)
            type_name = str(fields.get("type_name") or vtype[0])
            endpoint = str(fields.get("endpoint") or rng.choice(_ENDPOINTS))
            code = str(fields.get("code") or self._new_code(program))
            if code in self._subs:
                raise ApiError(409, "submission_exists", "Submission code already exists")
            now = self.clock.epoch()
            created_at = int(fields.get("created_at") or now - rng.randint(3600, 30 * 86400))
            updated_at = int(fields.get("updated_at") or created_at)
            status = enums.SUBMISSION_STATUS.canonical(str(fields.get("status") or "Triage"))
            close_reason = fields.get("close_reason")
            if status in _CLOSED and close_reason is None:
                close_reason = enums.CLOSE_DEFAULT_REASON
            vector = fields.get("vector", vtype[3] if "severity" not in fields else None)
            severity_id, vector, score = _resolve_severity(fields.get("severity"), vector)
            researcher = str(fields.get("submitter") or rng.choice(_RESEARCHERS))
            submitter = User(
                user_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"researcher:{researcher}")),
                user_name=researcher,
                role="Researcher",
            )
            report = Report(
                type_name=type_name,
                category=str(fields.get("category") or vtype[1]),
                cwe=str(fields.get("cwe") or vtype[2]),
                asset_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"asset:{program.id}")),
                asset_name=f"https://app.{program.handle}.example",
                endpoint=endpoint,
                poc=str(
                    fields.get("poc")
                    or f"1. Browse to https://app.{program.handle}.example{endpoint}\n"
                    f"2. Send the payload shown in the attached request.\n"
                    f"3. Observe the {type_name} behaviour."
                ),
                impact=str(
                    fields.get("impact")
                    or f"An attacker can exploit the {type_name} to harm users."
                ),
                recommended_solution=str(
                    fields.get("recommended_solution") or "Validate and encode untrusted input."
                ),
                ip=f"203.0.113.{rng.randint(1, 254)}",
            )
            sub = Submission(
                code=code,
                program_id=program_id,
                title=str(fields.get("title") or f"{type_name} on {endpoint}"),
                status=status,
                close_reason=(
                    enums.CLOSE_REASON.canonical(str(close_reason)) if close_reason else None
                ),
                severity_id=severity_id,
                vector=vector,
                score=score,
                internal_reference=fields.get("internal_reference"),
                internal_reference_url=fields.get("internal_reference_url"),
                created_at=created_at,
                last_updated_at=max(updated_at, created_at),
                last_updater=submitter,
                submitter=submitter,
                report=report,
            )
            for name, stamp in STATUS_STAMPS.items():
                if _reached(status, name):
                    sub.stamps[stamp] = created_at
            sub.events.append(
                Event(
                    type_id=enums.EVENT_TYPE.id("Submission created"),
                    created_at=created_at,
                    visibility_id=enums.EVENT_VISIBILITY.id("External"),
                    user=submitter,
                )
            )
            sub.announced_status = (sub.status, sub.close_reason)
            sub.announced_severity = (sub.severity_id, sub.vector, sub.score)
            self._subs[code] = sub
            self._index_add(sub)
            if self._webhooks is not None:
                self._webhooks.created(program, sub, now)
            return sub

    def create_many(self, program_id: str, count: int) -> list[str]:
        with self._lock:
            return [self.create_submission(program_id).code for _ in range(count)]

    # ----------------------------------------------------------------- submissions: read

    def _overview_bytes(self, sub: Submission) -> bytes:
        cached = self._overview_cache.get(sub.code)
        if cached is None:
            cached = views.encode_overview(sub)
            self._overview_cache[sub.code] = cached
        return cached

    def list_overviews(self, updated_since: int | None, program_id: str | None = None) -> bytes:
        """The JSON array body of a submissions list, oldest change first."""
        with self._lock:
            if program_id is not None:
                if program_id not in self._programs:
                    raise ApiError(404, "program_not_found", "Program not found")
                index = self._program_index[program_id]
            else:
                index = self._index
            start = 0 if updated_since is None else bisect.bisect_left(index, (updated_since, ""))
            parts = [self._overview_bytes(self._subs[code]) for _, code in index[start:]]
            return b"[" + b",".join(parts) + b"]"

    def detail_bytes(self, code: str, files_base: str) -> bytes:
        """The detail JSON; attachment URLs point under ``files_base`` (the server's own
        origin, as the request reached it)."""
        with self._lock:
            sub = self._get(code)
            return views.encode_detail(sub, files_base)

    def attachment(self, code: str, attachment_code: str) -> Attachment:
        """A report's or a live message's file (a deleted message's files are gone)."""
        with self._lock:
            sub = self._get(code)
            for attachment in _files(sub):
                if str(attachment.code) == attachment_code:
                    return attachment
            raise ApiError(404, "attachment_not_found", "Attachment not found")

    def events(self, code: str, created_since: int | None, files_base: str) -> list[dict[str, Any]]:
        """The activity, oldest first; message attachment URLs point under ``files_base``."""
        with self._lock:
            sub = self._get(code)
            return [
                views.event_view(e, sub, files_base)
                for e in sub.events
                if created_since is None or e.created_at >= created_since
            ]

    def messages(self, code: str) -> list[dict[str, Any]]:
        """The conversation as the web app lists it (internal view, for tests)."""
        with self._lock:
            return [views.message_view(m) for m in self._get(code).messages]

    def snapshot(self, code: str) -> dict[str, Any]:
        """Internal view for tests (no fault applied): what a human would see in the UI."""
        with self._lock:
            return views.internal_view(self._get(code))

    def count(self) -> int:
        with self._lock:
            return len(self._subs)

    # ----------------------------------------------------------------- submissions: API writes

    def apply_trigger(
        self,
        code: str,
        trigger_id: int,
        close_reason_id: int | None,
        duplicate_of: str | None,
        user: User,
    ) -> list[int]:
        with self._lock:
            sub = self._get(code)
            if trigger_id not in enums.STATUS_TRIGGER:
                raise ApiError(400, "invalid_status_trigger", "Unknown statusTrigger")
            if close_reason_id is not None and close_reason_id not in enums.CLOSE_REASON:
                raise ApiError(400, "invalid_close_reason", "Unknown closeReason")
            trigger = enums.trigger_name(trigger_id)
            if trigger == enums.UNDO:
                self._undo(sub, user)
                return self._allowed_ids(sub)
            target = enums.next_status(sub.status, trigger)
            if target is None:
                raise ApiError(
                    403,
                    "status_trigger_not_allowed",
                    f"Status trigger {trigger} is not allowed when the status is {sub.status}",
                )
            if trigger in enums.REQUIRES_CLOSE_REASON and close_reason_id is None:
                raise ApiError(400, "close_reason_required", "closeReason is required")
            reason: str | None = None
            if target == "Closed":
                reason = (
                    enums.close_reason_name(close_reason_id)
                    if close_reason_id is not None
                    else enums.CLOSE_DEFAULT_REASON
                )
            if duplicate_of is not None:
                if reason != "Duplicate":
                    raise ApiError(400, "invalid_duplicate", "duplicateSubmission needs Duplicate")
                if duplicate_of == code or duplicate_of not in self._subs:
                    raise ApiError(400, "invalid_duplicate", "Unknown duplicateSubmission")
            stamp = STATUS_STAMPS.get(target)
            sub.history.append(
                Transition(
                    trigger=trigger,
                    from_status=sub.status,
                    from_close_reason=sub.close_reason,
                    from_duplicate_of=sub.duplicate_of,
                    stamp=stamp,
                    stamp_before=sub.stamps[stamp] if stamp else None,
                )
            )
            sub.status = target
            sub.close_reason = reason if target == "Closed" else sub.close_reason
            if duplicate_of is not None:
                self._set_duplicate(sub, duplicate_of)
            if stamp:
                sub.stamps[stamp] = self.clock.epoch()
            self._event(sub, "Status changed", user, external=True)
            self._touch(sub, user)
            return self._allowed_ids(sub)

    def _set_duplicate(self, sub: Submission, parent: str | None) -> None:
        if sub.duplicate_of is not None:
            old = self._subs.get(sub.duplicate_of)
            if old is not None and sub.code in old.duplicate_children:
                old.duplicate_children.remove(sub.code)
                self._overview_cache.pop(old.code, None)
        sub.duplicate_of = parent
        if parent is not None:
            self._subs[parent].duplicate_children.append(sub.code)

    def _can_undo(self, sub: Submission) -> bool:
        return bool(sub.history) and sub.history[-1].trigger not in enums.IRREVERSIBLE_TRIGGERS

    def _allowed_ids(self, sub: Submission) -> list[int]:
        names = enums.allowed_triggers(sub.status, can_undo=self._can_undo(sub))
        return [enums.trigger_id(n) for n in names]

    def _undo(self, sub: Submission, user: User) -> None:
        if not self._can_undo(sub):
            raise ApiError(
                403, "status_trigger_not_allowed", "There is no transition that can be undone"
            )
        last = sub.history.pop()
        sub.status = last.from_status
        sub.close_reason = last.from_close_reason
        if sub.duplicate_of != last.from_duplicate_of:
            self._set_duplicate(sub, last.from_duplicate_of)
        if last.stamp:
            sub.stamps[last.stamp] = last.stamp_before
        self._event(sub, "Status changed", user, external=True)
        self._touch(sub, user)

    def set_severity(
        self, code: str, severity_id: int | None, vector: str | None, user: User
    ) -> None:
        with self._lock:
            sub = self._get(code)
            if severity_id is None and vector is None:
                raise ApiError(400, "invalid_severity", "id or vector is required")
            sub.severity_id, sub.vector, sub.score = _resolve_severity(severity_id, vector)
            self._event(sub, "Severity changed", user, external=True)
            self._touch(sub, user)

    def set_internal_reference(
        self, code: str, reference: str | None, url: str | None, user: User
    ) -> None:
        with self._lock:
            sub = self._get(code)
            # Stored literally: "" stays "", only null clears (reference §3.3, S2).
            sub.internal_reference = reference
            sub.internal_reference_url = url
            self._event(sub, "Internal reference changed", user, external=False)
            self._touch(sub, user)

    def add_message(self, code: str, text: str, *, external: bool, user: User) -> str:
        with self._lock:
            sub = self._get(code)
            message = self._place_message(sub, text, external=external, user=user)
            self._touch(sub, user)
            return message.message_id

    def _place_message(
        self,
        sub: Submission,
        text: str,
        *,
        external: bool,
        user: User,
        files: list[tuple[str, bytes, str]] | None = None,
    ) -> Message:
        """A new message and its "Message" event (which emits SubmissionMessagePlaced)."""
        first = _next_file_code(sub)
        attachments = [
            Attachment(first + offset, name, content, content_type)
            for offset, (name, content, content_type) in enumerate(files or [])
        ]
        message = Message(_guid(self._rng), text, external, self.clock.epoch(), user, attachments)
        sub.messages.append(message)
        self._event(sub, "Message", user, external=external, message=message)
        return message

    # ----------------------------------------------------------------- submissions: human edits

    def add_attachment(
        self, code: str, name: str, content: bytes, content_type: str = "application/octet-stream"
    ) -> int:
        """The researcher attaches a file to the report; returns its attachment code."""
        with self._lock:
            sub = self._get(code)
            number = _next_file_code(sub)
            sub.attachments.append(Attachment(number, name, content, content_type))
            self._event(sub, "Submission edited", sub.submitter, external=True)
            self._touch(sub, sub.submitter)
            return number

    def add_payout(self, code: str, amount: float, kind: str = "bounty") -> dict[str, Any]:
        """The company pays a bounty or a bonus (EUR); returns the internal view."""
        if kind not in ("bounty", "bonus"):
            raise ApiError(400, "invalid_payout", "kind must be bounty or bonus")
        if amount <= 0:
            raise ApiError(400, "invalid_payout", "amount must be positive")
        with self._lock:
            sub = self._get(code)
            sub.payouts.append(Payout(kind, round(float(amount), 2), self.clock.epoch()))
            self._event(sub, "Payout", HUMAN_USER, external=True)
            self._touch(sub, HUMAN_USER)
            return views.internal_view(sub)

    def mark_duplicate(self, code: str, original: str) -> dict[str, Any]:
        """A triager closes ``code`` as a duplicate of ``original`` in the web UI."""
        with self._lock:
            sub = self._get(code)
            if original == code or original not in self._subs:
                raise ApiError(400, "invalid_duplicate", "Unknown duplicateSubmission")
            self._human_status(sub, "Closed", "Duplicate")
            self._set_duplicate(sub, original)
            self._event(sub, "Status changed", HUMAN_USER, external=True)
            self._touch(sub, HUMAN_USER)
            return views.internal_view(sub)

    def human_edit(self, code: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply what a company user would change in the web UI (control API)."""
        with self._lock:
            sub = self._get(code)
            unknown = set(changes) - _EDIT_FIELDS
            if unknown:
                raise ApiError(400, "unknown_field", f"unknown fields: {sorted(unknown)}")
            user = HUMAN_USER
            if "severity" in changes or "vector" in changes:
                sub.severity_id, sub.vector, sub.score = _resolve_severity(
                    changes.get("severity"), changes.get("vector")
                )
                self._event(sub, "Severity changed", user, external=True)
            if "status" in changes or "close_reason" in changes:
                # A reason alone re-closes with that reason, keeping the status.
                status = str(changes.get("status", sub.status))
                self._human_status(sub, status, changes.get("close_reason"))
                self._event(sub, "Status changed", user, external=True)
            if "internal_reference" in changes or "internal_reference_url" in changes:
                sub.internal_reference = changes.get("internal_reference")
                sub.internal_reference_url = changes.get("internal_reference_url")
                self._event(sub, "Internal reference changed", user, external=False)
            if "title" in changes:
                sub.title = str(changes["title"])
                self._event(sub, "Submission edited", user, external=True)
            if "message" in changes:
                self._place_message(sub, str(changes["message"]), external=True, user=user)
            self._touch(sub, user)
            return views.internal_view(sub)

    # ----------------------------------------------------------------- messages: human side

    def post_message(
        self,
        code: str,
        text: str,
        *,
        author: str,
        internal: bool = False,
        files: list[tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """A researcher or the company user writes in the web app; returns the message."""
        if author not in _AUTHORS:
            raise ApiError(400, "invalid_author", "author must be researcher or company")
        if author == "researcher" and internal:
            # CHOSEN: refused rather than silently made external, so a test cannot
            # believe it created a researcher's internal note.
            raise ApiError(400, "invalid_visibility", "researchers cannot post internal messages")
        if not text and not files:
            raise ApiError(400, "invalid_message", "a message needs text or attachments")
        with self._lock:
            sub = self._get(code)
            user = sub.submitter if author == "researcher" else HUMAN_USER
            message = self._place_message(sub, text, external=not internal, user=user, files=files)
            self._touch(sub, user)
            return views.message_view(message)

    def edit_message(self, code: str, message_id: str, text: str) -> dict[str, Any]:
        """The author changes a message's text: the same event shows the new text with
        ``lastEditedAt``; no new event, no webhook (none exists for edits, reference §6),
        but ``lastUpdatedAt`` moves so ``UpdatedSince`` finds the submission."""
        if not text:
            raise ApiError(400, "invalid_message", "message text is required")
        with self._lock:
            sub = self._get(code)
            message = _live_message(sub, message_id)
            if text != message.text:
                # CHOSEN: saving the same text is no edit (nothing moves).
                message.text = text
                message.edited_at = self.clock.epoch()
                self._touch(sub, message.user)
            return views.message_view(message)

    def delete_message(self, code: str, message_id: str) -> dict[str, Any]:
        """The author deletes a message: its event stays, with ``deletedAt`` set, no text
        and no attachments (their files answer 404 from now on); bumps ``lastUpdatedAt``."""
        with self._lock:
            sub = self._get(code)
            message = _live_message(sub, message_id)
            message.deleted_at = self.clock.epoch()
            self._touch(sub, message.user)
            return views.message_view(message)

    def _human_status(self, sub: Submission, status: str, close_reason: Any) -> None:
        try:
            status = enums.SUBMISSION_STATUS.canonical(status)
            reason = enums.CLOSE_REASON.canonical(str(close_reason)) if close_reason else None
        except KeyError as exc:
            raise ApiError(400, "invalid_enum", str(exc.args[0])) from None
        if status in _CLOSED and reason is None:
            reason = sub.close_reason or enums.CLOSE_DEFAULT_REASON
        now = self.clock.epoch()
        sub.status = status
        sub.close_reason = reason if status in _CLOSED else None
        for name, stamp in STATUS_STAMPS.items():
            if _reached(status, name):
                sub.stamps[stamp] = sub.stamps[stamp] or now
            else:
                sub.stamps[stamp] = None
        # A direct edit is not a trigger; Undo cannot reach behind it.
        sub.history.clear()

    def set_malformed(self, code: str, kind: str | None) -> None:
        if kind not in (None, "unknown_enum", "bad_shape", "invalid_json"):
            raise ApiError(400, "invalid_fault", "kind must be unknown_enum|bad_shape|invalid_json")
        with self._lock:
            sub = self._get(code)
            sub.malformed = kind
            self._overview_cache.pop(code, None)


_CREATE_FIELDS = frozenset(
    {
        "code",
        "title",
        "status",
        "close_reason",
        "severity",
        "vector",
        "internal_reference",
        "internal_reference_url",
        "created_at",
        "updated_at",
        "submitter",
        "type_name",
        "category",
        "cwe",
        "endpoint",
        "poc",
        "impact",
        "recommended_solution",
    }
)
_EDIT_FIELDS = frozenset(
    {
        "severity",
        "vector",
        "status",
        "close_reason",
        "internal_reference",
        "internal_reference_url",
        "title",
        "message",
    }
)
_CLOSED = ("Closed", "Archived")
_AUTHORS = ("researcher", "company")


def _files(sub: Submission) -> list[Attachment]:
    """Every file of a submission that can be downloaded: the report's and those of
    messages that are not deleted."""
    files = list(sub.attachments)
    for message in sub.messages:
        if message.deleted_at is None:
            files.extend(message.attachments)
    return files


def _next_file_code(sub: Submission) -> int:
    # Deleted messages' files count too: a code is never handed out twice.
    codes = [a.code for a in sub.attachments]
    codes.extend(a.code for m in sub.messages for a in m.attachments)
    return max(codes, default=0) + 1


def _live_message(sub: Submission, message_id: str) -> Message:
    for message in sub.messages:
        if message.message_id == message_id:
            if message.deleted_at is not None:
                # CHOSEN: a deleted message cannot be edited or deleted again.
                raise ApiError(409, "message_deleted", "The message was deleted")
            return message
    raise ApiError(404, "message_not_found", "Message not found")


_ORDER = ("Draft", "Triage", "Pending", "Accepted", "Closed", "Archived")


def _reached(status: str, milestone: str) -> bool:
    """Whether a submission in ``status`` has passed through ``milestone`` (for stamps)."""
    if milestone == "Accepted":
        # A submission rejected from Triage/Pending is Closed without being accepted;
        # seeded Closed submissions are taken to have been accepted (Accepted -> Close).
        return status in ("Accepted", "Closed", "Archived")
    return _ORDER.index(status) >= _ORDER.index(milestone)


def _resolve_severity(severity: Any, vector: Any) -> tuple[int | None, str | None, float | None]:
    """(id, vector, score) from a severity name/id and/or a CVSS vector."""
    score: float | None = None
    if vector is not None:
        try:
            score = base_score(str(vector))
        except ValueError as exc:
            raise ApiError(400, "invalid_vector", f"Invalid CVSS vector: {exc}") from None
    if severity is None:
        if vector is None:
            return None, None, None
        assert score is not None
        return enums.severity_id(rating(score)), str(vector), score
    try:
        if isinstance(severity, bool):
            raise KeyError(severity)
        if isinstance(severity, int):
            severity_id = severity
            enums.severity_name(severity_id)
        else:
            severity_id = enums.severity_id(str(severity))
    except KeyError:
        raise ApiError(400, "invalid_severity", "Unknown severity") from None
    return severity_id, (str(vector) if vector is not None else None), score
