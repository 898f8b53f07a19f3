"""The machine-readable plan: what ``fwctl plan --json`` and ``fwctl show --json FILE`` print.

Published as ``schemas/plan.schema.json``. ``format_version`` (first key) is raised whenever a
field changes meaning or is removed; adding a field does not raise it. One object::

    format_version   int     2 (2: per-kind `settings` replaced `extras`)
    created_at       string  RFC 3339 time the plan was made
    fwctl_version    string
    stack            string  the stack planned
    endpoint         string  control plane URL ("local" for the embedded one)
    account          string  the account the API key resolved to
    state_lineage    string|null  lineage of the state the plan was made from (or will create)
    state_serial     int     serial of that state; 0 when there was none
    manifests_digest string  sha256 of the canonical manifests
    destroy          bool    planned by `fwctl destroy` / `plan --destroy`
    refresh_only     bool
    targets          [string]  the --target addresses of a partial plan ([]: the whole stack)
    changes          list, in execution order, one per resource:
        address          "Kind/name", e.g. "Trainer/policy" ("Trainer/policy#deposed-<job id>":
                         a job replaced with createBeforeDestroy, deleted once its successor is used)
        kind             "Trainer" | "ReferenceTrainer" | "Deployment" | "SyncBinding"
        action           one of create, update, replace, resume, reattach, scale-up,
                         scale-to-zero, delete, forget, hotload, no-op
        actions          the action as an ordered Terraform-style list: ["create"], ["update"],
                         ["delete", "create"] for replace, ["resume"], ["no-op"], ...
        remote_id        the remote id acted on (the new one for create/replace), or null
        prior_remote_id  replace: the id being removed
        before, after    the compared configuration (objects keyed by manifest path) or null
        diffs            [{path, before, after, forces_replacement}]
        reasons          human explanations; never decide on them
        replace_paths    the paths that force a replacement
        depends_on       addresses that must be ready first
        after_created    addresses that must merely exist first
        settings         the kind's apply settings outside the compared configuration
    warnings         [{file, line, col, address, field, message}]: risky choices the platform
                     allows (e.g. a shapeless deployment), located like manifest errors; never block
    summary          {action: count} over all changes (no-ops included)

A policy decides from this alone, e.g. "no trainer replaced"::

    replaced = [c["address"] for c in plan["changes"]
                if c["kind"] in ("Trainer", "ReferenceTrainer") and c["actions"] == ["delete", "create"]]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.model.plan import Change, Plan

Step = Literal[
    "create", "update", "delete", "resume", "reattach", "scale-up", "scale-to-zero", "forget", "hotload", "no-op"
]


class PlanChangeDocument(Change):
    """One change as printed: the :class:`Change` plus its ordered ``actions``."""

    actions: list[Step] = Field(min_length=1)


class PlanDocument(Plan):
    """The plan as printed: the :class:`Plan` value plus per-change ``actions`` and a ``summary``."""

    changes: tuple[PlanChangeDocument, ...] = ()
    summary: dict[str, int] = Field(default_factory=dict)
