"""A SyncBinding's snapshot pin: which sampler snapshot of the trainer job it names, and whether it can
be served.

A training session suffixes every snapshot name with its 8-hex session id (the fireworks-ai SDK's
``qualify_snapshot_name``: ``step-4`` -> ``step-4-a1b2c3d4``), so a pin names a snapshot by its full
identity or by its step name, the newest snapshot of that name winning (a resumed run saves a new
``step-4``). Full-parameter saves after a session's first are deltas: not promotable, and loadable
only on top of their base with incremental metadata fwctl does not send; a pin on one is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model.remote import Checkpoint


def resolve_pin(pin: str, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The checkpoint ``pin`` names (its identity, else the newest with that step name), or None."""
    newest_first = sorted(checkpoints, key=lambda c: c.create_time.timestamp() if c.create_time else 0.0,
                          reverse=True)
    for matches in (lambda c: c.snapshot == pin, lambda c: c.step == pin):
        for checkpoint in newest_first:
            if matches(checkpoint):
                return checkpoint
    return None


def pin_problem(pin: str, job_id: str, checkpoints: Sequence[Checkpoint]) -> tuple[str | None, str | None]:
    """(the identity ``pin`` resolves to, None) or (None, why it cannot be served: one line)."""
    chosen = resolve_pin(pin, checkpoints)
    if chosen is None:
        newest = ", ".join(c.snapshot for c in reversed(checkpoints[-5:])) or "none"
        return None, f"trainer job {job_id} has no sampler snapshot {pin!r} (newest: {newest})"
    if not chosen.promotable:
        promotable = [c.snapshot for c in checkpoints if c.promotable]
        newest = ", ".join(reversed(promotable[-5:])) or "none yet"
        named = chosen.snapshot if chosen.snapshot == pin else f"{pin!r} ({chosen.snapshot})"
        return None, (f"snapshot {named} of trainer job {job_id} is a delta ({chosen.checkpoint_type or 'delta'}): "
                      f"not promotable, it loads only on top of its base; pin a promotable snapshot "
                      f"(newest: {newest})")
    return chosen.snapshot, None


__all__ = ["pin_problem", "resolve_pin"]
