"""systemd's notify protocol: READY=1, WATCHDOG=1 and STATUS= datagrams to $NOTIFY_SOCKET.

The protocol is one datagram per message on a Unix socket (sd_notify(3)); written here
rather than taken from a library because the pure-Python ones are unmaintained and
``systemd-python`` needs libsystemd headers to build. Without $NOTIFY_SOCKET (not under
systemd, or ``Type=exec``) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _address(env.get("NOTIFY_SOCKET", ""))
        usec = env.get("WATCHDOG_USEC", "")
        # WATCHDOG_PID, when set, names the process the watchdog is for
        pid = env.get("WATCHDOG_PID", "")
        for_us = not pid or pid == str(os.getpid())
        interval = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else None
        #: ping this often: half the watchdog interval, as sd_watchdog_enabled(3) advises
        self.watchdog_every: float | None = interval / 2 if interval and for_us else None
        self._last_ping = 0.0
        self._last_status = ""
        self._ready = False
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str) -> None:
        """Once: the service is up (systemd ends ``activating`` and starts its watchdog)."""
        with self._lock:
            if self._ready:
                return
            self._ready = True
        self._send(f"READY=1\nSTATUS={status}")
        self._last_status = status

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        """A keep-alive, sent at most every half interval however often it is called."""
        if self.watchdog_every is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_every:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as exc:
            # systemd gone or the socket unreadable: nothing to tell; the sync goes on
            log.warning("systemd_notify_failed", error=str(exc))


def _address(value: str) -> str | None:
    if not value:
        return None
    # "@name" is an abstract socket: a leading NUL byte in the address
    return "\0" + value[1:] if value.startswith("@") else value
