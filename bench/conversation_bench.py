"""What the conversation sync costs a backfill, at the real Intigriti quotas.

    python bench/conversation_bench.py --submissions 300 --messages 2

N new submissions, each with M researcher messages, backfilled by `syncd run --reconcile`
with `[conversation] direction = "both"` at 200 writes and 600 reads a minute. Reports
the time against the least time the write quota allows (one internal-reference write
per submission: the copies go to Jira, not against Intigriti's write quota), the
requests by route, the Intigriti 429s, and whether every message became one comment.
The simulators run in this process; syncd is a subprocess.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from syncd.simulators.world import start_world

REF = re.compile(r"syncd ref [0-9a-f]{12}")


def bench(submissions: int, messages: int, write_rate: int, read_rate: int) -> dict[str, Any]:
    world = start_world(
        programs=1, read_rate_per_minute=read_rate, write_rate_per_minute=write_rate
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = world.write_config(
                Path(tmp) / "config.toml",
                f"sqlite:///{Path(tmp) / 'syncd.db'}",
                overrides={
                    "intigriti": {
                        "read_rate_per_minute": read_rate,
                        "write_rate_per_minute": write_rate,
                    },
                    "jira": {"requests_per_minute": 60000},
                    "conversation": {"direction": "both"},
                    "logging": {"level": "warning", "format": "json"},
                },
            )
            control = world.intigriti.control
            codes = [world.report(status="Accepted") for _ in range(submissions)]
            for code in codes:
                for n in range(messages):
                    control.post_message(code, f"{code}: researcher message {n}")
            control.reset_counters()
            world.jira.control.reset_counters()
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "syncd", "--config", str(config), "run", "--reconcile"],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.monotonic() - started
            if result.returncode != 0:
                raise SystemExit(f"syncd failed ({result.returncode}):\n{result.stderr[-3000:]}")
            counts: Counter[str] = Counter()
            for row in control.counters():
                counts[f"intigriti {row['method']} {row['route']}"] += row["count"]
            for route, n in world.jira.control.counters().items():
                counts[f"jira {route}"] += n
            copies = 0
            for issue in world.jira.control.issues():
                copies += sum(1 for c in issue["comments"] if REF.search(c["body"]))
            floor = submissions / write_rate * 60
            statuses = [r for r in control.counters() if r["status"] == 429]
            return {
                "submissions": submissions,
                "messages each": messages,
                "seconds": round(wall, 1),
                "seconds the write quota allows at best": round(floor, 1),
                "fraction of the write quota": round(floor / wall, 3),
                "Intigriti 429s": sum(r["count"] for r in statuses),
                "comments made (expected)": f"{copies} ({submissions * messages})",
                **{route: n for route, n in sorted(counts.items()) if n},
            }
    finally:
        world.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--write-rate", type=int, default=200)
    parser.add_argument("--read-rate", type=int, default=600)
    args = parser.parse_args()
    result = bench(args.submissions, args.messages, args.write_rate, args.read_rate)
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
