"""The official OpenAPI documents the contract tests validate against: ``tests/reference/``.

They travel with the repository, so a fresh clone runs every contract test. A missing
document is a broken checkout and fails the test, never skips it. ``SYNCD_REFERENCE_DIR``
points at another copy (e.g. newer full documents) to validate against instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def reference_document(name: str) -> Path:
    directory = Path(os.environ.get("SYNCD_REFERENCE_DIR", str(REFERENCE_DIR)))
    path = directory / name
    if not path.is_file():
        pytest.fail(f"{name} not found in {directory}: the reference documents are missing")
    return path
