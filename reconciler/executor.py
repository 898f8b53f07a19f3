"""The executor: a Plan -> provider calls in dependency order -> state, persisted after each step.

Each change runs as its own task. A change starts when what it depends on is *ready* (usable) and
what it only needs to exist has been *created*; removals run in reverse order. A semaphore bounds
how many changes are in flight. Before a remote create the intended id is written to state as
pending, so a killed apply, re-run, adopts the resource instead of duplicating it. A failed change
fails its dependents (skipped) while independent branches finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.diff import DEPLOYMENT_PATHS
from reconciler.model.plan import Action, Change, Plan
from reconciler.model.remote import (
    DeploymentConfig,
    DeploymentInfo,
    TrainerConfig,
    TrainerJob,
)
from reconciler.model.state import PendingOperation, ResourceState, StateDocument
from reconciler.provider.base import Provider
from reconciler.provider.errors import ProviderError
from reconciler.state.base import StateBackend
from reconciler.state.errors import StateError

# Per-kind readiness budgets (seconds), overridable by spec.timeouts.
DEFAULT_TIMEOUTS = {"Trainer": 3600.0, "ReferenceTrainer": 3600.0, "Deployment": 5400.0, "SyncBinding": 900.0}
PATH_TO_DEPLOYMENT_FIELD = {path: name for name, path in DEPLOYMENT_PATHS.items()}


class ChangeFailed(Exception):
    """A change could not be carried out; the message says why, for a person."""


class Reporter(Protocol):
    def event(self, address: str, action: str, status: str, detail: str = "") -> None: ...


class NullReporter:
    def event(self, address: str, action: str, status: str, detail: str = "") -> None:
        return None


@dataclass
class Poll:
    """Backoff polling: the first check soon, then slower, capped."""

    first: float = 0.1
    factor: float = 1.6
    cap: float = 1.0

    async def until(
        self,
        check: Callable[[], Awaitable[bool]],
        *,
        timeout: float,
        what: str,
    ) -> None:
        delay = self.first
        deadline = time.monotonic() + timeout
        while True:
            if await check():
                return
            if time.monotonic() >= deadline:
                raise ChangeFailed(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * self.factor, self.cap)


class StateRecorder:
    """The one writer of state during an apply.

    Group commit: updates that arrive while a write is in flight go into the next version together,
    and each caller returns only once the version holding its update is stored (so a pending id is
    still on disk before its remote create). With many changes in flight this turns thousands of
    whole-document writes into a few hundred.
    """

    def __init__(self, backend: StateBackend, doc: StateDocument):
        self.backend = backend
        self.doc = doc
        self._queue: list[tuple[str, ResourceState | None, asyncio.Future[None]]] = []
        self._writing = False

    async def set(self, address: str, resource: ResourceState | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((address, resource, done))
        if not self._writing:
            self._writing = True
            try:
                while self._queue:
                    batch, self._queue = self._queue, []
                    await self._write(batch)
            finally:
                self._writing = False
                for *_, waiting in self._queue:  # only left behind when this writer was cancelled
                    waiting.cancel()
                self._queue = []
        await done

    async def _write(self, batch: list[tuple[str, ResourceState | None, asyncio.Future[None]]]) -> None:
        doc = self.doc
        for address, resource, _ in batch:
            doc = doc.with_resource(address, resource)
        doc = doc.next_version()
        try:
            await asyncio.to_thread(self.backend.write, doc)
        except Exception as exc:
            for *_, waiting in batch:
                waiting.set_exception(exc)
            return
        self.doc = doc
        for *_, waiting in batch:
            waiting.set_result(None)

    def get(self, address: str) -> ResourceState | None:
        return self.doc.resources.get(address)


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


@dataclass
class _Slot:
    change: Change
    created: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Executor:
    def __init__(
        self,
        provider: Provider,
        recorder: StateRecorder,
        *,
        reporter: Reporter | None = None,
        parallelism: int = 10,
        poll: Poll | None = None,
        health_probe: Callable[[str, TrainerConfig], Awaitable[None]] | None = None,
    ):
        self.provider = provider
        self.recorder = recorder
        self.reporter = reporter or NullReporter()
        self.parallelism = max(1, parallelism)
        self.poll = poll or Poll()
        self.health_probe = health_probe
        self.slots: dict[str, _Slot] = {}

    # --- scheduling -----------------------------------------------------------------------------

    async def apply(self, plan: Plan) -> ApplyResult:
        self.slots = {c.address: _Slot(c) for c in plan.changes}
        self._semaphore = asyncio.Semaphore(self.parallelism)
        result = ApplyResult()
        tasks = [asyncio.create_task(self._run(slot, result), name=slot.change.address)
                 for slot in self.slots.values()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return result

    def _removal_waits(self, change: Change) -> list[_Slot]:
        """A removal waits for the removal of everything that depends on it."""
        return [
            s for s in self.slots.values()
            if s.change.action.is_removal and change.address in s.change.depends_on
        ]

    async def _run(self, slot: _Slot, result: ApplyResult) -> None:
        change = slot.change
        try:
            if change.action.is_removal:
                # What depends on this must have let go of it: its removal accepted (not finished).
                for other in self._removal_waits(change):
                    await other.created.wait()
            else:
                for dep in change.depends_on:
                    needed = self.slots.get(dep)
                    if needed is not None and not needed.change.action.is_removal:
                        await needed.ready.wait()
                        if needed.failed:
                            raise _Skip(f"{dep} failed")
                for dep in change.after_created:
                    needed = self.slots.get(dep)
                    if needed is not None:
                        await needed.created.wait()  # set on create, and on any end
                        if needed.failed:
                            raise _Skip(f"{dep} failed")
            if change.action is Action.NOOP:
                slot.created.set()
                slot.ready.set()
                return
            async with self._semaphore:
                self.reporter.event(change.address, change.action.value, "started")
                started = time.monotonic()
                await self._carry_out(slot)
                self.reporter.event(change.address, change.action.value, "done",
                                    f"{time.monotonic() - started:.1f}s")
            result.done.append(change.address)
        except _Skip as skip:
            slot.failed = str(skip)
            result.skipped[change.address] = str(skip)
            self.reporter.event(change.address, change.action.value, "skipped", str(skip))
        except (ChangeFailed, ProviderError, StateError) as exc:
            slot.failed = str(exc)
            result.failed[change.address] = str(exc)
            self.reporter.event(change.address, change.action.value, "failed", str(exc))
        finally:
            slot.created.set()
            slot.ready.set()
            slot.finished.set()

    async def _carry_out(self, slot: _Slot) -> None:
        change = slot.change
        handler = {
            "Trainer": self._trainer,
            "ReferenceTrainer": self._trainer,
            "Deployment": self._deployment,
            "SyncBinding": self._binding,
        }.get(change.kind)
        if change.action is Action.FORGET or handler is None:
            await self.recorder.set(change.address, None)
            return
        await handler(slot)

    # --- state helpers --------------------------------------------------------------------------

    def _base_state(self, change: Change, remote_id: str | None, remote_name: str | None) -> ResourceState:
        prior = self.recorder.get(change.address)
        return ResourceState(
            kind=change.kind,
            name=change.address.split("/", 1)[1],
            remote_id=remote_id,
            remote_name=remote_name,
            applied=change.after,
            outputs=dict(prior.outputs) if prior else {},
            labels=dict(change.extras.get("labels", {})),
            lifecycle=dict(change.extras.get("lifecycle", {})),
            depends_on=change.depends_on + change.after_created,
        )

    async def _pending(self, change: Change, operation: str, remote_id: str | None) -> None:
        prior = self.recorder.get(change.address)
        base = prior if prior is not None else self._base_state(change, None, None)
        await self.recorder.set(
            change.address,
            base.model_copy(update={"pending": PendingOperation(operation=operation, remote_id=remote_id),
                                    "status": "pending" if prior is None else base.status}),
        )

    def _timeout(self, change: Change, which: str = "create") -> float:
        timeouts: Mapping[str, Any] = change.extras.get("timeouts") or {}
        value = timeouts.get(which)
        return float(value) if value else DEFAULT_TIMEOUTS.get(change.kind, 3600.0)

    # --- trainers -------------------------------------------------------------------------------

    async def _trainer(self, slot: _Slot) -> None:
        change = slot.change
        action = change.action
        job_id = change.remote_id
        if action is Action.DELETE:
            if job_id:
                await self._pending(change, "delete", job_id)
                await self.provider.delete_trainer_job(job_id)
                slot.created.set()
                await self._wait_trainer_gone(job_id, change)
            if "shared_with" in change.extras:  # became a shared session: keep the address, nothing remote
                await self.recorder.set(change.address, self._shared_state(change))
            else:
                await self.recorder.set(change.address, None)
            return
        if job_id is None:  # a shared-session reference: nothing remote
            await self.recorder.set(change.address, self._shared_state(change))
            slot.created.set()
            return
        config = TrainerConfig.model_validate(change.extras["config"])
        if action in (Action.CREATE, Action.REPLACE):
            await self._pending(change, action.value, job_id)
            await self.provider.create_trainer_job(job_id, config)
            slot.created.set()
            self.reporter.event(change.address, action.value, "created", job_id)
        elif action is Action.RESUME:
            slot.created.set()
            await self.provider.resume_trainer_job(job_id)
        elif action is Action.REATTACH:
            slot.created.set()
            job = await self.provider.get_trainer_job(job_id)
            if job is not None and job.resumable:
                await self.provider.resume_trainer_job(job_id)
        job = await self._wait_trainer_ready(job_id, change, config)
        await self.recorder.set(change.address, await self._trainer_state(change, job))
        slot.ready.set()
        if action is Action.REPLACE and change.prior_remote_id and change.prior_remote_id != job_id:
            self.reporter.event(change.address, action.value, "deleting", change.prior_remote_id)
            await self.provider.delete_trainer_job(change.prior_remote_id)
            await self._wait_trainer_gone(change.prior_remote_id, change)

    def _shared_state(self, change: Change) -> ResourceState:
        state = self._base_state(change, None, None)
        return state.model_copy(update={"outputs": {"shared_with": change.extras.get("shared_with")},
                                        "pending": None, "status": "created"})

    async def _trainer_state(self, change: Change, job: TrainerJob) -> ResourceState:
        state = self._base_state(change, job.job_id, job.name)
        outputs = {
            "job_id": job.job_id,
            "job_name": job.name,
            "gateway_url": await self.provider.trainer_gateway_url(job.job_id),
            "base_model": job.config.base_model,
            "state": job.state,
            "forward_only": job.config.forward_only,
        }
        return state.model_copy(update={"outputs": outputs, "pending": None, "status": "created"})

    async def _wait_trainer_ready(self, job_id: str, change: Change, config: TrainerConfig) -> TrainerJob:
        latest: dict[str, TrainerJob] = {}
        resumes = 0
        last_state = ""

        async def check() -> bool:
            nonlocal resumes, last_state
            job = await self.provider.get_trainer_job(job_id)
            if job is None or job.gone:
                raise ChangeFailed(f"trainer job {job_id} disappeared ({job.state if job else 'not found'})")
            latest["job"] = job
            if job.state != last_state:
                last_state = job.state
                self.reporter.event(change.address, change.action.value, job.state.removeprefix("JOB_STATE_"))
            if job.resumable:
                if resumes >= 2:
                    why = f": {job.status_message}" if job.status_message else ""
                    raise ChangeFailed(f"trainer job {job_id} is {job.state}{why}")
                resumes += 1
                self.reporter.event(change.address, change.action.value, "resuming",
                                    job.status_message or job.state)
                await self.provider.resume_trainer_job(job_id)
                return False
            return job.running and await self.provider.trainer_healthy(job_id)

        await self.poll.until(check, timeout=self._timeout(change), what=f"trainer job {job_id} to be RUNNING")
        if self.health_probe is not None:
            await self.health_probe(job_id, config)
        return latest["job"]

    async def _wait_trainer_gone(self, job_id: str, change: Change) -> None:
        async def check() -> bool:
            job = await self.provider.get_trainer_job(job_id)
            return job is None or job.state in ("JOB_STATE_DELETED", "JOB_STATE_ARCHIVED")

        await self.poll.until(check, timeout=self._timeout(change, "delete"), what=f"trainer job {job_id} to be deleted")

    # --- deployments ----------------------------------------------------------------------------

    async def _deployment(self, slot: _Slot) -> None:
        change = slot.change
        action = change.action
        dep_id = change.remote_id
        assert dep_id is not None
        if action is Action.DELETE:
            await self._pending(change, "delete", dep_id)
            await self.provider.delete_deployment(dep_id)
            slot.created.set()
            await self._wait_deployment_gone(dep_id, change)
            await self.recorder.set(change.address, None)
            return
        if action is Action.SCALE_TO_ZERO:
            updates: dict[str, Any] = {"min_replicas": 0, "max_replicas": 0}
            if change.extras.get("detach"):
                updates["hot_load_trainer_job"] = None
            await self.provider.update_deployment(dep_id, updates)
            slot.created.set()
            dep = await self._wait_deployment_ready(dep_id, change, None)
            if change.extras.get("destroy"):
                await self.recorder.set(change.address, None)
            else:
                state = self._deployment_state(change, dep)
                await self.recorder.set(change.address, state.model_copy(update={"status": "parked"}))
            return
        config = DeploymentConfig.model_validate(change.extras["config"])
        if action is Action.REPLACE:
            await self._pending(change, "replace", dep_id)
            await self.provider.delete_deployment(dep_id)
            await self._wait_deployment_gone(dep_id, change)
        if action in (Action.CREATE, Action.REPLACE):
            await self._pending(change, action.value, dep_id)
            await self.provider.create_deployment(dep_id, config)
        elif action in (Action.UPDATE, Action.SCALE_UP, Action.REATTACH):
            updates = self._deployment_updates(change, config)
            if updates:
                await self.provider.update_deployment(dep_id, updates)
        slot.created.set()
        # Only a create sends the attachment; otherwise the SyncBinding's own change makes it.
        attached = config if action in (Action.CREATE, Action.REPLACE) else None
        dep = await self._wait_deployment_ready(dep_id, change, attached)
        await self.recorder.set(change.address, self._deployment_state(change, dep))

    def _deployment_updates(self, change: Change, config: DeploymentConfig) -> dict[str, Any]:
        updates: dict[str, Any] = {}
        for diff in change.diffs:
            name = PATH_TO_DEPLOYMENT_FIELD.get(diff.path)
            if name is not None and not diff.forces_replacement:
                updates[name] = getattr(config, name)
        if change.action is Action.SCALE_UP:
            updates.update(min_replicas=config.min_replicas, max_replicas=config.max_replicas)
        return updates

    def _deployment_state(self, change: Change, dep: DeploymentInfo) -> ResourceState:
        state = self._base_state(change, dep.deployment_id, dep.name)
        outputs = {
            "deployment_id": dep.deployment_id,
            "name": dep.name,
            "inference_model": dep.name,
            "base_model": dep.config.base_model,
            "deployment_shape": dep.config.deployment_shape,
            "replicas": {"min": dep.config.min_replicas, "max": dep.config.max_replicas},
            "state": dep.state,
        }
        prior = self.recorder.get(change.address)
        if prior is not None:  # keep what the binding recorded (attachment, served snapshot)
            for key in ("attached_trainer", "snapshot", "snapshot_loaded_at"):
                if key in prior.outputs:
                    outputs[key] = prior.outputs[key]
        if dep.config.hot_load_trainer_job:
            outputs["attached_trainer"] = dep.config.hot_load_trainer_job
        return state.model_copy(update={"outputs": outputs, "pending": None, "status": "created"})

    async def _wait_deployment_ready(
        self, dep_id: str, change: Change, config: DeploymentConfig | None
    ) -> DeploymentInfo:
        latest: dict[str, DeploymentInfo] = {}
        last_state = ""

        async def check() -> bool:
            nonlocal last_state
            dep = await self.provider.get_deployment(dep_id)
            if dep is None:
                raise ChangeFailed(f"deployment {dep_id} disappeared")
            if dep.bad:
                why = f": {dep.status_message}" if dep.status_message else ""
                raise ChangeFailed(f"deployment {dep_id} is {dep.state}{why}")
            if dep.state != last_state:
                last_state = dep.state
                self.reporter.event(change.address, change.action.value, dep.state)
            latest["dep"] = dep
            if not dep.ready:
                return False
            return config is None or config.hot_load_trainer_job is None or (
                dep.config.hot_load_trainer_job == config.hot_load_trainer_job
            )

        await self.poll.until(check, timeout=self._timeout(change), what=f"deployment {dep_id} to be READY")
        return latest["dep"]

    async def _wait_deployment_gone(self, dep_id: str, change: Change) -> None:
        async def check() -> bool:
            dep = await self.provider.get_deployment(dep_id)
            return dep is None or dep.state == "DELETED"

        await self.poll.until(check, timeout=self._timeout(change, "delete"), what=f"deployment {dep_id} to be deleted")

    # --- bindings -------------------------------------------------------------------------------

    async def _binding(self, slot: _Slot) -> None:
        change = slot.change
        extras = change.extras
        dep_id = change.remote_id
        assert dep_id is not None
        dep_address = str(extras.get("deployment_address") or "")
        if change.action is Action.DELETE:
            if extras.get("scope", "perTrainer") == "perTrainer":
                await self.provider.update_deployment(dep_id, {"hot_load_trainer_job": None})
                slot.created.set()
                await self._wait_deployment_ready(dep_id, change, None)
            await self.recorder.set(change.address, None)
            await self._note_on_deployment(dep_address or self._deployment_address_of(change), None, None)
            return
        after = change.after or {}
        job_name = str(extras["job_name"])
        scope = after.get("scope", "perTrainer")
        transition = after.get("transition")
        if change.action in (Action.CREATE, Action.REATTACH) and scope == "perTrainer":
            dep = await self._wait_deployment_ready(dep_id, change, None)
            updates: dict[str, Any] = {}
            # A reattach always re-points (the serving pod rolls onto the new or resumed trainer);
            # the transition type goes in the same PATCH: one roll, not two.
            if change.action is Action.REATTACH or dep.config.hot_load_trainer_job != job_name:
                updates["hot_load_trainer_job"] = job_name
            if transition and (dep.config.hot_load_transition or "ASYNC") != transition:
                updates["hot_load_transition"] = transition
            if updates:
                self.reporter.event(change.address, change.action.value, "patching",
                                    ", ".join(sorted(updates)))
                await self.provider.update_deployment(dep_id, updates)
            await self._wait_attached(dep_id, job_name, transition, change)
        elif scope == "perDeployment":
            job = await self.provider.get_trainer_job(str(extras["job_id"]))
            if job is None or job.config.hot_load_deployment_id != dep_id:
                raise ChangeFailed(f"trainer job {extras['job_id']} is not created for deployment {dep_id} "
                                   "(perDeployment scope); it must be replaced")
        snapshot = after.get("snapshot")
        loaded_at = None
        prior = self.recorder.get(change.address)
        if prior is not None and prior.outputs.get("snapshot") == snapshot:
            loaded_at = prior.outputs.get("snapshot_loaded_at")
        if snapshot and (change.action in (Action.HOTLOAD, Action.CREATE, Action.REATTACH)):
            await self._hot_load(dep_id, str(extras["base_model"]), str(snapshot), change)
            loaded_at = _now()
        state = self._base_state(change, dep_id, None)
        outputs = {
            "scope": scope,
            "trainer": job_name,
            "trainer_address": extras.get("trainer_address"),
            "deployment_id": dep_id,
            "deployment_address": extras.get("deployment_address"),
            "transition": transition,
            "snapshot": snapshot,
            "snapshot_loaded_at": loaded_at,
        }
        await self.recorder.set(change.address, state.model_copy(update={"outputs": outputs, "pending": None}))
        await self._note_on_deployment(dep_address, job_name, (snapshot, loaded_at))

    def _deployment_address_of(self, change: Change) -> str:
        prior = self.recorder.get(change.address)
        return str(prior.outputs.get("deployment_address", "")) if prior else ""

    async def _note_on_deployment(self, dep_address: str, job_name: str | None,
                                  snapshot: tuple[Any, Any] | None) -> None:
        """Traceability: the deployment's state records the trainer it serves and the snapshot."""
        dep_state = self.recorder.get(dep_address) if dep_address else None
        if dep_state is None:
            return
        outputs = dict(dep_state.outputs)
        outputs["attached_trainer"] = job_name
        outputs["snapshot"] = snapshot[0] if snapshot else None
        outputs["snapshot_loaded_at"] = snapshot[1] if snapshot else None
        await self.recorder.set(dep_address, dep_state.model_copy(update={"outputs": outputs}))

    async def _wait_attached(self, dep_id: str, job_name: str, transition: str | None, change: Change) -> None:
        async def check() -> bool:
            dep = await self.provider.get_deployment(dep_id)
            if dep is None:
                raise ChangeFailed(f"deployment {dep_id} disappeared")
            if dep.bad:
                raise ChangeFailed(f"deployment {dep_id} is {dep.state}")
            return (dep.ready and dep.config.hot_load_trainer_job == job_name
                    and (not transition or (dep.config.hot_load_transition or "ASYNC") == transition))

        await self.poll.until(check, timeout=self._timeout(change),
                              what=f"deployment {dep_id} to be READY attached to {job_name}")

    async def _hot_load(self, dep_id: str, base_model: str, snapshot: str, change: Change) -> None:
        async def replicas_up() -> bool:
            return bool((await self.provider.hot_load_status(dep_id, base_model)).replicas)

        await self.poll.until(replicas_up, timeout=self._timeout(change),
                              what=f"deployment {dep_id} to report serving replicas")
        self.reporter.event(change.address, change.action.value, "hot-loading", snapshot)
        await self.provider.hot_load(dep_id, base_model, snapshot)

        async def loaded() -> bool:
            status = await self.provider.hot_load_status(dep_id, base_model)
            if not status.replicas:
                return False
            replica = status.replicas[0]
            if replica.stage == "error" and replica.target_snapshot == snapshot:
                raise ChangeFailed(f"hot load of {snapshot} into {dep_id} failed: "
                                   f"{replica.message or 'the platform reported an error'}")
            return replica.readiness and replica.current_snapshot == snapshot

        await self.poll.until(loaded, timeout=self._timeout(change),
                              what=f"deployment {dep_id} to serve snapshot {snapshot}")


class _Skip(Exception):
    pass


def initial_state(stack: str, lineage: str | None, endpoint: str, account: str, version: str) -> StateDocument:
    kwargs: dict[str, Any] = {"stack": stack, "endpoint": endpoint, "account": account, "fwctl_version": version}
    if lineage:
        kwargs["lineage"] = lineage
    return StateDocument(**kwargs)


__all__ = ["ApplyResult", "ChangeFailed", "Executor", "Poll", "StateRecorder", "initial_state"]
