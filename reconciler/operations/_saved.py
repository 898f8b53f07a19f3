"""When a saved plan may be applied: the stale-plan rules, in one place.

A saved plan is refused when it was made for another stack, endpoint or account, or from a state
that has moved since (its lineage and serial are recorded in the plan), or when ``-f`` names
manifests other than the ones saved with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.operations.errors import OperationError

if TYPE_CHECKING:
    from reconciler.manifest import Manifests
    from reconciler.model.plan import Plan
    from reconciler.model.state import StateDocument

AGAIN = "make a new plan with `fwctl plan --out FILE`"


def check_given_manifests(the_plan: Plan, given: Manifests, plan_file: str) -> None:
    """``fwctl apply FILE -f DIR``: DIR must hold exactly the manifests the plan was made from."""
    if given.stack_name != the_plan.stack:
        raise OperationError(f"{plan_file} is a plan for stack {the_plan.stack}, but -f names stack {given.stack_name}")
    if given.digest != the_plan.manifests_digest:
        raise OperationError(f"the manifests changed since {plan_file} was made; {AGAIN}, or drop -f to apply "
                             f"the manifests saved in the plan")


def check_variables(the_plan: Plan, loaded: Manifests, plan_file: str) -> None:
    """The variables must have the values the plan was made with (issue 16): a plan is a promise."""
    if not the_plan.variables and not loaded.variables:
        return
    from reconciler.model.variables import show

    for name in sorted({*the_plan.variables, *loaded.variables}):
        before, now = the_plan.variables.get(name), loaded.variables.get(name)
        if before != now:
            source = loaded.variable_sources.get(name, "no value")
            raise OperationError(
                f"variable '{name}' is {show(now) if now is not None else 'unset'} now (from {source}) but was "
                f"{show(before) if before is not None else 'unset'} when {plan_file} was made; pass the same "
                f"values (-var, --var-file, FWCTL_VAR_{name}) or {AGAIN}")


def check_saved_manifests(the_plan: Plan, saved: Manifests, plan_file: str) -> None:
    """The manifests saved in the file must be those its plan was made from."""
    if saved.stack_name != the_plan.stack or saved.digest != the_plan.manifests_digest:
        raise OperationError(f"{plan_file}: its manifests do not match its plan (stack or digest differs); {AGAIN}")


def check_state(the_plan: Plan, prior: StateDocument | None, *, plan_file: str, endpoint: str, where: str,
                allow_move: bool = False) -> None:
    """Refuse a plan made for another stack or endpoint, or from a state that has moved since.

    ``allow_move`` (``--allow-endpoint-change``): a plan made to move the stack to another account
    may be applied to the state still bound to the old one.
    """
    if the_plan.endpoint != endpoint:
        raise OperationError(f"{plan_file} was made for endpoint {the_plan.endpoint}, not {endpoint}; "
                             f"use --endpoint {the_plan.endpoint} or {AGAIN}")
    if prior is not None and prior.stack != the_plan.stack:
        raise OperationError(f"{plan_file} is a plan for stack {the_plan.stack}, but the state at {where} belongs "
                             f"to stack {prior.stack}; use the --state of stack {the_plan.stack}")
    if prior is not None and prior.account and prior.account != the_plan.account and not allow_move:
        raise OperationError(f"{plan_file} is a plan for account {the_plan.account}, but the state at {where} "
                             f"belongs to account {prior.account}")
    if prior is None:
        if the_plan.state_serial != 0:
            raise OperationError(f"stale plan: {plan_file} was made from state serial {the_plan.state_serial} "
                                 f"(lineage {the_plan.state_lineage}), but there is no state at {where} now; {AGAIN}")
        return
    if the_plan.state_serial == 0 or (prior.lineage, prior.serial) != (the_plan.state_lineage, the_plan.state_serial):
        made = (f"serial {the_plan.state_serial} (lineage {the_plan.state_lineage})" if the_plan.state_serial
                else "no state")
        raise OperationError(f"stale plan: {plan_file} was made from {made}, but the state at {where} is now serial "
                             f"{prior.serial} (lineage {prior.lineage}); {AGAIN}")


def check_account(the_plan: Plan, account: str, plan_file: str) -> None:
    """The API key must resolve to the account the plan was made for."""
    if account != the_plan.account:
        raise OperationError(f"{plan_file} is a plan for account {the_plan.account}, but the API key resolves to "
                             f"account {account}")


__all__ = ["check_account", "check_given_manifests", "check_saved_manifests", "check_state"]
