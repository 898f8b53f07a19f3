"""The account's quotas (``GET /v1/accounts/{a}/quotas``, what ``firectl quota list`` shows).

Wire shape (assumed from firectl: ``quota get NAME``, ``quota update NAME --value N``, "value must be
less than max_value"; the REST types are not in the SDK): ``{"quotas": [{"name":
"accounts/{a}/quotas/{q}", "value": N, "maxValue": M, "usage": U, "updateTime": ...}],
"nextPageToken": ...}``; int64 values may arrive as strings (proto-JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model.remote import Quota

QUOTA_PAGE_SIZE = 200


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def quota_from_wire(row: Mapping[str, Any]) -> Quota | None:
    name = str(row.get("name") or "").rsplit("/", 1)[-1]
    value = _number(row.get("value"))
    if not name or value is None:
        return None
    return Quota(name=name, value=value, max_value=_number(row.get("maxValue")), usage=_number(row.get("usage")))


class QuotaReads:
    """The provider's quota reads (a mixin of ``FireworksProvider``: one list request per call)."""

    async def list_quotas(self) -> list[Quota]:
        url = await self._account_url("quotas")  # type: ignore[attr-defined]
        rows = await self._paginate(url, ("quotas",), QUOTA_PAGE_SIZE, "listing the account's quotas")  # type: ignore[attr-defined]
        return [q for q in (quota_from_wire(r) for r in rows if isinstance(r, Mapping)) if q is not None]


__all__ = ["QUOTA_PAGE_SIZE", "QuotaReads", "quota_from_wire"]
