"""orphans: what fwctl created for this stack that no state references (leaked spend), and deleting it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session, failing_as

if TYPE_CHECKING:
    from reconciler.kinds.base import Orphan


def list_orphans(session: Session, *, listener: Listener = QUIET) -> list[Orphan]:
    """Every orphan, the most spent first."""
    import asyncio

    from reconciler.orphans import find_orphans

    listener.connecting(session)
    prior = session.read_state()

    async def listing(provider: Any) -> Any:
        return await asyncio.gather(provider.list_trainer_jobs(), provider.list_deployments())

    with failing_as("listing the account"):
        trainers, deployments = session.run(listing)
    return find_orphans(session.stack, prior, trainers, deployments)


def delete_orphans(session: Session, orphans: Sequence[Orphan]) -> int:
    """Delete them (each by the kind that creates such resources); returns how many."""
    import asyncio

    from reconciler.kinds import KINDS
    from reconciler.orphans import kind_deleting

    async def delete(provider: Any) -> None:
        await asyncio.gather(*(KINDS[kind_deleting(o)].delete_orphan(provider, o.remote_id) for o in orphans))

    with failing_as("deleting orphans"):
        session.run(delete)
    return len(orphans)


__all__ = ["delete_orphans", "list_orphans"]
