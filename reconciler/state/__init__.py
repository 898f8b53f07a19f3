"""Where fwctl keeps what it has created: state backends behind one small protocol.

``open_backend(location)`` picks the backend for a ``--state`` / ``FWCTL_STATE`` value; every
backend satisfies ``StateBackend`` and passes ``tests/conformance``. Waiting for a lock is
``lock_with_timeout``, shared by all backends.
"""

from __future__ import annotations

from reconciler.state._local import LocalFileBackend
from reconciler.state.base import StateBackend
from reconciler.state.errors import LockHeld, StateConflict, StateError
from reconciler.state.locking import lock_with_timeout

DEFAULT_STATE_PATH = ".fwctl/state.json"

__all__ = [
    "DEFAULT_STATE_PATH",
    "LocalFileBackend",
    "LockHeld",
    "StateBackend",
    "StateConflict",
    "StateError",
    "lock_with_timeout",
    "open_backend",
]


def open_backend(location: str | None = None) -> StateBackend:
    """The backend for a state location: a file path (default ``.fwctl/state.json``) or a URL."""
    location = location or DEFAULT_STATE_PATH
    if location.startswith(("postgresql://", "postgres://")):
        raise StateError(
            "the PostgreSQL state backend is not supported yet; use a file path for --state / FWCTL_STATE"
        )
    if location.startswith("file://"):
        location = location.removeprefix("file://")
    elif "://" in location:
        scheme = location.split("://", 1)[0]
        raise StateError(f"unsupported state location scheme '{scheme}://'; use a file path")
    return LocalFileBackend(location)
