"""The rules of moving a state document between places: ``state push`` and ``state migrate``.

Like Terraform's ``statemgr`` migrate: a document only ever replaces one of its own lineage with a
lower serial, unless the person says ``--force`` (a push; the serial still rises). A migration
copies the current document and the older versions of its lineage the target lacks, oldest first,
in one step (``write_versions``: one transaction in PostgreSQL), so an interrupted migration leaves
the target as it was.
The caller holds the locks; these functions read and write, and refuse with ``StateConflict``.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model.state import StateDocument
from reconciler.state.base import StateBackend
from reconciler.state.errors import StateConflict, StateError


def push(backend: StateBackend, doc: StateDocument, *, name: str, force: bool) -> StateDocument:
    """Replace ``backend``'s state with ``doc`` (named ``name`` in messages); returns what was written.

    Refused unless ``doc`` has the stored lineage and a newer serial; ``force`` overrides both.
    """
    where = backend.describe()
    current = backend.read()
    write = backend.write
    if current is not None and current.lineage != doc.lineage:
        if not force:
            raise StateConflict(f"refusing to push {name}: its lineage {doc.lineage} is not the lineage "
                                f"{current.lineage} of the state at {where}; --force replaces it")
        write = backend.overwrite
    if current is not None and doc.serial <= current.serial:
        if not force:
            raise StateConflict(f"refusing to push {name}: its serial {doc.serial} is not newer than the "
                                f"state's serial {current.serial} at {where} (pull again, or --force)")
        doc = doc.model_copy(update={"serial": current.serial + 1})  # forced: the serial still rises
    write(doc)
    return doc


@dataclass(frozen=True)
class Migration:
    """What a migration did: ``doc`` is at the target; ``earlier`` older versions went with it."""

    doc: StateDocument
    earlier: int
    copied: bool  # False when the target already held this very serial


def check_distinct(source: StateBackend, target: StateBackend) -> None:
    """A migration needs two places."""
    if source.describe() == target.describe():
        raise StateError(f"--to names the state being migrated ({source.describe()})")


def migrate(source: StateBackend, target: StateBackend) -> Migration:
    """Copy ``source``'s current document, and the versions of its lineage ``target`` lacks."""
    source_at, target_at = source.describe(), target.describe()
    doc = source.read()
    if doc is None:
        raise StateError(f"no state stored at {source_at}: nothing to migrate")
    there = target.read()
    if there is not None and there.lineage != doc.lineage:
        raise StateConflict(f"refusing to migrate: {target_at} already holds a state of another lineage "
                            f"({there.lineage}, serial {there.serial}; this one is {doc.lineage})")
    if there is not None and there.serial >= doc.serial:
        if there.serial == doc.serial:
            return Migration(doc, 0, copied=False)
        raise StateConflict(f"refusing to migrate: {target_at} is at serial {there.serial}, newer than "
                            f"serial {doc.serial} at {source_at}")
    floor = there.serial if there is not None else -1
    older = []
    for serial, _, lineage in source.history():
        if lineage == doc.lineage and floor < serial < doc.serial:
            version = source.read_version(serial)
            if version is not None and version.lineage == doc.lineage:
                older.append(version)
    target.write_versions([*older, doc])  # one transaction: a kill leaves the target as it was
    return Migration(doc, len(older), copied=True)


__all__ = ["Migration", "check_distinct", "migrate", "push"]
