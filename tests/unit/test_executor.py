"""The executor's scheduler over an in-memory Provider: order, concurrency, failures, crash safety, state."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from reconciler.executor import BoundedProvider, RequestSlots
from reconciler.model.plan import Action
from reconciler.model.state import ResourceStatus
from reconciler.provider.base import Provider

from .support import (
    ACCOUNT,
    BINDING,
    FORWARD_SHAPE,
    POLICY_SHAPE,
    QWEN,
    FakeProvider,
    actions,
    as_provider,
    binding_doc,
    change,
    converge,
    deployment_doc,
    make_plan,
    reference_doc,
    run_apply,
    stack_yaml,
    state_backend,
    trainer_doc,
    write_manifests,
)

GRPO = stack_yaml(trainer_doc(), reference_doc(shape=FORWARD_SHAPE), deployment_doc(), binding_doc())


def job_name(job_id: str) -> str:
    return f"accounts/{ACCOUNT}/rlorTrainerJobs/{job_id}"


def test_the_fake_implements_every_method_of_the_provider_protocol() -> None:
    wanted = {name for name, value in vars(Provider).items()
              if not name.startswith("_") and inspect.iscoroutinefunction(value)}
    assert "create_trainer_job" in wanted and "hot_load_status" in wanted
    missing = {name for name in wanted if not inspect.iscoroutinefunction(getattr(FakeProvider, name, None))}
    assert not missing


def test_fresh_stack_runs_in_dependency_order_and_the_binding_waits_for_both_sides(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, GRPO)
    fake, backend = FakeProvider(ready_after=3), state_backend(tmp_path)
    plan, result = converge(m, fake, backend)
    policy = change(plan, "Trainer/policy").remote_id
    assert result.ok and sorted(result.done) == sorted(actions(plan))

    # The deployment is created after the trainer job exists, already attached to it.
    assert fake.index(f"call create_trainer_job {policy}") < fake.index("call create_deployment s-rollout")
    assert fake.deployments["s-rollout"].config.hot_load_trainer_job == job_name(policy)
    # The binding starts only once the trainer is RUNNING and the deployment READY.
    started = fake.index(f"{BINDING} started")
    assert started > fake.index(f"RUNNING {policy}")
    assert started > fake.index("READY s-rollout")
    assert started > fake.index("Trainer/policy done") and started > fake.index("Deployment/rollout done")
    # One create per remote resource; the binding needed no PATCH (the create attached it).
    assert sorted(fake.mutations()) == sorted([
        ("create_trainer_job", policy), ("create_trainer_job", change(plan, "ReferenceTrainer/reference").remote_id),
        ("create_deployment", "s-rollout")])
    # Converged: the next plan is empty.
    assert not make_plan(m, state=backend.read(), seen=fake.seen()).has_changes


def test_a_separate_reference_and_the_deployment_do_not_wait_for_the_policy_to_boot(tmp_path: Path) -> None:
    # The policy stays CREATING until the reference job and the deployment were created: an executor
    # that waited for the policy to be RUNNING would time the policy out instead (timeouts.create: 2s).
    text = GRPO.replace("  learningRate: 1.0e-5\n", "  learningRate: 1.0e-5\n  timeouts: {create: 2s}\n", 1)
    m = write_manifests(tmp_path, text)
    plan = make_plan(m)
    policy, reference = change(plan, "Trainer/policy").remote_id, change(plan, "ReferenceTrainer/reference").remote_id
    fake = FakeProvider()
    fake.hold[policy] = lambda: {("create_trainer_job", reference), ("create_deployment", "s-rollout")} <= set(
        fake.calls)
    result = run_apply(plan, fake, state_backend(tmp_path))
    assert result.ok, (result.failed, result.skipped)
    assert fake.index(f"call create_trainer_job {reference}") < fake.index(f"RUNNING {policy}")
    assert fake.index("call create_deployment s-rollout") < fake.index(f"RUNNING {policy}")


def test_binding_an_existing_deployment_patches_it_once_the_trainer_is_running(tmp_path: Path) -> None:
    fake, backend = FakeProvider(ready_after=2), state_backend(tmp_path)
    converge(write_manifests(tmp_path, stack_yaml(deployment_doc())), fake, backend)
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))
    plan = make_plan(m, state=backend.read(), seen=fake.seen())
    assert actions(plan) == {"Trainer/policy": Action.CREATE, "Deployment/rollout": Action.NOOP,
                             BINDING: Action.CREATE}
    policy = change(plan, "Trainer/policy").remote_id
    at_patch: dict[str, object] = {}
    fake.on_call("update_deployment", "s-rollout", lambda: at_patch.setdefault("state", backend.read()))
    result = run_apply(plan, fake, backend)
    assert result.ok
    # The trainer was recorded (id, no pending create) before the binding acted on it.
    recorded = at_patch["state"].resources["Trainer/policy"]  # type: ignore[attr-defined]
    assert recorded.remote_id == policy and recorded.pending is None
    patch = f"patch s-rollout {[('hot_load_trainer_job', job_name(policy))]}"
    assert fake.index(patch) > fake.index(f"RUNNING {policy}")
    assert fake.deployments["s-rollout"].config.hot_load_trainer_job == job_name(policy)
    assert backend.read().resources["Deployment/rollout"].outputs["attached_trainer"] == job_name(policy)


def test_removals_run_in_reverse_dependency_order(tmp_path: Path) -> None:
    text = stack_yaml(trainer_doc(), reference_doc(shape=FORWARD_SHAPE),
                      deployment_doc(extra="  lifecycle: {onDestroy: retain}\n"), binding_doc())
    m = write_manifests(tmp_path, text)
    fake, backend = FakeProvider(), state_backend(tmp_path)
    first, _ = converge(m, fake, backend)
    policy, reference = first.changes[0].remote_id, change(first, "ReferenceTrainer/reference").remote_id
    fake.calls.clear()

    plan, result = converge(m, fake, backend, destroy=True)
    assert actions(plan) == {"Trainer/policy": Action.DELETE, "ReferenceTrainer/reference": Action.DELETE,
                             "Deployment/rollout": Action.FORGET, BINDING: Action.DELETE}
    assert result.ok
    calls = fake.mutations()
    detach = ("update_deployment", "s-rollout")
    # The binding lets go of the trainer before the trainer goes; the reference before its policy.
    assert calls.index(detach) < calls.index(("delete_trainer_job", policy))
    assert calls.index(("delete_trainer_job", reference)) < calls.index(("delete_trainer_job", policy))
    assert fake.deployments["s-rollout"].config.hot_load_trainer_job is None  # retained, detached
    assert backend.read().resources == {}


@pytest.mark.parametrize(("parallelism", "expected"), [(1, 1), (2, 2), (10, 6)])
def test_parallelism_bounds_concurrent_creates(tmp_path: Path, parallelism: int, expected: int) -> None:
    m = write_manifests(tmp_path, stack_yaml(*(trainer_doc(f"t{i}") for i in range(6))))
    plan = make_plan(m)
    fake = FakeProvider(create_delay=0.05)  # long enough for every pending write to land first
    result = run_apply(plan, fake, state_backend(tmp_path), parallelism=parallelism)
    assert result.ok and len(result.done) == 6
    assert fake.max_creates_in_flight == expected


def test_parallelism_bounds_mutating_calls_not_the_wait_for_readiness(tmp_path: Path) -> None:
    # Six independent deployments, --parallelism 2. None becomes READY until all six are being
    # polled at once: an executor that held a slot while waiting would time them out (create: 2s).
    docs = [deployment_doc(f"d{i}", extra="  timeouts: {create: 2s}\n") for i in range(6)]
    plan = make_plan(write_manifests(tmp_path, stack_yaml(*docs)))
    ids = [str(c.remote_id) for c in plan.changes]
    fake = FakeProvider(create_delay=0.05)
    everyone_polled = {("get_deployment", dep_id) for dep_id in ids}
    for dep_id in ids:
        fake.hold[dep_id] = lambda: everyone_polled <= set(fake.calls)
    result = run_apply(plan, fake, state_backend(tmp_path), parallelism=2)

    assert result.ok, (result.failed, result.skipped)
    assert fake.max_creates_in_flight == 2  # the bound held for the requests ...
    first_ready = min(fake.index(f"READY {dep_id}") for dep_id in ids)
    assert all(fake.index(f"call create_deployment {dep_id}") < first_ready for dep_id in ids)
    assert all(fake.index(f"call get_deployment {dep_id}") < first_ready for dep_id in ids)  # ... not the waits
    # Creates that found every slot taken said so.
    assert any(entry.endswith(" waiting for a slot") for entry in fake.timeline)


def test_only_mutating_requests_take_a_slot_and_they_go_before_reads() -> None:
    async def scenario() -> None:
        fake = FakeProvider()
        slots = RequestSlots(1)
        queued: list[str] = []
        bounded = BoundedProvider(as_provider(fake), slots, on_queued=lambda: queued.append("queued"))
        held = asyncio.Event()

        async def long_create() -> None:  # holds the only slot until told to let go
            fake.calls.append(("create_deployment", "first"))
            await held.wait()

        first = asyncio.create_task(slots.mutate(long_create))
        await asyncio.sleep(0)
        # The slot is taken, nothing is queued: reads and polls go straight through.
        assert await bounded.account_id() == ACCOUNT
        assert await bounded.get_deployment("d") is None and await bounded.list_deployments() == []
        assert await bounded.get_trainer_job("t") is None and await bounded.list_trainer_jobs() == []
        assert await bounded.trainer_healthy("t")
        await bounded.hot_load_status("d", QWEN)
        await bounded.get_training_shape_version(POLICY_SHAPE)
        # Mutations wait for the slot, and say that they wait; a read started meanwhile lets them go first.
        mutations = [asyncio.create_task(bounded.delete_deployment("d")),
                     asyncio.create_task(bounded.delete_trainer_job("t")),
                     asyncio.create_task(bounded.hot_load("d", QWEN, "snap"))]
        for _ in range(5):
            await asyncio.sleep(0)
        poll = asyncio.create_task(bounded.get_deployment("d"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(task.done() for task in [*mutations, poll])
        assert fake.mutations() == [("create_deployment", "first")] and len(queued) == 3
        held.set()
        await asyncio.gather(first, *mutations, poll)
        assert [c for c in fake.calls if c[0] != "account_id"][-4:] == [
            ("delete_deployment", "d"), ("delete_trainer_job", "t"), ("hot_load", "d"), ("get_deployment", "d")]

    asyncio.run(scenario())


def test_a_failed_create_skips_its_dependents_while_independent_branches_finish(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), trainer_doc("other"), deployment_doc(), binding_doc()))
    plan = make_plan(m)
    fake, backend = FakeProvider(), state_backend(tmp_path)
    policy, other = change(plan, "Trainer/policy").remote_id, change(plan, "Trainer/other").remote_id
    fake.fail("create_trainer_job", policy)
    result = run_apply(plan, fake, backend)

    assert not result.ok
    assert list(result.failed) == ["Trainer/policy"] and "injected failure" in result.failed["Trainer/policy"]
    assert set(result.skipped) == {"Deployment/rollout", BINDING}
    assert "Trainer/policy failed" in result.skipped["Deployment/rollout"]
    assert result.done == ["Trainer/other"]
    assert ("create_deployment", "s-rollout") not in fake.calls
    stored = backend.read().resources
    assert stored["Trainer/other"].remote_id == other and stored["Trainer/other"].status is ResourceStatus.CREATED
    assert "Deployment/rollout" not in stored and BINDING not in stored


def test_a_deployment_that_fails_to_become_ready_skips_the_binding(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))
    fake = FakeProvider(outcome={"s-rollout": "FAILED"})
    _, result = converge(m, fake, state_backend(tmp_path))
    assert "deployment s-rollout is FAILED" in result.failed["Deployment/rollout"]
    assert set(result.skipped) == {BINDING}
    assert result.done == ["Trainer/policy"]


def test_the_pending_id_is_stored_before_the_remote_create(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc()))
    plan = make_plan(m)
    fake, backend = FakeProvider(), state_backend(tmp_path)
    policy = change(plan, "Trainer/policy").remote_id
    at_call: dict[str, object] = {}
    fake.on_call("create_trainer_job", policy, lambda: at_call.update(trainer=backend.read()))
    fake.on_call("create_deployment", "s-rollout", lambda: at_call.update(deployment=backend.read()))
    fake.fail("create_trainer_job", policy)
    fake.fail("create_deployment", "s-rollout")
    result = run_apply(plan, fake, backend)
    assert set(result.failed) == {"Trainer/policy", "Deployment/rollout"}

    for address, remote_id, key in (("Trainer/policy", policy, "trainer"), ("Deployment/rollout", "s-rollout",
                                                                             "deployment")):
        seen_then = at_call[key].resources[address]  # type: ignore[attr-defined]
        assert seen_then.pending is not None and seen_then.pending.remote_id == remote_id
        stored = backend.read().resources[address]
        assert stored.status is ResourceStatus.PENDING and stored.remote_id is None
        assert stored.pending is not None and (stored.pending.operation, stored.pending.remote_id) == (
            "create", remote_id)

    # Re-run: the plan finishes the interrupted create under the same id; the account ends with one job.
    again, result = converge(m, fake, backend)
    retried = change(again, "Trainer/policy")
    assert retried.action is Action.CREATE and retried.remote_id == policy
    assert "interrupted create" in retried.reasons[0]
    assert result.ok and list(fake.trainers) == [policy]
    assert backend.read().resources["Trainer/policy"].pending is None


def test_state_after_a_successful_apply_records_remote_ids_and_outputs(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))
    fake, backend = FakeProvider(ready_after=4), state_backend(tmp_path)
    plan, result = converge(m, fake, backend)
    assert result.ok
    policy = change(plan, "Trainer/policy").remote_id
    doc = backend.read()
    assert doc is not None and doc.lineage == plan.state_lineage and doc.serial > 0
    assert doc.account == ACCOUNT and doc.stack == "s"
    # The apply waited for readiness: the job was read until it reported RUNNING.
    assert fake.calls.count(("get_trainer_job", policy)) >= 4

    trainer = doc.resources["Trainer/policy"]
    assert (trainer.remote_id, trainer.remote_name, trainer.status, trainer.pending) == (
        policy, job_name(policy), ResourceStatus.CREATED, None)
    assert trainer.outputs == {
        "job_id": policy, "job_name": job_name(policy), "gateway_url": f"https://gateway.example/{policy}",
        "base_model": QWEN, "state": "JOB_STATE_RUNNING", "forward_only": False}
    assert trainer.applied is not None and trainer.applied["learningRate"] == 1e-5

    dep = doc.resources["Deployment/rollout"]
    assert dep.remote_id == "s-rollout" and dep.remote_name == f"accounts/{ACCOUNT}/deployments/s-rollout"
    assert dep.outputs["inference_model"] == f"accounts/{ACCOUNT}/deployments/s-rollout"
    assert dep.outputs["replicas"] == {"min": 1, "max": 1} and dep.outputs["state"] == "READY"
    assert dep.outputs["attached_trainer"] == job_name(policy)
    assert dep.depends_on == ("Trainer/policy",)

    binding = doc.resources[BINDING]
    assert binding.remote_id == "s-rollout"
    assert binding.outputs["trainer"] == job_name(policy) and binding.outputs["deployment_id"] == "s-rollout"
    assert set(binding.depends_on) == {"Trainer/policy", "Deployment/rollout"}


def test_a_trainer_preempted_while_booting_is_resumed(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc()))
    plan = make_plan(m)
    policy = plan.changes[0].remote_id
    fake, backend = FakeProvider(outcome={policy: "JOB_STATE_FAILED"}), state_backend(tmp_path)
    result = run_apply(plan, fake, backend)
    assert result.ok
    assert ("resume_trainer_job", policy) in fake.calls
    assert fake.index(f"FAILED {policy}") < fake.index(f"call resume_trainer_job {policy}") < fake.index(
        f"RUNNING {policy}")
    assert backend.read().resources["Trainer/policy"].outputs["state"] == "JOB_STATE_RUNNING"


def test_a_shared_session_reference_creates_nothing_remote(tmp_path: Path) -> None:
    text = stack_yaml(trainer_doc(extra="  loraRank: 16\n"), reference_doc())
    fake, backend = FakeProvider(), state_backend(tmp_path)
    plan, result = converge(write_manifests(tmp_path, text), fake, backend)
    assert result.ok
    assert fake.mutations() == [("create_trainer_job", change(plan, "Trainer/policy").remote_id)]
    ref = backend.read().resources["ReferenceTrainer/reference"]
    assert ref.remote_id is None and ref.outputs == {"shared_with": "Trainer/policy"}


def test_a_replaced_trainer_is_created_before_the_old_job_goes_and_the_deployment_is_re_pointed(
        tmp_path: Path) -> None:
    # lifecycle.createBeforeDestroy (the default order is in test_replace_order.py).
    cbd = trainer_doc(extra="  lifecycle: {createBeforeDestroy: true}\n")
    fake, backend = FakeProvider(), state_backend(tmp_path)
    first, _ = converge(write_manifests(tmp_path, stack_yaml(cbd, deployment_doc(), binding_doc())),
                        fake, backend)
    old = first.changes[0].remote_id
    fake.calls.clear()
    fake.timeline.clear()
    edited = stack_yaml(cbd.replace("1.0e-5", "2.0e-5"), deployment_doc(), binding_doc())
    plan, result = converge(write_manifests(tmp_path, edited), fake, backend)
    new = change(plan, "Trainer/policy").remote_id
    assert actions(plan) == {"Trainer/policy": Action.REPLACE, "Deployment/rollout": Action.NOOP,
                             BINDING: Action.REATTACH, f"Trainer/policy#deposed-{old}": Action.DELETE}
    assert result.ok and new != old
    assert fake.index(f"call create_trainer_job {new}") < fake.index(f"RUNNING {new}") < fake.index(
        f"call delete_trainer_job {old}")
    assert fake.index(f"RUNNING {new}") < fake.index(f"{BINDING} started")
    assert fake.index(f"{BINDING} done") < fake.index(f"call delete_trainer_job {old}")
    assert [c for c in fake.mutations() if c[1] == "s-rollout"] == [("update_deployment", "s-rollout")]
    assert fake.trainers[old].state == "JOB_STATE_DELETED"
    assert fake.deployments["s-rollout"].config.hot_load_trainer_job == job_name(new)
    doc = backend.read()
    assert doc is not None
    assert doc.resources["Trainer/policy"].remote_id == new
    assert doc.resources[BINDING].outputs["trainer"] == job_name(new)
    assert doc.resources["Deployment/rollout"].outputs["attached_trainer"] == job_name(new)
