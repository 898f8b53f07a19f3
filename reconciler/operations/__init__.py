"""What fwctl does, callable from Python: typed arguments in, frozen values out, no printing.

    session = open_session(["grpo"])                     # manifests, endpoint, state, provider
    the_plan = plan(session, PlanOptions(targets=("Trainer/policy",)))
    with prepare_apply(ApplyRequest(files=("grpo",))) as prepared:   # fresh, or plan_file=...
        outcome = prepared.apply(parallelism=10)

Progress reaches the caller through a ``Listener`` (and the executor's ``Reporter``); refusals are
``OperationError`` and every other failure a ``FwctlError`` of its layer. Confirmation is the
caller's: an operation returns the plan, the caller asks, then carries it out. Every heavy import
happens inside the operation that needs it, so importing this package costs nothing.
"""

from __future__ import annotations

from reconciler.operations._apply import Applied, ApplyRequest, PreparedApply, prepare_apply
from reconciler.operations._import import Imported, import_resource
from reconciler.operations._local import clear_faults, inject_fault, save_snapshot
from reconciler.operations._manifests import StackCheck, stale_schemas, validate, write_schemas
from reconciler.operations._orphans import delete_orphans, list_orphans
from reconciler.operations._plan import (
    PlanOptions,
    Refreshed,
    make_plan,
    plan,
    read_saved_plan,
    refresh_only,
    save_plan,
)
from reconciler.operations._session import QUIET, Listener, Session, open_session, open_state_session
from reconciler.operations._state import (
    Migrated,
    current_state,
    force_unlock,
    migrate_state,
    outputs,
    parse_state_document,
    push_state,
    remove_address,
    state_history,
    state_version,
)
from reconciler.operations._status import StatusReport, status
from reconciler.operations.errors import OperationError

__all__ = [
    "QUIET",
    "Applied",
    "ApplyRequest",
    "Imported",
    "Listener",
    "Migrated",
    "OperationError",
    "PlanOptions",
    "PreparedApply",
    "Refreshed",
    "Session",
    "StackCheck",
    "StatusReport",
    "clear_faults",
    "current_state",
    "delete_orphans",
    "force_unlock",
    "import_resource",
    "inject_fault",
    "list_orphans",
    "make_plan",
    "migrate_state",
    "open_session",
    "open_state_session",
    "outputs",
    "parse_state_document",
    "plan",
    "prepare_apply",
    "push_state",
    "read_saved_plan",
    "refresh_only",
    "remove_address",
    "save_plan",
    "save_snapshot",
    "stale_schemas",
    "state_history",
    "state_version",
    "status",
    "validate",
    "write_schemas",
]
