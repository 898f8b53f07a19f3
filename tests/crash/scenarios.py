"""The crash campaign's scenarios (issue 12, point 10), shared by tests/crash/test_campaign.py (one trial
per scenario) and benchmarks/crash_campaign.py (the full seeded campaign).

A trial sets up a fresh stack on a served local plane, starts an fwctl command, and hits it at a seeded
random moment — SIGKILL, a failing or slow DELETE, its PostgreSQL sessions ended, the emulator killed
and restarted, `fwctl orphans --delete` run beside it — then lets fwctl repair and judges the result
the way a user would:

- converged: the repairing command exits 0, a later apply says "No changes" (a later destroy, for the
  destroy scenario), `plan --detailed-exitcode` exits 0, no pending operation is left in state, no
  fwctl output holds a traceback;
- duplicates: addresses with more than one live remote object on the platform's list endpoints;
- leaks: what `fwctl orphans --grace 0s` lists, plus (checked on the platform itself, not through
  fwctl's own bookkeeping) live trainer jobs and scaled-up deployments of the stack that no state
  record names.

Faults are standing per plane, so the trials of one scenario run one after another on that scenario's
plane; the emulator scenario has a plane per trial (it kills it).
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.crash import pg
from tests.crash.harness import RestartablePlane, Watched, grpo_stack, run, wide_stack
from tests.e2e.conftest import LocalPlane

FAULTS = "/_local/v1/faults"
ALIVE_DEPLOYMENT = ("DELETED", "DELETING")


@dataclass
class Verdict:
    scenario: str
    trial: str
    landed: str  # where the fault landed: "planning", "executing", "finished" (too late), or a variant
    converged: bool = False
    leaks: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.converged and not self.leaks and not self.duplicates and not self.problems


@dataclass
class Trial:
    """One trial's world: its plane, working directory, stack and fwctl environment (the state location)."""

    scenario: str
    plane: LocalPlane
    work: Path
    stack: str
    rng: random.Random
    env: dict[str, str] = field(default_factory=dict)
    trainers: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    owner: RestartablePlane | None = None  # the plane this trial serves (and may kill) itself
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.scenario, self.stack, "?")

    def fwctl(self, *args: str, timeout: float = 180) -> tuple[int, str]:
        """Exit status and stdout + stderr."""
        code, out, _ = self.fwctl3(*args, timeout=timeout)
        return code, out

    def fwctl3(self, *args: str, timeout: float = 180) -> tuple[int, str, str]:
        """Exit status, stdout + stderr, and stdout alone."""
        result = run(self.work, self.plane.url, *args, timeout=timeout, env=self.env)
        out = result.stdout + result.stderr
        self.no_traceback(f"fwctl {' '.join(args)}", out)
        return result.returncode, out, result.stdout

    def must(self, *args: str) -> str:
        code, out = self.fwctl(*args)
        if code != 0:
            raise TrialFailed(f"fwctl {' '.join(args)} exited {code}:\n{out}")
        return out

    def launch(self, *args: str) -> Watched:
        return Watched.launch(self.work, self.plane.url, *args, env=self.env)

    def finish(self, watched: Watched, what: str, timeout: float = 180) -> int:
        code = watched.proc.wait(timeout=timeout)
        self.no_traceback(what, "".join(watched.lines) + watched.stderr())
        return code

    def no_traceback(self, what: str, out: str) -> None:
        if "Traceback (most recent call last)" in out:
            self.verdict.problems.append(f"{what} printed a traceback:\n{out[-3000:]}")

    def state(self) -> dict[str, Any]:
        code, out, stdout = self.fwctl3("state", "pull", "-f", "m")
        if code != 0:
            raise TrialFailed(f"fwctl state pull exited {code}:\n{out}")
        return dict(json.loads(stdout))

    def kill_at(self, watched: Watched, anchor: str, delay: float,
                hit: Callable[[], None] | None = None) -> str:
        """Wait for the anchor ("launch" or "executor": its first executor event), then ``delay`` s,
        then ``hit`` (default SIGKILL); where it landed."""
        if anchor == "executor":
            watched.executing.wait(timeout=60)
        time.sleep(delay)
        if watched.proc.poll() is not None:
            return "finished"
        executing = watched.executing.is_set()
        (hit or (lambda: watched.proc.send_signal(signal.SIGKILL)))()
        return "executing" if executing else "planning"


class TrialFailed(Exception):
    """A step that must succeed for the trial to go on did not."""


# -- judging ---------------------------------------------------------------------------------------


def _live(plane: LocalPlane, stack: str) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """This stack's live trainer jobs by address name, and its deployments (not deleted) by id."""
    jobs: dict[str, list[str]] = {}
    pattern = re.compile(rf"{re.escape(stack)}-(.+)-[0-9a-f]{{6}}")
    for t in plane.trainers():
        job = t["name"].split("/")[-1]
        found = pattern.fullmatch(job)
        if found and t.get("state") not in ("JOB_STATE_DELETED", "JOB_STATE_DELETING"):
            jobs.setdefault(found.group(1), []).append(job)
    deps = {d["name"].split("/")[-1]: d for d in plane.deployments()
            if d["name"].split("/")[-1].startswith(f"{stack}-") and d.get("state") not in ALIVE_DEPLOYMENT}
    return jobs, deps


def _named(state: dict[str, Any]) -> set[str]:
    named = {str(r.get("remote_id")) for r in state["resources"].values() if r.get("remote_id")}
    for record in state["resources"].values():
        pending = record.get("pending") or {}
        if isinstance(pending, dict):
            named |= {str(v) for k, v in pending.items() if "id" in k and isinstance(v, str)}
    return named


def _orphans(trial: Trial) -> int:
    code, out, stdout = trial.fwctl3("orphans", "-f", "m", "--grace", "0s", "--json")
    if code != 0:
        trial.verdict.problems.append(f"fwctl orphans exited {code}:\n{out}")
        return 0
    return len(json.loads(stdout))


def judge_applied(trial: Trial) -> None:
    """Repair with apply, then: "No changes", a clean plan, one live object per address, no leak."""
    v = trial.verdict
    trial.must("apply", "-f", "m", "--auto-approve", "--lock-timeout", "1m")
    again = trial.must("apply", "-f", "m", "--auto-approve")
    if "No changes" not in again:
        v.problems.append(f"the apply after the repair was not 'No changes':\n{again}")
    code, plan = trial.fwctl("plan", "-f", "m", "--detailed-exitcode")
    if code != 0:
        v.problems.append(f"plan --detailed-exitcode exited {code} after convergence:\n{plan}")
    state = trial.state()
    pending = {a: r["pending"] for a, r in state["resources"].items() if r.get("pending")}
    if pending:
        v.problems.append(f"pending operations left in state: {pending}")
    v.converged = "No changes" in again and code == 0 and not pending
    jobs, deps = _live(trial.plane, trial.stack)
    named = _named(state)
    for name in trial.trainers:
        found = jobs.get(name, [])
        v.duplicates += len(found) > 1
        if not found:
            v.problems.append(f"trainer {name}: no live job after convergence")
    for name in trial.deployments:
        v.duplicates += sum(1 for d in deps if d == f"{trial.stack}-{name}") > 1
    unnamed = [j for found in jobs.values() for j in found if j not in named]
    unnamed += [d for d, body in deps.items() if d not in named and int(body.get("minReplicaCount") or 0) > 0]
    if unnamed:
        v.problems.append(f"live remote objects no state record names: {unnamed}")
    v.leaks = max(len(unnamed), _orphans(trial))


def judge_destroyed(trial: Trial) -> None:
    """Repair with destroy, then: a later destroy says "No changes", nothing in state, no live trainer
    job of the stack, every deployment kept is scaled to zero, no leak."""
    v = trial.verdict
    trial.must("destroy", "-f", "m", "--auto-approve", "--lock-timeout", "1m")
    again = trial.must("destroy", "-f", "m", "--auto-approve")
    if "No changes" not in again:
        v.problems.append(f"the destroy after the repair was not 'No changes':\n{again}")
    code, plan = trial.fwctl("plan", "-f", "m", "--destroy", "--detailed-exitcode")
    if code != 0:
        v.problems.append(f"plan --destroy --detailed-exitcode exited {code} after convergence:\n{plan}")
    state = trial.state()
    if state["resources"]:
        v.problems.append(f"state still records {sorted(state['resources'])}")
    v.converged = "No changes" in again and code == 0 and not state["resources"]
    jobs, deps = _live(trial.plane, trial.stack)
    running = [j for found in jobs.values() for j in found]
    scaled = [d for d, body in deps.items() if int(body.get("minReplicaCount") or 0) > 0]
    if running or scaled:
        v.problems.append(f"after destroy: live trainer jobs {running}, deployments still scaled up {scaled}")
    v.duplicates = sum(1 for name in trial.deployments if sum(1 for d in deps if d == f"{trial.stack}-{name}") > 1)
    v.leaks = max(len(running) + len(scaled), _orphans(trial))


# -- scenarios -------------------------------------------------------------------------------------


def _moment(trial: Trial, launch_window: float, executor_window: float) -> tuple[str, float]:
    """A seeded kill moment: half timed from the launch, half from the executor's first event."""
    if trial.rng.random() < 0.5:
        return "launch", trial.rng.uniform(0, launch_window)
    return "executor", trial.rng.uniform(0, executor_window)


def _make(trial: Trial, index: int, wide_every: int = 0) -> None:
    make = wide_stack if wide_every and index % wide_every == wide_every - 1 else grpo_stack
    trial.trainers, trial.deployments = make(trial.work / "m", trial.stack)


def destroy(trial: Trial, index: int) -> None:
    _make(trial, index, wide_every=3)
    trial.must("apply", "-f", "m", "--auto-approve")
    watched = trial.launch("destroy", "-f", "m", "--auto-approve")
    trial.verdict.landed = trial.kill_at(watched, *_moment(trial, 1.0, 0.4))
    trial.finish(watched, "the killed destroy")
    judge_destroyed(trial)


def _replace_setup(trial: Trial) -> str:
    grpo_stack(trial.work / "m", trial.stack)
    trial.trainers, trial.deployments = ["policy", "reference"], ["rollout"]
    trial.must("apply", "-f", "m", "--auto-approve")
    old = str(trial.state()["resources"]["Trainer/policy"]["remote_id"])
    trainers = trial.work / "m" / "10-trainers.yaml"
    trainers.write_text(trainers.read_text().replace("learningRate: 1.0e-5", "learningRate: 2.0e-5"))
    return old


def replace_failing_delete(trial: Trial, index: int) -> None:
    old = _replace_setup(trial)
    status = trial.rng.choice([400, 404, 409, 500, 503])
    count = trial.rng.choice([1, 3, None])
    trial.plane.admin("POST", FAULTS, {"kind": "delete-error", "trainer": old, "status": status,
                                       **({} if count is None else {"count": count})})
    watched = trial.launch("apply", "-f", "m", "--auto-approve")
    if trial.rng.random() < 0.5:
        trial.verdict.landed = f"failing {status}x{count or 'inf'}, " + trial.kill_at(
            watched, *_moment(trial, 1.5, 1.0))
    else:
        trial.verdict.landed = f"failing {status}x{count or 'inf'}, not killed"
    code = trial.finish(watched, "the apply whose DELETE fails")
    if count is None and code == 0:
        trial.verdict.problems.append(f"an apply whose DELETE of {old} always fails exited 0")
    trial.plane.admin("DELETE", FAULTS)
    judge_applied(trial)
    judge_replaced_gone(trial, old)


def judge_replaced_gone(trial: Trial, old: str) -> None:
    job = trial.plane.trainer(old)
    if job is not None and job.get("state") not in ("JOB_STATE_DELETED", "JOB_STATE_DELETING"):
        trial.verdict.leaks += 1
        trial.verdict.problems.append(f"the replaced job {old} still runs after convergence")


def replace_slow_delete(trial: Trial, index: int) -> None:
    old = _replace_setup(trial)
    ms = trial.rng.uniform(300, 1500)
    trial.plane.admin("POST", FAULTS, {"kind": "latency", "ms": ms, "methods": ["DELETE"]})
    watched = trial.launch("apply", "-f", "m", "--auto-approve")
    trial.verdict.landed = f"DELETE {ms:.0f} ms, " + trial.kill_at(watched, *_moment(trial, 1.0, ms / 1000 + 0.5))
    trial.finish(watched, "the apply with a slow DELETE")
    trial.plane.admin("DELETE", FAULTS)
    judge_applied(trial)
    judge_replaced_gone(trial, old)


def state_migrate(trial: Trial, index: int) -> None:
    grpo_stack(trial.work / "m", trial.stack)
    trial.trainers, trial.deployments = ["policy", "reference"], ["rollout"]
    trial.must("apply", "-f", "m", "--auto-approve")
    source = trial.state()
    to_pg = index % 2 == 1 and pg.postgres_unreachable() is None
    target = pg.PG_URL if to_pg else str(trial.work / "moved" / "state.json")
    watched = trial.launch("state", "migrate", "-f", "m", "--to", target)
    landed = trial.kill_at(watched, "launch", trial.rng.uniform(0, 0.8))
    trial.verdict.landed = f"to {'postgresql' if to_pg else 'file'}, " + ("finished" if landed == "finished" else "killed")
    trial.finish(watched, "the killed migrate")
    # whole or nothing: the target holds the source's serial, or no state of this stack
    trial.env = {"FWCTL_STATE": target}
    code, _, out = trial.fwctl3("state", "pull", "-f", "m")
    if code == 0 and out.strip():
        try:
            serial = json.loads(out).get("serial")
        except json.JSONDecodeError:
            serial = None
        if serial not in (None, 0, source["serial"]):
            trial.verdict.problems.append(f"a killed migrate left the target at serial {serial}, "
                                          f"the source is at {source['serial']}")
    trial.must("state", "migrate", "-f", "m", "--state", str(trial.work / ".fwctl" / "state.json"), "--to", target)
    judge_applied(trial)


def state_import(trial: Trial, index: int) -> None:
    grpo_stack(trial.work / "m", trial.stack)
    trial.trainers, trial.deployments = ["policy", "reference"], ["rollout"]
    trial.must("apply", "-f", "m", "--auto-approve")
    address = ("Trainer/policy", "ReferenceTrainer/reference")[index % 2]
    remote = str(trial.state()["resources"][address]["remote_id"])
    trial.must("state", "rm", "-f", "m", address)
    watched = trial.launch("import", "-f", "m", address, remote)
    landed = trial.kill_at(watched, "launch", trial.rng.uniform(0, 0.7))
    trial.verdict.landed = f"{address}, " + ("finished" if landed == "finished" else "killed")
    trial.finish(watched, "the killed import")
    if address not in trial.state()["resources"]:
        trial.must("import", "-f", "m", address, remote)
    judge_applied(trial)
    if trial.state()["resources"][address]["remote_id"] != remote:
        trial.verdict.problems.append(f"{address}: the imported {remote} was replaced")


def _pg_apply(trial: Trial, index: int, sessions: Callable[[Watched], list[int]], label: str) -> None:
    _make(trial, index, wide_every=3)
    trial.env = {"FWCTL_STATE": pg.PG_URL}
    try:
        watched = trial.launch("apply", "-f", "m", "--auto-approve")
        ended: list[int] = []
        trial.verdict.landed = trial.kill_at(watched, *_moment(trial, 1.2, 0.6),
                                             hit=lambda: ended.append(pg.terminate(sessions(watched))))
        code = trial.finish(watched, f"the apply whose {label}")
        if ended and not ended[0]:
            trial.verdict.landed = "no session to end"
        elif code != 0:
            trial.verdict.landed += f", exit {code}"
        judge_applied(trial)
    finally:
        pg.cleanup(trial.stack)


def pg_restart(trial: Trial, index: int) -> None:
    _pg_apply(trial, index, lambda w: pg.sessions_of(w.proc.pid), "PostgreSQL sessions all ended (restart)")


def pg_terminate(trial: Trial, index: int) -> None:
    _pg_apply(trial, index, lambda w: [s for s in [pg.lock_session(trial.stack)] if s is not None],
              "lock session was terminated")


def emulator_restart(trial: Trial, index: int) -> None:
    served = trial.owner
    assert served is not None
    _make(trial, index, wide_every=3)
    watched = trial.launch("apply", "-f", "m", "--auto-approve")
    down = trial.rng.uniform(0.1, 1.5)
    trial.verdict.landed = trial.kill_at(watched, *_moment(trial, 1.2, 0.8), hit=served.kill)
    if served.proc.poll() is not None:
        time.sleep(down)
        served.restart()
        trial.verdict.landed += f", down {down:.1f}s"
    trial.finish(watched, "the apply whose emulator was killed")
    judge_applied(trial)


def orphans_beside_apply(trial: Trial, index: int) -> None:
    _make(trial, index, wide_every=3)
    watched = trial.launch("apply", "-f", "m", "--auto-approve")
    killed = index % 2 == 1
    anchor, delay = _moment(trial, 1.2, 0.6)
    if killed:  # the apply dies, then orphans --delete runs over what it left behind
        trial.verdict.landed = "apply killed, " + trial.kill_at(watched, anchor, delay)
        trial.finish(watched, "the killed apply")
        code, out = trial.fwctl("orphans", "-f", "m", "--delete", "--auto-approve", "--grace", "0s")
    else:
        if anchor == "executor":
            watched.executing.wait(timeout=60)
        time.sleep(delay)
        trial.verdict.landed = "beside the apply" if watched.proc.poll() is None else "after the apply"
        code, out = trial.fwctl("orphans", "-f", "m", "--delete", "--auto-approve", "--grace", "0s")
        applied = trial.finish(watched, "the apply beside orphans --delete")
        if applied != 0:
            trial.verdict.problems.append(f"the apply beside `orphans --delete` exited {applied}:\n"
                                          + "".join(watched.lines))
    if code != 0 and len([line for line in out.strip().splitlines() if line.strip()]) != 1:
        trial.verdict.problems.append(f"orphans --delete failed with more than one line:\n{out}")
    judge_applied(trial)


Scenario = Callable[[Trial, int], None]
SCENARIOS: dict[str, Scenario] = {
    "destroy": destroy,
    "replace, failing DELETE": replace_failing_delete,
    "replace, slow DELETE": replace_slow_delete,
    "state migrate": state_migrate,
    "import": state_import,
    "PostgreSQL restart": pg_restart,
    "PostgreSQL backend terminated": pg_terminate,
    "emulator killed, restarted": emulator_restart,
    "orphans --delete beside apply": orphans_beside_apply,
}
NEEDS_POSTGRES = {"PostgreSQL restart", "PostgreSQL backend terminated"}
OWN_PLANE = {"emulator killed, restarted"}


def run_trial(scenario: str, index: int, seed: int, root: Path, plane: LocalPlane | None, speed: float) -> Verdict:
    """One trial of ``scenario``; the plane is the scenario's (None: the trial serves and kills its own)."""
    rng = random.Random(f"{seed}:{scenario}:{index}")
    code = "".join(w[0] for w in re.findall(r"[a-zA-Z]+", scenario))[:4].lower()
    stack = f"c{code}{index:02d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:6]}"
    work = root / stack
    work.mkdir(parents=True)
    began = time.monotonic()
    owned = RestartablePlane(work / "plane", speed) if plane is None else None
    served = owned.plane if owned is not None else plane
    assert served is not None
    trial = Trial(scenario, served, work, stack, rng, owner=owned)
    try:
        SCENARIOS[scenario](trial, index)
    except TrialFailed as exc:
        trial.verdict.problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - a harness failure is a failed trial, with its reason
        trial.verdict.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if owned is not None:
            owned.close()
    trial.verdict.seconds = time.monotonic() - began
    return trial.verdict


def run_scenario(scenario: str, trials: int, seed: int, root: Path, speed: float,
                 first: int = 0) -> list[Verdict]:
    """``trials`` trials of one scenario, one after another (its faults are standing on its plane)."""
    from tests.crash.harness import served_plane

    if scenario in NEEDS_POSTGRES and (why := pg.postgres_unreachable()):
        raise RuntimeError(f"{scenario}: {why}")
    indices = range(first, first + trials)
    if scenario in OWN_PLANE:
        return [run_trial(scenario, i, seed, root, None, speed) for i in indices]
    with served_plane(root / f"plane-{scenario.split()[0]}-{uuid.uuid4().hex[:4]}", speed) as plane:
        return [run_trial(scenario, i, seed, root, plane, speed) for i in indices]


def table(verdicts: list[Verdict]) -> str:
    """scenario | trials | converged | leaks | duplicates, and a total row."""
    rows = [("scenario", "trials", "converged", "leaks", "duplicates")]
    for scenario in SCENARIOS:
        mine = [v for v in verdicts if v.scenario == scenario]
        if mine:
            rows.append((scenario, str(len(mine)), f"{sum(v.converged for v in mine)}",
                         str(sum(v.leaks for v in mine)), str(sum(v.duplicates for v in mine))))
    rows.append(("total", str(len(verdicts)),
                 f"{sum(v.converged for v in verdicts)} ({100 * sum(v.converged for v in verdicts) // max(len(verdicts), 1)} %)",
                 str(sum(v.leaks for v in verdicts)), str(sum(v.duplicates for v in verdicts))))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def failures(verdicts: list[Verdict]) -> str:
    return "\n---\n".join(f"{v.scenario} / {v.trial} ({v.landed}): converged={v.converged} leaks={v.leaks} "
                          f"duplicates={v.duplicates}\n" + "\n".join(v.problems)
                          for v in verdicts if not v.ok)
