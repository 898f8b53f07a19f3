"""The refusals of operations: what fwctl was asked to do and will not, and why.

    FwctlError (model.errors)
     └── OperationError     one line (or one line per problem) a person can act on
"""

from __future__ import annotations

from reconciler.model.errors import FwctlError


class OperationError(FwctlError):
    """An operation refused what it was asked to do (a stale plan, an address already managed, ...)."""


__all__ = ["OperationError"]
