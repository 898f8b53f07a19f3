"""Where fwctl keeps what it has created: state backends behind one small protocol.

``open_backend(location, stack=...)`` picks the backend for a ``--state`` / ``FWCTL_STATE`` value
(a file path, or a ``postgresql://`` URL where the stack name is the row key); every
backend satisfies ``StateBackend`` and passes ``tests/conformance``. Holding a lock (and waiting
for it) is ``locked``, shared by all backends; the rules of ``state push`` / ``state migrate`` are
``reconciler.state.migrate``.
"""

from __future__ import annotations

from reconciler.state._local import LocalFileBackend
from reconciler.state._postgres import PostgresBackend
from reconciler.state.base import StateBackend
from reconciler.state.errors import LockHeld, LockLost, StateConflict, StateError
from reconciler.state.locking import check_lock, lock_info, lock_with_timeout, locked

DEFAULT_STATE_PATH = ".fwctl/state.json"

__all__ = [
    "DEFAULT_STATE_PATH",
    "LocalFileBackend",
    "LockHeld",
    "LockLost",
    "PostgresBackend",
    "StateBackend",
    "StateConflict",
    "StateError",
    "check_lock",
    "lock_info",
    "lock_with_timeout",
    "locked",
    "open_backend",
]


def open_backend(location: str | None = None, *, stack: str = "default") -> StateBackend:
    """The backend for a state location: a file path (default ``.fwctl/state.json``) or a URL.

    ``postgresql://`` / ``postgres://`` URLs open the PostgreSQL backend, keyed by ``stack`` (a
    file holds one stack, so ``stack`` does not change where a file backend keeps its state).
    """
    location = location or DEFAULT_STATE_PATH
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(location, stack=stack)
    if location.startswith("file://"):
        location = location.removeprefix("file://")
    elif "://" in location:
        scheme = location.split("://", 1)[0]
        raise StateError(
            f"unsupported state location scheme '{scheme}://'; use a file path or a postgresql:// URL"
        )
    return LocalFileBackend(location)
