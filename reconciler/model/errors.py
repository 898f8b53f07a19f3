"""The root of every error fwctl reports to a person.

Every exception that is meant to reach the user derives from ``FwctlError``; the CLI maps them to
exit codes and one-line messages in one place (``reconciler.cli._errors``); it lives in ``model`` so every layer may import it::

    FwctlError
     +-- ManifestError        (model.problems)   the manifests are invalid; every problem located
     +-- PlanError            (planner)          the manifests cannot be planned against the account
     +-- PlanFileError        (planfile)         a saved plan is unreadable, stale or for elsewhere
     +-- ProviderError        (provider.errors)  the platform refused or could not be reached
     |    +-- NotFound, Conflict, AuthError, ValidationError
     |    +-- EndpointError   (also a ValueError) the endpoint chosen cannot be used
     +-- StateError           (state.errors)     the state cannot be read, written or locked
     |    +-- StateConflict, LockHeld
     +-- HealthError          (provider)         a trainer's gateway does not answer as it should
     +-- OperationError       (operations)       an operation refused what it was asked to do

Lower-level errors (httpx, psycopg, OS errors) are translated into these at their edge, once.
"""

from __future__ import annotations


class FwctlError(Exception):
    """An error with a message a person can act on; never carries a secret."""

    exit_code: int = 1
