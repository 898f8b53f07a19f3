"""The Stack's cost settings (issue 15): ``spec.prices`` and ``spec.budget``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):  # as reconciler.model.resources._Frozen (that module imports this one)
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, alias_generator=to_camel,
                              populate_by_name=True)


class StackPrices(_Frozen):
    """Estimated on-demand USD per accelerator-hour, overriding the packaged table per type."""

    #: The date the prices are from (quote it in YAML: "2026-11-01").
    as_of: str | None = None
    usd_per_accelerator_hour: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], Price] = Field(min_length=1)


class StackBudget(_Frozen):
    #: A plan whose estimated USD/hour at max replicas exceeds this is refused.
    max_usd_per_hour: float = Field(gt=0, allow_inf_nan=False)


__all__ = ["StackBudget", "StackPrices"]
