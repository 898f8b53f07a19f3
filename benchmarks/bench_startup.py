"""Cold start of the light commands, against the interpreter itself, measured in the same run.

Each command runs in a fresh process (no warm imports), several times; the table shows the
median wall time and its ratio to `python -c pass`. `fwctl` is run as `python -m reconciler.cli`
so the console-script shim's own cost does not blur the figures.

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FWCTL = [sys.executable, "-m", "reconciler.cli"]
COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("fwctl --help", [*FWCTL, "--help"]),
    ("fwctl plan --help", [*FWCTL, "plan", "--help"]),
    ("fwctl validate -f manifests/examples", [*FWCTL, "validate", "-f", "manifests/examples"]),
]


def measure(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)  # warm the OS file cache and .pyc
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = [(label, measure(argv, args.runs)) for label, argv in COMMANDS]
    baseline = statistics.median(results[0][1])
    width = max(len(label) for label, _ in results)
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'max ms':>7}  {'x python':>8}")
    for label, times in results:
        median = statistics.median(times)
        print(
            f"{label:<{width}}  {median * 1000:9.1f}  {min(times) * 1000:7.1f}  {max(times) * 1000:7.1f}"
            f"  {median / baseline:8.1f}"
        )
    print(f"({args.runs} runs each, {sys.executable})")


if __name__ == "__main__":
    main()
