"""The one price table: estimated on-demand USD per accelerator-hour per GPU type, dated.

The packaged ``prices.json`` is the default, used by plan, status, cost, orphans and the local
control plane alike (no second table). ``fwctl plan --prices FILE`` or the Stack's ``spec.prices``
override it per accelerator type. Every figure made from it is an estimate: on-demand prices as of
``PriceTable.as_of``, not a bill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any


class PriceFileError(ValueError):
    """A price file or ``spec.prices`` that is not a price table (the message says where)."""


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    usd_per_hour: Mapping[str, float] = field(default_factory=dict)
    source: str = "packaged"  # "packaged", a file path, or "Stack spec.prices"

    def rate(self, accelerator: str | None) -> float | None:
        """USD per accelerator-hour, or None for a type the table does not price."""
        return self.usd_per_hour.get(accelerator) if accelerator else None

    @property
    def label(self) -> str:
        """What every figure made from this table says about itself."""
        where = "" if self.source == "packaged" else f", from {self.source}"
        return f"estimated, on-demand, prices as of {self.as_of}{where}"

    def overridden(self, raw: Mapping[str, Any], source: str) -> PriceTable:
        """This table with the types ``raw`` prices replaced (the layout of ``prices.json``)."""
        table = parse_prices(raw, source)
        return PriceTable(as_of=table.as_of or self.as_of, usd_per_hour={**self.usd_per_hour, **table.usd_per_hour},
                          source=source)


def parse_prices(raw: Any, source: str) -> PriceTable:
    """``{"asOf": DATE, "usdPerAcceleratorHour": {TYPE: USD}}`` -> PriceTable; PriceFileError if not."""
    if not isinstance(raw, Mapping):
        raise PriceFileError(f"{source}: expected an object with asOf and usdPerAcceleratorHour")
    unknown = sorted(set(raw) - {"asOf", "currency", "note", "usdPerAcceleratorHour"})
    if unknown:
        raise PriceFileError(f"{source}: unknown field {unknown[0]!r} (expected asOf, usdPerAcceleratorHour)")
    if raw.get("currency", "USD") != "USD":
        raise PriceFileError(f"{source}: currency: only USD is supported")
    as_of = raw.get("asOf", "")
    if not isinstance(as_of, str):
        as_of = str(as_of)  # a YAML date
    prices = raw.get("usdPerAcceleratorHour")
    if not isinstance(prices, Mapping) or not prices:
        raise PriceFileError(f"{source}: usdPerAcceleratorHour: expected a map of accelerator type to USD per hour")
    out: dict[str, float] = {}
    for accelerator, value in prices.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
            raise PriceFileError(f"{source}: usdPerAcceleratorHour.{accelerator}: expected a price >= 0 "
                                 f"(got {value!r})")
        out[str(accelerator)] = float(value)
    return PriceTable(as_of=as_of, usd_per_hour=out, source=source)


@cache
def packaged_prices() -> PriceTable:
    text = resources.files("reconciler.model").joinpath("prices.json").read_text(encoding="utf-8")
    return parse_prices(json.loads(text), "packaged")


#: The packaged table's prices (kept for callers that price with the default table).
HOURLY_PRICE_USD: Mapping[str, float] = packaged_prices().usd_per_hour


def hourly(accelerator: str | None, count: int | None, replicas: int = 1,
           table: PriceTable | None = None) -> tuple[str, float]:
    """("TYPE xN", USD/hour) for ``count`` accelerators on each of ``replicas``."""
    if not accelerator:
        return "unknown", 0.0
    count = count or 1
    rate = (table or packaged_prices()).rate(accelerator) or 0.0
    return f"{accelerator} x{count * replicas}", rate * count * replicas
