"""fwctl convert cookbook: a cookbook provisioning config -> fwctl manifests written to a directory.

The mapping is ``reconciler.convert``'s; this reads the file, asks the platform for the one fact the
file leaves to it (the deployment shape linked to a training shape), checks that what it is about
to write loads as fwctl manifests, and writes every file or none: each one through a temporary file
and an atomic rename, after refusing (unless ``force``) a directory that already holds manifests.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.convert import Converted
from reconciler.operations.errors import OperationError

_MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ConvertedFiles:
    converted: Converted
    out_dir: str
    written: tuple[str, ...]


def _linked_shapes(endpoint: str | None) -> Callable[[str], str | None]:
    """A lookup: training shape -> the deployment shape version it links to, read once per shape."""
    from reconciler.operations._session import failing_as, open_session

    found: dict[str, str | None] = {}

    def lookup(training_shape: str) -> str | None:
        if training_shape not in found:
            session = open_session((), endpoint, None, need_manifests=False)
            with failing_as(f"reading {training_shape} (for deployment_shape: null) from {session.endpoint.url}"):
                version = session.run(lambda provider: provider.get_training_shape_version(training_shape))
            found[training_shape] = version.deployment_shape_version
        return found[training_shape]

    return lookup


def convert_cookbook_file(path: str, *, recipe: str | None = None, out_dir: str | None = None,
                          stack: str | None = None, force: bool = False, endpoint: str | None = None) -> ConvertedFiles:
    """Convert ``recipe`` of the cookbook config at ``path`` into manifests under ``out_dir``
    (default ``./<stack>``). Raises ``ManifestError`` (located) or ``OperationError``."""
    from reconciler.convert import convert_cookbook
    from reconciler.manifest import ManifestError, load_manifests, manifest_text, read_cookbook_config

    parsed = read_cookbook_config(path)
    converted = convert_cookbook(path, parsed.data, parsed.positions, recipe=recipe, stack=stack,
                                 linked_shape=_linked_shapes(endpoint))
    target = Path(out_dir or converted.stack)
    header = f"Converted by fwctl convert cookbook from {Path(path).name} (recipe {converted.recipe}, " \
             f"mode {converted.mode})."
    texts = {name: manifest_text(docs, header) for name, docs in converted.files.items()}
    if target.exists() and not target.is_dir():
        raise OperationError(f"{target} exists and is not a directory")
    present = sorted(p.name for p in target.glob("*") if p.suffix in _MANIFEST_SUFFIXES) if target.is_dir() else []
    if present and not force:
        raise OperationError(f"{target} already holds manifests ({', '.join(present)}); pass --force to overwrite "
                             f"{', '.join(texts)}, or --out another directory")
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fwctl-convert-", dir=target.parent))
    try:
        for name, text in texts.items():
            with open(staging / name, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        try:
            load_manifests([str(staging)])
        except ManifestError as exc:  # a bug of the mapping, or a value fwctl refuses: nothing is written
            lines = "; ".join(str(p).replace(str(staging), str(target)) for p in exc.problems)
            raise OperationError(f"{path}: the converted manifests would not validate: {lines}") from None
        for name in texts:
            os.replace(staging / name, target / name)
    finally:
        for leftover in staging.glob("*"):
            leftover.unlink()
        staging.rmdir()
    return ConvertedFiles(converted, str(target), tuple(str(target / name) for name in texts))


__all__ = ["ConvertedFiles", "convert_cookbook_file"]
