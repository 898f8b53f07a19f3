"""The contract between the engine and one resource kind.

A kind (``trainer.py``, ``reference.py``, ``deployment.py``, ``binding.py``) is one unit, like a
terraform-plugin-framework resource: its references, remote-id naming, field table, planning of
present and removed resources, refresh needs, drift, health, import and orphan rules, and its apply
step against the ``Provider`` protocol. The engine (planner, executor, refresh, drift, status,
orphans, graph, manifest checks) loops over the registry and never asks "is this a deployment?".

A kind talks to the engine only through the values defined here: :class:`PlanContext` while
planning and :class:`ApplyContext` while applying. Kind modules import neither the planner nor the
executor, so the import graph stays acyclic: engine -> kinds -> (model, diff, Provider protocol).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from reconciler.model.address import name_of
from reconciler.model.errors import FwctlError
from reconciler.model.health import ResourceHealth
from reconciler.model.plan import Action, Change, FieldDiff, Gpus
from reconciler.model.problems import Problem
from reconciler.model.remote import DeploymentInfo, Observed, TrainerConfig, TrainerJob
from reconciler.model.resources import Resource
from reconciler.model.state import (
    PendingOperation,
    ResourceState,
    ResourceStatus,
    RetainedResource,
    StateDocument,
)

if TYPE_CHECKING:
    from reconciler.model.prices import PriceTable
    from reconciler.provider.base import Provider


# --- errors ---------------------------------------------------------------------------------------


class ChangeFailed(FwctlError):
    """A change could not be carried out; the message says why, for a person."""


class ImportRefused(FwctlError):
    """``fwctl import`` will not record this remote resource under this address."""


# --- settings: what a change carries for its kind's apply step ------------------------------------


class Settings(BaseModel):
    """Apply settings common to every kind; each kind extends them with its own typed fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use: a fast CLI start

    labels: dict[str, str] = {}
    lifecycle: dict[str, Any] = {}
    timeouts: dict[str, float | None] = {}
    destroy: bool = False  # planned by `fwctl destroy`: a removal leaves nothing in state


S = TypeVar("S", bound=Settings)
R = TypeVar("R", bound=BaseModel)


def settings_of(change: Change, cls: type[S]) -> S:
    return cls.model_validate(change.settings)


def declared_settings(res: Resource) -> dict[str, Any]:
    """Labels, lifecycle and timeouts as declared (the common part of every kind's settings)."""
    spec = res.spec
    timeouts = getattr(spec, "timeouts", None)
    lifecycle = getattr(spec, "lifecycle", None)
    return {
        "labels": dict(res.metadata.labels),
        "timeouts": timeouts.model_dump() if timeouts is not None else {},
        "lifecycle": lifecycle.model_dump(by_alias=True, mode="json") if lifecycle is not None else {},
    }


#: The lifecycle settings a destroy without manifests reads from the state (the others only matter
#: while planning with the manifests, which then govern).
RECORDED_LIFECYCLE = ("onDestroy", "preventDestroy")


def lifecycle_diffs(res: Resource, recorded: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """How the declared ``spec.lifecycle`` differs from the one the state records, in what a destroy
    without manifests would use (a key the state lacks counts as its default)."""
    lifecycle = getattr(res.spec, "lifecycle", None)
    if lifecycle is None:
        return ()
    declared = lifecycle.model_dump(by_alias=True, mode="json")
    defaults = type(lifecycle)().model_dump(by_alias=True, mode="json")
    return tuple(FieldDiff(path=f"lifecycle.{key}", before=recorded.get(key, defaults[key]), after=declared[key])
                 for key in RECORDED_LIFECYCLE if key in declared and recorded.get(key, defaults[key]) != declared[key])


def deposed_address(address: str, remote_id: str) -> str:
    """Where the state keeps a replaced job until it is deleted (``createBeforeDestroy``)."""
    return f"{address}{DEPOSED}{remote_id}"


def deposed_from(address: str) -> str | None:
    """The address whose replaced remote resource ``address`` holds, or None."""
    head, sep, _ = address.partition(DEPOSED)
    return head if sep else None


DEPOSED = "#deposed-"


# --- references ---------------------------------------------------------------------------------


# --- planning -----------------------------------------------------------------------------------


@dataclass
class PlanContext:
    """What a kind sees while planning, and how it reports back."""

    stack: str
    stack_region: str | None
    id_seed: str  # the state's lineage; "" while the stack has no state (ids then come from the stack)
    generation: int  # the prior state's serial
    destroy: bool
    resources: Mapping[str, Resource]  # desired (empty for a destroy)
    prior: Mapping[str, ResourceState]
    observed: Observed
    locate: Callable[[str, str | None], str | None] | None = None
    #: Everything the manifests declare, also for a destroy: their lifecycle governs, else the state's.
    manifests: Mapping[str, Resource] = field(default_factory=dict)
    replace: frozenset[str] = frozenset()  # --replace: addresses to replace although nothing changed
    targeted: frozenset[str] | None = None  # --target: the addresses this plan carries out (None: all)
    ids: dict[str, str | None] = field(default_factory=dict)  # planned remote ids by address
    changes: dict[str, Change] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def error(self, address: str, fld: str | None, message: str) -> None:
        """A located problem: FILE:LINE:COL of the field when the manifests can tell it."""
        file: str | None = None
        line: int | None = None
        col: int | None = None
        try:
            where = self.locate(address, fld) if self.locate else None
        except KeyError:  # an address only the state holds: nothing in the manifests to point at
            where = None
        if where:
            rest, _, col_text = where.rpartition(":")
            file, _, line_text = rest.rpartition(":")
            if line_text.isdigit() and col_text.isdigit():
                line, col = int(line_text), int(col_text)
            else:
                file = where
        self.problems.append(Problem(file=file, line=line, col=col, address=address, field=fld, message=message))

    def add(self, address: str, kind: str, action: Action, settings: Settings | None = None, **fields: Any) -> None:
        data = settings.model_dump(mode="json") if settings is not None else {}
        self.changes[address] = Change(address=address, kind=kind, action=action, settings=data, **fields)

    def lifecycle_of(self, address: str) -> dict[str, Any]:
        """The lifecycle that governs ``address``: as the manifests declare it, else as recorded."""
        res = self.manifests.get(address)
        if res is not None:
            return dict(declared_settings(res)["lifecycle"])
        prior = self.prior.get(address)
        return dict(prior.lifecycle) if prior is not None else {}

    def in_plan(self, address: str) -> bool:
        """False for an address a targeted plan leaves out."""
        return self.targeted is None or address in self.targeted

    def declared(self, model: type[R]) -> list[R]:
        """The desired resources of one kind, by its model class."""
        return [r for r in self.resources.values() if isinstance(r, model)]

    def trainer_job(self, job_id: str | None) -> TrainerJob | None:
        return self.observed.trainers.get(job_id) if job_id else None

    def deployment(self, dep_id: str | None) -> DeploymentInfo | None:
        return self.observed.deployments.get(dep_id) if dep_id else None


# --- refresh ------------------------------------------------------------------------------------


@dataclass
class Reads:
    """What a refresh must read for the planner: remote ids and auxiliary lookups."""

    trainers: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    checkpoints: set[str] = field(default_factory=set)  # trainer job ids
    hot_load: dict[str, str] = field(default_factory=dict)  # deployment id -> base model
    # The account's catalog, each name read once per plan: base models and shapes as declared.
    models: set[str] = field(default_factory=set)
    training_shapes: set[str] = field(default_factory=set)
    deployment_shapes: set[str] = field(default_factory=set)
    # deployment shapes a create will name: which training shapes pin them (then forTraining is needed)
    pins: set[str] = field(default_factory=set)
    # address -> its candidate trainer job ids by attempt (a stack with no state yet): refresh
    # reads them in order up to the first one no job holds.
    fresh_ids: dict[str, Callable[[int], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """What is known before the account is read: desired resources, the state, the stack."""

    stack: str
    resources: Mapping[str, Resource]
    state: StateDocument | None

    @property
    def held(self) -> Mapping[str, ResourceState]:
        return self.state.resources if self.state else {}

    def remote_id(self, address: str) -> str | None:
        """The remote id ``address`` has or will have, by its kind's rule."""
        from reconciler.kinds import kind_of  # the registry: it imports this module first

        k = kind_of(address)
        return k.known_remote_id(address, self.resources.get(address), self) if k is not None else None


# --- applying -----------------------------------------------------------------------------------


class Reporter(Protocol):
    def event(self, address: str, action: str, status: str, detail: str = "") -> None: ...


class NullReporter:
    def event(self, address: str, action: str, status: str, detail: str = "") -> None:
        return None


class Recorder(Protocol):
    """The one writer of state during an apply (the executor's group-commit recorder)."""

    def get(self, address: str) -> ResourceState | None: ...

    async def set(self, address: str, resource: ResourceState | None,
                  retained: RetainedResource | None = None) -> None:
        """Record ``resource`` at ``address`` (None: forget it); ``retained`` with None: the remote
        resource it held is kept on purpose, and the state says so (``fwctl orphans`` skips it)."""


@dataclass
class Poll:
    """Backoff polling: the first check soon, then slower, capped."""

    first: float = 0.1
    factor: float = 1.6
    cap: float = 1.0

    async def until(self, check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
        import asyncio  # not at import time: fwctl validate loads the kinds and never waits

        delay = self.first
        deadline = time.monotonic() + timeout
        while True:
            if await check():
                return
            if time.monotonic() >= deadline:
                raise ChangeFailed(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * self.factor, self.cap)


HealthProbe = Callable[[str, TrainerConfig], Awaitable[str | None]]  # -> which probe ran, when it says


@dataclass
class ApplyContext:
    """What one change's apply step gets: the provider, the state recorder, the poller, timeouts,
    the reporter, and the two signals the scheduler waits on (created, ready).

    The executor's provider takes one ``--parallelism`` slot per mutating request while it runs;
    reads and polls take none, so a kind waits for readiness freely."""

    change: Change
    provider: Provider
    recorder: Recorder
    poll: Poll
    reporter: Reporter
    default_timeout: float
    mark_created: Callable[[], None]
    mark_ready: Callable[[], None]
    health_probe: HealthProbe | None = None

    @property
    def address(self) -> str:
        return self.change.address

    def event(self, status: str, detail: str = "") -> None:
        self.reporter.event(self.change.address, self.change.action.value, status, detail)

    def timeout(self, which: str = "create") -> float:
        value = (self.change.settings.get("timeouts") or {}).get(which)
        return float(value) if value else self.default_timeout

    def base_state(self, remote_id: str | None, remote_name: str | None) -> ResourceState:
        """The state record of this change's address as applied (outputs kept from before)."""
        change = self.change
        prior = self.recorder.get(change.address)
        data = change.settings
        return ResourceState(
            kind=change.kind,
            name=name_of(change.address),
            remote_id=remote_id,
            remote_name=remote_name,
            applied=change.after,
            outputs=dict(prior.outputs) if prior else {},
            labels=dict(data.get("labels") or {}),
            lifecycle=dict(data.get("lifecycle") or {}),
            # a replaced job's removal is an edge of this apply only, not a dependency to record
            depends_on=tuple(a for a in change.depends_on + change.after_created if deposed_from(a) is None),
        )

    async def pending(self, operation: str, remote_id: str | None) -> None:
        """Record the intended remote id before the remote call (crash safety)."""
        prior = self.recorder.get(self.change.address)
        base = prior if prior is not None else self.base_state(None, None)
        await self.recorder.set(self.change.address, base.model_copy(update={
            "pending": PendingOperation(operation=operation, remote_id=remote_id),
            "status": ResourceStatus.PENDING if prior is None else base.status}))


# --- orphans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orphan:
    kind: str  # "trainer" | "deployment"
    remote_id: str
    name: str
    state: str
    age_hours: float
    accelerators: str
    hourly_usd: float
    created: datetime | None = None  # None: the platform did not say (never taken as recent)
    retained: bool = False  # kept on purpose (``onDestroy: retain``, marked when forgotten): never an orphan

    @property
    def spent_usd(self) -> float:
        return self.hourly_usd * self.age_hours


# --- the kind -----------------------------------------------------------------------------------


class Kind:
    """One resource kind. Subclasses override what applies to them; the defaults do nothing."""

    name: ClassVar[str]
    model: ClassVar[type[BaseModel]]
    #: Planning order: a kind plans after every kind of a lower phase (their ids and changes are
    #: known to it). Removals run in the same phase order.
    phase: ClassVar[int]
    #: Display order in status and the like.
    order: ClassVar[int]
    #: Seconds a create / update may take to become usable (spec.timeouts overrides).
    default_timeout: ClassVar[float] = 3600.0
    #: The remote resource ``remote_id`` names in state: "trainer", "deployment", or None.
    holds: ClassVar[str | None] = None

    # --- refresh ----------------------------------------------------------------------------

    def reads(self, res: Any, known: Known, reads: Reads) -> None:
        """Add the remote ids this declared resource needs read."""

    def later_reads(self, res: Any, known: Known, observed: Observed, reads: Reads) -> None:
        """Add auxiliary reads that depend on what the first reads found."""

    # --- planning ---------------------------------------------------------------------------

    def assign_id(self, res: Any, ctx: PlanContext) -> None:
        """Record the remote id this resource will have in ``ctx.ids``."""

    def plan(self, res: Any, ctx: PlanContext) -> None:
        raise NotImplementedError

    def check_catalog(self, res: Any, ctx: PlanContext) -> None:
        """After ``plan``: report (``ctx.error``) what the account's catalog would make apply refuse."""

    def plan_removal(self, address: str, prior: ResourceState, ctx: PlanContext) -> None:
        why = "removed from the manifests" if not ctx.destroy else "destroy"
        ctx.add(address, self.name, Action.FORGET, Settings(destroy=ctx.destroy), reasons=(why,))

    def created_only_edges(self, res: Any, ctx: PlanContext) -> Iterable[tuple[str, str]]:
        """Edges (dependent, dependency) that need the dependency to exist, not to be ready."""
        return ()

    # --- applying ---------------------------------------------------------------------------

    async def apply(self, ctx: ApplyContext) -> None:
        raise NotImplementedError

    async def forget(self, ctx: ApplyContext) -> None:
        """A ``forget``: drop the address from state, leaving the remote resource as it is. A kind whose
        resources can be re-marked overrides it to mark a retained one first (``fwctl orphans`` skips it)."""
        await ctx.recorder.set(ctx.change.address, None)

    # --- reading back -----------------------------------------------------------------------

    def known_remote_id(self, address: str, res: Any, known: Known) -> str | None:
        """The remote id this address has or will have, from the manifests and the state."""
        held = known.held.get(address)
        explicit = res.explicit_remote_id() if res is not None else None
        return explicit or (held.remote_id if held is not None else None)

    def drift(self, address: str, held: ResourceState,
              observed: Observed) -> tuple[list[str], ResourceState | None]:
        """What changed on the platform since the state was written, and the refreshed record."""
        return [], held

    def health(self, address: str, res: Any, known: Known, observed: Observed,
               probes: Mapping[str, str | None], results: Mapping[str, ResourceHealth]) -> ResourceHealth | None:
        """Live health; ``results`` holds the health of kinds of lower phases."""
        return None

    def gpus(self, config: Mapping[str, Any], observed: Observed, remote_id: str | None = None) -> Gpus | None:
        """The GPUs one side of a change holds (``reconciler.kinds._gpus``); None: nothing billed."""
        return None

    # --- import and orphans -----------------------------------------------------------------

    importable: ClassVar[bool] = False

    async def read_for_import(self, provider: Provider, remote_id: str) -> Any:
        raise ImportRefused(f"{self.name} resources cannot be imported")

    def import_record(self, address: str, res: Any, remote: Any, stack: str) -> ResourceState:
        raise ImportRefused(f"{self.name} resources cannot be imported")

    def orphans(self, stack: str, referenced: set[str], trainers: list[TrainerJob],
                deployments: list[DeploymentInfo], now: datetime,
                names: frozenset[str] | None = None, prices: PriceTable | None = None) -> list[Orphan]:
        """This stack's marked resources that no state references (``referenced``). ``names``: the
        names the stack declares or records, when a mark is only an id pattern (None: any name).
        ``prices``: the table to price them with (None: the packaged one)."""
        return []

    async def delete_orphan(self, provider: Provider, remote_id: str, poll: Poll) -> None:
        """Delete it and wait until the platform lists it as gone."""
        raise ChangeFailed(f"{self.name} has no remote resources to delete")
