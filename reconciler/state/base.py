"""The contract every state backend keeps (local file, PostgreSQL, ...).

Small on purpose, in the manner of Terraform's ``statemgr``: read the document, write the next
version of it, and take / release a non-blocking lock. Waiting for a lock is not a backend's job:
see ``reconciler.state.locking.lock_with_timeout``. Every backend passes the shared suite in
``tests/conformance``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from reconciler.model.state import LockInfo, StateDocument


@runtime_checkable
class StateBackend(Protocol):
    def read(self) -> StateDocument | None:
        """The stored document, or None when nothing was ever written. Raises ``StateError``."""
        ...

    def write(self, doc: StateDocument) -> None:
        """Store ``doc`` (callers pass ``doc.next_version()``).

        Raises ``StateConflict`` when a stored document has another lineage or a serial
        greater than or equal to ``doc.serial``.
        """
        ...

    def lock(self, info: LockInfo) -> str:
        """Take the lock without waiting and return its id; raises ``LockHeld`` when held."""
        ...

    def unlock(self, lock_id: str) -> None:
        """Release a lock this caller took. Raises ``StateError`` if ``lock_id`` is not the holder."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Release a lock whoever holds it, given its id (as printed to the waiting user)."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (never secrets)."""
        ...
