"""The Stack's cost settings (issue 15): ``spec.prices`` and ``spec.budget``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reconciler.model.fields import Frozen

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StackPrices(Frozen):
    """Estimated on-demand USD per accelerator-hour, overriding the packaged table per type."""

    as_of: str | None = None
    """The date the prices are from (quote it in YAML: "2026-11-01")."""
    usd_per_accelerator_hour: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], Price] = Field(min_length=1)
    """USD per accelerator-hour, per accelerator type (e.g. NVIDIA_H200_141GB: 6.0)."""


class StackBudget(Frozen):
    """A spending limit every plan is checked against."""

    max_usd_per_hour: float = Field(gt=0, allow_inf_nan=False)
    """A plan whose estimated USD/hour at max replicas exceeds this is refused."""


__all__ = ["StackBudget", "StackPrices"]
