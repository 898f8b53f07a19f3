"""Errors raised by state backends.

FwctlError (model.errors)
 └── StateError            the state could not be read or written (one line, names the location)
      ├── StateConflict    a write that would lose data: another lineage, or a serial that does not rise
      ├── LockHeld         the state is locked by someone else; ``holder`` says who, for what, since when
      └── LockLost         this process held the lock and lost it (its session ended, or it was
                           force-unlocked): nothing more may be written or started under it
"""

from __future__ import annotations

from reconciler.model.errors import FwctlError
from reconciler.model.state import LockInfo


class StateError(FwctlError):
    """The state could not be read, written or locked."""


class StateConflict(StateError):
    """A write was refused because it would overwrite a different or newer document."""


class LockHeld(StateError):
    """The state lock is held by someone else."""

    def __init__(self, location: str, holder: LockInfo, message: str | None = None) -> None:
        self.location = location
        self.holder = holder
        super().__init__(message or f"state {location} is locked: {holder.describe()}")


class LockLost(StateError):
    """The state lock this process held is gone: writes are refused (fenced), no change may start."""

    def __init__(self, where: str, lock_id: str, why: str,
                 then: str = "refusing to write the state without it") -> None:
        self.where, self.lock_id, self.why = where, lock_id, why
        super().__init__(f"{where}: the state lock {lock_id} was lost ({why}); {then}")
