"""Benchmark: the cost of deriving the token-sealing key (scrypt) at several work factors.

Each run derives a 32-byte key from a passphrase with a fresh random salt, as
``syncd.store.sealing`` does once per salt and process, and reports the median, fastest
and slowest wall time and scrypt's memory (``128 * n * r`` bytes). The row for the
parameters syncd uses (``SCRYPT_N``, ``SCRYPT_R``, ``SCRYPT_P``) is marked. Run
``python bench/scrypt_cost.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from syncd.store.sealing import SCRYPT_N, SCRYPT_P, SCRYPT_R


def measure(n: int, r: int, p: int, runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        Scrypt(salt=os.urandom(16), length=32, n=n, r=r, p=p).derive(b"a passphrase")
        times.append(time.perf_counter() - started)
    return {
        "n": f"2**{n.bit_length() - 1}",
        "r": r,
        "p": p,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "memory_mib": 128 * n * r // 2**20,
        "syncd": (n, r, p) == (SCRYPT_N, SCRYPT_R, SCRYPT_P),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="derivations per work factor")
    args = parser.parse_args()
    for exponent in (14, 15, 16, 17):
        print(json.dumps(measure(2**exponent, SCRYPT_R, SCRYPT_P, args.runs)))


if __name__ == "__main__":
    main()
