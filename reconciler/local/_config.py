"""The settings of one local control plane."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_KEY = "fwctl-local-key"
DEFAULT_ACCOUNT = "fwctl-local"


@dataclass(frozen=True)
class LocalConfig:
    """How to run the local control plane.

    ``speed`` divides every emulated duration (creating, pending, updating, deleting, hot load,
    inactivity timeouts, capacity delays): ``speed=10`` makes everything ten times faster.
    ``rate_limit`` (requests per second, ``None`` = unlimited) answers 429 with Retry-After beyond it.
    """

    db_path: str = ".fwctl/local.db"
    account: str = DEFAULT_ACCOUNT
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    speed: float = 1.0
    catalog_path: str | None = None
    rate_limit: float | None = None
    quotas: tuple[tuple[str, float], ...] = ()  # --quota NAME=VALUE: account quota values at start

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        if not self.api_keys:
            raise ValueError("at least one API key is required")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 requests/s")
