"""Run a command on a pseudo-terminal, as an operator at a terminal runs it.

Not a conftest: tests import what they use. ``run_on_terminal`` gives the raw bytes the
terminal received (escape sequences included) and ``fragments`` splits them into the runs of
text a terminal would show between cursor movements, so a test can tell a log line printed
above a progress bar from one written into it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: colours and text styles: they do not move the cursor
_STYLE = re.compile(r"\x1b\[[0-9;]*m")
#: CSI sequences (cursor moves, erase line), OSC sequences, and the bare controls that move
#: the cursor: a terminal shows the text between them as separate runs.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>]|[\r\n\x08]")


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    output: str

    def fragments(self) -> list[str]:
        plain = _STYLE.sub("", self.output)
        return [part for part in _CONTROL.split(plain) if part.strip()]


def run_on_terminal(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    columns: int = 120,
    rows: int = 40,
) -> TerminalRun:
    """Run ``argv`` with stdin, stdout and stderr on one pty; wait for it to exit."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            cwd=cwd,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
            start_new_session=True,
        )
    finally:
        os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{argv} did not finish within {timeout}s")
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError as exc:  # Linux: EIO once the last writer has closed the pty
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    return TerminalRun(returncode, b"".join(chunks).decode("utf-8", errors="replace"))
