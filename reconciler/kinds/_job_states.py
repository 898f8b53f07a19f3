"""Trainer job states beyond running, resumable and gone, as Trainer and ReferenceTrainer plan them.

- final (``JOB_STATE_EARLY_STOPPED``): the job never leaves it and ``:resume`` refuses it (the SDK's
  resumable states are FAILED, CANCELLED, PAUSED and COMPLETED): the plan replaces the job, saying why;
- settling (``JOB_STATE_CANCELLING`` -> CANCELLED, ``JOB_STATE_RE_QUEUEING`` -> PENDING -> RUNNING): the
  platform moves the job on by itself. A CANCELLING job is planned as a resume, which apply makes once
  the job is CANCELLED; a RE_QUEUEING one comes back on its own, and apply waits for nothing.
"""

from __future__ import annotations

from reconciler.kinds.base import ApplyContext, ChangeFailed
from reconciler.model.remote import TrainerJob


def _why(job: TrainerJob) -> str:
    return f": {job.status_message}" if job.status_message else ""


def final_reason(job: TrainerJob) -> str:
    return (f"trainer job {job.job_id} is {job.state}{_why(job)}; a job never leaves that state and cannot be "
            "resumed, so a new one replaces it")


def final_failure(job: TrainerJob) -> ChangeFailed:
    return ChangeFailed(f"trainer job {job.job_id} is {job.state}{_why(job)}: it never leaves that state and "
                        "cannot be resumed; the next plan replaces it")


def settling_reason(job: TrainerJob) -> str:
    if job.state == "JOB_STATE_CANCELLING":
        return (f"trainer job {job.job_id} is CANCELLING{_why(job)}; apply waits until it is CANCELLED, "
                "then resumes it")
    return (f"trainer job {job.job_id} is {job.state.removeprefix('JOB_STATE_')}{_why(job)}; the platform "
            "brings it back (PENDING, then RUNNING) by itself")


async def settled(ctx: ApplyContext, job_id: str) -> TrainerJob | None:
    """The job once it has left a settling state (CANCELLING, RE_QUEUEING), or None when it is gone."""
    latest: dict[str, TrainerJob | None] = {}

    async def check() -> bool:
        job = latest["job"] = await ctx.provider.get_trainer_job(job_id)
        if job is not None and job.settling:
            ctx.event(job.state.removeprefix("JOB_STATE_"), "waiting for the platform to settle it")
            return False
        return True

    await ctx.poll.until(check, timeout=ctx.timeout(), what=f"trainer job {job_id} to leave its transient state")
    return latest.get("job")


__all__ = ["final_failure", "final_reason", "settled", "settling_reason"]
