"""Plan and apply of a 1,000-resource stack on the local file backend and on PostgreSQL, in one run.

    python benchmarks/bench_state_backends.py [--resources 1000] [--speed 50] [--parallelism 100]
                                              [--pg postgresql://postgres@127.0.0.1:5432/test] [--keep]

For each backend, a fresh `fwctl local serve --speed S` subprocess on 127.0.0.1 and a fresh stack of
N independent deployments (rft-qwen3-4b); the code `fwctl apply` / `fwctl plan` runs (lock,
read, refresh, plan, executor, unlock) is driven in-process so that state writes can be counted and
timed. Measured:

  * apply (N creates, from no state): wall time, state writes, time spent inside ``backend.write``
    (the StateRecorder writes one version at a time, so that time is on the apply's critical path);
  * a no-change plan of the applied stack (lock, read, refresh, plan, unlock): wall time;
  * the stored size: the state file, or every version PostgreSQL keeps for the stack.

Prints a table and the PostgreSQL / file ratios. The PostgreSQL rows of the benchmark's stacks are
deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.executor import Executor, Poll, StateRecorder, initial_state
from reconciler.manifest import load_manifests
from reconciler.model.state import LockInfo, StateDocument
from reconciler.planner import PlanRequest, plan_changes
from reconciler.provider import FireworksProvider
from reconciler.refresh import refresh
from reconciler.state import LocalFileBackend, PostgresBackend, StateBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_apply import KEY, serve, stack_of_deployments  # noqa: E402

PG_URL = os.environ.get("FWCTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


class TimedBackend:
    """A backend whose writes are counted and timed (everything else passes through)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes = 0
        self.write_s = 0.0

    def write(self, doc: StateDocument) -> None:
        start = time.perf_counter()
        self.inner.write(doc)
        self.write_s += time.perf_counter() - start
        self.writes += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _lock(backend: StateBackend, operation: str) -> str:
    host = socket.gethostname()
    info = LockInfo(operation=operation, who=f"{getpass.getuser()}@{host}", host=host, pid=os.getpid(),
                    version="bench", path=backend.describe())
    return backend.lock(info)


@dataclass
class Figures:
    backend: str
    apply_s: float
    changes: int
    writes: int
    write_s: float
    plan_s: float
    pending: int
    stored_bytes: int


async def _plan(provider: FireworksProvider, url: str, manifests: Any, prior: StateDocument | None) -> Any:
    observed = await refresh(provider, manifests.stack_name, manifests.resources, prior)
    return plan_changes(PlanRequest(stack=manifests.stack_name, endpoint=url, observed=observed, prior=prior,
                                    resources=manifests.resources, manifests_digest=manifests.digest,
                                    id_seed=prior.lineage if prior else str(uuid.uuid4())))


async def apply_once(url: str, manifests: Any, backend: TimedBackend, parallelism: int) -> tuple[float, int]:
    async with FireworksProvider(url, KEY, max_concurrency=parallelism) as provider:
        start = time.perf_counter()
        lock_id = _lock(backend, "apply")
        try:
            prior = backend.read()
            plan = await _plan(provider, url, manifests, prior)
            doc = prior or initial_state(manifests.stack_name, plan.state_lineage, url, plan.account, "bench")
            executor = Executor(provider, StateRecorder(backend, doc), parallelism=parallelism, poll=Poll())
            result = await executor.apply(plan)
        finally:
            backend.unlock(lock_id)
        elapsed = time.perf_counter() - start
        if not result.ok:
            raise SystemExit(f"apply failed: {len(result.failed)} failed, {len(result.skipped)} skipped: "
                             f"{next(iter((result.failed or result.skipped).items()))}")
        return elapsed, len(plan.pending)


async def plan_once(url: str, manifests: Any, backend: StateBackend, parallelism: int) -> tuple[float, int]:
    async with FireworksProvider(url, KEY, max_concurrency=parallelism) as provider:
        start = time.perf_counter()
        lock_id = _lock(backend, "plan")
        try:
            plan = await _plan(provider, url, manifests, backend.read())
        finally:
            backend.unlock(lock_id)
        return time.perf_counter() - start, len(plan.pending)


def pg_stored_bytes(url: str, stack: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(pg_column_size(doc)), 0) FROM fwctl.state_versions"
                           " WHERE stack = %s", (stack,)).fetchone()
    return int(row[0]) if row else 0


def pg_cleanup(url: str, stack: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("states", "state_versions", "locks"):
            conn.execute(f"DELETE FROM fwctl.{table} WHERE stack = %s", (stack,))


def measure(name: str, work: Path, args: argparse.Namespace) -> Figures:
    stack = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    stack_of_deployments(work / stack, args.resources, stack)
    manifests = load_manifests([str(work / stack)])
    inner: Any
    if name == "file":
        inner = LocalFileBackend(str(work / f"{stack}.json"))
    else:
        inner = PostgresBackend(args.pg, stack=stack)
    backend = TimedBackend(inner)
    proc, url = serve(work / f"{stack}.db", args.speed)
    try:
        apply_s, changes = asyncio.run(apply_once(url, manifests, backend, args.parallelism))
        plan_s, pending = asyncio.run(plan_once(url, manifests, inner, args.parallelism))
        if name == "file":
            stored = (work / f"{stack}.json").stat().st_size
        else:
            stored = pg_stored_bytes(args.pg, stack)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if name == "postgresql":
            inner.close()
            if not args.keep:
                pg_cleanup(args.pg, stack)
    return Figures(name, apply_s, changes, backend.writes, backend.write_s, plan_s, pending, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=1000, help="deployments in the stack")
    parser.add_argument("--speed", type=float, default=50.0, help="local control plane speed factor")
    parser.add_argument("--parallelism", type=int, default=100)
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (default $FWCTL_TEST_PG_URL or local)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL rows of the benchmark's stacks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure("file", Path(tmp), args), measure("postgresql", Path(tmp), args)]

    print(f"{args.resources} independent deployments, local control plane --speed {args.speed:g}, "
          f"parallelism {args.parallelism}\n")
    print(f"{'backend':<11} {'apply s':>8} {'changes':>8} {'state writes':>13} {'in write s':>11} "
          f"{'write share':>12} {'no-op plan s':>13} {'pending':>8} {'stored MB':>10}")
    for f in rows:
        print(f"{f.backend:<11} {f.apply_s:8.2f} {f.changes:8d} {f.writes:13d} {f.write_s:11.2f} "
              f"{f.write_s / f.apply_s:11.0%} {f.plan_s:13.2f} {f.pending:8d} {f.stored_bytes / 1e6:10.1f}")
    file, pg = rows
    print(f"\npg/file: apply {pg.apply_s / file.apply_s:.2f}x, time in writes {pg.write_s / file.write_s:.2f}x "
          f"({pg.write_s / pg.writes * 1e3:.1f} ms vs {file.write_s / file.writes * 1e3:.1f} ms per write), "
          f"no-op plan {pg.plan_s / file.plan_s:.2f}x")


if __name__ == "__main__":
    main()
