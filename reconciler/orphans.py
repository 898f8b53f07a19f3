"""Orphans: trainers and deployments fwctl created for a stack that no state references.

Leaked GPU spend. fwctl marks what it creates (each kind knows its marks: deployments carry the
``fwctl.dev/stack`` annotation, trainer jobs a ``fwctl:<stack>/<name>`` display name and a
``<stack>-<name>-<6 hex>`` id). Pure: the caller lists the account and passes the state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.kinds import KINDS
from reconciler.kinds.base import Orphan
from reconciler.model.remote import DeploymentInfo, TrainerJob
from reconciler.model.state import StateDocument


def referenced_ids(state: StateDocument | None) -> set[str]:
    """Every remote id the state holds or is about to create."""
    return {rid for res in (state.resources.values() if state else ()) for rid in res.remote_ids}


def find_orphans(
    stack: str,
    state: StateDocument | None,
    trainers: list[TrainerJob],
    deployments: list[DeploymentInfo],
    now: datetime | None = None,
) -> list[Orphan]:
    now = now or datetime.now(UTC)
    referenced = referenced_ids(state)
    found = [o for k in KINDS.values() for o in k.orphans(stack, referenced, trainers, deployments, now)]
    return sorted(found, key=lambda o: -o.spent_usd)


def kind_deleting(orphan: Orphan) -> str:
    """The kind whose ``delete_orphan`` removes this orphan."""
    return next(name for name, k in KINDS.items() if k.holds == orphan.kind)


__all__ = ["Orphan", "find_orphans", "kind_deleting", "referenced_ids"]
