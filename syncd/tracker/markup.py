"""Untrusted (researcher-written) text rendered as literal text in Jira wiki markup (v2).

Jira wiki markup has many constructs (macros ``{code}``, ``{html}``, links ``[x|url]``,
images ``!x!``, mentions ``[~user]``, ``*bold*``, ``h1.``, ``----``, tables, ``\\\\``).
Escaping each is fragile, so the text goes inside one ``{noformat}`` block, where Jira
renders nothing. The only way out of such a block is the text ``{noformat}``; every
occurrence (any case, with or without parameters) is broken with an invisible zero-width
space after the brace, so it shows the same but no longer parses as the macro.

Jira limits a description to 32,767 characters (``DESCRIPTION_MAX_CHARS``); truncating
before escaping is the caller's job (the planner builds descriptions).
"""

from __future__ import annotations

import re

DESCRIPTION_MAX_CHARS = 32_767

_ZWSP = "\u200b"
_NOFORMAT = re.compile(r"\{(\s*noformat)", re.IGNORECASE)
# C0/C1 control characters other than tab and newline, and bidi overrides: they can hide
# or reorder text in the rendered issue.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_wiki(text: str) -> str:
    """``text`` as a wiki-markup fragment that renders literally; "" for empty text."""
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = _CONTROL.sub("", cleaned)
    if not cleaned.strip():
        return ""
    neutral = _NOFORMAT.sub(lambda m: "{" + _ZWSP + m.group(1), cleaned)
    # A trailing backslash or brace right before the closing tag could glue onto it;
    # the newline keeps the closing tag on its own line.
    return "{noformat}\n" + neutral + "\n{noformat}"
