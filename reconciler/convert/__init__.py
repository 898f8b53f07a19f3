"""Other tools' configs -> fwctl manifests (pure mappings; the YAML edge is ``reconciler.manifest``).

    convert_cookbook(file, data, positions, recipe=..., linked_shape=...) -> Converted   raises ConvertError
"""

from __future__ import annotations

from reconciler.convert._cookbook import MODES, Converted, ConvertError, convert_cookbook, mode_of, stack_name

__all__ = ["MODES", "ConvertError", "Converted", "convert_cookbook", "mode_of", "stack_name"]
