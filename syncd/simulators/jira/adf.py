"""Plain text / wiki markup <-> Atlassian Document Format (ADF), the simple way.

The simulator stores text fields in the form they were written and converts on read:
v2 answers a string, v3 answers an ADF document. The conversion keeps paragraphs and
line breaks, which is what syncd writes; richer ADF nodes are flattened to their text.
"""

from __future__ import annotations

from typing import Any

ADF_ERROR = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def text_to_adf(text: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        if block == "":
            continue
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(block.split("\n")):
            if index > 0:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def is_adf_document(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def adf_to_text(node: Any) -> str:
    """Flatten an ADF document: blocks separated by blank lines, hardBreak as newline."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""
    if kind == "hardBreak":
        return "\n"
    children = node.get("content")
    if not isinstance(children, list):
        return ""
    if kind in ("doc", "bulletList", "orderedList", "blockquote", "panel", "table"):
        parts = [adf_to_text(child) for child in children]
        return "\n\n".join(part for part in parts if part != "")
    return "".join(adf_to_text(child) for child in children)
