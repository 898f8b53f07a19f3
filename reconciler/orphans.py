"""Orphans: trainers and deployments fwctl created for a stack that no state references.

Leaked GPU spend. fwctl marks what it creates (each kind knows its marks: deployments carry the
``fwctl.dev/stack`` annotation, trainer jobs a ``fwctl:<stack>/<name>`` display name and a
``<stack>-<name>-<6 hex>`` id); only this stack's marks count. Pure: the caller lists the account
and passes the state (read under the state lock when it is about to delete).

Not counted (neither listed as orphans nor deleted):
- anything the state holds or is about to create (a recorded id, a pending create, a record kept
  for a replaced job still to be deleted);
- anything created within the grace period (default 10 minutes): an apply of another fwctl, or
  one whose state write has not landed yet, may be about to record it;
- anything kept on purpose, reported as retained: a deployment forgotten by ``onDestroy: retain`` is
  annotated ``fwctl.dev/retained``; a trainer job (which cannot be re-marked), a deployment parked
  by a destroy and anything ``fwctl state rm`` forgot are in the state's ``retained`` records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from reconciler.kinds import KINDS
from reconciler.kinds.base import Orphan
from reconciler.model.prices import PriceTable, packaged_prices
from reconciler.model.remote import DeploymentInfo, TrainerJob
from reconciler.model.state import StateDocument
from reconciler.model.variables import remote_name

DEFAULT_GRACE_S = 600.0  # `fwctl orphans --grace`: younger resources are not counted


@dataclass(frozen=True)
class OrphanSurvey:
    """What ``fwctl orphans`` found: the orphans, and what it saw but does not count."""

    orphans: list[Orphan]  # listed, and deleted by --delete; the most spent first
    recent: list[Orphan]  # created within the grace period
    retained: list[Orphan]  # kept on purpose (onDestroy: retain, parked by destroy, state rm)
    grace_s: float
    prices_label: str = ""  # what the figures are: "estimated, on-demand, prices as of DATE[, from ...]"


def referenced_ids(state: StateDocument | None) -> set[str]:
    """Every remote id the state holds or is about to create (pending creates and deposed records too)."""
    return {rid for res in (state.resources.values() if state else ()) for rid in res.remote_ids}


def survey_orphans(
    stack: str,
    state: StateDocument | None,
    trainers: list[TrainerJob],
    deployments: list[DeploymentInfo],
    now: datetime | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    declared: Iterable[str] | None = None,
    prices: PriceTable | None = None,
) -> OrphanSurvey:
    """``declared``: the names the manifests declare; with the state's, they are the only names a trainer
    job marked by its id alone (a display name of its own) may carry (None: any name)."""
    now = now or datetime.now(UTC)
    referenced = referenced_ids(state)
    names = None if declared is None else frozenset(remote_name(name) for name in  # policy[k] -> policy-k
        {*declared, *(res.name for res in (state.resources.values() if state else ()))})
    found = [o for k in KINDS.values()
             for o in k.orphans(stack, referenced, trainers, deployments, now, names, prices)]
    kept = state.retained if state else {}
    found = [replace(o, retained=True) if o.remote_id in kept and kept[o.remote_id].kind == o.kind else o
             for o in found]
    found.sort(key=lambda o: -o.spent_usd)
    since = now - timedelta(seconds=max(grace_s, 0.0))
    retained = [o for o in found if o.retained]
    recent = [o for o in found if not o.retained and o.created is not None and o.created > since]
    orphans = [o for o in found if o not in retained and o not in recent]
    return OrphanSurvey(orphans, recent, retained, grace_s, (prices or packaged_prices()).label)


def kind_deleting(orphan: Orphan) -> str:
    """The kind whose ``delete_orphan`` removes this orphan."""
    return next(name for name, k in KINDS.items() if k.holds == orphan.kind)


__all__ = ["DEFAULT_GRACE_S", "Orphan", "OrphanSurvey", "kind_deleting", "referenced_ids",
           "survey_orphans"]
