"""Located errors in manifests.

    FwctlError (model.errors)
     └── ManifestError      carries every Problem found in one run

A :class:`Problem` says where (file, 1-based line and column), what (``Kind/name`` and the
camelCase field path under the document, e.g. ``spec.replicas.max``) and why, in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.model.errors import FwctlError


@dataclass(frozen=True)
class Problem:
    """One mistake in the manifests. Unknown parts are None and are left out of ``str()``."""

    file: str | None
    line: int | None
    col: int | None
    address: str | None
    field: str | None
    message: str

    @property
    def location(self) -> str:
        """``FILE:LINE:COL`` with the unknown parts left out (empty when nothing is known)."""
        parts = [self.file] if self.file is not None else []
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def __str__(self) -> str:
        parts = [p for p in (self.location, self.address, self.field) if p]
        return ": ".join([*parts, self.message])

    def to_dict(self) -> dict[str, str | int | None]:
        """JSON-ready form (for ``--output json`` and saved plans)."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "address": self.address,
            "field": self.field,
            "message": self.message,
        }


class ManifestError(FwctlError):
    """The manifests are invalid; ``problems`` lists every mistake found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
