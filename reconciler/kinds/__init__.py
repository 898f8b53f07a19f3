"""The registry of resource kinds: one module per kind, the engine loops over ``KINDS``.

Adding a kind: its model (``model/resources.py``), its module here (a :class:`Kind` subclass,
registered below), the Provider protocol and its implementation for the remote calls it needs,
and the local control plane's module and routes for the platform resource.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.kinds.base import (
    ApplyContext,
    ChangeFailed,
    ImportRefused,
    Kind,
    Known,
    NullReporter,
    Orphan,
    PlanContext,
    Poll,
    Reads,
    Recorder,
    Ref,
    Reporter,
    Settings,
)
from reconciler.kinds.binding import SyncBindingKind
from reconciler.kinds.deployment import DeploymentKind
from reconciler.kinds.reference import ReferenceTrainerKind
from reconciler.kinds.trainer import TrainerKind
from reconciler.model.address import Address

KINDS: dict[str, Kind] = {k.name: k for k in (TrainerKind(), ReferenceTrainerKind(), DeploymentKind(),
                                               SyncBindingKind())}


def kind(name: str) -> Kind:
    """The kind called ``name``; KeyError for a kind fwctl does not know."""
    return KINDS[name]


def kind_of(address: str | Address) -> Kind | None:
    """The kind of an address (``"Trainer/policy"`` or an ``Address``); None for one fwctl does not know."""
    try:
        parsed = address if isinstance(address, Address) else Address.parse(address)
    except ValueError:
        return None
    return KINDS.get(parsed.kind)


def by_phase() -> list[Kind]:
    return sorted(KINDS.values(), key=lambda k: k.phase)


def phase_of(address: str) -> int:
    found = kind_of(address)
    return found.phase if found is not None else max(k.phase for k in KINDS.values()) + 1


def in_phase_order(addresses: Iterable[str]) -> list[str]:
    """Addresses sorted by their kind's phase (stable within a phase)."""
    return sorted(addresses, key=phase_of)


__all__ = [
    "KINDS",
    "ApplyContext",
    "ChangeFailed",
    "ImportRefused",
    "Kind",
    "Known",
    "NullReporter",
    "Orphan",
    "PlanContext",
    "Poll",
    "Reads",
    "Recorder",
    "Ref",
    "Reporter",
    "Settings",
    "by_phase",
    "in_phase_order",
    "kind",
    "kind_of",
]
