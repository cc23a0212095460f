"""Benchmark: N Intigriti writes through the production adapter at a configured quota.

Starts the Intigriti simulator with its write quota set to ``--rate-per-minute`` (a
sliding 60-second window, like the announced 200 writes/min), points the adapter at it
with the same quota, pushes ``--writes`` internal-reference PUTs one after another, and
reports the achieved rate as a fraction of the quota and the number of 429s. Goal:
>= 0.95 of the quota with zero 429s. Run ``python bench/intigriti_writes.py --help``.

Runs longer than 60 s (writes > rate) exercise the server's window, e.g.
``--writes 1000 --rate-per-minute 600``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.options import IntigritiOptions
from syncd.intigriti.tokens import MemoryTokenStore
from syncd.logging import configure_logging
from syncd.records import OAuthToken
from syncd.simulators.intigriti.options import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
    IntigritiSimulatorOptions,
)
from syncd.simulators.intigriti.simulator import IntigritiSimulator

ROUTE = "/submissions/{submissionCode}/internal-reference"
SUBMISSIONS = 50


def run(writes: int = 1000, rate: float = 1200) -> dict[str, Any]:
    """Push ``writes`` writes at quota ``rate``/min; returns the measured numbers."""
    sim_options = IntigritiSimulatorOptions(write_rate_per_minute=int(rate))
    with IntigritiSimulator(sim_options) as sim:
        control = sim.control
        program = control.seed_program(name="Bench")
        codes = control.seed_submissions(program["id"], min(writes, SUBMISSIONS))
        minted = control.mint_token(expires_in=3600)
        token = OAuthToken(
            minted["access_token"],
            minted["refresh_token"],
            datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"])),
            minted["scope"],
        )
        options = IntigritiOptions(
            api_url=sim.api_url,
            token_url=sim.token_url,
            authorize_url=sim.authorize_url,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            redirect_uri=DEMO_REDIRECT_URI,
            write_rate_per_minute=rate,
        )
        control.reset_counters()
        expected: dict[str, str] = {}
        with IntigritiAdapter(options, MemoryTokenStore(token)) as adapter:
            started = time.monotonic()
            for i in range(writes):
                code = codes[i % len(codes)]
                reference = f"SEC-{i}"
                adapter.set_internal_reference(
                    code, reference, f"https://jira.example/browse/{reference}"
                )
                expected[code] = reference
            elapsed = time.monotonic() - started
            client_counts = adapter.request_counts()
        server_429 = control.count("PUT", ROUTE, 429)
        server_ok = control.count("PUT", ROUTE, 204)
        applied = all(
            control.submission(code)["internalReference"] == reference
            for code, reference in expected.items()
        )
    # n requests paced at rate r span (n - 1) intervals of 60/r seconds
    achieved = (writes - 1) / elapsed * 60 if writes > 1 and elapsed > 0 else 0.0
    return {
        "writes": writes,
        "quota_per_minute": rate,
        "elapsed_seconds": round(elapsed, 2),
        "achieved_per_minute": round(achieved, 1),
        "fraction_of_quota": round(achieved / rate, 3),
        "http_429": server_429,
        "client_seen_429": sum(n for (_, status), n in client_counts.items() if status == "429"),
        "server_accepted": server_ok,
        "all_applied": applied,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000, help="number of writes (1000)")
    parser.add_argument(
        "--rate-per-minute",
        type=float,
        default=1200,
        help="write quota of both simulator and client (1200; Intigriti's is 200)",
    )
    args = parser.parse_args()
    configure_logging("warning")  # per-request debug events would drown the numbers
    result = run(args.writes, args.rate_per_minute)
    print(json.dumps(result, indent=2))
    goal = result["fraction_of_quota"] >= 0.95 and result["http_429"] == 0
    print("goal (>= 0.95 of quota, zero 429s):", "met" if goal else "NOT met")


if __name__ == "__main__":
    main()
