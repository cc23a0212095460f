"""`syncd sim intigriti|jira` as a newcomer runs them: what they print is enough to sync."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from syncd.simulators.jira import JiraControl

BEGIN = "# --- syncd config.toml snippet:"
END = "# --- end of snippet ---"
OPEN = {"Triage", "Pending", "Accepted"}  # the statuses that get a Jira issue by default


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: list[str]

    @property
    def base_url(self) -> str:
        return self.lines[0].strip()

    def snippet(self) -> str:
        start = next(i for i, line in enumerate(self.lines) if line.startswith(BEGIN))
        end = self.lines.index(END)
        return "\n".join(self.lines[start : end + 1]) + "\n"

    def value(self, label: str) -> str:
        line = next(line for line in self.lines if line.strip().startswith(label))
        return line.strip()[len(label) :].split()[0]


@contextmanager
def simulator(*args: str, timeout: float = 60) -> Iterator[Running]:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    lines_in: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines_in.put(line.rstrip("\n"))
        lines_in.put(None)

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    try:
        while END not in lines:
            line = lines_in.get(timeout=timeout)
            assert line is not None, "the simulator exited early:\n" + "\n".join(lines)
            lines.append(line)
        yield Running(process, lines)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def submissions(intigriti: Running) -> list[dict[str, object]]:
    token = intigriti.value("access token")
    api = intigriti.value("API URL")
    response = httpx.get(
        f"{api}/submissions", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    records = body["records"] if isinstance(body, dict) else body
    assert isinstance(records, list)
    return records


def status_of(record: dict[str, object]) -> str:
    state = record["state"]
    assert isinstance(state, dict)
    status = state["status"]
    return str(status["value"] if isinstance(status, dict) else status)


def test_the_printed_snippets_make_a_working_config_unchanged(tmp_path: Path) -> None:
    with simulator("intigriti", "--seed", "9") as intigriti, simulator("jira") as jira:
        home = tmp_path / "syncd-home"
        home.mkdir()
        config = home / "config.toml"
        config.write_text(intigriti.snippet() + "\n" + jira.snippet())
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()

        result = subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(config), "run", "--reconcile"],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=_env(),
            timeout=240,
            check=False,
        )

        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        records = submissions(intigriti)
        assert len(records) == 9
        open_codes = {str(r["code"]) for r in records if status_of(r) in OPEN}
        with JiraControl(jira.base_url) as control:
            issues = [i for i in control.issues() if "intigriti" in i["labels"]]
        tagged = {str(i["properties"]["syncd"]["submission"]) for i in issues}
        assert tagged == open_codes
        # the two programs went to the two projects the default mapping names
        assert {str(i["key"]).split("-")[0] for i in issues} == {"SEC", "APP"}
        assert (home / "syncd.db").is_file()  # beside the config, not where syncd ran
        assert list(elsewhere.iterdir()) == []


def test_seed_300_gives_300_submissions_in_mixed_states() -> None:
    with simulator("intigriti", "--seed", "300") as intigriti:
        records = submissions(intigriti)
    assert len(records) == 300
    statuses = Counter(status_of(r) for r in records)
    assert {"Triage", "Pending", "Accepted", "Closed"} <= set(statuses)
    severities = {str((r.get("severity") or {}).get("value")) for r in records}
    assert len(severities) >= 3


def test_jira_seed_gives_human_issues_in_sec_and_app() -> None:
    with simulator("jira", "--seed", "5") as jira, JiraControl(jira.base_url) as control:
        issues = control.issues()
    assert len(issues) == 5
    assert {i["project"] for i in issues} == {"SEC", "APP"}
    assert len({i["status"] for i in issues}) >= 3


def test_a_port_in_use_is_one_line_not_a_traceback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for system in ("intigriti", "jira"):
            result = subprocess.run(
                [sys.executable, "-m", "syncd", "sim", system, "--port", str(port)],
                capture_output=True,
                text=True,
                env=_env(),
                timeout=60,
                check=False,
            )
            assert result.returncode == 2, system
            assert f"port {port} on 127.0.0.1 is in use" in result.stderr
            assert "--port" in result.stderr
            assert "Traceback" not in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
