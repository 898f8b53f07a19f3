"""The registry of resource kinds: one module per kind, the engine loops over ``KINDS``.

Every public module of this package is imported and each :class:`Kind` subclass defined there
with a ``name`` is registered: adding a kind is adding its module, nothing here. The other files
a new kind needs: its model (``model/resources.py``), the Provider protocol and its implementation
for the remote calls it makes, and the local control plane's module and routes.
"""

from __future__ import annotations

import importlib
import pkgutil
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
    Reporter,
    Settings,
)
from reconciler.model.address import Address


def _discover() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Kind) and obj.__module__ == module.__name__
                    and "name" in vars(obj)):
                found[obj.name] = obj()
    return dict(sorted(found.items(), key=lambda item: item[1].order))


#: kind name -> kind, in display order.
KINDS: dict[str, Kind] = _discover()


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
    "Reporter",
    "Settings",
    "in_phase_order",
    "kind",
    "kind_of",
]
