"""Crash consistency: `fwctl apply` killed at random moments, then run again, must converge.

One `fwctl local serve` per module; every trial gets a fresh stack name and a fresh working
directory (so a fresh `.fwctl/state.json`). Kill moments are seeded (FWCTL_CRASH_SEED) and
stratified over the apply's measured duration: half are timed from the launch (lock, refresh,
plan), half from the executor's first event (creates in flight, state writes, waits). A kill
that lands after the apply finished still counts as a trial; the summary says where kills landed.

Each SIGKILL trial asserts: the re-run apply exits 0; the platform lists exactly one live
trainer job per trainer address and one deployment per deployment address, and they are the
ones the state names; the state has no pending operation; `plan --detailed-exitcode` exits 0.
Each SIGINT trial asserts: exit 130 with one line "interrupted: ...", no traceback, the lock
released (a following plan neither waits nor fails on it), the state parseable; re-run converges.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.crash.harness import (
    Watched,
    assert_no_duplicates,
    assert_no_pending,
    grpo_stack,
    ok,
    read_state,
    run,
    served_plane,
    wide_stack,
)
from tests.e2e.conftest import LocalPlane

SPEED = 20
SEED = int(os.environ.get("FWCTL_CRASH_SEED", "7"))
WORKERS = 4
GRPO_TRIALS = 16
WIDE_TRIALS = 14

Stack = Callable[[Path, str], tuple[list[str], list[str]]]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlane]:
    with served_plane(tmp_path_factory.mktemp("plane"), SPEED) as served:
        yield served


@dataclass
class Outcome:
    trial: str
    landed: str  # "finished" (the kill came too late), "planning", "executing"
    pending_left: int
    seconds: float


def _measure(plane: LocalPlane, root: Path, make: Stack, name: str) -> tuple[float, float]:
    """An uninterrupted apply of a fresh stack: (seconds to the first executor event, total seconds)."""
    work = root / name
    work.mkdir()
    trainers, deployments = make(work / "m", name)
    watched = Watched.launch(work, plane.url, "apply", "-f", "m", "--auto-approve")
    assert watched.proc.wait(timeout=120) == 0, watched.stderr()
    total = time.monotonic() - watched.launched
    assert_no_duplicates(plane, name, trainers, deployments, assert_no_pending(work))
    return (watched.first_event or total), total


def _converge(plane: LocalPlane, work: Path, stack: str, trainers: list[str], deployments: list[str]) -> None:
    ok(work, plane.url, "apply", "-f", "m", "--auto-approve")
    state = assert_no_pending(work)
    assert_no_duplicates(plane, stack, trainers, deployments, state)
    plan = run(work, plane.url, "plan", "-f", "m", "--detailed-exitcode")
    assert plan.returncode == 0, f"{stack}: the plan after convergence is not empty:\n{plan.stdout}\n{plan.stderr}"


def _sigkill_trial(plane: LocalPlane, root: Path, make: Stack, stack: str, anchor: str, delay: float) -> Outcome:
    began = time.monotonic()
    work = root / stack
    work.mkdir()
    trainers, deployments = make(work / "m", stack)
    watched = Watched.launch(work, plane.url, "apply", "-f", "m", "--auto-approve")
    if anchor == "executor":
        watched.executing.wait(timeout=60)
    time.sleep(delay)
    executing = watched.executing.is_set()
    watched.proc.send_signal(signal.SIGKILL)
    code = watched.proc.wait(timeout=30)
    landed = "finished" if code == 0 else ("executing" if executing else "planning")
    pending = 0
    if (work / ".fwctl" / "state.json").exists():
        pending = sum(1 for r in read_state(work)["resources"].values() if r.get("pending"))
    _converge(plane, work, stack, trainers, deployments)
    return Outcome(stack, landed, pending, time.monotonic() - began)


def _schedule(rng: random.Random, trials: int, first_event: float, total: float) -> list[tuple[str, float]]:
    """Stratified kill moments: half from the launch over [0, total], half from the executor's first
    event over [0, total - first_event]; shuffled so both kinds run side by side."""
    half = trials // 2
    moments = [("launch", total * (i + rng.random()) / half) for i in range(half)]
    rest = trials - half
    moments += [("executor", max(total - first_event, 0.5) * (i + rng.random()) / rest) for i in range(rest)]
    rng.shuffle(moments)
    return moments


def _run_trials(jobs: list[Callable[[], Outcome]]) -> list[Outcome]:
    failures: list[str] = []
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            try:
                outcomes.append(future.result())
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, f"{len(failures)} of {len(jobs)} trials failed:\n" + "\n---\n".join(failures)
    return outcomes


def _summary(label: str, outcomes: list[Outcome]) -> str:
    landed = {k: sum(1 for o in outcomes if o.landed == k) for k in ("planning", "executing", "finished")}
    pending = sum(1 for o in outcomes if o.pending_left)
    slowest = max(o.seconds for o in outcomes)
    return (f"{label}: {len(outcomes)} trials; killed while planning {landed['planning']}, while executing "
            f"{landed['executing']}, after finishing {landed['finished']}; {pending} left pending operations "
            f"behind; slowest trial {slowest:.1f}s")


@pytest.mark.parametrize(("label", "make", "trials"), [("grpo", grpo_stack, GRPO_TRIALS),
                                                       ("wide", wide_stack, WIDE_TRIALS)])
def test_sigkill_then_apply_converges(plane: LocalPlane, tmp_path: Path, label: str, make: Stack,
                                      trials: int) -> None:
    rng = random.Random(f"{SEED}:{label}")
    first_event, total = _measure(plane, tmp_path, make, f"{label}-warm")
    schedule = _schedule(rng, trials, first_event, total)
    outcomes = _run_trials([
        partial(_sigkill_trial, plane, tmp_path, make, f"{label}-k{i:02d}", anchor, delay)
        for i, (anchor, delay) in enumerate(schedule)
    ])
    print(_summary(f"SIGKILL {label} (seed {SEED}, apply {total:.1f}s)", outcomes))
    # the schedule must really exercise the executor, not only the start-up
    assert sum(1 for o in outcomes if o.landed == "executing") >= trials // 3, _summary(label, outcomes)


def _sigint_trial(plane: LocalPlane, root: Path, make: Stack, stack: str, delay: float) -> Outcome:
    began = time.monotonic()
    work = root / stack
    work.mkdir()
    trainers, deployments = make(work / "m", stack)
    watched = Watched.launch(work, plane.url, "apply", "-f", "m", "--auto-approve")
    assert watched.executing.wait(timeout=60), f"{stack}: the apply never started executing"
    time.sleep(delay)
    watched.proc.send_signal(signal.SIGINT)
    code = watched.proc.wait(timeout=30)
    stderr = watched.stderr()
    landed = "finished" if code == 0 else "executing"
    if code != 0:
        assert code == 130, f"{stack}: SIGINT: exit {code}, expected 130:\n{stderr}"
        assert "Traceback" not in stderr, f"{stack}: SIGINT printed a traceback:\n{stderr}"
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "interrupted" in lines[0], f"{stack}: SIGINT: stderr is not one line:\n{stderr}"
    lock = work / ".fwctl" / "state.json.lock"
    assert not lock.exists(), f"{stack}: the lock file is left behind after SIGINT"
    state = json.loads((work / ".fwctl" / "state.json").read_text())  # parseable
    pending = sum(1 for r in state["resources"].values() if r.get("pending"))
    plan = run(work, plane.url, "plan", "-f", "m", "--detailed-exitcode")
    assert plan.returncode in (0, 2), f"{stack}: plan after SIGINT failed:\n{plan.stderr}"
    _converge(plane, work, stack, trainers, deployments)
    return Outcome(stack, landed, pending, time.monotonic() - began)


def test_sigint_stops_cleanly(plane: LocalPlane, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}:sigint")
    jobs: list[Callable[[], Outcome]] = []
    for i in range(4):
        make: Stack = grpo_stack if i % 2 == 0 else wide_stack
        delay = rng.uniform(0.0, 0.4)
        jobs.append(partial(_sigint_trial, plane, tmp_path, make, f"int-{i:02d}", delay))
    outcomes = _run_trials(jobs)
    print(_summary("SIGINT", outcomes))
    assert sum(1 for o in outcomes if o.landed == "executing") >= 3, _summary("SIGINT", outcomes)
