"""Drift: what changed on the platform since fwctl last wrote state (``plan --refresh-only``).

Pure. Each kind compares its recorded view with a fresh read (``Kind.drift``); this returns the
differences and the state as it should be recorded now (gone resources dropped, views and outputs
refreshed). It never proposes changes to the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.kinds import kind_of
from reconciler.model.remote import Observed
from reconciler.model.state import StateDocument


@dataclass(frozen=True)
class Drift:
    address: str
    message: str


def detect_drift(prior: StateDocument, observed: Observed) -> tuple[list[Drift], StateDocument]:
    drifts: list[Drift] = []
    doc = prior
    for address, held in prior.resources.items():
        k = kind_of(address)
        if k is None:
            continue
        messages, now = k.drift(address, held, observed)
        drifts.extend(Drift(address, m) for m in messages)
        if now is not held:
            doc = doc.with_resource(address, now)
    return drifts, doc
