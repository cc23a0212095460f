"""Why a connection failed, in the words an operator acts on.

Both HTTP stacks (httpx for Intigriti; requests/urllib3 under the ``jira`` library) wrap the
operating system's error in one or two layers of their own. ``connection_cause`` walks those
layers and names the cause: connection refused, DNS, TLS, timeout, or a reset. The adapters
put it into their error messages together with the URL and the config key to change.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

_DNS_WORDS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "failed to resolve",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (causes, contexts, urllib3's ``reason``)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(e for e in inner if isinstance(e, BaseException))


def connection_cause(exc: BaseException) -> str:
    """A short cause such as ``connection refused`` or ``DNS lookup failed``."""
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            detail = error.verify_message or "certificate verify failed"
            return f"TLS certificate not trusted ({detail})"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            return f"TLS handshake failed ({error.reason or error.strerror or 'SSL error'})"
    for error in chain:
        if isinstance(error, socket.gaierror):
            return "DNS lookup failed (no such host)"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused (nothing is listening at that address and port)"
        if isinstance(error, ConnectionResetError):
            return "connection reset by the server"
    for error in chain:
        if isinstance(error, TimeoutError) or "timeout" in type(error).__name__.lower():
            return "timed out"
    text = " ".join(str(error) for error in chain).lower()
    if any(word in text for word in _DNS_WORDS):
        return "DNS lookup failed (no such host)"
    if "connection refused" in text:
        return "connection refused (nothing is listening at that address and port)"
    if "certificate verify failed" in text:
        return "TLS certificate not trusted"
    if "ssl" in text or "tls" in text:
        return "TLS handshake failed"
    if "timed out" in text:
        return "timed out"
    return f"connection failed ({type(exc).__name__})"


def safe_url(url: str) -> str:
    """``url`` without user information or query (neither belongs in a message)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
