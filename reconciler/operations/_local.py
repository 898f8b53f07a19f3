"""The local control plane's admin operations: ``fwctl local snapshot`` and ``fwctl local fault``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def save_snapshot(endpoint: str, api_key: str | None, account: str | None, job: str, name: str) -> Any:
    """Save sampler snapshot ``name`` on trainer ``job`` (as save_weights_for_sampler would)."""
    from reconciler.provider import LocalAdmin

    admin = LocalAdmin(endpoint, api_key)
    return admin.save_snapshot(account or admin.account(), job, name)


def inject_fault(endpoint: str, api_key: str | None, fault: Mapping[str, object]) -> Any:
    from reconciler.provider import LocalAdmin

    return LocalAdmin(endpoint, api_key).inject_fault(dict(fault))


def clear_faults(endpoint: str, api_key: str | None) -> Any:
    from reconciler.provider import LocalAdmin

    return LocalAdmin(endpoint, api_key).clear_faults()


__all__ = ["clear_faults", "inject_fault", "save_snapshot"]
