"""A plan is a value: what fwctl will do, to which address, and why.

Made by the pure planner, rendered by ``reconciler.render``, carried out by the executor. The
executor switches on ``Change.action`` only; ``reasons`` are for people.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.state import utcnow

PLAN_FORMAT_VERSION = 2


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    RESUME = "resume"
    REATTACH = "reattach"
    SCALE_UP = "scale-up"
    SCALE_TO_ZERO = "scale-to-zero"
    DELETE = "delete"
    FORGET = "forget"
    HOTLOAD = "hotload"
    NOOP = "no-op"

    @property
    def is_destructive(self) -> bool:
        return self in (Action.DELETE, Action.REPLACE)

    @property
    def is_removal(self) -> bool:
        """Carried out in reverse dependency order."""
        return self in (Action.DELETE, Action.SCALE_TO_ZERO, Action.FORGET)

    @property
    def steps(self) -> list[str]:
        """Terraform-style ordered actions for the JSON plan: a replace is delete then create."""
        if self is Action.REPLACE:
            return ["delete", "create"]
        return [self.value]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use: a fast CLI start


class FieldDiff(_Value):
    path: str  # camelCase path as in the manifest, e.g. "replicas.max"
    before: Any = None
    after: Any = None
    forces_replacement: bool = False


class Gpus(_Value):
    """What one resource holds: ``count`` accelerators of one type per replica, between a floor and a
    ceiling of replicas (a trainer: its replica count for both; a deployment: replicas.min / max)."""

    accelerator: str | None = None  # None: not known before apply (an auto-selected shape)
    count: int = 0  # accelerators per replica (accelerator count x node count)
    min_replicas: int = 0
    max_replicas: int = 0

    @property
    def floor(self) -> int:
        return self.count * self.min_replicas

    @property
    def ceiling(self) -> int:
        """What GPU quota is charged on: accelerator count x max replicas."""
        return self.count * self.max_replicas


class ChangeCost(_Value):
    """GPUs and estimated USD/hour before -> after one change (0 for nothing billed)."""

    before: Gpus | None = None  # None: nothing billed (absent, parked, a tombstone, a shared session)
    after: Gpus | None = None
    before_usd_per_hour: float = 0.0  # at min replicas (what runs now, at least)
    before_max_usd_per_hour: float = 0.0
    after_usd_per_hour: float = 0.0  # at min replicas
    after_max_usd_per_hour: float = 0.0  # at max replicas
    expensive: bool = False  # adds at least EXPENSIVE_USD_PER_HOUR at max replicas
    unpriced: tuple[str, ...] = ()  # accelerator types the price table has no price for
    unknown: bool = False  # the GPUs are not known before apply (the platform selects the shape)

    @property
    def delta_usd_per_hour(self) -> float:
        return self.after_usd_per_hour - self.before_usd_per_hour


#: A change that adds at least this many USD/hour at max replicas is flagged as expensive.
EXPENSIVE_USD_PER_HOUR = 50.0


class PlanCost(_Value):
    """The plan's estimated USD/hour: now, after at min replicas, after at max replicas."""

    label: str  # "estimated, on-demand, prices as of DATE"
    prices_as_of: str
    prices_source: str = "packaged"
    now_usd_per_hour: float = 0.0
    after_usd_per_hour: float = 0.0
    after_max_usd_per_hour: float = 0.0
    budget_usd_per_hour: float | None = None  # Stack spec.budget.maxUsdPerHour / --max-usd-per-hour

    @property
    def delta_usd_per_hour(self) -> float:
        return self.after_usd_per_hour - self.now_usd_per_hour


class Change(_Value):
    address: str
    kind: str
    action: Action
    remote_id: str | None = None  # the remote id acted on (for create/replace: the new one)
    prior_remote_id: str | None = None  # replace: the id being removed
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    diffs: tuple[FieldDiff, ...] = ()
    reasons: tuple[str, ...] = ()
    replace_paths: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # must be usable (ready) before this change starts
    after_created: tuple[str, ...] = ()  # must merely exist (its remote create accepted)
    # What the kind's apply step needs beyond the compared config (timeouts, labels, lifecycle, the
    # config to send, the bound trainer's job, ...): the JSON form of the kind's own typed settings
    # (``reconciler.kinds``), which only that kind reads.
    settings: dict[str, Any] = Field(default_factory=dict)
    cost: ChangeCost | None = None  # set by ``reconciler.cost.price_plan`` (issue 15)


class PlanWarning(_Value):
    """A risky choice the platform allows (e.g. a shapeless deployment): shown, never blocking. Located
    like a manifest error: ``FILE:LINE:COL: Kind/name: spec.field: message``."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    address: str | None = None
    field: str | None = None
    message: str

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        return ": ".join(p for p in (where, self.address, self.field, self.message) if p)


class Plan(_Value):
    format_version: int = PLAN_FORMAT_VERSION
    created_at: datetime = Field(default_factory=utcnow)
    fwctl_version: str = ""
    stack: str
    endpoint: str
    account: str
    state_lineage: str | None = None
    state_serial: int = 0
    manifests_digest: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)  # the resolved ${var.NAME} values (issue 16)
    destroy: bool = False
    refresh_only: bool = False
    targets: tuple[str, ...] = ()  # --target: a partial plan (what else is pending is not shown)
    changes: tuple[Change, ...] = ()
    cost: PlanCost | None = None  # set by ``reconciler.cost.price_plan`` (issue 15)
    warnings: tuple[PlanWarning, ...] = ()  # the manifests' risky choices for the planned resources

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict[Action, int]:
        out: dict[Action, int] = {}
        for change in self.changes:
            out[change.action] = out.get(change.action, 0) + 1
        return out
