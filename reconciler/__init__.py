"""fwctl: a declarative reconciler for Fireworks AI training infrastructure.

Layers (imports point downwards only):
model -> manifest, diff -> kinds -> graph, planner, refresh, drift, status, orphans (pure but for
refresh) ; provider, state, local (adapters) ; executor ; operations (open_session composes the
pieces) ; render ; cli (thin commands, the one place errors become exit codes).
"""

from __future__ import annotations

__version__ = "0.1.0"
