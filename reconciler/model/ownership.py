"""How fwctl marks what it creates, so ownership can be told from the platform alone.

Deployments carry annotations (where the platform returns them) and a ``fwctl:<stack>/<name>``
display name; trainer jobs, which the platform cannot edit after creation, carry their marks in
what is set at creation: the display name (default ``fwctl:<stack>/<name>``) and the job id
(``<stack>-<name>-<6 hex>``).

A deployment forgotten on purpose (``onDestroy: retain``) is re-marked as retained: the
``fwctl.dev/retained`` annotation and `` (retained)`` at the end of its display name; ``fwctl
orphans`` never counts it. A trainer job cannot be re-marked.
"""

from __future__ import annotations

OWNER_ANNOTATION = "fwctl.dev/stack"  # on deployments: the stack that manages it
ADDRESS_ANNOTATION = "fwctl.dev/address"  # on deployments: its address in that stack
RETAINED_ANNOTATION = "fwctl.dev/retained"  # on deployments: forgotten on purpose (onDestroy: retain)
DISPLAY_PREFIX = "fwctl:"  # display names default to "fwctl:<stack>/<name>"
RETAINED_SUFFIX = " (retained)"  # ends the display name of a deployment forgotten on purpose
DISPLAY_MAX = 63  # the platform takes display names of fewer than 64 characters


def retained_display(display: str) -> str:
    """``display`` marked as retained (kept within the platform's length)."""
    if is_retained_display(display):
        return display
    return display[:DISPLAY_MAX - len(RETAINED_SUFFIX)] + RETAINED_SUFFIX


def is_retained_display(display: str | None) -> bool:
    return bool(display) and str(display).endswith(RETAINED_SUFFIX)
