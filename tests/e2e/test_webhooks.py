"""Webhook deliveries to the daemon's listener, signed as Intigriti and Jira sign them.

The polls are set an hour apart, so whatever propagates here propagated through a
delivery. The deliveries are posted by the test (signed with the formulas of the
reference); the simulators' own emission is exercised in the latency benchmark.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from concurrency import log_events, stop_all
from harness import E2E, e2e_world, free_port, wait_for
from test_reconcile import seed_open

INTIGRITI_SECRET = "intigriti-webhook-secret-for-tests"
JIRA_SECRET = "jira-webhook-secret-for-tests"


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def _intigriti(
    base: str, event: str, payload: dict[str, Any], *, secret: str = INTIGRITI_SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "x-intigriti-event": event,
        "x-intigriti-digest": digest,
    }
    return httpx.post(f"{base}/webhooks/intigriti", content=body, headers=headers, timeout=10)


def _jira(
    base: str, payload: dict[str, Any], *, identifier: str | None = None, secret: str = JIRA_SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-hub-signature": f"sha256={signature}",
        "x-atlassian-webhook-identifier": identifier or str(uuid.uuid4()),
    }
    return httpx.post(f"{base}/webhooks/jira", content=body, headers=headers, timeout=10)


def _severity_changed(code: str, program: str) -> dict[str, Any]:
    return {
        "programId": program,
        "programName": "Acme",
        "submissionCode": code,
        "userId": "00000000-0000-0000-0000-000000000001",
        "createdAt": int(time.time()),
        "userRole": "Triager",
        "fromSeverity": {"id": 2, "value": "Medium"},
        "toSeverity": {"id": 4, "value": "Critical"},
    }


def _issue_event(event: str, issue: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": event,
        "issue": {"id": issue["id"], "key": issue["key"], "fields": {}},
    }


def _start(e2e: E2E, *, port: int | None = None, jira_secret: str = JIRA_SECRET) -> str:
    port = port or free_port()
    e2e.rewrite_config(
        {
            "sync": {
                "poll_interval_seconds": 3600,
                "jira_poll_interval_seconds": 3600,
                "full_sweep_interval_seconds": 3600,
            },
            "http": {"listen": f"127.0.0.1:{port}"},
            "intigriti": {"webhook_secret": INTIGRITI_SECRET},
            "jira": {"webhook_secret": jira_secret},
        }
    )
    return f"http://127.0.0.1:{port}"


def _first_polls_done(base: str) -> bool:
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    return all(
        f'syncd_cycles_total{{cycle="{cycle}",outcome="ok"}} 1.0' in metrics
        for cycle in ("poll_intigriti", "poll_jira")
    )


def _counter(base: str, prefix: str) -> float:
    """The sum of the /metrics samples whose line starts with ``prefix``."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def _reconciles(base: str) -> float:
    return _counter(base, 'syncd_cycles_total{cycle="webhook"')


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_signed_deliveries_propagate_and_forged_or_replayed_ones_change_nothing(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    base = _start(e2e)
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    intigriti = e2e.world.intigriti.control
    jira = e2e.world.jira.control
    program = e2e.world.programs[0]
    try:
        wait_for(
            lambda: all(e2e.submission(c)["internalReference"] for c in codes),
            timeout=90,
            what="the start-up backfill",
        )
        # the first polls run at start; from then on only deliveries move anything
        wait_for(lambda: _ready(base), timeout=60, what="/readyz")
        wait_for(lambda: _first_polls_done(base), timeout=30, what="the first polls")

        # a forged delivery: 401, and the edit behind it is not synced
        intigriti.edit_submission(codes[0], severity="Critical")
        forged = _intigriti(
            base,
            "SubmissionSeverityChanged",
            _severity_changed(codes[0], program),
            secret="wrong-secret-wrong-secret",
        )
        assert forged.status_code == 401
        unsigned = httpx.post(f"{base}/webhooks/intigriti", content=b"{}", timeout=10)
        assert unsigned.status_code == 401
        # refused before anything was queued: no reconcile ran, nothing was synced
        assert _counter(base, "syncd_webhook_queue_depth") == 0
        assert _reconciles(base) == 0
        assert e2e.issue_of(codes[0])["priority"] != "Highest"

        # the genuine delivery: synced from a direct read (the payload's values unused)
        e2e.reset_counters()
        payload = _severity_changed(codes[0], program)
        accepted = _intigriti(base, "SubmissionSeverityChanged", payload)
        assert accepted.status_code == 202, accepted.text
        wait_for(
            lambda: e2e.issue_of(codes[0])["priority"] == "Highest",
            timeout=20,
            what="the severity to reach Jira",
        )
        wait_for(lambda: _reconciles(base) == 1, timeout=10, what="the reconcile to end")
        # the same delivery again: acknowledged, ignored (no second reconcile)
        replay = _intigriti(base, "SubmissionSeverityChanged", payload)
        assert replay.status_code == 200 and replay.json() == {"duplicate": True}
        assert _counter(base, "syncd_webhook_queue_depth") == 0
        assert _reconciles(base) == 1
        assert e2e.writes() == 1

        # a delivery whose payload lies (the severity did not change): nothing is written
        lie = _severity_changed(codes[1], program)
        assert _intigriti(base, "SubmissionSeverityChanged", lie).status_code == 202
        wait_for(lambda: _reconciles(base) == 2, timeout=10, what="its reconcile to end")
        assert e2e.writes() == 1

        # Jira -> Intigriti, and a replay with the same identifier
        key = str(e2e.submission(codes[2])["internalReference"])
        jira.set_status(key, "Done", resolution="Done")
        event = _issue_event("jira:issue_updated", jira.issue(key))
        assert _jira(base, event, identifier="delivery-1").status_code == 202
        wait_for(
            lambda: e2e.submission(codes[2])["status"] == "Closed",
            timeout=20,
            what="the status to reach Intigriti",
        )
        again = _jira(base, event, identifier="delivery-1")
        assert again.status_code == 200 and again.json() == {"duplicate": True}

        # a size cap, and a body that is no JSON
        huge = b"{" + b" " * (1024 * 1024 + 10) + b"}"
        too_large = httpx.post(f"{base}/webhooks/jira", content=huge, timeout=10)
        assert too_large.status_code == 413
        signature = hmac.new(JIRA_SECRET.encode(), b"not json", hashlib.sha256).hexdigest()
        garbage = httpx.post(
            f"{base}/webhooks/jira",
            content=b"not json",
            headers={"x-hub-signature": f"sha256={signature}"},
            timeout=10,
        )
        assert garbage.status_code == 400

        # a validly signed "deleted" for an issue Jira still has: not believed
        kept = str(e2e.submission(codes[3])["internalReference"])
        assert _jira(base, _issue_event("jira:issue_deleted", jira.issue(kept))).status_code == 202
        # a real deletion: the link is orphaned, Intigriti untouched
        gone = str(e2e.submission(codes[1])["internalReference"])
        deleted_event = _issue_event("jira:issue_deleted", jira.issue(gone))
        before = e2e.submission(codes[1])
        jira.delete(gone)
        assert _jira(base, deleted_event).status_code == 202
        wait_for(
            lambda: "orphaned (Jira issue deleted): 1" in e2e.syncd("status").stdout,
            timeout=20,
            what="the orphaned link in status",
        )
        status = e2e.syncd("status").stdout
        assert codes[1] in status.split("orphaned (Jira issue deleted): 1")[1].split("\n")[1]
        after = e2e.submission(codes[1])
        assert (after["status"], after["internalReference"]) == (
            before["status"],
            before["internalReference"],
        )

        # doctor signs a test delivery with this configuration's secrets
        doctor = e2e.syncd("doctor")
        assert "ok    intigriti webhook: " in doctor.stdout, doctor.stdout
        assert "ok    jira webhook: " in doctor.stdout, doctor.stdout

        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        counted = "syncd_webhook_deliveries_total{outcome="
        assert counted + '"unauthorized",source="intigriti"} 2.0' in metrics
        assert counted + '"duplicate",source="jira"} 1.0' in metrics
    finally:
        stop_all([daemon])
    assert daemon.returncode == 0
    events = [e.get("event") for e in log_events(log)]
    assert "link_orphaned" in events and "webhook_delete_not_confirmed" in events
    assert e2e.query(f"SELECT state FROM links WHERE submission_code = '{codes[3]}'") == [
        {"state": "linked"}
    ]


def test_the_simulators_own_deliveries_duplicated_and_reordered_sync_each_change_once(
    e2e: E2E,
) -> None:
    codes = seed_open(e2e, 6)
    base = _start(e2e)
    daemon = e2e.popen("run", log=e2e.workdir / "daemon.log")
    intigriti = e2e.world.intigriti.control
    jira = e2e.world.jira.control
    try:
        wait_for(lambda: _ready(base), timeout=90, what="/readyz")
        wait_for(lambda: _first_polls_done(base), timeout=30, what="the first polls")
        options = {"duplicate": True, "reorder": True}
        intigriti.configure_webhook(f"{base}/webhooks/intigriti", INTIGRITI_SECRET, **options)
        jira.configure_webhook(f"{base}/webhooks/jira", JIRA_SECRET, **options)
        e2e.reset_counters()
        for code in codes[:3]:
            intigriti.edit_submission(code, severity="Critical")
        keys = [str(e2e.submission(code)["internalReference"]) for code in codes[3:]]
        for key in keys:
            jira.set_priority(key, "Lowest")
        wait_for(
            lambda: all(e2e.issue_of(c)["priority"] == "Highest" for c in codes[:3])
            and all(e2e.submission(c)["severity"] == "Low" for c in codes[3:]),
            timeout=30,
            what="every edit on the other side (the polls are an hour apart)",
        )
        intigriti.wait_webhooks_idle()
        jira.wait_webhooks_idle()
        # every queued delivery reconciled (coalesced ones ride on a queued one)
        queued = 'syncd_webhook_deliveries_total{outcome="queued"'
        wait_for(
            lambda: _counter(base, "syncd_webhook_queue_depth") == 0
            and _reconciles(base) >= _counter(base, queued),
            timeout=20,
            what="the queue to drain",
        )
        # one write per edit that changed a class, although every delivery came twice
        # (the sixth submission was Low already: Lowest is the same class, no write)
        assert e2e.submission(codes[5])["severity"] == "Low"
        assert e2e.writes() == 5
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'syncd_webhook_deliveries_total{outcome="duplicate",source="jira"}' in metrics
    finally:
        stop_all([daemon])
    assert daemon.returncode == 0


def test_webhooks_register_creates_the_jira_webhook_that_then_delivers(e2e: E2E) -> None:
    codes = seed_open(e2e, 2)
    base = _start(e2e)
    daemon = e2e.popen("run", log=e2e.workdir / "daemon.log")
    try:
        wait_for(lambda: _ready(base), timeout=90, what="/readyz")
        wait_for(lambda: _first_polls_done(base), timeout=30, what="the first polls")
        registered = e2e.syncd("webhooks", "register", "--url", base)
        assert registered.returncode == 0, registered.stderr[-2000:]
        assert "jira: webhook created" in registered.stdout
        assert f"-> {base}/webhooks/jira" in registered.stdout
        assert f"{base}/webhooks/intigriti" in registered.stdout  # the Intigriti steps
        again = e2e.syncd("webhooks", "register", "--url", base)
        assert "jira: webhook updated" in again.stdout  # not a second webhook
        key = str(e2e.submission(codes[1])["internalReference"])
        e2e.world.jira.control.set_status(key, "Done", resolution="Done")
        wait_for(
            lambda: e2e.submission(codes[1])["status"] == "Closed",
            timeout=20,
            what="the registered webhook's delivery to sync the status",
        )
    finally:
        stop_all([daemon])


def test_doctor_names_a_webhook_secret_the_daemon_does_not_use(e2e: E2E) -> None:
    seed_open(e2e, 1)
    base = _start(e2e)
    daemon = e2e.popen("run", log=e2e.workdir / "daemon.log")
    try:
        wait_for(lambda: _ready(base), timeout=90, what="/readyz")
        port = int(base.rsplit(":", 1)[1])
        _start(e2e, port=port, jira_secret="another-secret-of-enough-length")
        doctor = e2e.syncd("doctor")
    finally:
        stop_all([daemon])
    assert doctor.returncode == 1
    assert "FAIL  jira.webhook_secret: the daemon at" in doctor.stdout, doctor.stdout
    assert "ok    intigriti webhook" in doctor.stdout
    stopped = e2e.syncd("doctor")
    assert "skip  jira webhook: no daemon answers at" in stopped.stdout, stopped.stdout


def test_webhooks_need_the_listener_and_a_long_secret(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"webhook_secret": JIRA_SECRET}})
    result = e2e.syncd("run", timeout=60)
    assert result.returncode == 2
    assert "jira.webhook_secret set, but http.listen is empty" in result.stderr
    listen = {"listen": f"127.0.0.1:{free_port()}"}
    e2e.rewrite_config({"http": listen, "jira": {"webhook_secret": "short"}})
    result = e2e.syncd("run", timeout=60)
    assert result.returncode == 2
    assert "jira.webhook_secret: at least 16 characters" in result.stderr
