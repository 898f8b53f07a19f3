"""The crash campaign of issue 12 (point 10), one seeded trial per scenario.

The scenarios and their checks live in tests/crash/scenarios.py; benchmarks/crash_campaign.py (`make
crash`) runs the same code with 8 trials per scenario and prints the table. Here each scenario runs
once (seed FWCTL_CRASH_SEED, default 7) on its own plane at a high --speed, and must converge (a later
apply says "No changes", the plan is clean), with no duplicate on the platform's lists and nothing
for `fwctl orphans` to report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.crash import pg
from tests.crash.harness import grpo_stack, ok, read_state, run, served_plane
from tests.crash.scenarios import NEEDS_POSTGRES, SCENARIOS, failures, run_scenario, table

SEED = int(os.environ.get("FWCTL_CRASH_SEED", "7"))
SPEED = 50.0


@pytest.mark.parametrize("scenario", [
    pytest.param(s, marks=[pytest.mark.postgres] if s in NEEDS_POSTGRES else []) for s in SCENARIOS
])
def test_one_trial_converges_without_leaks_or_duplicates(scenario: str, tmp_path: Path) -> None:
    if scenario in NEEDS_POSTGRES and (why := pg.postgres_unreachable()):
        pytest.skip(why)
    verdicts = run_scenario(scenario, 1, SEED, tmp_path, SPEED)
    print(table(verdicts))
    assert all(v.ok for v in verdicts), failures(verdicts)


def test_a_delete_answered_404_while_the_job_still_runs_fails_the_change_at_once(tmp_path: Path) -> None:
    """Found by the campaign: a replaced trainer whose DELETE answers 404 while the platform still lists
    it running was taken as deleted, and the apply waited the whole delete timeout for it to go."""
    with served_plane(tmp_path / "plane", SPEED) as plane:
        work = tmp_path / "w"
        grpo_stack(work / "m", "nf404")
        ok(work, plane.url, "apply", "-f", "m", "--auto-approve")
        old = str(read_state(work)["resources"]["Trainer/policy"]["remote_id"])
        plane.admin("POST", "/_local/v1/faults", {"kind": "delete-error", "trainer": old, "status": 404})
        trainers = work / "m" / "10-trainers.yaml"
        trainers.write_text(trainers.read_text().replace("learningRate: 1.0e-5", "learningRate: 2.0e-5"))

        failed = run(work, plane.url, "apply", "-f", "m", "--auto-approve", timeout=90)
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out
        assert "the platform answered 404 (not found) but lists the job as JOB_STATE_RUNNING" in out, out
        assert "Traceback" not in out, out
        assert f"Trainer/policy#deposed-{old}" in ok(work, plane.url, "state", "list", "-f", "m").stdout

        plane.admin("DELETE", "/_local/v1/faults")
        ok(work, plane.url, "apply", "-f", "m", "--auto-approve")
        job = plane.trainer(old)
        assert job is None or job["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING"), job
        assert run(work, plane.url, "plan", "-f", "m", "--detailed-exitcode").returncode == 0
