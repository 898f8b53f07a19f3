"""A fw-ai/cookbook provisioning config (``training/provision/*.yaml``) -> fwctl manifest documents.

Pure: the parsed YAML (with positions) in, documents and a summary out; the one fact that needs the
platform (the deployment shape linked to a training shape, the cookbook's ``deployment_shape:
null``) comes from the ``linked_shape`` callback. It follows ``training/provision/provision.py``:

- the recipe is ``--recipe``, else the file's only one; its mode is its ``mode:`` key, else its name
  (``sft``, ``rl``, ``dpo``, ``distillation`` or ``<mode>_*``; ``rft`` is ``rl``);
- ``common`` is merged under the recipe; ``trainer:`` / ``deployment:`` / ``reference_trainer:``
  name an entry of ``trainers`` / ``deployments`` (or are inline mappings);
- sft: the policy trainer; rl: the trainer, a rollout deployment bound to it, and a reference when
  ``kl_beta`` (default 0.001) > 0; dpo: the trainer and a reference; distillation: the trainer and a
  rollout deployment (the teacher is a served model, not provisioned);
- ``job_id`` / ``deployment_id`` set: adopt that job or deployment (a reference's job is imported).

``null`` means "let the platform choose" and is left out of the manifest. A key fwctl cannot express
is a located error; keys of the training loop (timeouts, tokenizer, loss knobs) are listed as left
to the script. Unknown keys of a trainer or deployment entry are errors (the cookbook would drop
them silently, so a typo there would otherwise go unseen).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from reconciler.model.problems import ManifestError, Problem
from reconciler.model.resources import (
    API_VERSION,
    Deployment,
    ReferenceTrainer,
    Stack,
    SyncBinding,
    Trainer,
)

MODES = ("sft", "rl", "distillation", "dpo")
ALIASES = {"rft": "rl"}
DEFAULT_KL_BETA = 0.001  # rl_loop.Config.kl_beta as provision.py builds it

#: cookbook TrainerConfig field -> fwctl Trainer spec field (fw-ai/cookbook training/utils/config.py)
_TRAINER_FIELDS = {"training_shape_id": "trainingShape", "job_id": "jobId", "training_job_id": "jobId",
                   "replica_count": "replicaCount", "region": "region", "inactivity_timeout": "inactivityTimeout"}
_TRAINER_IGNORED = {"accelerator_type", "accelerator_count", "node_count",  # deprecated: the shape owns them
                    "pending_timeout_s", "cleanup_reference_on_close", "reference_training_shape_id",
                    "reference_job_id", "base_model", "weight_sync_deployment", "reference", "timeout_s"}
#: set to anything but these values, fwctl has no way to say it
_TRAINER_UNMAPPABLE = {"custom_image_tag": None, "extra_args": None, "skip_validations": False,
                       "preemptible": False, "purpose": None, "managed_by": None,
                       "disable_inactivity_cleanup": False, "trainer_replica_count": None}
_DEPLOY_IGNORED = {"tokenizer_model", "tokenizer_revision", "sample_timeout", "reattach_settle_timeout_s",
                   "deployment_accelerator_type", "deployment_id", "deployment_shape", "replica_count",
                   "deployment_region", "hot_load_bucket_type", "hot_load_async_transition",
                   "weight_sync_scope", "deployment_timeout_s"}
_DEPLOY_UNMAPPABLE = {"disable_speculative_decoding": False, "enable_hot_load": True, "hot_load_trainer_job": None,
                      "deployment_extra_args": None, "extra_values": None}
_SCOPES = {"per_trainer": "perTrainer", "per_deployment": "perDeployment"}
_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass
class Converted:
    """What a conversion produced: documents (plain dicts, fwctl/v1) by file, and what to tell the user."""

    recipe: str
    mode: str
    stack: str
    files: dict[str, list[dict[str, Any]]]
    mapped: list[str] = field(default_factory=list)  # "Kind/name <- where it came from"
    left_to_script: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


class ConvertError(ManifestError):
    """What the config says that fwctl cannot map, every problem located (``FILE:LINE:COL: key.path: ...``)."""


class _Doc:
    """The parsed file and the problems found so far, located by cookbook key path."""

    def __init__(self, file: str, data: dict[str, Any], positions: dict[tuple[str, ...], tuple[int, int]]) -> None:
        self.file, self.data, self.positions = file, data, positions
        self.problems: list[Problem] = []

    def fail(self, path: tuple[str, ...], message: str) -> None:
        line, col = (1, 1)
        for end in range(len(path), 0, -1):
            if path[:end] in self.positions:
                line, col = self.positions[path[:end]]
                break
        self.problems.append(Problem(self.file, line, col, None, ".".join(path) or None, message))


def mode_of(name: str, cfg: dict[str, Any]) -> str | None:
    explicit = cfg.get("mode")
    if explicit:
        return ALIASES.get(str(explicit), str(explicit))
    for alias, target in ALIASES.items():
        if name == alias or name.startswith(f"{alias}_"):
            return target
    return next((m for m in MODES if name == m or name.startswith(f"{m}_")), None)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        result[key] = _merge(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result


def _seconds(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def stack_name(stem: str, recipe: str) -> str:
    """``fireworks_rft.yaml`` + ``rft`` -> ``fireworks-rft``; ``fireworks.yaml`` + ``rl`` -> ``fireworks-rl``."""
    base = _NAME.sub("-", stem.lower()).strip("-") or "cookbook"
    rec = _NAME.sub("-", recipe.lower()).strip("-")
    name = base if not rec or base.endswith(rec) else f"{base}-{rec}"
    return name[:30].strip("-") or "cookbook"


def _select(doc: _Doc, recipe: str | None) -> tuple[str, dict[str, Any]] | None:
    entries = doc.data.get("recipe")
    if not isinstance(entries, dict) or not entries:
        doc.fail(("recipe",), "no recipe defined: add a 'recipe:' mapping with an entry such as 'rl:'")
        return None
    if recipe is None and len(entries) != 1:
        doc.fail(("recipe",), f"several recipes are defined; pass --recipe (one of: {', '.join(sorted(entries))})")
        return None
    name = recipe if recipe is not None else next(iter(entries))
    if name not in entries:
        doc.fail(("recipe",), f"no recipe {name!r}; the file defines: {', '.join(sorted(entries))}")
        return None
    cfg = entries[name] or {}
    if not isinstance(cfg, dict):
        doc.fail(("recipe", name), f"must be a mapping (got {type(cfg).__name__})")
        return None
    return str(name), cfg


def _section(doc: _Doc, section: str, ref: Any, at: tuple[str, ...]) -> tuple[str | None, dict[str, Any],
                                                                           tuple[str, ...]]:
    """(entry name, its settings, its key path) for a ``trainer:``-style reference."""
    if ref is None:
        return None, {}, at
    if isinstance(ref, dict):
        return None, copy.deepcopy(ref), at
    entries = doc.data.get(section) or {}
    if not isinstance(ref, str) or not isinstance(entries, dict) or ref not in entries:
        known = ", ".join(sorted(entries)) if isinstance(entries, dict) else ""
        doc.fail(at, f"names {section[:-1]} {ref!r}, which {section} does not define"
                     + (f" (it defines: {known})" if known else ""))
        return None, {}, at
    found = entries[ref] or {}
    if not isinstance(found, dict):
        doc.fail((section, ref), "must be a mapping")
        return ref, {}, (section, ref)
    return ref, copy.deepcopy(found), (section, ref)


def _check_fields(doc: _Doc, at: tuple[str, ...], data: dict[str, Any], known: set[str],
                  unmappable: dict[str, Any], what: str) -> None:
    for key, value in data.items():
        if key in unmappable:
            if value != unmappable[key] and value is not None:
                doc.fail((*at, key), f"{value!r} has no fwctl equivalent; remove it (or leave it {unmappable[key]!r})")
        elif key not in known:
            doc.fail((*at, key), f"not a field of the cookbook's {what}; fwctl cannot map it")


def convert_cookbook(file: str, data: dict[str, Any], positions: dict[tuple[str, ...], tuple[int, int]], *,
                     recipe: str | None = None, stack: str | None = None,
                     linked_shape: Callable[[str], str | None] = lambda shape: None) -> Converted:
    """The manifests equivalent to ``recipe`` of a cookbook config; ``ConvertError`` lists every problem."""
    from pathlib import Path

    doc = _Doc(file, data, positions)
    chosen = _select(doc, recipe)
    if chosen is None:
        raise ConvertError(doc.problems)
    name, recipe_cfg = chosen
    at_recipe = ("recipe", name)
    mode = mode_of(name, recipe_cfg)
    if mode not in MODES:
        doc.fail((*at_recipe, "mode") if "mode" in recipe_cfg else at_recipe,
                 f"mode {mode!r} is not one of {', '.join(MODES)} (nor named after one: sft, rl, rft, dpo, "
                 "distillation, or <mode>_*)" if mode else
                 "no mode: name the recipe after one (sft, rl, rft, dpo, distillation, <mode>_*) or set mode:")
        raise ConvertError(doc.problems)
    common = doc.data.get("common") or {}
    merged = _merge(common if isinstance(common, dict) else {}, recipe_cfg)

    def where(key: str) -> tuple[str, ...]:
        """Where a merged key was written: the recipe's own, else common's."""
        return (*at_recipe, key) if key in recipe_cfg else ("common", key)

    out = Converted(name, mode, stack or stack_name(Path(file).stem, name), {})

    t_name, t_data, at_t = _section(doc, "trainers", merged.get("trainer"), where("trainer"))
    policy = t_name or "policy"
    base_model = t_data.get("base_model") or merged.get("base_model")
    if not base_model:
        doc.fail(("common",), "base_model is required (in common, the recipe or the trainer)")
    if "deployment" in t_data:
        doc.fail((*at_t, "deployment"), "ambiguous: use weight_sync_deployment for the deployment that receives "
                                        "hot-loaded weights")
    _check_fields(doc, at_t, t_data, set(_TRAINER_FIELDS) | _TRAINER_IGNORED, _TRAINER_UNMAPPABLE, "TrainerConfig")
    spec: dict[str, Any] = {"baseModel": base_model, "loraRank": merged.get("lora_rank") or 0}
    if merged.get("learning_rate") is not None:
        spec["learningRate"] = merged["learning_rate"]
    for key, target in _TRAINER_FIELDS.items():
        if t_data.get(key) is not None:
            spec[target] = _seconds(t_data[key]) if target == "inactivityTimeout" else t_data[key]
    if merged.get("max_seq_len") is not None:
        if "trainingShape" in spec:
            doc.fail(where("max_seq_len"), "cannot be combined with training_shape_id in fwctl (the shape fixes the "
                                           "context length); set it to null or drop the training shape")
        else:
            spec["maxContextLength"] = merged["max_seq_len"]
    if t_data.get("timeout_s") is not None:
        spec["timeouts"] = {"create": _seconds(t_data["timeout_s"])}
    trainer_doc = _document(Trainer, policy, spec)
    trainers = [trainer_doc]
    adopted = f" (adopts job {spec['jobId']})" if "jobId" in spec else ""
    out.mapped.append(f"{_address(trainer_doc)} <- {'.'.join(at_t)}{adopted}")
    if mode == "sft" and merged.get("serverless"):
        doc.fail(where("serverless"), "serverless SFT provisions nothing: fwctl has nothing to declare")

    needs_reference = mode == "dpo" or (mode == "rl" and float(merged.get("kl_beta", DEFAULT_KL_BETA) or 0) > 0)
    if needs_reference:
        trainers.append(_reference(doc, out, merged, t_data, policy, at_t, where))
    out.files["10-trainers.yaml"] = trainers

    if mode in ("rl", "distillation"):
        dep_ref = merged.get("deployment") or t_data.get("weight_sync_deployment")
        at_ref = where("deployment") if merged.get("deployment") else (
            (*at_t, "weight_sync_deployment") if dep_ref else at_recipe)  # none named: DeployConfig's defaults
        out.files["20-serving.yaml"] = _serving(doc, out, dep_ref, at_ref, policy, str(base_model or ""),
                                                spec.get("trainingShape"), linked_shape)
        if mode == "distillation":
            if not merged.get("teacher_model"):
                doc.fail(at_recipe, "teacher_model is required for distillation")
            else:
                out.left_to_script.append(f"teacher_model {merged['teacher_model']} (a served model the script "
                                          "samples; nothing to provision)")
    elif merged.get("deployment") or t_data.get("weight_sync_deployment"):
        out.left_to_script.append(f"the deployment: a {mode} recipe provisions none")

    loop_keys = sorted(k for k in merged if k not in {"base_model", "lora_rank", "learning_rate", "max_seq_len",
                                                         "trainer", "deployment", "reference_trainer", "reference",
                                                         "mode", "teacher_model", "serverless"})
    out.left_to_script += [f"{k} = {merged[k]!r}" for k in loop_keys if not isinstance(merged[k], dict)]
    out.left_to_script += [f"{k} (a mapping)" for k in loop_keys if isinstance(merged[k], dict)]
    if doc.problems:
        raise ConvertError(doc.problems)
    stack_doc = {"apiVersion": API_VERSION, "kind": kind_name(Stack), "metadata": {"name": out.stack}}
    out.files = {"00-stack.yaml": [stack_doc], **out.files}
    return out


def _document(model: type[BaseModel], name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind_name(model), "metadata": {"name": name}, "spec": spec}


def kind_name(model: type[BaseModel]) -> str:
    """The ``kind:`` a document of ``model`` carries (the models are the one place kinds are named)."""
    return str(model.model_fields["kind"].default)


def _address(document: dict[str, Any]) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


def _reference(doc: _Doc, out: Converted, merged: dict[str, Any], t_data: dict[str, Any], policy: str,
               at_t: tuple[str, ...], where: Callable[[str], tuple[str, ...]]) -> dict[str, Any]:
    ref = merged.get("reference_trainer") or merged.get("reference") or t_data.get("reference")
    at_ref = where("reference_trainer") if merged.get("reference_trainer") else (
        where("reference") if merged.get("reference") else (*at_t, "reference"))
    r_name, r_data, at_r = _section(doc, "trainers", ref, at_ref)
    if ref is not None:
        _check_fields(doc, at_r, r_data, set(_TRAINER_FIELDS) | _TRAINER_IGNORED, _TRAINER_UNMAPPABLE,
                      "TrainerConfig")
    shape = r_data.get("training_shape_id") or t_data.get("reference_training_shape_id")
    job = r_data.get("job_id") or r_data.get("training_job_id") or t_data.get("reference_job_id")
    spec: dict[str, Any] = {"policy": policy}
    if shape:
        spec["trainingShape"] = shape
    name = r_name if r_name and r_name != policy else "reference"
    document = _document(ReferenceTrainer, name, spec)
    how = "a separate forward-only job" if shape else (
        "a shared session of the LoRA policy" if merged.get("lora_rank") else "a forward-only job, shape auto-selected")
    out.mapped.append(f"{_address(document)} <- {'.'.join(at_r) if ref is not None else 'the recipe'} ({how})")
    if job:
        out.next_steps.append(f"fwctl import -f DIR {_address(document)} {job}   # reattach the reference job "
                              "before the first apply")
    return document


def _serving(doc: _Doc, out: Converted, dep_ref: Any, at_ref: tuple[str, ...], policy: str, base_model: str,
             training_shape: str | None, linked_shape: Callable[[str], str | None]) -> list[dict[str, Any]]:
    d_name, d_data, at_d = _section(doc, "deployments", dep_ref, at_ref)
    _check_fields(doc, at_d, d_data, _DEPLOY_IGNORED, _DEPLOY_UNMAPPABLE, "DeployConfig")
    name = d_name or "rollout"
    spec: dict[str, Any] = {"baseModel": base_model}
    shape = d_data.get("deployment_shape")
    origin = ""
    if shape is None:
        if not training_shape:
            doc.fail((*at_d, "deployment_shape"), "null means the shape linked to the training shape, but the "
                                                  "trainer sets no training_shape_id: set deployment_shape")
        else:
            shape = linked_shape(training_shape)
            origin = f" (deployment_shape: the one linked to {training_shape})"
            if shape is None:
                doc.fail((*at_d, "deployment_shape"), f"null means the shape linked to {training_shape}, and the "
                                                      "platform names none: set deployment_shape")
    if shape:
        spec["deploymentShape"] = shape
    replicas = d_data.get("replica_count")
    if replicas is not None:
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
            doc.fail((*at_d, "replica_count"), f"must be a whole number >= 1 for a rollout deployment (got {replicas!r})")
        else:
            spec["replicas"] = {"min": replicas, "max": replicas}
    if d_data.get("deployment_region"):
        spec["region"] = d_data["deployment_region"]
    hot_load: dict[str, Any] = {"enabled": True}
    if d_data.get("hot_load_bucket_type"):
        hot_load["bucketType"] = d_data["hot_load_bucket_type"]
    if d_data.get("hot_load_async_transition"):
        hot_load["transition"] = "ASYNC"
    spec["hotLoad"] = hot_load
    if d_data.get("deployment_id"):
        spec["deploymentId"] = d_data["deployment_id"]
    if d_data.get("deployment_timeout_s") is not None:
        spec["timeouts"] = {"create": _seconds(d_data["deployment_timeout_s"])}
    deployment = _document(Deployment, name, spec)
    scope_value = d_data.get("weight_sync_scope") or "per_trainer"
    scope = _SCOPES.get(str(scope_value).lower().removeprefix("weightsyncscope."))
    if scope is None:
        doc.fail((*at_d, "weight_sync_scope"), f"must be per_trainer or per_deployment (got {scope_value!r})")
    binding = _document(SyncBinding, f"{policy}-to-{name}", {"trainer": policy, "deployment": name,
                                                                "scope": scope or "perTrainer"})
    adopted = f" (adopts deployment {spec['deploymentId']})" if "deploymentId" in spec else ""
    out.mapped.append(f"{_address(deployment)} <- {'.'.join(at_d)}{adopted}{origin}")
    out.mapped.append(f"{_address(binding)} <- the recipe's deployment receives the trainer's weights "
                      f"({scope or 'perTrainer'})")
    ignored = [k for k in ("tokenizer_model", "sample_timeout") if d_data.get(k) is not None]
    out.left_to_script += [f"{'.'.join(at_d)}.{k} = {d_data[k]!r}" for k in ignored]
    return [deployment, binding]


__all__ = ["ALIASES", "MODES", "ConvertError", "Converted", "convert_cookbook", "mode_of", "stack_name"]
