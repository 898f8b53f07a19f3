"""The settings of one local control plane."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_KEY = "fwctl-local-key"
#: The local superuser key: what the manual trainer path (``skipValidations``) needs (issue 13).
DEFAULT_ADMIN_KEY = "fwctl-local-admin-key"
DEFAULT_ACCOUNT = "fwctl-local"


@dataclass(frozen=True)
class LocalConfig:
    """How to run the local control plane.

    ``speed`` divides every emulated duration (creating, pending, updating, deleting, hot load,
    inactivity timeouts, capacity delays): ``speed=10`` makes everything ten times faster.
    ``rate_limit`` (requests per second, ``None`` = unlimited) answers 429 with Retry-After beyond it.
    ``admin_keys`` are accepted like ``api_keys`` and are also superuser keys (``skipValidations``).
    """

    db_path: str = ".fwctl/local.db"
    account: str = DEFAULT_ACCOUNT
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    admin_keys: tuple[str, ...] = (DEFAULT_ADMIN_KEY,)
    speed: float = 1.0
    catalog_path: str | None = None
    rate_limit: float | None = None
    quotas: tuple[tuple[str, float], ...] = ()  # --quota NAME=VALUE: account quota values at start
    deployments_stay_creating: bool = False  # hot-load deployments report CREATING while serving (_autoscale)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        if not self.api_keys:
            raise ValueError("at least one API key is required")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 requests/s")
