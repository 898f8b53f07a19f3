"""Account quotas (``accounts/{a}/quotas/{q}``, what ``firectl quota list/get`` shows), enforced.

Documented defaults (docs: Account quotas): 16 GPUs per type for A100, H100, H200 and B200 (here every
accelerator of the catalog), the monthly budget ``monthly-spend-usd`` (Tier 1: $50) and the request rate
``serverless-inference-rpm`` (6,000 with a payment method). A GPU quota's id is the accelerator type in
lowercase with dashes (``nvidia-h200-141gb``; the docs do not spell the ids: an assumption). GPU quota
is charged on the ceiling, by trainers and deployments alike: a trainer job holds accelerator count x
node count x replicas while it is not stopped, a deployment accelerator count x max replicas until it
is deleted. A create or scale beyond it is refused with 429 (``_validate.quota_exceeded``).

``fwctl local serve --quota NAME=VALUE`` sets a value at start, ``PUT /_local/v1/quotas/{quota}``
``{"value": N}`` while running (kept in memory, like faults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local._errors import ApiError, invalid, not_found
from reconciler.local._validate import quota_exceeded

DEFAULT_GPU_QUOTA = 16.0
OTHER_QUOTAS = {"monthly-spend-usd": 50.0, "serverless-inference-rpm": 6000.0}
_STOPPED = (*life.RESUMABLE, life.TOMBSTONE, "JOB_STATE_DELETING", "JOB_STATE_EXPIRED", "JOB_STATE_ARCHIVED")


def gpu_quota(accelerator: str) -> str:
    return accelerator.lower().replace("_", "-")


def check_quota_settings(quotas: Mapping[str, float], catalog_path: str | None) -> None:
    """ValueError for ``--quota`` settings the plane does not have (or a negative value)."""
    from reconciler.local._catalog import load_catalog

    known = {gpu_quota(a) for a in load_catalog(catalog_path).accelerator_prices} | set(OTHER_QUOTAS)
    for name, value in quotas.items():
        if name not in known:
            raise ValueError(f"--quota {name}: unknown quota (quotas: {', '.join(sorted(known))})")
        if value < 0:
            raise ValueError(f"--quota {name}: the value must be >= 0")


class Quotas:
    def __init__(self, plane: Any, overrides: Mapping[str, float]) -> None:
        self.plane = plane
        self.gpu = {gpu_quota(a): a for a in plane.catalog.accelerator_prices}
        self.values = {**{q: DEFAULT_GPU_QUOTA for q in self.gpu}, **OTHER_QUOTAS}
        for name, value in overrides.items():
            self.set(name, value)

    def set(self, name: str, value: float) -> dict[str, Any]:
        if name not in self.values:
            raise invalid(f"unknown quota {name!r} (quotas: {', '.join(sorted(self.values))})")
        if value < 0:
            raise invalid(f"quota {name}: value must be >= 0")
        self.values[name] = float(value)
        return self.render(self.plane.account, name)

    def usage(self, account: str, accelerator: str, skip: str = "") -> float:
        """GPUs of ``accelerator`` held now at their ceiling (``skip``: a resource id being rescaled)."""
        plane, now, total = self.plane, self.plane.clock(), 0.0
        for doc, activity in plane.store.list_trainers(account):
            tc = doc.get("trainingConfig") or {}
            if doc["id"] == skip or tc.get("acceleratorType") != accelerator:
                continue
            if plane.trainer_state(doc, activity) in _STOPPED:
                continue
            total += int(tc.get("acceleratorCount") or 0) * int(doc.get("nodeCount") or 1) * int(
                doc.get("trainerReplicaCount") or 1)
        for doc in plane.store.list_deployments(account):
            if doc["id"] == skip or doc.get("acceleratorType") != accelerator:
                continue
            if life.deployment_state(doc, now, plane.speed) in (None, "DELETING"):
                continue
            total += int(doc.get("acceleratorCount") or 0) * int(doc.get("maxReplicaCount") or 0)
        return total

    def check(self, account: str, accelerator: str, gpus: float, what: str, skip: str = "") -> None:
        """429 when holding ``gpus`` more of ``accelerator`` would exceed its quota; 429 RESOURCE_EXHAUSTED
        "no capacity" (another message, the same status) when the capacity fault rejects GPU requests.

        Assumption (the cookbook's error reference names both as RESOURCE_EXHAUSTED; the wire does not
        tell them apart otherwise): the message is what distinguishes quota, capacity and rate limits."""
        if self.plane.faults.capacity_reject and gpus > 0:
            raise ApiError(429, f"no capacity for {what} ({gpus:g} x {accelerator}) in this region right now; "
                                "try another region or shape, or retry later")
        name = gpu_quota(accelerator)
        limit = self.values.get(name)
        if limit is None or gpus <= 0:
            return
        available = max(0.0, limit - self.usage(account, accelerator, skip))
        if gpus > available:
            raise quota_exceeded(name, f"{what} ({gpus:g} x {accelerator} at its ceiling)", gpus, available)

    def render(self, account: str, name: str) -> dict[str, Any]:
        value = self.values[name]
        accelerator = self.gpu.get(name)
        usage = self.usage(account, accelerator) if accelerator else 0.0
        return {"name": f"accounts/{account}/quotas/{name}", "value": str(int(value)),
                "maxValue": str(int(max(value, DEFAULT_GPU_QUOTA if accelerator else value))),
                "usage": usage}

    def list(self, account: str) -> dict[str, Any]:
        self.plane.check_account(account)
        return {"quotas": [self.render(account, n) for n in sorted(self.values)], "nextPageToken": "",
                "totalSize": len(self.values)}

    def get(self, account: str, name: str) -> dict[str, Any]:
        self.plane.check_account(account)
        if name not in self.values:
            raise not_found(f"quota accounts/{account}/quotas/{name} not found")
        return self.render(account, name)
