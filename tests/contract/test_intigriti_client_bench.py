"""A scaled-down run of bench/intigriti_writes.py: paced writes meet no 429 and all land."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "intigriti_writes.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("intigriti_writes_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_paced_writes_get_no_429_and_all_apply() -> None:
    result = load_bench().run(writes=30, rate=1200)
    assert result["http_429"] == 0
    assert result["client_seen_429"] == 0
    assert result["server_accepted"] == 30
    assert result["all_applied"] is True
