"""The local control plane: serving it (``fwctl local serve``) and its admin operations (``snapshot``, ``fault``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def local_config(*, db_path: str, account: str, api_keys: tuple[str, ...], speed: float,
                 catalog_path: str | None, rate_limit: float | None) -> Any:
    """The plane's settings; ValueError names what is wrong with them."""
    from reconciler.local import DEFAULT_API_KEY, LocalConfig

    return LocalConfig(db_path=db_path, account=account, api_keys=api_keys or (DEFAULT_API_KEY,), speed=speed,
                       catalog_path=catalog_path, rate_limit=rate_limit)


def serve_local(config: Any, *, host: str, port: int) -> None:
    """Serve the local control plane over HTTP until interrupted."""
    from reconciler.local import serve

    serve(config, host=host, port=port)


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


__all__ = ["clear_faults", "inject_fault", "local_config", "save_snapshot", "serve_local"]
