"""The state document: what fwctl has created, under which remote ids, and what it applied.

One JSON document per stack. Every write raises ``serial`` by one; ``lineage`` is fixed when a
stack's state is first created and never changes, so a plan or a push can tell it belongs here.
Never holds secrets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STATE_FORMAT_VERSION = 1


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use: a fast CLI start


def utcnow() -> datetime:
    return datetime.now(UTC)


class PendingOperation(_Value):
    """Written before a remote call whose result is not yet known (crash safety)."""

    operation: str  # the plan action being carried out, e.g. "create", "replace", "delete"
    remote_id: str | None = None  # the id the remote create will use (chosen client-side)
    started_at: datetime = Field(default_factory=utcnow)


class ResourceStatus(StrEnum):
    CREATED = "created"
    PARKED = "parked"  # a deployment scaled to zero that is no longer declared
    PENDING = "pending"  # a remote create was started and its result is not recorded yet


class ResourceState(_Value):
    """One address of the stack."""

    kind: str
    name: str
    remote_id: str | None = None  # trainer job id / deployment id; None when nothing is remote
    remote_name: str | None = None  # accounts/{a}/rlorTrainerJobs/{job} or accounts/{a}/deployments/{d}
    spec_digest: str | None = None  # digest of the manifest document last applied
    applied: dict[str, Any] | None = None  # the normalised config last applied
    outputs: dict[str, Any] = Field(default_factory=dict)
    status: ResourceStatus = ResourceStatus.CREATED
    pending: PendingOperation | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    lifecycle: dict[str, Any] = Field(default_factory=dict)  # as declared, for a later destroy
    depends_on: tuple[str, ...] = ()
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def remote_ids(self) -> tuple[str, ...]:
        """Every remote id this record holds or is about to create (recorded, then pending)."""
        ids = (self.remote_id, self.pending.remote_id if self.pending else None)
        return tuple(dict.fromkeys(i for i in ids if i))

    @property
    def pending_create(self) -> str | None:
        """The id of a remote create that was started and whose result is not recorded yet."""
        if self.pending is not None and self.pending.operation in ("create", "replace"):
            return self.pending.remote_id
        return None


class RetainedResource(_Value):
    """A remote resource the stack stopped managing on purpose, left running or parked.

    Kept in the state (by remote id) because a trainer job cannot be re-marked on the platform once
    created: ``fwctl orphans`` reads these records and never lists or deletes what they name.
    Dropped again when an address records the same remote id (the resource is adopted back).
    """

    kind: str  # what remote_id names: "trainer" | "deployment"
    address: str  # the address that held it
    why: str  # "onDestroy: retain", "onDestroy: scaleToZero (parked)", "state rm"
    at: datetime = Field(default_factory=utcnow)


class StateDocument(_Value):
    format_version: int = STATE_FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    stack: str
    endpoint: str | None = None
    account: str | None = None
    fwctl_version: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
    resources: dict[str, ResourceState] = Field(default_factory=dict)
    #: remote id -> what was forgotten on purpose (``fwctl orphans`` leaves these alone)
    retained: dict[str, RetainedResource] = Field(default_factory=dict)

    def with_resource(self, address: str, resource: ResourceState | None) -> StateDocument:
        """A copy with one address set (or removed when ``resource`` is None); serial unchanged.

        An address that records a retained remote id again adopts it: its retained record goes."""
        resources = dict(self.resources)
        if resource is None:
            resources.pop(address, None)
        else:
            resources[address] = resource
        update: dict[str, Any] = {"resources": resources}
        if resource is not None and self.retained and set(resource.remote_ids) & set(self.retained):
            update["retained"] = {rid: r for rid, r in self.retained.items() if rid not in resource.remote_ids}
        return self.model_copy(update=update)

    def with_retained(self, remote_id: str, record: RetainedResource) -> StateDocument:
        """A copy that records ``remote_id`` as kept on purpose; serial unchanged."""
        return self.model_copy(update={"retained": {**self.retained, remote_id: record}})

    def next_version(self) -> StateDocument:
        """The document as it will be written: serial + 1, stamped now."""
        return self.model_copy(update={"serial": self.serial + 1, "updated_at": utcnow()})


class LockInfo(_Value):
    """Who holds a state lock: printed to whoever waits for it."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    operation: str = ""
    who: str = ""  # user@host
    host: str = ""
    pid: int = 0
    version: str = ""
    created: datetime = Field(default_factory=utcnow)
    path: str = ""  # the state location

    def describe(self) -> str:
        return (
            f"lock {self.id} held by {self.who or '?'} (pid {self.pid}) for '{self.operation}' "
            f"since {self.created.isoformat(timespec='seconds')} (fwctl {self.version})"
        )
