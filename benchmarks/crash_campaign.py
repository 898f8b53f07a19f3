"""The crash campaign of issue 12: every scenario of point 10, seeded random fault moments, counted.

    python benchmarks/crash_campaign.py [--trials 8] [--seed 7] [--speed 50] [--workers 3] [--scenario NAME]
    make crash

Each trial (tests/crash/scenarios.py, the same code tests/crash/test_campaign.py runs once per
scenario) hits an fwctl command at a seeded random moment — destroy, replace with a failing and with
a slow DELETE, state migrate, import, PostgreSQL restart (all of the process's sessions ended) and
lock-backend termination during apply, the local plane SIGKILLed and restarted mid-apply,
`orphans --delete` beside an apply — and then checks convergence (a later apply says "No changes",
the plan is clean), duplicates (the plane's trainer and deployment lists) and leaks (`fwctl orphans`
and unreferenced live objects). Prints a table; exits 1 on any failed trial, with its reasons.
Needs the PostgreSQL server on 127.0.0.1 (FWCTL_TEST_PG_URL) for the PostgreSQL scenarios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.crash.scenarios import SCENARIOS, Verdict, failures, run_scenario, table  # noqa: E402

CHUNK = 4  # trials per plane: a scenario's trials run in chunks side by side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per scenario (default 8: 72 in all)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=50.0, help="the local plane's --speed")
    parser.add_argument("--workers", type=int, default=3, help="chunks of trials run side by side")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="only these (repeatable)")
    args = parser.parse_args()
    scenarios = args.scenario or list(SCENARIOS)
    chunks = [(s, first, min(CHUNK, args.trials - first)) for s in scenarios for first in range(0, args.trials, CHUNK)]
    began = time.monotonic()
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="fwctl-crash-") as tmp, ThreadPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_scenario, s, n, args.seed, Path(tmp) / f"{i:02d}", args.speed, first)
                   for i, (s, first, n) in enumerate(chunks)]
        for future in futures:
            verdicts += future.result()
    print(f"crash campaign: seed {args.seed}, speed {args.speed:g}, {len(verdicts)} trials, "
          f"{time.monotonic() - began:.0f} s")
    print(table(verdicts))
    failed = [v for v in verdicts if not v.ok]
    if failed:
        print(f"\n{len(failed)} trial(s) failed:\n{failures(verdicts)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
