"""The pure cost module (issue 15): figures per change and in total, parked / tombstone / shared = 0."""

from __future__ import annotations

from reconciler.cost import Budget, budget_problems, over_quota, price_plan
from reconciler.model.money import cost_summary
from reconciler.model.plan import Action, Change, Plan, PlanCost
from reconciler.model.prices import packaged_prices, parse_prices
from reconciler.model.remote import DeploymentConfig, DeploymentInfo, Observed, TrainerConfig, TrainerJob

H200 = "NVIDIA_H200_141GB"
TRAINER = {"trainingShape": None, "accelerator.type": H200, "accelerator.count": 8, "nodeCount": 1,
           "replicaCount": 1}
DEPLOYMENT = {"deploymentShape": None, "accelerator.type": H200, "accelerator.count": 2, "replicas.min": 1,
              "replicas.max": 4}


def _plan(*changes: Change) -> Plan:
    return Plan(stack="s", endpoint="local", account="a", changes=changes)


def _job(job_id: str, state: str) -> TrainerJob:
    return TrainerJob(job_id=job_id, name=f"accounts/a/rlorTrainerJobs/{job_id}", state=state,
                      config=TrainerConfig(base_model="m"))


def _dep(dep_id: str, low: int, high: int) -> DeploymentInfo:
    return DeploymentInfo(deployment_id=dep_id, name=f"accounts/a/deployments/{dep_id}", state="READY",
                          config=DeploymentConfig(base_model="m", accelerator_type=H200, accelerator_count=2,
                                                  min_replicas=low, max_replicas=high))


def test_the_issue_example_summary_line() -> None:
    total = PlanCost(label="estimated", prices_as_of="d", now_usd_per_hour=48, after_usd_per_hour=144,
                     after_max_usd_per_hour=192)
    assert cost_summary(total).startswith(
        "Cost: +$96.00/h (now $48.00/h → $144.00/h at min replicas, up to $192.00/h at max)")


def test_create_and_scale_figures_with_floor_and_ceiling() -> None:
    observed = Observed(account="a", deployments={"d": _dep("d", 1, 1)})
    plan = price_plan(_plan(
        Change(address="Trainer/t", kind="Trainer", action=Action.CREATE, remote_id="t", after=TRAINER),
        Change(address="Deployment/d", kind="Deployment", action=Action.UPDATE, remote_id="d",
               before={**DEPLOYMENT, "replicas.max": 1}, after=DEPLOYMENT),
        Change(address="SyncBinding/b", kind="SyncBinding", action=Action.CREATE, after={"scope": "perTrainer"}),
    ), observed, packaged_prices())
    trainer, dep, binding = (c.cost for c in plan.changes)
    assert trainer is not None and trainer.after_usd_per_hour == 48.0 and not trainer.expensive
    assert dep is not None and dep.before_usd_per_hour == 12.0 and dep.after_max_usd_per_hour == 48.0
    assert binding is None
    assert plan.cost is not None and (plan.cost.now_usd_per_hour, plan.cost.after_usd_per_hour,
                                      plan.cost.after_max_usd_per_hour) == (12.0, 60.0, 96.0)


def test_parked_tombstone_and_shared_reference_cost_nothing() -> None:
    observed = Observed(account="a", trainers={"t": _job("t", "JOB_STATE_ARCHIVED")},
                        deployments={"d": _dep("d", 0, 0)})
    plan = price_plan(_plan(
        Change(address="Trainer/t", kind="Trainer", action=Action.DELETE, remote_id="t", before=TRAINER),
        Change(address="Deployment/d", kind="Deployment", action=Action.NOOP, remote_id="d",
               before={**DEPLOYMENT, "replicas.min": 0, "replicas.max": 0}),
        Change(address="ReferenceTrainer/r", kind="ReferenceTrainer", action=Action.CREATE),
    ), observed, packaged_prices())
    assert plan.cost is not None and plan.cost.now_usd_per_hour == 0 and plan.cost.after_max_usd_per_hour == 0
    assert plan.changes[2].cost is None


def test_budget_and_quota_checks() -> None:
    plan = price_plan(_plan(Change(address="Trainer/t", kind="Trainer", action=Action.CREATE, remote_id="t",
                                   after=TRAINER)), Observed(account="a"), packaged_prices())
    [problem] = budget_problems(plan, Budget(10, "--max-usd-per-hour"))
    assert "over the budget of $10.00/h" in problem.message and "Trainer/t $48.00/h" in problem.message
    assert not budget_problems(plan, Budget(100, "--max-usd-per-hour"))
    assert over_quota(plan, {"nvidia-h200-141gb": (12, 6)}) == {H200: (14, 12, 6)}
    assert over_quota(plan, {"nvidia-h200-141gb": (16, 8)}) == {}


def test_price_tables_are_checked() -> None:
    table = packaged_prices().overridden({"asOf": "2030-01-01", "usdPerAcceleratorHour": {H200: 1}}, "f.json")
    assert table.rate(H200) == 1.0 and table.rate("NVIDIA_A100_80GB") == 2.9 and "2030-01-01" in table.label
    for bad in ({"usdPerAcceleratorHour": {H200: -1}}, {"prices": {}}, []):
        try:
            parse_prices(bad, "f.json")
        except ValueError as exc:
            assert str(exc).startswith("f.json:")
        else:
            raise AssertionError(bad)


def test_a_create_before_destroy_replace_holds_both_jobs_at_its_peak() -> None:
    """The old job runs until its replacement is ready: the quota must hold both (and the old job,
    named by the replace and by its deposed delete, counts once)."""
    observed = Observed(account="a", trainers={"old": _job("old", "JOB_STATE_RUNNING")})

    def plan_of(side_by_side: bool) -> Plan:
        replace = Change(address="Trainer/t", kind="Trainer", action=Action.REPLACE, remote_id="new",
                         prior_remote_id="old", before=TRAINER, after=TRAINER,
                         settings={"keep_prior": side_by_side})
        deposed = Change(address="Trainer/t#deposed-old", kind="Trainer", action=Action.DELETE, remote_id="old",
                         before=TRAINER)
        return price_plan(_plan(replace, *([deposed] if side_by_side else [])), observed, packaged_prices())

    assert over_quota(plan_of(False), {"nvidia-h200-141gb": (12, 8)}) == {}  # deleted first: 8 in use, 8 needed
    assert over_quota(plan_of(True), {"nvidia-h200-141gb": (12, 8)}) == {H200: (16, 12, 8)}
    assert over_quota(plan_of(True), {"nvidia-h200-141gb": (16, 8)}) == {}
