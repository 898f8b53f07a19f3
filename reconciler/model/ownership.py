"""How fwctl marks what it creates, so ownership can be told from the platform alone."""

from __future__ import annotations

OWNER_ANNOTATION = "fwctl.dev/stack"  # on deployments: the stack that manages it
ADDRESS_ANNOTATION = "fwctl.dev/address"  # on deployments: its address in that stack
DISPLAY_PREFIX = "fwctl:"  # trainer display names default to "fwctl:<stack>/<name>"
