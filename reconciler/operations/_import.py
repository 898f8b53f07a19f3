"""import: record an existing remote resource under an address of the manifests.

The kind decides what may be imported and how the record looks (``Kind.read_for_import`` /
``Kind.import_record``); the rules that hold for every kind live here: the address must be
declared and not yet managed, and the remote id must not be managed under another address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session, failing_as
from reconciler.operations.errors import OperationError

if TYPE_CHECKING:
    from reconciler.kinds.base import Kind
    from reconciler.model.state import StateDocument

NOUNS = {"trainer": "trainer job"}  # what a kind's remote resource is called in messages


@dataclass(frozen=True)
class Imported:
    address: str
    remote_id: str


def import_resource(session: Session, address: str, remote_id: str, *, lock_timeout_s: float = 0.0,
                    listener: Listener = QUIET) -> Imported:
    """Record ``remote_id`` as ``address``; differences from the manifest show up in the next plan."""
    from reconciler import __version__
    from reconciler.executor import initial_state
    from reconciler.kinds import KINDS, kind_of

    resource = session.resources.get(address)
    if resource is None:
        raise OperationError(f"{address} is not declared in the manifests; declare it first, then import")
    k = kind_of(address)
    if k is None or not k.importable:
        names = [name for name, other in KINDS.items() if other.importable]
        raise OperationError(f"{address}: only {', '.join(names)} resources can be imported")
    with session.locked("import", lock_timeout_s, listener):
        prior = session.read_state()
        session.check_endpoint(prior, listener)
        _check_unmanaged(prior, address, remote_id, k)
        listener.connecting(session)

        async def fetch(provider: Any) -> tuple[str, Any]:
            return await provider.account_id(), await k.read_for_import(provider, remote_id)

        with failing_as(f"reading {remote_id}"):
            account, remote = session.run(fetch)
        session.check_account(prior, account, listener)
        if remote is None:
            noun = NOUNS.get(k.holds or "", k.holds)
            raise OperationError(f"{address}: no {noun} {remote_id} in account {account}")
        record = k.import_record(address, resource, remote, session.stack)
        doc = (session.bound(prior, account) if prior is not None
               else initial_state(session.stack, None, session.endpoint.url, account, __version__))
        session.backend.write(doc.with_resource(address, record).next_version())
    return Imported(address, remote_id)


def _check_unmanaged(prior: StateDocument | None, address: str, remote_id: str, k: Kind) -> None:
    """Neither the address nor the remote id may already be in the state."""
    from reconciler.kinds import kind_of

    if prior is None:
        return
    held = prior.resources.get(address)
    if held is not None:
        raise OperationError(f"{address} is already managed (remote id {held.remote_id}); "
                             f"'fwctl state rm {address}' first to re-import")
    for other, res in prior.resources.items():
        other_kind = kind_of(other)
        if other_kind is not None and other_kind.holds == k.holds and remote_id in res.remote_ids:
            raise OperationError(f"{remote_id} is already managed as {other}")


__all__ = ["Imported", "import_resource"]
