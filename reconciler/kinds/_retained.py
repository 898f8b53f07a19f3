"""What a destroy keeps on purpose, and how it is marked so ``fwctl orphans`` leaves it alone.

Two marks, because the platform allows only one of them for each kind:

- a deployment can be re-marked (PATCH): a retained one is annotated ``fwctl.dev/retained`` and its
  display name ends `` (retained)`` (the platform may not return annotations);
- a trainer job cannot (trainer jobs have no update), so the state keeps a ``retained`` record of
  it by remote id (``StateDocument.retained``), which ``reconciler.orphans`` consults.

A deployment parked by a destroy (``onDestroy: scaleToZero``) is kept on purpose as well, at no GPU
cost: the state records it as retained too (no re-mark: it stays as the stack left it, to be
declared again). Records go when an address records the same remote id again (adopted back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.model.ownership import RETAINED_ANNOTATION, retained_display
from reconciler.model.state import RetainedResource

if TYPE_CHECKING:
    from reconciler.kinds.base import ApplyContext

RETAIN = "onDestroy: retain"
PARKED = "onDestroy: scaleToZero (parked)"


def kept(kind: str, address: str, why: str) -> RetainedResource:
    """The state's record of a remote resource of ``kind`` ("trainer" / "deployment") kept on purpose."""
    return RetainedResource(kind=kind, address=address, why=why)


async def forget_deployment(ctx: ApplyContext, *, retain: bool) -> None:
    """Forget a deployment: a retained one is re-marked first; a retained or parked one (what a destroy
    keeps) is recorded in the state as retained. One already gone is just forgotten."""
    from reconciler.kinds.deployment import retained

    change = ctx.change
    dep_id = change.remote_id
    dep = await ctx.provider.get_deployment(dep_id) if dep_id else None
    if dep is None or dep.gone or not dep_id:
        await ctx.recorder.set(change.address, None)
        return
    if retain and not retained(dep):
        # the whole map is replaced: start from what was applied, where it is not returned
        applied = (change.before or {}).get("annotations") or {}
        annotations = {**applied, **dep.config.annotations, RETAINED_ANNOTATION: "true"}
        display = dep.config.display_name or dep_id
        await ctx.provider.update_deployment(dep_id, {"annotations": annotations,
                                                      "display_name": retained_display(display)})
    kept_on_purpose = retain or dep.config.max_replicas == 0
    await ctx.recorder.set(change.address, None,
                           retained=kept("deployment", change.address, RETAIN if retain else PARKED)
                           if kept_on_purpose else None)


__all__ = ["PARKED", "RETAIN", "forget_deployment", "kept"]
