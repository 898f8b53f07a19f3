"""Waiting for a state lock and holding it: the same for every backend, so it lives outside them.

    with locked(backend, lock_info("apply", backend), timeout_s=30, on_wait=tell) as lock_id:
        ...   # read, plan, write: nobody else writes this state meanwhile

A lock can be lost while it is held (its PostgreSQL session ended, someone ran ``force-unlock``).
The backend then refuses every write (``LockLost``, fenced in the write itself); an operation
asks ``check_lock(backend)`` before it starts each change, and ``locked`` raises ``LockLost`` when
the block ends, so an operation that lost its lock never ends as if it had succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.model.state import LockInfo
from reconciler.state.base import StateBackend
from reconciler.state.errors import LockHeld, LockLost

_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 2.0


def lock_info(operation: str, backend: StateBackend) -> LockInfo:
    """Who is about to lock ``backend``, for what: this user, host and process."""
    import getpass
    import os
    import socket

    from reconciler import __version__

    host = socket.gethostname()
    return LockInfo(operation=operation, who=f"{getpass.getuser()}@{host}", host=host, pid=os.getpid(),
                    version=__version__, path=backend.describe())


def lock_with_timeout(
    backend: StateBackend,
    info: LockInfo,
    timeout_s: float,
    on_wait: Callable[[LockInfo], None] | None = None,
) -> str:
    """Take the lock, retrying with backoff (0.1 s doubling to 2 s) for up to ``timeout_s``.

    ``on_wait`` is called once, with the holder, the first time the lock is found held. When the
    time is up the last ``LockHeld`` is raised (it names the holder and its operation).
    """
    deadline = time.monotonic() + max(timeout_s, 0.0)
    delay = _FIRST_DELAY_S
    told = False
    while True:
        try:
            return backend.lock(info)
        except LockHeld as held:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            if not told and on_wait is not None:
                on_wait(held.holder)
            told = True
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_S)


@contextmanager
def locked(
    backend: StateBackend,
    info: LockInfo,
    timeout_s: float,
    on_wait: Callable[[LockInfo], None] | None = None,
) -> Iterator[str]:
    """Hold ``backend``'s lock for the ``with`` block (waiting up to ``timeout_s``); yields its id.

    A lock still held by someone else when the time is up raises ``LockHeld`` saying what to do.
    """
    try:
        lock_id = lock_with_timeout(backend, info, timeout_s, on_wait)
    except LockHeld as held:
        where = backend.describe()
        raise LockHeld(held.location, held.holder,
                       f"the state at {where} is locked: {held.holder.describe()}; retry later, raise "
                       f"--lock-timeout, or run 'fwctl force-unlock {held.holder.id}'") from None
    try:
        yield lock_id
        try:
            backend.check_lock()
        except LockLost as lost:
            raise LockLost(lost.where, lost.lock_id, lost.why,
                           f"{info.operation} started no change after that and wrote nothing more to the "
                           f"state; run it again to finish") from None
    finally:
        backend.unlock(lock_id)


def check_lock(backend: StateBackend) -> None:
    """Raise ``LockLost`` if ``backend`` lost a lock it holds (cheap: call it before each change)."""
    backend.check_lock()
