"""Live health of one resource, Argo-CD style.

- Healthy: running / READY / attached and serving what is pinned.
- Progressing: on its way (creating, pending, updating, hot-loading).
- Degraded: broken until someone acts (a preempted or failed trainer, a failed health probe,
  a failed deployment, a binding attached elsewhere or serving the wrong snapshot).
- Suspended: deliberately idle (a deployment scaled to zero, a paused trainer).
- Missing: declared (or in state) but not on the platform.

Sync is the other column, as in Argo CD: Synced when apply would change nothing about the resource,
OutOfSync when it would (live replicas or attachment differ from the manifests, a resource to
create or remove), Unknown when no plan can be made. A resource can be Healthy and OutOfSync.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"


FAILING = frozenset({Health.DEGRADED, Health.MISSING})


class Sync(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class ResourceHealth:
    address: str
    kind: str
    health: Health
    reason: str
    remote_id: str | None = None
    sync: Sync = Sync.SYNCED
    sync_reason: str = ""  # what apply would do about it, when not Synced

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "kind": self.kind, "health": self.health.value, "sync": self.sync.value,
                "reason": self.reason, "sync_reason": self.sync_reason, "remote_id": self.remote_id}
