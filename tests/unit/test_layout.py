"""Module layering: the CLI's wiring and the demo do not import each other."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest


def loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('syncd')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("syncd.demo", "syncd.app"),
        ("syncd.app", "syncd.demo"),  # loaded only when `syncd demo` runs
        ("syncd.cli", "syncd.app"),  # `syncd --help` stays fast
        ("syncd.settings", "syncd.store.repository"),
    ],
)
def test_module_does_not_pull_in(module: str, must_not_load: str) -> None:
    assert must_not_load not in loaded_after(module)


def test_every_package_of_the_source_tree_is_installed() -> None:
    """A package missing from [tool.setuptools] packages works from a checkout (an
    editable install) and is absent from a wheel: `syncd run` then fails at import."""
    root = Path(__file__).parents[2]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "syncd").rglob("__init__.py")
    }
    assert found - listed == set()
