"""How cost figures read, in plan text, markdown, errors and ``fwctl cost`` (issue 15)."""

from __future__ import annotations

from reconciler.model.plan import ChangeCost, Gpus, PlanCost


def money(value: float, *, sign: bool = False) -> str:
    text = f"${abs(value):,.2f}/h"
    if sign:
        return ("+" if value >= 0 else "-") + text
    return ("-" if value < 0 else "") + text


def cost_summary(total: PlanCost) -> str:
    """``Cost: +$96.00/h (now $48.00/h → $144.00/h at min replicas, up to $192.00/h at max)``."""
    line = (f"Cost: {money(total.delta_usd_per_hour, sign=True)} (now {money(total.now_usd_per_hour)} → "
            f"{money(total.after_usd_per_hour)} at min replicas")
    if total.after_max_usd_per_hour != total.after_usd_per_hour:
        line += f", up to {money(total.after_max_usd_per_hour)} at max"
    return line + f"); {total.label}."


def gpus_text(gpus: Gpus | None) -> str:
    """``8 x NVIDIA_H200_141GB`` (``x 2 replicas``, ``x 1-4 replicas``), ``none``, ``unknown``."""
    if gpus is None:
        return "none"
    if not gpus.accelerator:
        return "unknown until apply (the platform selects the shape)"
    if gpus.min_replicas == gpus.max_replicas:
        reps = "" if gpus.max_replicas == 1 else f" x {gpus.max_replicas} replicas"
    else:
        reps = f" x {gpus.min_replicas}-{gpus.max_replicas} replicas"
    return f"{gpus.count} x {gpus.accelerator}{reps}"


def change_cost_text(cost: ChangeCost) -> str:
    """``GPUs: none → 8 x NVIDIA_H200_141GB; $0.00/h → $48.00/h``."""
    def side(low: float, high: float) -> str:
        return money(low) if low == high else f"{money(low)}-{money(high)}"

    text = (f"GPUs: {gpus_text(cost.before)} → {gpus_text(cost.after)}; "
            f"{side(cost.before_usd_per_hour, cost.before_max_usd_per_hour)} → "
            f"{side(cost.after_usd_per_hour, cost.after_max_usd_per_hour)}")
    if cost.unpriced:
        text += f" (no price for {', '.join(cost.unpriced)})"
    return text


__all__ = ["change_cost_text", "cost_summary", "gpus_text", "money"]
