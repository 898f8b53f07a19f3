"""Orphans among trainer jobs: this stack's marked jobs no state references, and what they cost.

A trainer job cannot be re-marked once created (the platform has no update for it), so one kept on
purpose (``onDestroy: retain``, or ``fwctl state rm``) is known from the state's ``retained`` records,
which ``reconciler.orphans`` consults; here a job is only found and priced.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.kinds.base import Orphan
from reconciler.model.remote import TrainerJob

if TYPE_CHECKING:
    from reconciler.model.prices import PriceTable


def job_orphans(stack: str, referenced: set[str], trainers: list[TrainerJob], now: datetime,
                names: frozenset[str] | None = None, prices: PriceTable | None = None) -> list[Orphan]:
    from reconciler.model.prices import hourly

    found: list[Orphan] = []
    for job in trainers:
        if job.gone or job.job_id in referenced or not _ours(job, stack, names):
            continue
        label, rate = hourly(job.config.accelerator_type, job.config.accelerator_count, job.config.node_count or 1,
                             prices)
        if job.config.accelerator_type is None:  # not returned: from the accelerator-seconds it has used
            label, rate = usage_rate(job, now, prices)
        found.append(Orphan("trainer", job.job_id, job.name, job.state, age_hours(job.create_time, now), label,
                            0.0 if job.resumable else rate, created=job.create_time))
    return found


def usage_rate(job: TrainerJob, now: datetime, prices: PriceTable | None = None) -> tuple[str, float]:
    """("TYPE xN", USD/hour) from the accelerator-seconds a job has used since it was created (the
    platform returns them; it does not return the job's accelerators)."""
    from reconciler.model.prices import hourly

    used = {k: v for k, v in job.accelerator_seconds.items() if v > 0}
    elapsed = age_hours(job.create_time, now) * 3600
    if not used or elapsed <= 0:
        return hourly(None, None)
    kind = max(used, key=lambda k: used[k])
    return hourly(kind, max(1, round(used[kind] / elapsed)), table=prices)


def age_hours(created: datetime | None, now: datetime) -> float:
    return max(0.0, (now - created).total_seconds() / 3600) if created else 0.0


def _ours(job: TrainerJob, stack: str, names: frozenset[str] | None) -> bool:
    from reconciler.kinds._jobs import trainer_is_ours  # _jobs imports this module

    return trainer_is_ours(job, stack, names)


__all__ = ["age_hours", "job_orphans", "usage_rate"]
