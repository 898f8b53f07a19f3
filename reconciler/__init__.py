"""fwctl: a declarative reconciler for Fireworks AI training infrastructure.

Layers (imports point downwards only):
model -> manifest, graph, diff -> planner (pure) ; provider, state, local (adapters) ;
executor, render ; cli (the one composition root).
"""

from __future__ import annotations

__version__ = "0.1.0"
