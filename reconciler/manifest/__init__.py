"""Manifests: YAML files, directories or stdin -> validated, frozen models, with line numbers.

    load_manifests(["."]) -> Manifests          raises ManifestError (every Problem, located)

The only place fwctl reads YAML. Errors read ``FILE:LINE:COL: Kind/name: spec.field: message``.
"""

from __future__ import annotations

from reconciler.manifest._cookbook import manifest_text, read_cookbook_config
from reconciler.manifest._loader import (
    MANIFEST_SUFFIXES,
    STDIN,
    Manifests,
    discover_stacks,
    load_manifests,
    manifest_files,
)
from reconciler.manifest._variables import (
    ENV_PREFIX,
    VariableInputs,
    current_variable_inputs,
    use_variable_inputs,
)
from reconciler.manifest._yaml import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FILE_BYTES
from reconciler.model.problems import ManifestError, Problem

__all__ = [
    "ENV_PREFIX",
    "MANIFEST_SUFFIXES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "STDIN",
    "ManifestError",
    "Manifests",
    "Problem",
    "VariableInputs",
    "current_variable_inputs",
    "discover_stacks",
    "load_manifests",
    "manifest_text",
    "manifest_files",
    "read_cookbook_config",
    "use_variable_inputs",
]
