"""CVSS 3.1 base score from a vector string, so simulated severities carry a real score."""

from __future__ import annotations

import math

_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PRIVILEGES = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_BASE_METRICS = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _roundup(value: float) -> float:
    # The specification's Roundup, done in integers to avoid float artefacts.
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000
    return (math.floor(scaled / 10_000) + 1) / 10.0


def parse_vector(vector: str) -> dict[str, str]:
    """The base metrics of a ``CVSS:3.x/...`` vector; ``ValueError`` when malformed."""
    parts = vector.split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        raise ValueError("vector must start with CVSS:3.1/")
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep or key in metrics:
            raise ValueError(f"bad vector component {part!r}")
        metrics[key] = value
    for key in _BASE_METRICS:
        if key not in metrics:
            raise ValueError(f"vector lacks {key}")
    if metrics["S"] not in _PRIVILEGES:
        raise ValueError("bad scope metric")
    for key, table in _WEIGHTS.items():
        if metrics[key] not in table:
            raise ValueError(f"bad {key} metric")
    if metrics["PR"] not in _PRIVILEGES["U"]:
        raise ValueError("bad PR metric")
    return metrics


def base_score(vector: str) -> float:
    """The CVSS 3.1 base score (0.0 .. 10.0) of ``vector``."""
    m = parse_vector(vector)
    changed = m["S"] == "C"
    iss = 1 - (
        (1 - _WEIGHTS["C"][m["C"]]) * (1 - _WEIGHTS["I"][m["I"]]) * (1 - _WEIGHTS["A"][m["A"]])
    )
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    exploitability = (
        8.22
        * _WEIGHTS["AV"][m["AV"]]
        * _WEIGHTS["AC"][m["AC"]]
        * _PRIVILEGES[m["S"]][m["PR"]]
        * _WEIGHTS["UI"][m["UI"]]
    )
    if impact <= 0:
        return 0.0
    total = impact + exploitability
    if changed:
        total *= 1.08
    return _roundup(min(total, 10.0))


def rating(score: float) -> str:
    """The CVSS qualitative rating, which matches Intigriti's severity names up to Critical."""
    if score == 0:
        return "None"
    if score < 4.0:
        return "Low"
    if score < 7.0:
        return "Medium"
    if score < 9.0:
        return "High"
    return "Critical"
