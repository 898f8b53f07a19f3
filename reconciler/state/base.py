"""The contract every state backend keeps (local file, PostgreSQL, ...).

Small on purpose, in the manner of Terraform's ``statemgr``: read the document, write the next
version of it (or, for ``state push --force``, overwrite it; for ``state migrate``, several versions
at once), read the versions kept, and take / release a non-blocking lock. A backend also notices
when a lock it holds is lost: its writes are then refused with ``LockLost`` (fenced) and
``check_lock`` raises it. Waiting for a lock is not a backend's job: see
``reconciler.state.locking``. Every backend passes the shared suite in ``tests/conformance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from reconciler.model.state import STATE_FORMAT_VERSION, LockInfo, StateDocument
from reconciler.state.errors import StateError


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

    def overwrite(self, doc: StateDocument) -> None:
        """Store ``doc`` whatever lineage the stored document has (``fwctl state push --force``)."""
        ...

    def write_versions(self, docs: Sequence[StateDocument]) -> None:
        """Store ``docs`` (one lineage, serials rising) as one step: all of them, or none (a migration)."""
        ...

    def history(self) -> list[tuple[int, datetime, str]]:
        """(serial, written at, lineage) of every version kept, oldest first."""
        ...

    def read_version(self, serial: int) -> StateDocument | None:
        """The document as written at ``serial``, or None when that version is not kept."""
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

    def check_lock(self) -> None:
        """Raise ``LockLost`` if a lock this handle holds was lost; cheap enough to call before each change."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (never secrets)."""
        ...


def serialised(doc: StateDocument, where: str) -> dict[str, Any]:
    """``doc`` as JSON data, or ``StateError`` (one line) when it cannot be written as JSON."""
    try:
        return doc.model_dump(mode="json")
    except (ValueError, RecursionError):
        raise StateError(f"{where}: cannot write state: the document cannot be written as JSON") from None


def document_from_data(data: Any, where: str, hint: str = "") -> StateDocument:
    """A stored state document, checked; every backend reads through here.

    ``where`` names the document in messages (a file, or a backend and version); ``hint`` is
    appended to them (e.g. how to restore a backup). Raises ``StateError``, one line.
    """
    if not isinstance(data, dict):
        raise StateError(f"{where}: not a valid fwctl state (expected a JSON object){hint}")
    version = data.get("format_version")
    if isinstance(version, int) and version > STATE_FORMAT_VERSION:
        raise StateError(
            f"{where}: state format version {version} is newer than this fwctl understands "
            f"({STATE_FORMAT_VERSION}); upgrade fwctl"
        )
    try:
        return StateDocument.model_validate(data)
    except RecursionError:
        raise StateError(f"{where}: not a valid fwctl state (nested too deeply){hint}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "document"
        raise StateError(f"{where}: not a valid fwctl state ({field}: {first['msg']}){hint}") from None
