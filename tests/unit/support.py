"""Shared helpers for the unit tests: manifests on disk, plans, an in-memory Provider, an apply.

Only public entry points are used: manifests are written as YAML and loaded the way users load
them, plans come from ``plan_changes``, applies from ``Executor`` over the real local file backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.executor import ApplyResult, Executor, Poll, StateRecorder, initial_state
from reconciler.manifest import Manifests, load_manifests
from reconciler.model.plan import Action, Plan
from reconciler.model.remote import (
    BaseModelInfo,
    Checkpoint,
    DeploymentConfig,
    DeploymentInfo,
    DeploymentShapeVersion,
    HotLoadReplica,
    HotLoadStatus,
    Observed,
    TrainerConfig,
    TrainerJob,
    TrainingShapeVersion,
)
from reconciler.model.state import StateDocument
from reconciler.planner import PlanRequest, plan_changes
from reconciler.provider.base import Provider
from reconciler.provider.errors import ProviderError
from reconciler.state import StateBackend, open_backend

ACCOUNT = "acme"
QWEN = "accounts/fireworks/models/qwen3-8b"
POLICY_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
FORWARD_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward"
DEPLOYMENT_SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"
# The ids and address of the stack `s` that stack_yaml(trainer_doc(), deployment_doc(), binding_doc()) declares.
JOB = "s-policy-abc123"
DEP = "s-rollout"
BINDING = "SyncBinding/policy-to-rollout"
CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)

#: Poll as fast as the loop allows: readiness is counted in polls, not seconds.
FAST_POLL = Poll(first=0.0005, factor=1.0, cap=0.0005)


# --- manifests -----------------------------------------------------------------------------------


def stack_header(name: str = "s") -> str:
    return f"apiVersion: fwctl/v1\nkind: Stack\nmetadata: {{name: {name}}}\n"


def trainer_doc(name: str = "policy", extra: str = "") -> str:
    return (f"apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {{name: {name}}}\nspec:\n"
            f"  baseModel: {QWEN}\n  trainingShape: {POLICY_SHAPE}\n  learningRate: 1.0e-5\n{extra}")


def deployment_doc(name: str = "rollout", extra: str = "") -> str:
    return (f"apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n"
            f"  baseModel: {QWEN}\n  deploymentShape: {DEPLOYMENT_SHAPE}\n  replicas: {{min: 1, max: 1}}\n{extra}")


def binding_doc(name: str = "policy-to-rollout", trainer: str = "policy", deployment: str = "rollout",
                extra: str = "") -> str:
    return (f"apiVersion: fwctl/v1\nkind: SyncBinding\nmetadata: {{name: {name}}}\nspec:\n"
            f"  trainer: {trainer}\n  deployment: {deployment}\n{extra}")


def reference_doc(name: str = "reference", policy: str = "policy", shape: str | None = None) -> str:
    text = f"apiVersion: fwctl/v1\nkind: ReferenceTrainer\nmetadata: {{name: {name}}}\nspec:\n  policy: {policy}\n"
    return text + (f"  trainingShape: {shape}\n" if shape else "")


def stack_yaml(*documents: str, name: str = "s") -> str:
    return "---\n".join([stack_header(name), *documents])


def write_manifests(tmp_path: Path, text: str, filename: str = "stack.yaml") -> Manifests:
    directory = tmp_path / "manifests"
    directory.mkdir(exist_ok=True)
    path = directory / filename
    path.write_text(text)
    return load_manifests([str(path)])


# --- plans ---------------------------------------------------------------------------------------


def observed(trainers: Iterable[TrainerJob] = (), deployments: Iterable[DeploymentInfo] = (),
             account: str = ACCOUNT, **extra: Any) -> Observed:
    return Observed(account=account, trainers={j.job_id: j for j in trainers},
                    deployments={d.deployment_id: d for d in deployments}, **extra)


def make_plan(m: Manifests, *, state: StateDocument | None = None, seen: Observed | None = None,
              destroy: bool = False, targets: tuple[str, ...] = (), id_seed: str = "L",
              replace: tuple[str, ...] = ()) -> Plan:
    stack_spec = m.stack.spec if m.stack else None
    return plan_changes(PlanRequest(
        stack=m.stack_name, endpoint="local", observed=seen or observed(), prior=state,
        resources=m.resources, stack_region=stack_spec.region if stack_spec else None,
        manifests_digest=m.digest, destroy=destroy, targets=targets, replace=replace,
        id_seed=state.lineage if state else id_seed, locate=m.locate))


def actions(plan: Plan) -> dict[str, Action]:
    return {c.address: c.action for c in plan.changes}


def change(plan: Plan, address: str) -> Any:
    return next(c for c in plan.changes if c.address == address)


# --- a fake platform -----------------------------------------------------------------------------

MUTATIONS = frozenset({"create_trainer_job", "delete_trainer_job", "resume_trainer_job", "create_deployment",
                       "update_deployment", "delete_deployment", "hot_load"})


def _versioned(name: str | None) -> str | None:
    """The platform reads a parent shape back as the version it resolved."""
    return name if not name or "/versions/" in name else f"{name}/versions/v1"


@dataclass
class FakeProvider:
    """Every method of the ``Provider`` protocol, in memory.

    A trainer job reaches RUNNING (a deployment READY) on the ``ready_after``-th read after it was
    created, resumed or updated; ``outcome`` overrides the state it settles in (e.g. FAILED).
    ``hold`` keeps one in transition until a predicate is true. ``fail(method, remote_id)`` makes
    the next such call raise; ``on_call`` runs a hook at call time.
    ``timeline`` records every call as ``call <method> <id>`` and every transition as
    ``<STATE> <id>`` (a reporter may share the list).
    """

    account: str = ACCOUNT
    ready_after: int = 1
    create_delay: float = 0.0
    timeline: list[str] = field(default_factory=list)
    trainers: dict[str, TrainerJob] = field(default_factory=dict)
    deployments: dict[str, DeploymentInfo] = field(default_factory=dict)
    checkpoints: dict[str, list[Checkpoint]] = field(default_factory=dict)
    hot_loaded: dict[str, str] = field(default_factory=dict)
    unhealthy: set[str] = field(default_factory=set)
    outcome: dict[str, str] = field(default_factory=dict)
    ready_after_for: dict[str, int] = field(default_factory=dict)
    hold: dict[str, Callable[[], bool]] = field(default_factory=dict)  # settles only once this is true
    calls: list[tuple[str, str]] = field(default_factory=list)
    creates_in_flight: int = 0
    max_creates_in_flight: int = 0
    _failures: dict[tuple[str, str], list[Exception]] = field(default_factory=dict)
    _hooks: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)
    _countdown: dict[str, int] = field(default_factory=dict)

    # --- controls -------------------------------------------------------------------------

    def fail(self, method: str, remote_id: str, error: Exception | None = None, times: int = 1) -> None:
        err = error or ProviderError(f"{method} {remote_id}: injected failure (503)", status=503)
        self._failures.setdefault((method, remote_id), []).extend([err] * times)

    def on_call(self, method: str, remote_id: str, hook: Callable[[], None]) -> None:
        self._hooks[(method, remote_id)] = hook

    def mutations(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in MUTATIONS]

    def index(self, entry: str) -> int:
        """Position of the first timeline entry equal to ``entry`` (ValueError when absent)."""
        return self.timeline.index(entry)

    def seen(self) -> Observed:
        """What a refresh would read now (tombstones included)."""
        return observed(self.trainers.values(), self.deployments.values(), account=self.account)

    def add_trainer(self, job: TrainerJob) -> None:
        self.trainers[job.job_id] = job

    def add_deployment(self, dep: DeploymentInfo) -> None:
        self.deployments[dep.deployment_id] = dep

    def set_trainer(self, job_id: str, **update: Any) -> None:
        self.trainers[job_id] = self.trainers[job_id].model_copy(update=update)

    def set_deployment(self, dep_id: str, *, config: Mapping[str, Any] | None = None, **update: Any) -> None:
        dep = self.deployments[dep_id]
        if config:
            update["config"] = dep.config.model_copy(update=dict(config))
        self.deployments[dep_id] = dep.model_copy(update=update)

    # --- internals ------------------------------------------------------------------------

    def _enter(self, method: str, remote_id: str = "") -> None:
        self.calls.append((method, remote_id))
        self.timeline.append(f"call {method} {remote_id}".rstrip())
        hook = self._hooks.get((method, remote_id))
        if hook is not None:
            hook()
        queued = self._failures.get((method, remote_id))
        if queued:
            raise queued.pop(0)

    def _start(self, remote_id: str) -> None:
        self._countdown[remote_id] = self.ready_after_for.get(remote_id, self.ready_after)

    def _tick(self, remote_id: str) -> bool:
        """One read of a resource in transition: True when it settles now."""
        left = self._countdown.get(remote_id)
        if left is None:
            return False
        gate = self.hold.get(remote_id)
        if gate is not None and not gate():
            return False
        left -= 1
        if left > 0:
            self._countdown[remote_id] = left
            return False
        del self._countdown[remote_id]
        return True

    async def _created(self) -> None:
        self.creates_in_flight += 1
        self.max_creates_in_flight = max(self.max_creates_in_flight, self.creates_in_flight)
        try:
            await asyncio.sleep(self.create_delay)
        finally:
            self.creates_in_flight -= 1

    # --- Provider -------------------------------------------------------------------------

    async def account_id(self) -> str:
        self._enter("account_id")
        return self.account

    async def list_trainer_jobs(self) -> list[TrainerJob]:
        self._enter("list_trainer_jobs")
        return [j for j in self.trainers.values() if j.state not in ("JOB_STATE_DELETED", "JOB_STATE_ARCHIVED")]

    async def get_trainer_job(self, job_id: str) -> TrainerJob | None:
        self._enter("get_trainer_job", job_id)
        job = self.trainers.get(job_id)
        if job is not None and self._tick(job_id):
            state = self.outcome.pop(job_id, "JOB_STATE_RUNNING")
            job = job.model_copy(update={"state": state})
            self.trainers[job_id] = job
            self.timeline.append(f"{state.removeprefix('JOB_STATE_')} {job_id}")
        return job

    async def create_trainer_job(self, job_id: str, config: TrainerConfig) -> TrainerJob:
        self._enter("create_trainer_job", job_id)
        await self._created()
        if job_id in self.trainers:
            return self.trainers[job_id]  # 409 -> read back: the create is idempotent
        stored = config.model_copy(update={"training_shape": _versioned(config.training_shape)})
        job = TrainerJob(job_id=job_id, name=f"accounts/{self.account}/rlorTrainerJobs/{job_id}",
                         state="JOB_STATE_CREATING", config=stored, create_time=CREATED_AT)
        self.trainers[job_id] = job
        self._start(job_id)
        return job

    async def delete_trainer_job(self, job_id: str) -> None:
        self._enter("delete_trainer_job", job_id)
        if job_id in self.trainers:
            self.set_trainer(job_id, state="JOB_STATE_DELETED")
            self._countdown.pop(job_id, None)

    async def resume_trainer_job(self, job_id: str) -> TrainerJob:
        self._enter("resume_trainer_job", job_id)
        self.set_trainer(job_id, state="JOB_STATE_PENDING", status_message="")
        self._start(job_id)
        return self.trainers[job_id]

    async def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        self._enter("list_checkpoints", job_id)
        return list(self.checkpoints.get(job_id, []))

    async def trainer_gateway_url(self, job_id: str) -> str:
        self._enter("trainer_gateway_url", job_id)
        return f"https://gateway.example/{job_id}"

    async def trainer_healthy(self, job_id: str) -> bool:
        self._enter("trainer_healthy", job_id)
        return job_id not in self.unhealthy

    async def list_deployments(self) -> list[DeploymentInfo]:
        self._enter("list_deployments")
        return list(self.deployments.values())

    async def training_shapes_pinning(self, deployment_shape_version: str) -> list[str]:
        self._enter("training_shapes_pinning", deployment_shape_version)
        return list(getattr(self, "pins", {}).get(deployment_shape_version, []))

    async def list_quotas(self) -> list[Any]:  # issue 15: no quotas unless a test sets some
        self._enter("list_quotas")
        return list(getattr(self, "quotas", []))

    async def get_deployment(self, dep_id: str) -> DeploymentInfo | None:
        self._enter("get_deployment", dep_id)
        dep = self.deployments.get(dep_id)
        if dep is not None and self._tick(dep_id):
            state = self.outcome.pop(dep_id, "READY")
            running = dep.config.min_replicas if state == "READY" else 0
            dep = dep.model_copy(update={"state": state, "replica_count": running})
            self.deployments[dep_id] = dep
            self.timeline.append(f"{state} {dep_id}")
        return dep

    async def create_deployment(self, dep_id: str, config: DeploymentConfig) -> DeploymentInfo:
        self._enter("create_deployment", dep_id)
        await self._created()
        if dep_id in self.deployments:
            return self.deployments[dep_id]
        stored = config.model_copy(update={"deployment_shape": _versioned(config.deployment_shape),
                                           "accept_shapeless_risk": False})
        dep = DeploymentInfo(deployment_id=dep_id, name=f"accounts/{self.account}/deployments/{dep_id}",
                             state="CREATING", config=stored, create_time=CREATED_AT)
        self.deployments[dep_id] = dep
        self._start(dep_id)
        return dep

    async def update_deployment(self, dep_id: str, changes: Mapping[str, Any]) -> DeploymentInfo:
        self._enter("update_deployment", dep_id)
        self.timeline.append(f"patch {dep_id} {sorted(changes.items())}")
        self.set_deployment(dep_id, config=changes, state="UPDATING")
        self._start(dep_id)
        return self.deployments[dep_id]

    async def delete_deployment(self, dep_id: str) -> None:
        self._enter("delete_deployment", dep_id)
        self.deployments.pop(dep_id, None)
        self._countdown.pop(dep_id, None)

    async def get_model(self, name: str) -> BaseModelInfo | None:
        self._enter("get_model", name)
        return BaseModelInfo(name=name, context_length=131072, supports_lora=True)

    async def get_training_shape_version(self, name: str) -> TrainingShapeVersion:
        self._enter("get_training_shape_version", name)
        mode = "FORWARD_ONLY" if name.endswith("-forward") else "POLICY_TRAINER"
        return TrainingShapeVersion(name=str(_versioned(name)), base_model=QWEN, trainer_mode=mode)

    async def get_deployment_shape_version(self, name: str) -> DeploymentShapeVersion:
        self._enter("get_deployment_shape_version", name)
        return DeploymentShapeVersion(name=str(_versioned(name)), base_model=QWEN)

    async def probe_inference(self, dep_id: str) -> str | None:
        """A deployment answers completions once it is READY (no stays-CREATING here)."""
        dep = self.deployments.get(dep_id)
        return None if dep is not None and dep.state == "READY" else "HTTP 503 UNAVAILABLE: not serving"

    async def hot_load(self, dep_id: str, base_model: str, identity: str) -> None:
        self._enter("hot_load", dep_id)
        self.hot_loaded[dep_id] = identity

    async def hot_load_status(self, dep_id: str, base_model: str) -> HotLoadStatus:
        self._enter("hot_load_status", dep_id)
        dep = self.deployments.get(dep_id)
        if dep is None or not dep.ready or dep.replica_count == 0:
            return HotLoadStatus()
        current = self.hot_loaded.get(dep_id)
        return HotLoadStatus(replicas=(HotLoadReplica(identity="pod-0", current_snapshot=current, readiness=True,
                                                      stage="ready", target_snapshot=current),))


def as_provider(fake: FakeProvider) -> Provider:
    return fake  # mypy: FakeProvider satisfies the Provider protocol


# --- reporter and apply ----------------------------------------------------------------------------


@dataclass
class TimelineReporter:
    """A Reporter writing ``<address> <status>`` into a shared timeline (e.g. the fake's)."""

    timeline: list[str]

    def event(self, address: str, action: str, status: str, detail: str = "") -> None:
        self.timeline.append(f"{address} {status}")


def state_backend(tmp_path: Path) -> StateBackend:
    return open_backend(str(tmp_path / ".fwctl" / "state.json"), stack="s")


def run_apply(plan: Plan, fake: FakeProvider, backend: StateBackend, *, parallelism: int = 10,
              reporter: Any = None) -> ApplyResult:
    prior = backend.read()
    doc = prior or initial_state(plan.stack, plan.state_lineage, plan.endpoint, plan.account, "test")
    executor = Executor(as_provider(fake), StateRecorder(backend, doc), parallelism=parallelism, poll=FAST_POLL,
                        reporter=reporter or TimelineReporter(fake.timeline))
    return asyncio.run(executor.apply(plan))


def converge(m: Manifests, fake: FakeProvider, backend: StateBackend, **kw: Any) -> tuple[Plan, ApplyResult]:
    """plan against the fake account and the stored state, then apply; returns both."""
    plan = make_plan(m, state=backend.read(), seen=fake.seen(), **kw)
    return plan, run_apply(plan, fake, backend)
