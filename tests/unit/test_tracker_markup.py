from __future__ import annotations

import re

import pytest

from syncd.tracker.markup import DESCRIPTION_MAX_CHARS, escape_wiki

ZWSP = "\u200b"

HOSTILE = [
    "{noformat}\nh1. pwned\n{noformat}",
    "{NoFormat}break out{NOFORMAT}",
    "{ noformat}spaced",
    "{noformat:title=x}inner{noformat}",
    "{code}x{code} {html}<script>alert(1)</script>{html} {panel}p{panel}",
    "[click|https://evil.example] !https://evil.example/x.png! [~admin] [~accountid:123]",
    "*bold* _it_ -strike- +under+ ^sup^ ~sub~ ??cite?? {{mono}}",
    "h1. Heading\nbq. quote\n----\n|| a || b ||\n| c | d |\n# one\n* two",
    "line\\\\break \\ trailing backslash\\",
    "{color:red}red{color} {anchor:x} {toc}",
]


def inner(escaped: str) -> str:
    assert escaped.startswith("{noformat}\n") and escaped.endswith("\n{noformat}")
    return escaped[len("{noformat}\n") : -len("\n{noformat}")]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_inside_one_noformat_block(text: str) -> None:
    escaped = escape_wiki(text)
    body = inner(escaped)
    # Nothing inside can close the block: no "{" directly followed by "noformat".
    assert re.search(r"\{\s*noformat", body, re.IGNORECASE) is None
    # Exactly two structural tags in the whole output.
    assert len(re.findall(r"\{\s*noformat", escaped, re.IGNORECASE)) == 2
    # What a reader sees is the original text.
    assert body.replace(ZWSP, "") == text


def test_control_and_bidi_characters_are_removed_newlines_kept() -> None:
    text = "a\x00b\x1bc\u202eevil\u202c\r\nnext\rline\tok"
    assert inner(escape_wiki(text)) == "abcevil\nnext\nline\tok"


def test_empty_text_renders_nothing() -> None:
    assert escape_wiki("") == ""
    assert escape_wiki(" \n\x00") == ""


def test_the_description_limit_is_documented() -> None:
    assert DESCRIPTION_MAX_CHARS == 32_767
