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
    if change.cost is not None:
        from reconciler.model.money import change_cost_text

        flag = "  # expensive" if change.cost.expensive else ""
        lines.append(f"      # {change_cost_text(change.cost)}{flag}")
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
    warning = f"\n\n{targeting_warning(plan)}" if plan.targets else ""
    if plan.warnings:
        label = "[yellow]Warning:[/]" if colour else "Warning:"
        body = (_escape(str(w)) if colour else str(w) for w in plan.warnings)
        warning += "\n\n" + "\n".join(f"{label} {line}" for line in body)
    if not plan.has_changes:
        return f"{where}\n\n{summary_line(plan)}{warning}"
    lines = [f"fwctl will perform the following actions on {where}:", ""]
    for change in plan.changes:
        if change.action is Action.NOOP and not show_noop:
            continue
        lines.extend(_change_lines(change, colour))
        lines.append("")
    lines.append(summary_line(plan))
    if plan.cost is not None:
        from reconciler.model.money import cost_summary

        lines.append(cost_summary(plan.cost))
    return "\n".join(lines) + warning


def targeting_warning(plan: Plan) -> str:
    """What a --target plan says (as Terraform does): it may leave out changes the manifests ask for."""
    scope = "and what depends on them" if plan.destroy else "and what they depend on"
    return (f"Warning: resource targeting is in effect ({', '.join(plan.targets)})\n\n"
            f"This plan covers only the targeted resources {scope}, so it may not show every change "
            "the manifests and the state call for. --target is for exceptional situations, such as "
            "recovering from an error or a mistake, not for routine use: run fwctl plan without it "
            "to see everything that is pending.")


def plan_json(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan: versioned, with Terraform-style ordered action lists.

    The format is documented in ``reconciler.model.plan_document`` (``schemas/plan.schema.json``).
    """
    data = {"format_version": plan.format_version, **plan.model_dump(mode="json")}
    for raw, change in zip(data["changes"], plan.changes, strict=True):
        raw["actions"] = change.action.steps
    data["summary"] = {a.value: n for a, n in plan.counts().items()}
    return data


MARKDOWN_LIMIT = 60_000
_MARKDOWN_BUDGET = MARKDOWN_LIMIT - 2_000  # room for the closing note
_MD_CELL = 300
_MD_DETAILS = 4_000
_MD_DESTRUCTIVE_LISTED = 20


def _md_cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")
    return text if len(text) <= _MD_CELL else text[: _MD_CELL - 1] + "…"


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def plural(count: int, noun: str) -> str:
    """``1 orphan``, ``2 orphans``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _md_details(change: Change) -> str:
    lines: list[str] = [f"# {reason}" for reason in change.reasons]
    if change.remote_id:
        prior = change.prior_remote_id
        lines.append(f"# remote id: {prior} -> {change.remote_id}" if prior and prior != change.remote_id
                     else f"# remote id: {change.remote_id}")
    if change.action is Action.CREATE and change.after:
        lines += [f"+ {path}: {_value(value)}" for path, value in change.after.items()
                  if value is not None and value != {} and value != []]
    for diff in change.diffs:
        note = "  # forces replacement" if diff.forces_replacement else ""
        lines.append(f"~ {diff.path}: {_value(diff.before)} -> {_value(diff.after)}{note}")
    if change.action is Action.DELETE and change.before:
        lines += [f"- {path}: {_value(value)}" for path, value in change.before.items()
                  if value is not None and value != {} and value != []]
    body = "\n".join(lines).replace("```", "` ` `") or "(no field changes)"
    if len(body) > _MD_DETAILS:
        body = body[:_MD_DETAILS] + "\n… (cut; run `fwctl plan --format json` to see all)"
    summary = f"<code>{change.address.replace('<', '&lt;')}</code> {VERBS[change.action]}"
    return f"<details><summary>{summary}</summary>\n\n```diff\n{body}\n```\n\n</details>\n"


def _md_cost(change: Change) -> str:
    """``$0.00/h → $48.00/h`` with ⚠️ for a destructive change and 💸 for an expensive one."""
    cost = change.cost
    flags = ("⚠️ " if change.action.is_destructive else "") + ("💸 " if cost is not None and cost.expensive else "")
    if cost is None:
        return flags + "-"
    from reconciler.model.money import money

    after = money(cost.after_usd_per_hour)
    if cost.after_max_usd_per_hour != cost.after_usd_per_hour:
        after += f" (max {money(cost.after_max_usd_per_hour)})"
    return f"{flags}{money(cost.before_usd_per_hour)} → {after}"


def plan_markdown(plan: Plan) -> str:
    """A plan for a pull-request comment: destructive actions first, a summary table, then details.

    Always shorter than :data:`MARKDOWN_LIMIT` characters (GitHub refuses comments over 65,536): no-ops
    are folded into a count, and what does not fit is left out with a note saying how to see it all.
    """
    head = [f"### fwctl plan: stack {_md_code(plan.stack)}", "",
            f"account {_md_code(plan.account)} · endpoint {_md_code(plan.endpoint)}", ""]
    pending = plan.pending
    destructive = [c for c in pending if c.action.is_destructive]
    if destructive:
        listed = ", ".join(f"{_md_code(_md_cell(c.address))} ({c.action.value})"
                           for c in destructive[:_MD_DESTRUCTIVE_LISTED])
        if len(destructive) > _MD_DESTRUCTIVE_LISTED:
            listed += f" and {len(destructive) - _MD_DESTRUCTIVE_LISTED} more"
        head += [f"> ⚠️ **{plural(len(destructive), 'destructive change')}:** {listed}", ""]
    head += [f"**{summary_line(plan)}**", ""]
    if plan.cost is not None:
        from reconciler.model.money import cost_summary

        head += [f"**{cost_summary(plan.cost)}**", ""]
    if plan.targets:
        head += [f"> ⚠️ {targeting_warning(plan).replace(chr(10) + chr(10), ' ')}", ""]
    for item in plan.warnings[:_MD_DESTRUCTIVE_LISTED]:
        where = ":".join(str(p) for p in (item.file, item.line, item.col) if p is not None)
        located = ": ".join(_md_code(_md_cell(p)) for p in (where, item.address, item.field) if p)
        head += [f"> ⚠️ **Warning:** {located}: {_md_cell(item.message)}", ""]
    noops = len(plan.changes) - len(pending)
    if not pending:
        if noops:
            head.append(f"_{plural(noops, 'resource')} unchanged._")
        return "\n".join(head) + "\n"
    text = "\n".join(head) + "\n"
    table = ["| Address | Action | Cost (USD/h) | Why |", "|---|---|---|---|"]
    size = len(text) + sum(len(line) + 1 for line in table)
    shown = 0
    for change in pending:
        why = _md_cell("; ".join(change.reasons) or "-")
        row = (f"| {_md_code(_md_cell(change.address))} | {SYMBOLS[change.action]} {change.action.value} | "
               f"{_md_cost(change)} | {why} |")
        if size + len(row) + 1 > _MARKDOWN_BUDGET // 2:
            break
        table.append(row)
        size += len(row) + 1
        shown += 1
    text += "\n".join(table) + "\n"
    if noops:
        text += f"\n_{plural(noops, 'unchanged resource')} not listed._\n"
    text += "\n"
    detailed = 0
    for change in pending[:shown]:
        block = _md_details(change)
        if len(text) + len(block) > _MARKDOWN_BUDGET:
            break
        text += block
        detailed += 1
    hidden = len(pending) - shown
    if hidden or detailed < shown:
        notes = []
        if detailed < shown:
            notes.append(f"Details of {plural(shown - detailed, 'listed change')} not shown.")
        if hidden:
            notes.append(f"{plural(hidden, 'more change')} not shown.")
        text += f"\n> {' '.join(notes)[:-1]}; run `fwctl plan --format json` to see all.\n"
    return text


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


def outputs_env(sdk: dict[str, Any]) -> str:
    """The SDK keyword arguments as ``export`` lines a POSIX shell can ``eval``: ``FWCTL_<KEY>``, each
    value single-quoted (``shlex.quote``), booleans as true/false; ``base_url`` also as
    ``FIREWORKS_BASE_URL``, which the SDK reads by itself."""
    import re
    import shlex

    lines = []
    for key, value in sorted(sdk.items()):
        if value is None or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        lines.append(f"export FWCTL_{key.upper()}={shlex.quote(text)}")
        if key == "base_url":
            lines.append(f"export FIREWORKS_BASE_URL={shlex.quote(text)}")
    return "".join(f"{line}\n" for line in lines)
