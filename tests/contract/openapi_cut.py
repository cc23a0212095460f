"""The part of Atlassian's Jira OpenAPI document that syncd's contract tests use.

The full document is 2.4 MB; the repository keeps only the paths below and every component
they reference, transitively (``tests/reference/jira-cloud-platform-openapi-v3.json``).
To refresh it from a new full document::

    python tests/contract/openapi_cut.py FULL.json \\
        tests/reference/jira-cloud-platform-openapi-v3.json

A path added to ``USED_PATHS`` needs that refresh before its test can find it.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

USED_PATHS = (
    "/rest/api/3/serverInfo",
    "/rest/api/3/myself",
    "/rest/api/3/field",
    "/rest/api/3/priority",
    "/rest/api/3/status",
    "/rest/api/3/resolution",
    "/rest/api/3/project/{projectIdOrKey}",
    "/rest/api/3/project/{projectIdOrKey}/statuses",
    "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes",
    "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
    "/rest/api/3/issue",
    "/rest/api/3/issue/{issueIdOrKey}",
    "/rest/api/3/issue/{issueIdOrKey}/transitions",
    "/rest/api/3/issue/{issueIdOrKey}/changelog",
    "/rest/api/3/issue/{issueIdOrKey}/comment",
    "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
    "/rest/api/3/issue/{issueIdOrKey}/properties",
    "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}",
    "/rest/api/3/issue/{issueIdOrKey}/remotelink",
    "/rest/api/3/issue/{issueIdOrKey}/remotelink/{linkId}",
    "/rest/api/3/issue/{issueIdOrKey}/editmeta",
    "/rest/api/3/issueLink",
    "/rest/api/3/issueLink/{linkId}",
    "/rest/api/3/issueLinkType",
    "/rest/api/3/search/jql",
    "/rest/api/3/search/approximate-count",
    "/rest/api/3/search",
)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def cut(document: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """``document`` with only ``paths`` and the components they reference (transitively)."""
    chosen = {path: copy.deepcopy(document["paths"][path]) for path in paths}
    components: dict[str, dict[str, Any]] = {}
    pending = list(refs(chosen))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref.rsplit("/", 2)
        target = document["components"][section][name]
        components.setdefault(section, {})[name] = copy.deepcopy(target)
        pending.extend(refs(target))
    components["securitySchemes"] = document["components"].get("securitySchemes", {})
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "servers": document.get("servers", []),
        "paths": chosen,
        "components": {section: dict(sorted(c.items())) for section, c in components.items()},
    }


def main(source: str, target: str) -> None:
    document = json.loads(Path(source).read_text(encoding="utf-8"))
    excerpt = cut(document, USED_PATHS)
    Path(target).write_text(json.dumps(excerpt, indent=1, sort_keys=False) + "\n", "utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
