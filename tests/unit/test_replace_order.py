"""The order of a trainer replace (lifecycle.createBeforeDestroy), through the planner and the executor."""

from __future__ import annotations

from pathlib import Path

from reconciler.kinds.base import ChangeFailed
from reconciler.model.plan import Action
from reconciler.provider.errors import ProviderError

from .support import (
    BINDING,
    FakeProvider,
    actions,
    binding_doc,
    change,
    converge,
    deployment_doc,
    make_plan,
    run_apply,
    stack_yaml,
    state_backend,
    trainer_doc,
    write_manifests,
)

CBD = "  lifecycle: {createBeforeDestroy: true}\n"


def job_name(job_id: str) -> str:
    return f"accounts/acme/rlorTrainerJobs/{job_id}"


def applied(tmp_path: Path, extra: str = "") -> tuple[FakeProvider, object, str]:
    fake, backend = FakeProvider(), state_backend(tmp_path)
    first, result = converge(write_manifests(tmp_path, stack_yaml(trainer_doc(extra=extra), deployment_doc(),
                                                                  binding_doc())), fake, backend)
    assert result.ok
    fake.calls.clear()
    fake.timeline.clear()
    return fake, backend, str(change(first, "Trainer/policy").remote_id)


def edited(extra: str = "") -> str:
    return stack_yaml(trainer_doc(extra=extra).replace("1.0e-5", "2.0e-5"), deployment_doc(), binding_doc())


def test_by_default_the_old_job_goes_first_and_the_deployment_is_re_pointed_at_the_ready_replacement(
        tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path)
    plan, result = converge(write_manifests(tmp_path, edited()), fake, backend)
    new = change(plan, "Trainer/policy").remote_id
    assert actions(plan) == {"Trainer/policy": Action.REPLACE, "Deployment/rollout": Action.NOOP,
                             BINDING: Action.REATTACH}
    assert any("serving pauses" in r for r in change(plan, BINDING).reasons)
    assert any(f"{old} is deleted before {new} is created" in r for r in change(plan, "Trainer/policy").reasons)
    assert result.ok
    assert fake.index(f"call delete_trainer_job {old}") < fake.index(f"call create_trainer_job {new}")
    patch = next(e for e in fake.timeline if e.startswith("patch s-rollout"))
    assert fake.index(f"RUNNING {new}") < fake.index(patch) and job_name(new) in patch
    assert [c for c in fake.mutations() if c[1] == "s-rollout"] == [("update_deployment", "s-rollout")]
    doc = backend.read()  # type: ignore[attr-defined]
    assert set(doc.resources) == {"Trainer/policy", "Deployment/rollout", BINDING}


def test_create_before_destroy_deletes_the_old_job_only_after_the_deployment_is_re_pointed(tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path, CBD)
    plan, result = converge(write_manifests(tmp_path, edited(CBD)), fake, backend)
    new = change(plan, "Trainer/policy").remote_id
    deposed = f"Trainer/policy#deposed-{old}"
    assert change(plan, deposed).action is Action.DELETE and change(plan, deposed).remote_id == old
    # The ordering is plan edges: the delete waits for the replacement and the re-point.
    assert set(change(plan, deposed).depends_on) == {"Trainer/policy", BINDING}
    assert any("no pause" in r for r in change(plan, BINDING).reasons)
    assert result.ok
    patch = next(e for e in fake.timeline if e.startswith("patch s-rollout"))
    assert (fake.index(f"call create_trainer_job {new}") < fake.index(f"RUNNING {new}") < fake.index(patch)
            < fake.index(f"call delete_trainer_job {old}"))
    doc = backend.read()  # type: ignore[attr-defined]
    assert set(doc.resources) == {"Trainer/policy", "Deployment/rollout", BINDING}, "the deposed record is gone"


def test_a_deposed_job_left_by_an_interrupted_apply_is_deleted_by_the_next_one(tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path, CBD)
    m = write_manifests(tmp_path, edited(CBD))
    plan = make_plan(m, state=backend.read(), seen=fake.seen())  # type: ignore[attr-defined]
    new = change(plan, "Trainer/policy").remote_id
    deposed = f"Trainer/policy#deposed-{old}"
    fake.fail("delete_trainer_job", old)  # the apply stops before the old job is deleted
    result = run_apply(plan, fake, backend)  # type: ignore[arg-type]
    assert not result.ok and deposed in result.failed
    held = backend.read().resources  # type: ignore[attr-defined]
    assert held["Trainer/policy"].remote_id == new and held[deposed].remote_id == old
    again, result = converge(m, fake, backend)  # type: ignore[arg-type]
    assert actions(again) == {"Trainer/policy": Action.NOOP, "Deployment/rollout": Action.NOOP, BINDING: Action.NOOP,
                              deposed: Action.DELETE}
    assert result.ok and fake.trainers[old].state == "JOB_STATE_DELETED"
    assert deposed not in backend.read().resources  # type: ignore[attr-defined]



def test_a_replaced_job_whose_delete_fails_stays_on_record_and_the_next_apply_deletes_it_first(
        tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path)
    m = write_manifests(tmp_path, edited())
    plan = make_plan(m, state=backend.read(), seen=fake.seen())  # type: ignore[attr-defined]
    new = change(plan, "Trainer/policy").remote_id
    deposed = f"Trainer/policy#deposed-{old}"
    fake.fail("delete_trainer_job", old, ProviderError(f"deleting trainer job {old}: HTTP 400", status=400))
    result = run_apply(plan, fake, backend)  # type: ignore[arg-type]
    assert not result.ok and "Trainer/policy" in result.failed and BINDING in result.skipped
    held = backend.read().resources  # type: ignore[attr-defined]
    assert held[deposed].remote_id == old, "the replaced job is on record until it is gone"
    assert fake.trainers[old].state == "JOB_STATE_RUNNING" and new not in fake.trainers

    fake.calls.clear()
    again, result = converge(m, fake, backend)  # type: ignore[arg-type]
    assert actions(again) == {"Trainer/policy": Action.CREATE, "Deployment/rollout": Action.NOOP,
                              BINDING: Action.REATTACH, deposed: Action.DELETE}
    assert any(f"finishing the removal of replaced trainer job {old}" in r for r in change(again, deposed).reasons)
    assert change(again, "Trainer/policy").remote_id == new and deposed in change(again, "Trainer/policy").depends_on
    assert result.ok, result.failed
    assert fake.index(f"call delete_trainer_job {old}") < fake.index(f"call create_trainer_job {new}")
    doc = backend.read()  # type: ignore[attr-defined]
    assert set(doc.resources) == {"Trainer/policy", "Deployment/rollout", BINDING}
    assert doc.resources["Trainer/policy"].remote_id == new and deposed not in doc.resources["Trainer/policy"].depends_on
    assert fake.trainers[old].state == "JOB_STATE_DELETED"
    assert not make_plan(m, state=doc, seen=fake.seen()).has_changes


def test_a_replace_that_never_started_its_delete_leaves_a_record_the_next_plan_drops(tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path)
    m = write_manifests(tmp_path, edited())
    plan = make_plan(m, state=backend.read(), seen=fake.seen())  # type: ignore[attr-defined]
    deposed = f"Trainer/policy#deposed-{old}"
    fake.fail("delete_trainer_job", old)
    run_apply(plan, fake, backend)  # type: ignore[arg-type]
    # The edit is undone: the replaced job is the address's own job again, not something to delete.
    back = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))
    doc = backend.read()  # type: ignore[attr-defined]
    held = doc.resources["Trainer/policy"].model_copy(update={"pending": None})
    doc = doc.with_resource("Trainer/policy", held)
    again = make_plan(back, state=doc, seen=fake.seen())
    assert change(again, deposed).action is Action.FORGET
    assert change(again, "Trainer/policy").action is Action.NOOP


def test_a_pending_create_whose_job_was_deleted_is_created_under_the_next_generation_id(tmp_path: Path) -> None:
    fake, backend = FakeProvider(), state_backend(tmp_path)
    m = write_manifests(tmp_path, stack_yaml(trainer_doc()))
    plan = make_plan(m, state=backend.read(), seen=fake.seen())
    first = change(plan, "Trainer/policy").remote_id
    fake.fail("trainer_gateway_url", first, ChangeFailed("killed before the job was recorded"))
    run_apply(plan, fake, backend)
    assert backend.read().resources["Trainer/policy"].pending_create == first  # type: ignore[union-attr]
    fake.set_trainer(first, state="JOB_STATE_DELETED")  # deleted out of band: the id is spent

    again, result = converge(m, fake, backend)
    c = change(again, "Trainer/policy")
    assert c.action is Action.CREATE and c.remote_id != first
    assert any(f"trainer job {first}" in r and "cannot be reused" in r for r in c.reasons), c.reasons
    assert result.ok, result.failed
    doc = backend.read()
    assert doc is not None and doc.resources["Trainer/policy"].remote_id == c.remote_id
    assert fake.trainers[c.remote_id].state == "JOB_STATE_RUNNING"
    assert not make_plan(m, state=doc, seen=fake.seen()).has_changes


def test_a_destroy_after_a_replace_interrupted_once_the_new_job_was_created_deletes_the_new_job(
        tmp_path: Path) -> None:
    fake, backend, old = applied(tmp_path)
    m = write_manifests(tmp_path, edited())
    plan = make_plan(m, state=backend.read(), seen=fake.seen())  # type: ignore[attr-defined]
    new = change(plan, "Trainer/policy").remote_id
    fake.fail("trainer_gateway_url", new, ChangeFailed("killed before the new job was recorded"))
    run_apply(plan, fake, backend)  # type: ignore[arg-type]
    held = backend.read().resources["Trainer/policy"]  # type: ignore[attr-defined]
    assert held.remote_id == old and held.pending_create == new
    assert fake.trainers[old].state == "JOB_STATE_DELETED" and fake.trainers[new].state == "JOB_STATE_RUNNING"

    gone_plan, result = converge(m, fake, backend, destroy=True)  # type: ignore[arg-type]
    assert change(gone_plan, "Trainer/policy").action is Action.DELETE
    assert change(gone_plan, "Trainer/policy").remote_id == new
    assert result.ok and fake.trainers[new].state == "JOB_STATE_DELETED"


def test_a_failing_delete_fails_its_change_only(tmp_path: Path) -> None:
    fake, backend = FakeProvider(), state_backend(tmp_path)
    two = stack_yaml(trainer_doc(), trainer_doc("critic"))
    first, result = converge(write_manifests(tmp_path, two), fake, backend)
    assert result.ok
    old = change(first, "Trainer/policy").remote_id
    fake.fail("delete_trainer_job", old, ProviderError(f"deleting trainer job {old}: HTTP 403", status=403))
    m = write_manifests(tmp_path, two.replace("1.0e-5", "2.0e-5"))
    plan, result = converge(m, fake, backend)
    assert set(result.failed) == {"Trainer/policy"} and "HTTP 403" in result.failed["Trainer/policy"]
    assert "Trainer/critic" in result.done, "an independent replace is carried out"
    held = backend.read().resources  # type: ignore[attr-defined]
    assert held[f"Trainer/policy#deposed-{old}"].remote_id == old
    assert held["Trainer/critic"].remote_id == change(plan, "Trainer/critic").remote_id
