"""The state commands' operations: versions, removal, unlock, push and migrate (rules in ``state.migrate``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session
from reconciler.operations.errors import OperationError

if TYPE_CHECKING:
    from reconciler.model.state import StateDocument


def current_state(session: Session) -> StateDocument:
    """The stored document; refused when there is none."""
    doc = session.read_state()
    if doc is None:
        raise OperationError(f"no state stored at {session.backend.describe()}")
    return doc


def state_version(session: Session, version: int) -> StateDocument:
    """The document as written at serial ``version``."""
    doc = session.backend.read_version(version)
    if doc is None:
        raise OperationError(f"no version {version} of the state at {session.backend.describe()}; "
                             f"see `fwctl state history`")
    session.check_stack(doc)
    return doc


def state_history(session: Session) -> list[tuple[int, datetime, str]]:
    """(serial, written at, lineage) of every version kept, oldest first."""
    return session.backend.history()


def outputs(session: Session, name: str | None = None) -> dict[str, Any]:
    """What a training loop needs, by address; ``name`` picks one (an address or a bare name).

    Next to the addresses: the keyword arguments that reconnect a script to the stack's trainer
    (``reconciler.model.connect``): the trainer ``name`` picks, else the one the stack binds."""
    from reconciler.model.address import name_of
    from reconciler.model.connect import connection
    from reconciler.render import outputs_json

    doc = session.read_state()
    if doc is None:
        raise OperationError(f"no state for stack {session.stack} at {session.backend.describe()}: nothing to "
                             "output yet (run fwctl apply first, or point --state / -f at the stack)")
    data = outputs_json(doc)
    if name:
        matches = {a: v for a, v in data.items() if a == name or name_of(a) == name}
        if not matches:
            raise OperationError(f"no output named {name!r}; known: {', '.join(data) or 'none'}")
        data = matches
    endpoint = doc.endpoint or ""
    base_url = endpoint if endpoint.startswith(("http://", "https://")) else None  # not the embedded plane
    return {**data, **connection(doc, base_url=base_url, trainer=name)}


def remove_address(session: Session, address: str, *, lock_timeout_s: float = 0.0,
                   listener: Listener = QUIET) -> None:
    """Forget ``address`` (the remote resource is left as it is, on purpose: the state records it as
    retained, so ``fwctl orphans`` neither lists nor deletes it)."""
    from reconciler.kinds import kind_of
    from reconciler.model.state import RetainedResource

    with session.locked("state rm", lock_timeout_s, listener):
        doc = session.read_state()
        if doc is None or address not in doc.resources:
            raise OperationError(f"{address} is not in the state")
        held = doc.resources[address]
        k = kind_of(address)
        forgotten = doc.with_resource(address, None)
        if held.remote_id and k is not None and k.holds:
            forgotten = forgotten.with_retained(held.remote_id, RetainedResource(kind=k.holds, address=address,
                                                                                 why="state rm"))
        session.backend.write(forgotten.next_version())


def force_unlock(session: Session, lock_id: str) -> None:
    session.backend.force_unlock(lock_id)


def parse_state_document(text: str, name: str) -> StateDocument:
    """A state document from JSON text (``name`` for the message when it is not one)."""
    from pydantic import ValidationError

    from reconciler.model.state import StateDocument

    try:
        return StateDocument.model_validate_json(text)
    except (ValidationError, ValueError) as exc:
        raise OperationError(f"{name}: not a valid fwctl state document ({str(exc).splitlines()[0]})") from None


def push_state(session: Session, doc: StateDocument, *, name: str, force: bool = False,
               lock_timeout_s: float = 0.0, listener: Listener = QUIET) -> StateDocument:
    """Replace the state with ``doc`` under the push rules; returns what was written."""
    from reconciler.state.migrate import push

    with session.locked("state push", lock_timeout_s, listener):
        return push(session.backend, doc, name=name, force=force)


@dataclass(frozen=True)
class Migrated:
    doc: StateDocument
    earlier: int  # older versions copied with it
    copied: bool  # False: the target already held this serial
    source: str
    target: str


def migrate_state(session: Session, target_location: str, *, lock_timeout_s: float = 0.0,
                  listener: Listener = QUIET) -> Migrated:
    """Copy the state (and the versions kept of its lineage) to ``target_location``, both locked."""
    from reconciler.state import lock_info, locked, open_backend
    from reconciler.state.migrate import check_distinct, migrate

    target = open_backend(target_location, stack=session.stack)
    check_distinct(session.backend, target)
    with session.locked("state migrate", lock_timeout_s, listener), \
            locked(target, lock_info("state migrate", target), lock_timeout_s, listener.lock_waiting):
        done = migrate(session.backend, target)
    return Migrated(done.doc, done.earlier, done.copied, session.backend.describe(), target.describe())


__all__ = ["Migrated", "current_state", "force_unlock", "migrate_state", "outputs", "parse_state_document",
           "push_state", "remove_address", "state_history", "state_version"]
