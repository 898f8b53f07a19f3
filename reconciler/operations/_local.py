"""The local control plane: serving it (``fwctl local serve``) and its admin operations (``snapshot``, ``fault``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SPEED_VARIABLE = "FWCTL_LOCAL_SPEED"


def local_speed(env: Mapping[str, str]) -> float:
    """The embedded control plane's speed-up from ``FWCTL_LOCAL_SPEED`` (default 1); ``OperationError`` if unusable."""
    from reconciler.operations.errors import OperationError

    raw = env.get(SPEED_VARIABLE, "").strip() or "1"
    try:
        speed = float(raw)
    except ValueError:
        speed = math.nan
    if not math.isfinite(speed) or speed <= 0:
        raise OperationError(f"{SPEED_VARIABLE}={raw[:40]!r} is not a positive number (the embedded control "
                             f"plane's speed-up, e.g. 1 or 100)")
    return speed


def local_config(*, db_path: str, account: str, api_keys: tuple[str, ...], speed: float,
                 catalog_path: str | None, rate_limit: float | None,
                 quotas: tuple[tuple[str, float], ...] = (), admin_keys: tuple[str, ...] = (),
                 deployments_stay_creating: bool = False) -> Any:
    """The plane's settings; ValueError names what is wrong with them."""
    from reconciler.local import DEFAULT_API_KEY, LocalConfig
    from reconciler.local._config import DEFAULT_ADMIN_KEY
    from reconciler.local._quotas import check_quota_settings

    check_quota_settings(dict(quotas), catalog_path)
    return LocalConfig(db_path=db_path, account=account, api_keys=api_keys or (DEFAULT_API_KEY,), speed=speed,
                       catalog_path=catalog_path, rate_limit=rate_limit, quotas=quotas,
                       admin_keys=admin_keys or (DEFAULT_ADMIN_KEY,), deployments_stay_creating=deployments_stay_creating)


def serve_local(config: Any, *, host: str, port: int) -> None:
    """Serve the local control plane over HTTP until interrupted."""
    from reconciler.local import serve

    serve(config, host=host, port=port)


def save_snapshot(endpoint: str, api_key: str | None, account: str | None, job: str, name: str) -> Any:
    """Save sampler snapshot ``name`` on trainer ``job`` (as save_weights_for_sampler would)."""
    from reconciler.provider import LocalAdmin
    from reconciler.provider.endpoint import checked_api_key

    admin = LocalAdmin(endpoint, checked_api_key(api_key) or None)
    return admin.save_snapshot(account or admin.account(), job, name)


def inject_fault(endpoint: str, api_key: str | None, fault: Mapping[str, object]) -> Any:
    from reconciler.provider import LocalAdmin
    from reconciler.provider.endpoint import checked_api_key

    return LocalAdmin(endpoint, checked_api_key(api_key) or None).inject_fault(dict(fault))


def clear_faults(endpoint: str, api_key: str | None) -> Any:
    from reconciler.provider import LocalAdmin
    from reconciler.provider.endpoint import checked_api_key

    return LocalAdmin(endpoint, checked_api_key(api_key) or None).clear_faults()


__all__ = ["clear_faults", "inject_fault", "local_config", "local_speed", "save_snapshot", "serve_local"]
