"""Orphans: trainers and deployments fwctl created for a stack that no state references.

Leaked GPU spend. fwctl marks what it creates: deployments carry the ``fwctl.dev/stack``
annotation, trainer jobs a ``fwctl:<stack>/<name>`` display name and a ``<stack>-<name>-<6 hex>``
id. Pure: the caller lists the account and passes the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.model.ownership import DISPLAY_PREFIX, OWNER_ANNOTATION
from reconciler.model.remote import DeploymentInfo, TrainerJob
from reconciler.model.state import StateDocument

# Estimated on-demand USD per accelerator-hour (for a rough cost of leaks, not a bill).
HOURLY_PRICE_USD = {
    "NVIDIA_H200_141GB": 6.00,
    "NVIDIA_H100_80GB": 4.40,
    "NVIDIA_A100_80GB": 2.90,
    "NVIDIA_B200_180GB": 9.00,
    "AMD_MI300X_192GB": 4.99,
}


@dataclass(frozen=True)
class Orphan:
    kind: str  # "trainer" | "deployment"
    remote_id: str
    name: str
    state: str
    age_hours: float
    accelerators: str
    hourly_usd: float

    @property
    def spent_usd(self) -> float:
        return self.hourly_usd * self.age_hours


def _hourly(accelerator: str | None, count: int | None, replicas: int = 1) -> tuple[str, float]:
    if not accelerator:
        return "unknown", 0.0
    count = count or 1
    return f"{accelerator} x{count * replicas}", HOURLY_PRICE_USD.get(accelerator, 0.0) * count * replicas


def _age(created: datetime | None, now: datetime) -> float:
    return max(0.0, (now - created).total_seconds() / 3600) if created else 0.0


def trainer_is_ours(job: TrainerJob, stack: str) -> bool:
    display = job.config.display_name or ""
    if display.startswith(f"{DISPLAY_PREFIX}{stack}/"):
        return True
    return bool(re.fullmatch(rf"{re.escape(stack)}-[a-z0-9-]+-[0-9a-f]{{6}}", job.job_id))


def find_orphans(
    stack: str,
    state: StateDocument | None,
    trainers: list[TrainerJob],
    deployments: list[DeploymentInfo],
    now: datetime | None = None,
) -> list[Orphan]:
    now = now or datetime.now(UTC)
    referenced: set[str] = set()
    for res in (state.resources.values() if state else ()):
        for rid in (res.remote_id, res.pending.remote_id if res.pending else None):
            if rid:
                referenced.add(rid)
    found: list[Orphan] = []
    for job in trainers:
        if job.gone or job.job_id in referenced or not trainer_is_ours(job, stack):
            continue
        running = job.state not in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED",
                                    "JOB_STATE_COMPLETED")
        label, hourly = _hourly(job.config.accelerator_type, job.config.accelerator_count,
                                job.config.node_count or 1)
        found.append(Orphan("trainer", job.job_id, job.name, job.state, _age(job.create_time, now), label,
                            hourly if running else 0.0))
    for dep in deployments:
        if dep.deployment_id in referenced or dep.config.annotations.get(OWNER_ANNOTATION) != stack:
            continue
        label, hourly = _hourly(dep.config.accelerator_type, dep.config.accelerator_count, dep.replica_count)
        found.append(Orphan("deployment", dep.deployment_id, dep.name, dep.state, _age(dep.create_time, now),
                            label, hourly))
    return sorted(found, key=lambda o: -o.spent_usd)
