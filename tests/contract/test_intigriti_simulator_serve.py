"""``serve`` as ``syncd sim intigriti`` runs it: a separate process, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from syncd.simulators.intigriti import IntigritiControl

_SCRIPT = "from syncd.simulators.intigriti import serve; serve(0)"


def test_serve_prints_base_url_first_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        # Another process drives it through the control API and the real routes.
        with IntigritiControl(base_url) as control:
            program = control.seed_program(name="Remote")
            token = control.mint_token()["access_token"]
        listed = httpx.get(
            f"{base_url}/external/company/v2.0/programs",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert [p["id"] for p in listed.json()] == [program["id"]]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
