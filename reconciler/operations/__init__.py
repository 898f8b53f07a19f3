"""What fwctl does, callable from Python: typed arguments in, frozen values out, no printing.

    session = open_session(["grpo"])                     # manifests, endpoint, state, provider
    the_plan = plan(session, PlanOptions(targets=("Trainer/policy",)))
    with prepare_apply(ApplyRequest(files=("grpo",))) as prepared:   # fresh, or plan_file=...
        outcome = prepared.apply(parallelism=10)
    with prepare_refresh(session, "apply --refresh-only") as prepared:  # drift, recorded on request
        prepared.record()

Progress reaches the caller through a ``Listener`` (and the executor's ``Reporter``); refusals are
``OperationError`` and every other failure a ``FwctlError`` of its layer. Confirmation is the
caller's: an operation returns the plan, the caller asks, then carries it out. Names are loaded on
first use (PEP 562), so a command pays only for the operation it runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.operations._apply import Applied, ApplyRequest, PreparedApply, prepare_apply
    from reconciler.operations._convert import ConvertedFiles, convert_cookbook_file
    from reconciler.operations._import import Imported, import_resource
    from reconciler.operations._local import (
        clear_faults,
        inject_fault,
        local_config,
        save_snapshot,
        serve_local,
    )
    from reconciler.operations._manifests import StackCheck, stale_schemas, validate, write_schemas
    from reconciler.operations._orphans import delete_orphans, list_orphans, locked_orphans
    from reconciler.operations._plan import (
        PlanOptions,
        PreparedRefresh,
        Refreshed,
        make_plan,
        plan,
        prepare_refresh,
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

_WHERE = {
    "Applied": "reconciler.operations._apply",
    "ApplyRequest": "reconciler.operations._apply",
    "ConvertedFiles": "reconciler.operations._convert",
    "Imported": "reconciler.operations._import",
    "Listener": "reconciler.operations._session",
    "Migrated": "reconciler.operations._state",
    "OperationError": "reconciler.operations.errors",
    "PlanOptions": "reconciler.operations._plan",
    "PreparedApply": "reconciler.operations._apply",
    "PreparedRefresh": "reconciler.operations._plan",
    "QUIET": "reconciler.operations._session",
    "Refreshed": "reconciler.operations._plan",
    "Session": "reconciler.operations._session",
    "StackCheck": "reconciler.operations._manifests",
    "StatusReport": "reconciler.operations._status",
    "clear_faults": "reconciler.operations._local",
    "convert_cookbook_file": "reconciler.operations._convert",
    "current_state": "reconciler.operations._state",
    "delete_orphans": "reconciler.operations._orphans",
    "force_unlock": "reconciler.operations._state",
    "import_resource": "reconciler.operations._import",
    "inject_fault": "reconciler.operations._local",
    "local_config": "reconciler.operations._local",
    "serve_local": "reconciler.operations._local",
    "list_orphans": "reconciler.operations._orphans",
    "locked_orphans": "reconciler.operations._orphans",
    "make_plan": "reconciler.operations._plan",
    "migrate_state": "reconciler.operations._state",
    "open_session": "reconciler.operations._session",
    "open_state_session": "reconciler.operations._session",
    "outputs": "reconciler.operations._state",
    "parse_state_document": "reconciler.operations._state",
    "plan": "reconciler.operations._plan",
    "prepare_apply": "reconciler.operations._apply",
    "prepare_refresh": "reconciler.operations._plan",
    "push_state": "reconciler.operations._state",
    "read_saved_plan": "reconciler.operations._plan",
    "refresh_only": "reconciler.operations._plan",
    "remove_address": "reconciler.operations._state",
    "save_plan": "reconciler.operations._plan",
    "save_snapshot": "reconciler.operations._local",
    "stale_schemas": "reconciler.operations._manifests",
    "state_history": "reconciler.operations._state",
    "state_version": "reconciler.operations._state",
    "status": "reconciler.operations._status",
    "validate": "reconciler.operations._manifests",
    "write_schemas": "reconciler.operations._manifests",
}


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "QUIET",
    "Applied",
    "ApplyRequest",
    "ConvertedFiles",
    "Imported",
    "Listener",
    "Migrated",
    "OperationError",
    "PlanOptions",
    "PreparedApply",
    "PreparedRefresh",
    "Refreshed",
    "Session",
    "StackCheck",
    "StatusReport",
    "clear_faults",
    "convert_cookbook_file",
    "current_state",
    "delete_orphans",
    "force_unlock",
    "import_resource",
    "inject_fault",
    "local_config",
    "serve_local",
    "list_orphans",
    "locked_orphans",
    "make_plan",
    "migrate_state",
    "open_session",
    "open_state_session",
    "outputs",
    "parse_state_document",
    "plan",
    "prepare_apply",
    "prepare_refresh",
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
