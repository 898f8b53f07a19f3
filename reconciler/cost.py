"""What a plan costs, and whether it fits the budget and the account's GPU quota (issue 15).

Pure: a plan, the fresh read it was made from and a price table in; figures and located problems
out. Each kind says what one side of a change holds (``Kind.gpus``); here GPUs become estimated
USD/hour (on-demand, the table's date), totals, a budget check and a quota check. GPU quota is
charged on the ceiling (accelerator count x max replicas), per GPU type, by every trainer and
deployment of the account alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.kinds import kind
from reconciler.model.money import change_cost_text, cost_summary, gpus_text, money
from reconciler.model.plan import EXPENSIVE_USD_PER_HOUR, Action, Change, ChangeCost, Gpus, Plan, PlanCost
from reconciler.model.prices import PriceTable
from reconciler.model.problems import Problem
from reconciler.model.remote import Observed

Locate = Callable[[str, str | None], str | None]


def usd(gpus: Gpus | None, table: PriceTable) -> tuple[float, float, str | None]:
    """(USD/hour at min replicas, at max replicas, the accelerator type if it has no price)."""
    if gpus is None or not gpus.accelerator:
        return 0.0, 0.0, None
    rate = table.rate(gpus.accelerator)
    if rate is None:
        return 0.0, 0.0, gpus.accelerator
    return rate * gpus.floor, rate * gpus.ceiling, None


def change_cost(change: Change, observed: Observed, table: PriceTable) -> ChangeCost | None:
    """GPUs and USD/hour before -> after ``change``; None for a kind that holds no GPUs."""
    k = kind(change.kind)
    before_id = change.prior_remote_id or change.remote_id
    before = k.gpus(change.before, observed, before_id) if change.before is not None and before_id else None
    if change.action.is_removal:
        after = None
    elif change.after is not None:
        after = k.gpus(change.after, observed, None)
        if after is not None and after.accelerator is None and before is not None and before.accelerator \
                and change.action not in (Action.CREATE, Action.REPLACE):
            # the platform chose the hardware (deploymentShape: default, an auto-selected training shape)
            # and the resource keeps it: what it runs now
            after = after.model_copy(update={"accelerator": before.accelerator, "count": before.count})
    else:
        after = before if change.action is Action.NOOP else None
    if change.before is None and change.after is None:
        return None
    if before is None and after is None and k.gpus({}, observed, None) is None:
        return None  # a kind without GPUs (a binding)
    b_min, b_max, b_unpriced = usd(before, table)
    a_min, a_max, a_unpriced = usd(after, table)
    return ChangeCost(
        before=before, after=after,
        before_usd_per_hour=round(b_min, 2), before_max_usd_per_hour=round(b_max, 2),
        after_usd_per_hour=round(a_min, 2), after_max_usd_per_hour=round(a_max, 2),
        expensive=a_max - b_max >= EXPENSIVE_USD_PER_HOUR,
        unpriced=tuple(sorted({t for t in (b_unpriced, a_unpriced) if t})),
        unknown=any(g is not None and not g.accelerator for g in (before, after)))


def price_plan(plan: Plan, observed: Observed, table: PriceTable, budget: float | None = None) -> Plan:
    """``plan`` with a ``cost`` on every change that holds GPUs and the plan's totals."""
    changes = tuple(c.model_copy(update={"cost": change_cost(c, observed, table)}) for c in plan.changes)
    costs = [c.cost for c in changes if c.cost is not None]
    total = PlanCost(
        label=table.label, prices_as_of=table.as_of, prices_source=table.source,
        now_usd_per_hour=round(sum(c.before_usd_per_hour for c in costs), 2),
        after_usd_per_hour=round(sum(c.after_usd_per_hour for c in costs), 2),
        after_max_usd_per_hour=round(sum(c.after_max_usd_per_hour for c in costs), 2),
        budget_usd_per_hour=budget)
    return plan.model_copy(update={"changes": changes, "cost": total})


# --- the budget -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    max_usd_per_hour: float
    source: str  # "--max-usd-per-hour" or the Stack's address
    field: str | None = None  # the manifest field, when the Stack declares it


def budget_problems(plan: Plan, budget: Budget, locate: Locate | None = None) -> list[Problem]:
    """A plan whose cost at max replicas exceeds the budget: one problem naming the costliest changes."""
    total = plan.cost
    if total is None or total.after_max_usd_per_hour <= budget.max_usd_per_hour:
        return []
    costly = sorted((c for c in plan.changes if c.cost is not None and c.cost.after_max_usd_per_hour > 0),
                    key=lambda c: -c.cost.after_max_usd_per_hour if c.cost else 0)[:3]
    named = ", ".join(f"{c.address} {money(c.cost.after_max_usd_per_hour)}" for c in costly if c.cost)
    message = (f"the stack would cost up to {money(total.after_max_usd_per_hour)} at max replicas "
               f"({total.label}), over the budget of {money(budget.max_usd_per_hour)}"
               + (f"; most expensive: {named}" if named else ""))
    address = budget.source if budget.field else None
    return [_problem(locate, address, budget.field, message if address else f"{budget.source}: {message}")]


def _problem(locate: Locate | None, address: str | None, fld: str | None, message: str) -> Problem:
    file = line = col = None
    where = None
    if locate is not None and address is not None:
        try:
            where = locate(address, fld)
        except KeyError:
            where = None
    if where:
        rest, _, col_text = where.rpartition(":")
        file_text, _, line_text = rest.rpartition(":")
        if line_text.isdigit() and col_text.isdigit():
            file, line, col = file_text, int(line_text), int(col_text)
        else:
            file = where
    return Problem(file=file, line=line, col=col, address=address, field=fld, message=message)


# --- quota ------------------------------------------------------------------------------------


def gpu_quota_name(accelerator: str) -> str:
    """The account quota that caps one GPU type: ``NVIDIA_H200_141GB`` -> ``nvidia-h200-141gb``.

    Assumption (the docs name the quotas per GPU type without spelling the ids): the quota id is the
    accelerator type in lowercase with dashes, as ``fwctl local serve`` serves it."""
    return accelerator.lower().replace("_", "-")


@dataclass(frozen=True)
class QuotaUser:
    """Something of the account that holds GPUs of one type now (by its ceiling)."""

    name: str  # "deployment X" / "trainer job Y" (+ " (Address)" when this stack's)
    accelerator: str
    gpus: int | None  # None: the platform does not say how many (a foreign trainer job)


def ceilings(plan: Plan, which: str) -> dict[str, int]:
    """GPUs per type at the ceiling, ``which`` = "before" or "after", over this plan's changes."""
    out: dict[str, int] = {}
    for change in plan.changes:
        gpus = getattr(change.cost, which) if change.cost is not None else None
        if gpus is not None and gpus.accelerator:
            out[gpus.accelerator] = out.get(gpus.accelerator, 0) + gpus.ceiling
    return out


def _side_by_side(change: Change) -> bool:
    """A createBeforeDestroy replace: its new job is created while the old one still runs."""
    return change.action is Action.REPLACE and bool(change.settings.get("keep_prior"))


def released(plan: Plan) -> tuple[dict[str, int], dict[str, int]]:
    """GPUs per type the plan's changes hold now, and those it frees before it creates what replaces them.

    Each remote resource counts once (a createBeforeDestroy replace and the delete of its deposed job
    name the same job). A createBeforeDestroy replace frees nothing before its new job exists: the old
    and the new job run side by side until the new one is ready, so the quota must hold both."""
    held: dict[str, tuple[str, int]] = {}
    kept: set[str] = set()
    for change in plan.changes:
        gpus = change.cost.before if change.cost is not None else None
        rid = change.prior_remote_id or change.remote_id
        if gpus is None or not gpus.accelerator or not rid:
            continue
        held[rid] = (gpus.accelerator, gpus.ceiling)
        if _side_by_side(change):
            kept.add(rid)
    now: dict[str, int] = {}
    freed: dict[str, int] = {}
    for rid, (accelerator, ceiling) in held.items():
        now[accelerator] = now.get(accelerator, 0) + ceiling
        if rid not in kept:
            freed[accelerator] = freed.get(accelerator, 0) + ceiling
    return now, freed


def over_quota(plan: Plan, quotas: Mapping[str, tuple[float, float | None]]) -> dict[str, tuple[int, float, float]]:
    """GPU types whose quota the plan would exceed at its peak: type -> (needed at the ceiling, quota, in use now).

    ``quotas``: quota name -> (value, usage as the platform reports it, or None)."""
    (before, freed), after = released(plan), ceilings(plan, "after")
    found: dict[str, tuple[int, float, float]] = {}
    for accelerator in sorted(after):
        quota = quotas.get(gpu_quota_name(accelerator))
        if quota is None:
            continue
        value, usage = quota
        in_use = float(usage) if usage is not None else float(before.get(accelerator, 0))
        needed = in_use - freed.get(accelerator, 0) + after[accelerator]
        if after[accelerator] > freed.get(accelerator, 0) and needed > value:
            found[accelerator] = (int(needed), value, in_use)
    return found


def quota_problems(plan: Plan, exceeded: Mapping[str, tuple[int, float, float]], users: Iterable[QuotaUser],
                   locate: Locate | None = None) -> list[Problem]:
    """One located problem per exceeded GPU type, at the change that adds the most of it."""
    users = list(users)
    problems: list[Problem] = []
    for accelerator, (needed, value, in_use) in exceeded.items():
        adding = [(c.address, c.cost.after.ceiling - (c.cost.before.ceiling if c.cost.before and
                   c.cost.before.accelerator == accelerator and not _side_by_side(c) else 0))
                  for c in plan.changes if c.cost is not None and c.cost.after is not None
                  and c.cost.after.accelerator == accelerator]
        adding = sorted(((a, n) for a, n in adding if n > 0), key=lambda item: -item[1])
        holders = [u for u in users if u.accelerator == accelerator]
        by = ", ".join(f"{u.name}{f' {u.gpus}' if u.gpus is not None else ''}" for u in holders[:5])
        if len(holders) > 5:
            by += f" and {len(holders) - 5} more"
        adds = ", ".join(f"{a} +{n}" for a, n in adding[:5])
        message = (f"GPU quota {gpu_quota_name(accelerator)} is {value:g} {accelerator}; this plan needs {needed} "
                   f"at its ceiling (accelerator count x max replicas): {in_use:g} in use"
                   + (f" by {by}" if by else "") + f"; adds {adds}. Lower replicas.max or a shape's size, "
                   "free GPUs, or ask Fireworks for more quota")
        problems.append(_problem(locate, adding[0][0] if adding else None, None, message))
    return problems


__all__ = ["Budget", "QuotaUser", "budget_problems", "change_cost", "change_cost_text", "cost_summary",
           "gpu_quota_name", "gpus_text", "money", "over_quota", "price_plan", "quota_problems", "usd"]
