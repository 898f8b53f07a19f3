"""Cost and limits of a plan (issue 15): price it, then refuse it over the budget or the GPU quota.

The figures and the checks are pure (``reconciler.cost``); here the price table is chosen (the
packaged one, the Stack's ``spec.prices``, ``--prices FILE``) and the account's quotas are read:
one list request per plan, and, only when a GPU quota would be exceeded, the account's trainer jobs
and deployments to name what holds the GPUs (refresh's own lists are reused when it made them).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler.operations.errors import OperationError

if TYPE_CHECKING:
    from reconciler.cost import QuotaUser
    from reconciler.model.plan import Plan
    from reconciler.model.prices import PriceTable
    from reconciler.model.problems import Problem
    from reconciler.model.remote import Observed
    from reconciler.operations._plan import PlanOptions
    from reconciler.operations._session import Session
    from reconciler.provider.base import Provider


def price_table(session: Session, options: PlanOptions) -> PriceTable:
    """The packaged table, overridden by the Stack's ``spec.prices``, then by ``--prices FILE``."""
    from reconciler.model.prices import PriceFileError, packaged_prices

    table = packaged_prices()
    spec = session.stack_spec
    try:
        if spec is not None and spec.prices is not None:
            raw = spec.prices.model_dump(by_alias=True, exclude_none=True)
            table = table.overridden(raw, "the Stack's spec.prices")
        if options.prices_file:
            try:
                with open(options.prices_file, encoding="utf-8") as fh:
                    raw = json.load(fh)
            except OSError as exc:
                raise OperationError(f"--prices {options.prices_file}: {exc.strerror or exc}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise OperationError(f"--prices {options.prices_file}: not JSON ({exc})") from None
            table = table.overridden(raw, options.prices_file)
    except PriceFileError as exc:
        raise OperationError(str(exc)) from None
    return table


def _budget(session: Session, options: PlanOptions):  # type: ignore[no-untyped-def]
    from reconciler.cost import Budget

    if options.max_usd_per_hour is not None:
        return Budget(options.max_usd_per_hour, "--max-usd-per-hour")
    manifests = session.manifests
    spec = session.stack_spec
    if spec is not None and spec.budget is not None and manifests is not None and manifests.stack is not None:
        return Budget(spec.budget.max_usd_per_hour, manifests.stack.address, "spec.budget.maxUsdPerHour")
    return None


async def check_limits(session: Session, provider: Provider, plan: Plan, observed: Observed, table: PriceTable,
                       options: PlanOptions) -> Plan:
    """``plan`` priced; PlanError when ``options.limits`` and it is over the budget or a GPU quota."""
    from reconciler.cost import budget_problems, price_plan
    from reconciler.planner import PlanError

    budget = _budget(session, options)
    priced = price_plan(plan, observed, table, budget.max_usd_per_hour if budget else None)
    if not options.limits or plan.destroy:
        return priced
    locate = session.manifests.locate if session.manifests else None
    problems = budget_problems(priced, budget, locate) if budget else []
    problems += await quota_check(provider, priced, observed, locate)
    if problems:
        raise PlanError(problems)
    return priced


async def quota_check(provider: Provider, priced: Plan, observed: Observed, locate: Any = None) -> list[Problem]:
    """The GPU quota problems of a priced plan: one list request (the quotas) when it adds GPUs, and the
    account's trainer jobs and deployments only when a quota would be exceeded (to say what holds them)."""
    from reconciler.cost import over_quota, quota_problems
    from reconciler.provider.errors import ProviderError

    if not any(c.cost is not None and c.cost.after is not None for c in priced.pending):
        return []
    try:
        quotas = {q.name: (q.value, q.usage) for q in await provider.list_quotas()}
    except ProviderError:
        quotas = {}  # a key that cannot read quotas: apply meets the platform's 429 instead
    exceeded = over_quota(priced, quotas)
    if not exceeded:
        return []
    return quota_problems(priced, exceeded, await _holders(provider, priced, observed), locate)


async def _holders(provider: Provider, plan: Plan, observed: Observed) -> list[QuotaUser]:
    """What of the account holds GPUs now, by its ceiling (named with this stack's address when ours)."""
    import asyncio

    from reconciler.cost import QuotaUser
    from reconciler.kinds import kind

    ours = {c.prior_remote_id or c.remote_id: c for c in plan.changes if c.cost is not None}
    jobs, deps = await asyncio.gather(provider.list_trainer_jobs(), provider.list_deployments())
    users: list[QuotaUser] = []
    for dep in deps:
        if dep.gone or not dep.config.accelerator_type or dep.config.max_replicas == 0:
            continue
        change = ours.get(dep.deployment_id)
        label = f"deployment {dep.deployment_id}" + (f" ({change.address})" if change else "")
        users.append(QuotaUser(label, dep.config.accelerator_type,
                               (dep.config.accelerator_count or 1) * dep.config.max_replicas))
    for job in jobs:
        if job.gone or job.resumable:
            continue
        change = ours.get(job.job_id)
        held = change.cost.before if change is not None and change.cost is not None else None
        if held is None and change is not None and change.before is not None:
            held = kind(change.kind).gpus(change.before, observed, None)
        accelerator = (held.accelerator if held else None) or job.config.accelerator_type or next(
            iter(sorted(job.accelerator_seconds, key=lambda k: -job.accelerator_seconds[k])), None)
        if not accelerator:
            continue
        count = held.ceiling if held and held.accelerator else (
            (job.config.accelerator_count or 0) * (job.config.node_count or 1) * (job.config.replica_count or 1)
            or None)
        label = f"trainer job {job.job_id}" + (f" ({change.address})" if change else "")
        users.append(QuotaUser(label, accelerator, count))
    return users


__all__ = ["check_limits", "price_table", "quota_check"]
