"""Print pip constraints pinning every direct dependency to its declared lower bound.

``pip install -c <(python .ci/lowest_pins.py) ".[test]"`` then installs the oldest versions
pyproject.toml claims to work with (what ``uv --resolution=lowest-direct`` does), so a
lower bound that cannot install, or that the code has outgrown, fails CI.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(?P<spec>.*)$")


def lower_bounds(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement.split(";")[0].strip())
        if match is None or match["name"].lower() == project["name"]:
            continue
        for clause in match["spec"].split(","):
            clause = clause.strip()
            if clause.startswith(">="):
                pins[match["name"].lower()] = clause[2:].strip()
    return pins


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    for name, version in sorted(lower_bounds(root / "pyproject.toml").items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
