"""Plans and state, rendered for people (text, markdown) and machines (JSON).

Pure functions of the values in ``reconciler.model``; colour is the caller's decision.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.model.plan import Action, Change, Plan
from reconciler.model.state import StateDocument

SYMBOLS: dict[Action, str] = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.RESUME: "^",
    Action.REATTACH: "<~>",
    Action.SCALE_UP: "↑",
    Action.SCALE_TO_ZERO: "↓",
    Action.DELETE: "-",
    Action.FORGET: "#",
    Action.HOTLOAD: "*",
    Action.NOOP: " ",
}
COLOURS: dict[Action, str] = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "red",
    Action.RESUME: "cyan",
    Action.REATTACH: "cyan",
    Action.SCALE_UP: "green",
    Action.SCALE_TO_ZERO: "magenta",
    Action.DELETE: "red",
    Action.FORGET: "magenta",
    Action.HOTLOAD: "cyan",
    Action.NOOP: "white",
}
VERBS: dict[Action, str] = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.REPLACE: "must be replaced",
    Action.RESUME: "will be resumed",
    Action.REATTACH: "will be reattached",
    Action.SCALE_UP: "will be scaled up",
    Action.SCALE_TO_ZERO: "will be scaled to zero",
    Action.DELETE: "will be deleted",
    Action.FORGET: "will be forgotten (left running, removed from state)",
    Action.HOTLOAD: "will hot-load a snapshot",
    Action.NOOP: "is up to date",
}
SUMMARY_ORDER = (
    (Action.CREATE, "to create"),
    (Action.UPDATE, "to update"),
    (Action.REPLACE, "to replace"),
    (Action.DELETE, "to delete"),
    (Action.RESUME, "to resume"),
)
SUMMARY_EXTRA = (
    (Action.REATTACH, "to reattach"),
    (Action.SCALE_UP, "to scale up"),
    (Action.SCALE_TO_ZERO, "to scale to zero"),
    (Action.HOTLOAD, "to hot-load"),
    (Action.FORGET, "to forget"),
)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    if not plan.has_changes:
        return "No changes. The account matches the manifests."
    parts = [f"{counts.get(a, 0)} {label}" for a, label in SUMMARY_ORDER]
    parts += [f"{counts[a]} {label}" for a, label in SUMMARY_EXTRA if counts.get(a)]
    return "Plan: " + ", ".join(parts) + "."


def _change_lines(change: Change, colour: bool) -> list[str]:
    symbol = SYMBOLS[change.action]
    head = f"{symbol} {change.address}"
    if change.remote_id:
        if change.prior_remote_id and change.prior_remote_id != change.remote_id:
            head += f"  ({change.prior_remote_id} -> {change.remote_id})"
        else:
            head += f"  ({change.remote_id})"
    if colour:
        head = f"[{COLOURS[change.action]}]{_escape(head)}[/]"
    lines = [f"  # {change.address} {VERBS[change.action]}", f"  {head}"]
    for reason in change.reasons:
        lines.append(f"      # {reason}")
    if change.action is Action.CREATE and change.after:
        for path, value in change.after.items():
            if value is not None and value != {} and value != []:
                lines.append(f"      + {path}: {_value(value)}")
    for diff in change.diffs:
        note = "  # forces replacement" if diff.forces_replacement and change.action is Action.REPLACE else ""
        lines.append(f"      ~ {diff.path}: {_value(diff.before)} -> {_value(diff.after)}{note}")
    return lines


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def plan_text(plan: Plan, *, colour: bool = False, show_noop: bool = False) -> str:
    """Terraform-like text. With ``colour`` the result holds rich markup."""
    where = f"stack {plan.stack} (account {plan.account}, endpoint {plan.endpoint})"
    if not plan.has_changes:
        return f"{where}\n\n{summary_line(plan)}"
    lines = [f"fwctl will perform the following actions on {where}:", ""]
    for change in plan.changes:
        if change.action is Action.NOOP and not show_noop:
            continue
        lines.extend(_change_lines(change, colour))
        lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan: versioned, with Terraform-style ordered action lists."""
    data = plan.model_dump(mode="json")
    for raw, change in zip(data["changes"], plan.changes, strict=True):
        raw["actions"] = change.action.steps
    data["summary"] = {a.value: n for a, n in plan.counts().items()}
    return data


def state_text(doc: StateDocument | None) -> str:
    if doc is None or not doc.resources:
        return "The state is empty."
    lines = [f"stack {doc.stack}  serial {doc.serial}  lineage {doc.lineage}  account {doc.account}"]
    for address, res in doc.resources.items():
        lines.append("")
        remote = f"  {res.remote_name or res.remote_id}" if (res.remote_name or res.remote_id) else ""
        lines.append(f"{address}{remote}  [{res.status}]")
        if res.pending:
            lines.append(f"  pending: {res.pending.operation} {res.pending.remote_id or ''}".rstrip())
        for key, value in res.outputs.items():
            if key == "shared_with":
                lines.append(f"  shared with {value} (no remote resource)")
            elif value is not None:
                lines.append(f"  {key}: {value if isinstance(value, str) else _value(value)}")
    return "\n".join(lines)


def outputs_json(doc: StateDocument | None) -> dict[str, Any]:
    if doc is None:
        return {}
    return {address: dict(res.outputs) for address, res in doc.resources.items()}
