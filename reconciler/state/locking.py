"""Waiting for a state lock: the same for every backend, so it lives outside them."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.model.state import LockInfo
from reconciler.state.base import StateBackend
from reconciler.state.errors import LockHeld

_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 2.0


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
