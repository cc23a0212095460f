"""A safe file name for an attachment fetched from Intigriti.

The name comes from the server (``Content-Disposition``) or the URL's last segment, both
written by a researcher in the end: untrusted. It becomes the name of a Jira attachment,
so it is cut to one plain segment: no directories, no control or bidirectional-override
characters, no leading dots, at most 180 characters with its extension kept.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from urllib.parse import unquote, urlsplit

MAX_NAME_CHARS = 180
_UNSAFE = re.compile(r'[\\/:*?"<>|]+')


def _clean(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw)
    # Cc and Cf: controls, and format characters such as U+202E (right-to-left override)
    # that can make "gpj.exe" read as "exe.jpg".
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    text = _UNSAFE.sub("_", text)
    text = " ".join(text.split()).strip(" .")
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            text = text[:MAX_NAME_CHARS].rstrip(" .")
    return text


def disposition_name(header: str | None) -> str | None:
    """The ``filename`` (or RFC 5987 ``filename*``) of a Content-Disposition header."""
    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return name or None


def attachment_name(url: str, disposition: str | None, fallback: str) -> str:
    """The cleaned name of a fetched attachment; ``fallback`` when nothing usable is left."""
    from_url = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    return _clean(disposition_name(disposition) or "") or _clean(from_url) or fallback
