"""orphans: what fwctl created for this stack that no state references (leaked spend), and deleting it.

Listing reads the state, then the account; resources created within the grace period are not
counted (an apply may be about to record them). Deleting (``locked_orphans``) holds the stack's
state lock from the state read to the last delete, as apply does: an apply in flight is waited for
(``--lock-timeout``) or refused, never raced; what it creates is in the state before it is looked at.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session, failing_as

if TYPE_CHECKING:
    from reconciler.kinds.base import Orphan
    from reconciler.orphans import OrphanSurvey

DEFAULT_GRACE_S = 600.0  # as reconciler.orphans.DEFAULT_GRACE_S (not imported: it loads every kind)


def list_orphans(session: Session, *, grace_s: float = DEFAULT_GRACE_S,
                 listener: Listener = QUIET, prices_file: str | None = None) -> OrphanSurvey:
    """Every orphan (the most spent first), and what is seen but not counted (recent, retained),
    priced with the plan's table (the packaged one, the Stack's ``spec.prices``, ``--prices FILE``).

    The state must belong to this stack, endpoint and account (refused otherwise, one line).
    """
    import asyncio

    from reconciler.operations._limits import price_table
    from reconciler.operations._plan import PlanOptions
    from reconciler.orphans import survey_orphans

    prices = price_table(session, PlanOptions(prices_file=prices_file))
    prior = session.read_state()
    session.check_endpoint(prior, listener)  # another stack's or endpoint's state is refused
    listener.connecting(session)

    async def listing(provider: Any) -> Any:
        account = await provider.account_id()
        session.check_account(prior, account, listener)
        return await asyncio.gather(provider.list_trainer_jobs(), provider.list_deployments())

    with failing_as("listing the account"):
        trainers, deployments = session.run(listing)
    declared = [res.metadata.name for res in session.resources.values()]
    return survey_orphans(session.stack, prior, trainers, deployments, grace_s=grace_s, declared=declared,
                          prices=prices)


@contextmanager
def locked_orphans(session: Session, *, grace_s: float = DEFAULT_GRACE_S, lock_timeout_s: float = 0.0,
                   listener: Listener = QUIET, prices_file: str | None = None) -> Iterator[OrphanSurvey]:
    """``list_orphans`` with the state locked until the block ends: delete them inside it.

    Raises ``LockHeld`` (naming the holder) when the lock is not free within ``lock_timeout_s``.
    """
    with session.locked("orphans --delete", lock_timeout_s, listener):
        yield list_orphans(session, grace_s=grace_s, listener=listener, prices_file=prices_file)


def delete_orphans(session: Session, orphans: Sequence[Orphan]) -> int:
    """Delete them (each by the kind that creates such resources); returns how many.

    Call it inside ``locked_orphans``, with what it found.
    """
    import asyncio

    from reconciler.kinds import KINDS
    from reconciler.kinds.base import Poll
    from reconciler.orphans import kind_deleting

    async def delete(provider: Any) -> None:
        poll = Poll()
        await asyncio.gather(*(KINDS[kind_deleting(o)].delete_orphan(provider, o.remote_id, poll) for o in orphans))

    with failing_as("deleting orphans"):
        session.run(delete)
    return len(orphans)


__all__ = ["DEFAULT_GRACE_S", "delete_orphans", "list_orphans", "locked_orphans"]
