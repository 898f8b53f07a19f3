"""Live health of one resource, Argo-CD style.

- Healthy: running / READY / attached and serving what is pinned.
- Progressing: on its way (creating, pending, updating, hot-loading).
- Degraded: broken until someone acts (a preempted or failed trainer, a failed health probe,
  a failed deployment, a binding attached elsewhere or serving the wrong snapshot).
- Suspended: deliberately idle (a deployment scaled to zero, a paused trainer).
- Missing: declared (or in state) but not on the platform.
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


@dataclass(frozen=True)
class ResourceHealth:
    address: str
    kind: str
    health: Health
    reason: str
    remote_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "kind": self.kind, "health": self.health.value, "reason": self.reason,
                "remote_id": self.remote_id}
