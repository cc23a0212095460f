"""``serve`` as ``syncd sim jira`` runs it: a separate process, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import jira

from syncd.simulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraControl

_SCRIPT = "from syncd.simulators.jira import serve; serve(0)"


def test_serve_prints_base_url_first_and_stops_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-c", _SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        # Another process seeds it through the control API and reads it with the library.
        with JiraControl(base_url) as control:
            key = control.create_issue("SEC", "from another process")["key"]
        client = jira.JIRA(
            server=base_url, basic_auth=(DEFAULT_EMAIL, DEFAULT_API_TOKEN),
            max_retries=0, timeout=10,
        )
        assert client.issue(key).fields.summary == "from another process"
        client.close()  # type: ignore[no-untyped-call]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
