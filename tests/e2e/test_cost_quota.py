"""Issue 15: what a plan costs, the account's GPU quota and the budget, through the fwctl executable."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

H200 = "nvidia-h200-141gb"


def test_plan_prints_gpus_and_usd_per_hour_per_change_and_in_total(fwctl: Fwctl) -> None:
    out = fwctl.ok("plan", "-f", "grpo").stdout
    assert "GPUs: none → 8 x NVIDIA_H200_141GB; $0.00/h → $48.00/h" in out  # the policy trainer
    assert "Cost: +$78.00/h (now $0.00/h → $78.00/h at min replicas)" in out
    assert "estimated, on-demand, prices as of" in out


def test_json_and_markdown_plans_carry_the_figures(fwctl: Fwctl) -> None:
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--json").stdout)
    costs = {c["address"]: c["cost"] for c in plan["changes"]}
    assert costs["Trainer/policy"]["after"] == {"accelerator": "NVIDIA_H200_141GB", "count": 8,
                                                "min_replicas": 1, "max_replicas": 1}
    assert costs["Trainer/policy"]["after_usd_per_hour"] == 48.0
    assert costs["SyncBinding/policy-to-rollout"] is None
    assert plan["cost"]["after_usd_per_hour"] == 78.0 and plan["cost"]["now_usd_per_hour"] == 0.0
    markdown = fwctl.ok("plan", "-f", "grpo", "--format", "markdown").stdout
    assert "| Cost (USD/h) |" in markdown and "$0.00/h → $48.00/h" in markdown
    assert "**Cost: +$78.00/h" in markdown


def test_prices_file_overrides_the_packaged_table(fwctl: Fwctl, workdir: Path) -> None:
    prices = workdir / "prices.json"
    prices.write_text(json.dumps({"asOf": "2030-01-01", "usdPerAcceleratorHour": {"NVIDIA_H200_141GB": 1.0}}))
    out = fwctl.ok("plan", "-f", "grpo", "--prices", str(prices)).stdout
    assert "Cost: +$13.00/h" in out and "prices as of 2030-01-01" in out
    prices.write_text(json.dumps({"usdPerAcceleratorHour": {"NVIDIA_H200_141GB": "cheap"}}))
    bad = fwctl("plan", "-f", "grpo", "--prices", str(prices))
    assert bad.returncode == 1 and "usdPerAcceleratorHour.NVIDIA_H200_141GB" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_stack_over_its_budget_is_refused_naming_the_costliest_changes(fwctl: Fwctl, workdir: Path) -> None:
    stack = workdir / "grpo" / "00-stack.yaml"
    stack.write_text(stack.read_text() + "  budget: {maxUsdPerHour: 50}\n")
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "00-stack.yaml:" in result.stderr and "spec.budget.maxUsdPerHour" in result.stderr
    assert "over the budget of $50.00/h" in result.stderr and "Trainer/policy $48.00/h" in result.stderr
    flag = fwctl("apply", "-f", "grpo", "--auto-approve", "--max-usd-per-hour", "100")
    assert flag.returncode == 0, flag.stdout + flag.stderr  # the flag overrides the Stack's budget


def test_a_plan_over_the_h200_quota_is_refused_with_the_resource_and_the_numbers(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    local_plane.admin("PUT", f"/_local/v1/quotas/{H200}", {"value": 10})
    quotas = local_plane.get(f"/v1/accounts/{local_plane.account}/quotas")["quotas"]
    assert {q["name"].rsplit("/", 1)[-1] for q in quotas} >= {H200, "monthly-spend-usd"}
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert f"GPU quota {H200} is 10 NVIDIA_H200_141GB; this plan needs 13" in err
    assert "Trainer/policy +8" in err and "10-trainers.yaml:" in err
    assert not local_plane.trainers() and not local_plane.deployments()  # refused before anything is created


def test_quota_in_use_by_other_resources_is_named(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    local_plane.admin("PUT", f"/_local/v1/quotas/{H200}", {"value": 14})
    deployment = workdir / "grpo" / "20-serving.yaml"
    text = deployment.read_text()
    assert "replicas: {min: 1, max: 1}" in text
    deployment.write_text(text.replace("replicas: {min: 1, max: 1}", "replicas: {min: 1, max: 4}"))
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "13 in use by" in result.stderr and "(Trainer/policy) 8" in result.stderr
    assert "Deployment/rollout +3" in result.stderr


def test_cost_and_status_show_what_runs_now_and_removals_cost_nothing(fwctl: Fwctl) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    now = json.loads(fwctl.ok("cost", "-f", "grpo", "--json").stdout)
    assert now["total_usd_per_hour"] == 78.0 and "prices as of" in now["label"]
    assert {r["address"]: r["usd_per_hour"] for r in now["resources"]}["Trainer/policy"] == 48.0
    status = fwctl("status", "-f", "grpo").stdout
    assert "USD/H" in status.splitlines()[0] and "$48.00/h" in status and "Cost now: $78.00/h" in status
    destroy = json.loads(fwctl.ok("plan", "-f", "grpo", "--destroy", "--json").stdout)
    assert destroy["cost"]["now_usd_per_hour"] == 78.0 and destroy["cost"]["after_max_usd_per_hour"] == 0.0
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    again = json.loads(fwctl.ok("plan", "-f", "grpo", "--json").stdout)
    # the deleted trainers are tombstones and the deployment is parked at zero: nothing is billed now
    assert again["cost"]["now_usd_per_hour"] == 0.0 and again["cost"]["after_usd_per_hour"] == 78.0


def test_orphans_are_priced_with_the_plans_table(fwctl: Fwctl, workdir: Path) -> None:
    """One price table: `fwctl orphans` takes --prices (and the Stack's spec.prices) as plan does."""
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    (workdir / ".fwctl" / "state.json").unlink()  # everything just created is now orphaned
    packaged = json.loads(fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--json").stdout)
    prices = workdir / "prices.json"
    prices.write_text(json.dumps({"asOf": "2030-01-01", "usdPerAcceleratorHour": {"NVIDIA_H200_141GB": 1.0}}))
    listed = fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--prices", str(prices))
    assert "prices as of 2030-01-01" in listed.stdout, listed.stdout
    cheap = json.loads(fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--json", "--prices", str(prices)).stdout)
    by_id = {o["remote_id"]: o["hourly_usd"] for o in packaged}
    running = [o for o in cheap if o["hourly_usd"] > 0]
    assert running, cheap
    for orphan in running:  # every running H200 GPU now at $1/h, not the packaged rate
        count = int(orphan["accelerators"].rsplit("x", 1)[1])
        assert orphan["hourly_usd"] == count * 1.0 < by_id[orphan["remote_id"]], (orphan, packaged)


def test_a_create_before_destroy_replace_needs_quota_for_both_jobs(fwctl: Fwctl, local_plane: LocalPlane,
                                                                   workdir: Path) -> None:
    """createBeforeDestroy runs the old and the new trainer side by side: the quota must hold both."""
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    local_plane.admin("PUT", f"/_local/v1/quotas/{H200}", {"value": 16})
    trainers = workdir / "grpo" / "10-trainers.yaml"
    text = trainers.read_text().replace("learningRate: 1.0e-5", "learningRate: 2.0e-5", 1)
    trainers.write_text(text)
    fwctl.ok("plan", "-f", "grpo")  # the default order deletes the old job first: 13 in use, 13 needed
    trainers.write_text(text.replace("lifecycle: {onDestroy: delete, preventDestroy: false, ignoreChanges: []}",
                                     "lifecycle: {onDestroy: delete, preventDestroy: false, ignoreChanges: [],"
                                     " createBeforeDestroy: true}", 1))
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"GPU quota {H200} is 16 NVIDIA_H200_141GB; this plan needs 21" in result.stderr, result.stderr
    assert "Trainer/policy +8" in result.stderr, result.stderr
