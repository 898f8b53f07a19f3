"""The ids a plan shows are the ids apply creates: before the first apply, for saved plans, and
after the previous jobs were deleted (the platform never reuses a deleted job's id)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

JOBS = ("Trainer/policy", "ReferenceTrainer/reference")


def planned_ids(fwctl: Fwctl, *args: str) -> dict[str, str]:
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--json", *args).stdout)
    return {c["address"]: c["remote_id"] for c in plan["changes"] if c["address"] in JOBS}


def shown_ids(fwctl: Fwctl, plan_file: str) -> dict[str, str]:
    plan = json.loads(fwctl.ok("show", "--json", plan_file).stdout)
    return {c["address"]: c["remote_id"] for c in plan["changes"] if c["address"] in JOBS}


def live_jobs(local_plane: LocalPlane) -> set[str]:
    return {j["name"].rsplit("/", 1)[-1] for j in local_plane.trainers() if j["state"] != "JOB_STATE_ARCHIVED"}


def test_a_fresh_stack_plans_the_ids_apply_creates(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # No state yet: every plan names the same jobs, and apply creates exactly those.
    first = planned_ids(fwctl)
    assert set(first) == set(JOBS)
    assert planned_ids(fwctl) == first
    assert "(known after apply)" not in fwctl.ok("plan", "-f", "grpo").stdout
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert live_jobs(local_plane) == set(first.values())
    state = json.loads((workdir / ".fwctl" / "state.json").read_text())
    assert {a: state["resources"][a]["remote_id"] for a in JOBS} == first


def test_saved_plans_and_deleted_ids(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # A saved plan of a fresh stack creates exactly the ids it shows.
    fwctl.ok("plan", "-f", "grpo", "--out", "first.plan")
    shown = shown_ids(fwctl, "first.plan")
    assert shown == planned_ids(fwctl)
    fwctl.ok("apply", "first.plan")
    assert live_jobs(local_plane) == set(shown.values())

    # Destroyed, and the state thrown away: the old ids are tombstones the platform will not reuse,
    # so the next fresh plan names new ones -- again the same in every plan, and what apply creates.
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    assert live_jobs(local_plane) == set()
    shutil.rmtree(workdir / ".fwctl")
    again = planned_ids(fwctl)
    assert set(again.values()).isdisjoint(shown.values())
    fwctl.ok("plan", "-f", "grpo", "--out", "second.plan")
    assert shown_ids(fwctl, "second.plan") == again
    fwctl.ok("apply", "second.plan")
    assert live_jobs(local_plane) == set(again.values())

    # With a state the ids stay put; a replacement gets a new id, shown by the plan and used by apply.
    assert planned_ids(fwctl) == again
    trainers = workdir / "grpo" / "10-trainers.yaml"
    trainers.write_text(trainers.read_text().replace("learningRate: 1.0e-5", "learningRate: 2.0e-5"))
    fwctl.ok("plan", "-f", "grpo", "--out", "replace.plan")
    replaced = shown_ids(fwctl, "replace.plan")["Trainer/policy"]
    assert replaced not in (again["Trainer/policy"], shown["Trainer/policy"])
    fwctl.ok("apply", "replace.plan")
    assert replaced in live_jobs(local_plane)
    assert again["Trainer/policy"] not in live_jobs(local_plane)
