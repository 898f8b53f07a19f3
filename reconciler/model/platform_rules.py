"""Platform rules a manifest can break on its own, refused at validate/plan time (issue 13).

The platform refuses these at create time (cookbook ``error-reference.md`` / ``rl-hotload.md``); the
local plane models the same refusals (``reconciler/local/_platform_rules.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

CONTEXT_MULTIPLE = 16


def context_length_rules(value: int | None) -> list[tuple[str, str]]:
    """``maxContextLength`` must be divisible by 16 ("Context length rejected (must be divisible by 16)")."""
    if value is None or value % CONTEXT_MULTIPLE == 0:
        return []
    rounded = value // CONTEXT_MULTIPLE * CONTEXT_MULTIPLE
    return [("maxContextLength", f"{value} must be divisible by {CONTEXT_MULTIPLE} (round it down to {rounded})")]


def scope_mix_rules(seen: dict[str, Any], binding: str, scope: str, trainer: str,
                    deployment: str) -> Iterator[tuple[str, str, str]]:
    """One trainer in both weight-sync scopes. A perDeployment trainer's bucket is keyed by its deployment,
    so it cannot also be another deployment's perTrainer source: the platform refuses that pair with
    "hotload flow mismatch: trainer T is deployment-first-keyed for deployment D ..."."""
    scopes: dict[str, tuple[str, str, str]] = seen.setdefault("scopes", {})
    first, first_scope, first_deployment = scopes.setdefault(trainer, (binding, scope, deployment))
    if first_scope == scope:
        return
    keyed = first_deployment if first_scope == "perDeployment" else deployment
    yield ("scope", f"{trainer} is bound {first_scope} to {first_deployment} by {{first}} and {scope} to "
           f"{deployment} here: a perDeployment trainer is keyed to {keyed} and cannot feed another deployment "
           "(hotload flow mismatch); use one scope for this trainer", first)
