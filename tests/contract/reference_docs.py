"""Where the official OpenAPI documents are: `shared/reference/`, beside the repository.

`SYNCD_REFERENCE_DIR` points elsewhere. Without the documents the contract tests skip with
the reason, except where `SYNCD_REQUIRE_REFERENCE` is set (CI): there they fail, so a
missing document can never pass as a green run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def reference_document(name: str) -> Path:
    directory = Path(
        os.environ.get("SYNCD_REFERENCE_DIR", str(REPOSITORY.parent / "shared" / "reference"))
    )
    path = directory / name
    if not path.is_file():
        message = f"{name} not found in {directory} (set SYNCD_REFERENCE_DIR)"
        if os.environ.get("SYNCD_REQUIRE_REFERENCE"):
            pytest.fail(message)
        pytest.skip(message)
    return path
