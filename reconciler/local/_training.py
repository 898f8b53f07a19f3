"""The trainer's training API: sessions, models, futures, losses and weights over the tiny model.

Each RUNNING trainer job serves the Tinker JSON protocol that the fireworks-ai SDK's
``FiretitanTrainingClient`` and ``tinker`` speak on its gateway (``/api/v1/...``; the HTTP side is
``_training_routes``). Behind it is a real :class:`TinyModel` per created model, so logprobs are
log-probabilities of that model, ``forward_backward`` accumulates exact gradients and ``optim_step``
applies Adam to them: the loss of a repeated batch falls.

Wire facts (read from the installed SDKs): every training call answers an ``UntypedAPIFuture``
(``{"request_id", "model_id"}``) and its result comes from ``retrieve_future``; a failed request's
result is ``{"error", "category"}`` (``user`` for the caller's mistakes). A datum's
``model_input.chunks`` are ``encoded_text`` token lists; ``loss_fn_inputs`` are ``TensorData``
(``{"data", "dtype", "shape"}``, optionally CSR-sparse). ``logprobs[i]`` is ``log p(target[i] |
input[..i])``; the built-in losses are sums over tokens, as tinker's are.

Assumptions where the sources are silent (the least forgiving choice, as on the platform):

- A forward-only trainer (``forwardOnly``) and a base-only model (a LoRA trainer serving the shared
  reference with adapters disabled) refuse ``forward_backward`` and ``optim_step`` at submission with
  HTTP 400; nothing is accumulated.
- ``create_model`` must name the trainer's base model; a LoRA rank must equal the trainer's
  ``loraRank`` (a full-parameter trainer takes rank 0 only).
- Futures are kept until the trainer's runtime is dropped (job deleted or replaced); an unknown
  request id is a 404. Runtime state (sessions, models, accumulated gradients) lives in the serving
  process; saved states and sampler snapshots are in the store and survive a restart.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reconciler.local._errors import invalid, not_found
from reconciler.local._plane import Plane
from reconciler.local._store import Doc
from reconciler.local._tiny_model import Adam, TinyModel, Weights
from reconciler.local._training_losses import LOSSES, LossResult, tensor, tensor_json
from reconciler.local._weights import base_model

LOSS_OUTPUT_TYPE = "ArrayRecord"
NORMALIZATIONS = ("num_loss_tokens", "num_sequences", "none")


@dataclass
class _Model:
    model_id: str
    base_model: str
    model: TinyModel
    base_only: bool
    adam: Adam = field(default_factory=Adam)
    grads: Weights | None = None
    loss_tokens: int = 0
    sequences: int = 0


@dataclass
class _Runtime:
    """One trainer job's serving state (a job re-created under the same id gets a new one)."""

    created: str
    sessions: set[str] = field(default_factory=set)
    models: dict[str, _Model] = field(default_factory=dict)
    futures: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: itertools.count = field(default_factory=itertools.count)


class Training:
    """The training API of every trainer of the plane."""

    def __init__(self, plane: Plane, create_snapshot: Callable[[str, str, Any], dict[str, Any]]) -> None:
        self.plane = plane
        self._create_snapshot = create_snapshot
        self._runtimes: dict[tuple[str, str], _Runtime] = {}
        self._lock = threading.RLock()

    # -- plumbing ---------------------------------------------------------------------------------

    def _runtime(self, account: str, job: str, doc: Doc) -> _Runtime:
        created = str(doc.get("createTime", ""))
        runtime = self._runtimes.get((account, job))
        if runtime is None or runtime.created != created:
            runtime = self._runtimes[(account, job)] = _Runtime(created)
        return runtime

    @staticmethod
    def _future(runtime: _Runtime, model_id: str | None, result: dict[str, Any]) -> dict[str, Any]:
        request_id = f"req-{next(runtime.seq)}-{uuid.uuid4().hex[:8]}"
        runtime.futures[request_id] = result
        return {"request_id": request_id, "model_id": model_id} if model_id else {"request_id": request_id}

    @staticmethod
    def _model(runtime: _Runtime, body: Mapping[str, Any]) -> _Model:
        model_id = body.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            raise invalid("model_id: a model id from create_model is required")
        found = runtime.models.get(model_id)
        if found is None:
            raise not_found(f"model {model_id!r} not found on this trainer (create it with create_model)")
        return found

    def dispatch(self, account: str, job: str, doc: Doc, op: str, body: Mapping[str, Any]) -> Any:
        """Run one training call; ``op`` is the path after ``/api/v1/``."""
        handler = _OPS.get(op)
        if handler is None:
            return None
        with self._lock:
            runtime = self._runtime(account, job, doc)
            return handler(self, runtime, account, job, doc, body)

    # -- sessions and models ----------------------------------------------------------------------

    def create_session(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        session_id = str(uuid.uuid4())
        rt.sessions.add(session_id)
        return {"type": "create_session", "session_id": session_id}

    def session_heartbeat(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        if body.get("session_id") not in rt.sessions:
            raise not_found(f"session {body.get('session_id')!r} not found on this trainer")
        return {"type": "session_heartbeat"}

    def create_model(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        if body.get("session_id") not in rt.sessions:
            raise not_found(f"session {body.get('session_id')!r} not found on this trainer (create_session first)")
        tc = doc["trainingConfig"]
        wanted, have = str(body.get("base_model", "")), str(tc["baseModel"])
        if wanted != have:
            raise invalid(f"base_model {wanted!r}: this trainer serves {have!r}")
        trainer_rank = int(tc.get("loraRank") or 0)
        lora = body.get("lora_config") or {}
        rank = int(lora.get("rank") or 0) if isinstance(lora, Mapping) else 0
        base_only = body.get("base_only") is True
        if base_only and not trainer_rank:
            raise invalid("base_only: a base-only model needs a LoRA trainer (adapters disabled); "
                          f"trainer {job} trains all parameters")
        if not base_only and rank != trainer_rank:
            raise invalid(f"lora_config.rank {rank}: trainer {job} was created with loraRank {trainer_rank}")
        model = base_model(have, self.plane.catalog.models.get(have), trainer_rank)
        model_id = f"{job}-model-{len(rt.models)}"
        rt.models[model_id] = _Model(model_id, have, model, base_only)
        result = {"type": "create_model", "model_id": model_id, "comms": "v1",
                  "supports_rdma_weight_sync": False, "supports_reinforce": True}
        return self._future(rt, model_id, result)

    def get_info(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        rank = 0 if m.base_only else m.model.lora_rank
        data = {"arch": "fwctl-local-tiny-bigram", "model_name": m.base_model}
        tokenizer = (self.plane.catalog.models.get(m.base_model) or {}).get("tokenizer")
        if tokenizer:  # the Hugging Face tokenizer id, when the catalog names one
            data["tokenizer_id"] = str(tokenizer)
        return {"type": "get_info", "model_id": m.model_id, "model_name": m.base_model, "is_lora": bool(rank),
                "lora_rank": rank or None, "model_data": data}

    def unload_model(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        del rt.models[m.model_id]
        return self._future(rt, m.model_id, {"type": "unload_model", "model_id": m.model_id})

    # -- forward, backward, optimizer -------------------------------------------------------------

    def _run_loss(self, m: _Model, doc: Doc, body: Mapping[str, Any], key: str, backward: bool) -> dict[str, Any]:
        spec = body.get(key)
        if not isinstance(spec, Mapping):
            raise invalid(f"{key}: required (data, loss_fn, loss_fn_config)")
        loss_name = spec.get("loss_fn")
        loss = LOSSES.get(str(loss_name))
        if loss is None:
            known = ", ".join(sorted(LOSSES))
            raise invalid(f"{key}.loss_fn {loss_name!r} is not emulated by the local control plane (use {known})")
        config = spec.get("loss_fn_config") or {}
        data = spec.get("data")
        if not isinstance(data, list) or not data:
            raise invalid(f"{key}.data: a non-empty list of datums is required")
        adapters = not m.base_only
        outputs: list[dict[str, Any]] = []
        total = 0.0
        grads: Weights = {}
        tokens = sequences = 0
        for index, datum in enumerate(data):
            where = f"{key}.data[{index}]"
            inputs, fields = _datum(datum, where)
            limit = int(doc["trainingConfig"].get("maxContextLength") or 0)
            if limit and len(inputs) > limit:
                raise invalid(f"{where}: {len(inputs)} tokens exceed the trainer's max context length {limit}")
            targets = fields.get("target_tokens")
            if targets is None:
                raise invalid(f"{where}.loss_fn_inputs.target_tokens: required")
            try:
                target_ids = [int(t) for t in targets]
                logp = m.model.logprobs(inputs, target_ids, adapters=adapters)
                result: LossResult = loss(logp, fields, config, where)
                if backward:
                    part = m.model.backward(inputs, target_ids, [float(c) for c in result.dloss])
                    for name, g in part.items():
                        grads[name] = grads[name] + g if name in grads else g
            except ValueError as err:
                raise invalid(f"{where}: {err}") from None
            nonzero = int(np.count_nonzero(result.dloss))
            tokens += nonzero
            sequences += 1 if nonzero else 0
            total += result.loss
            outputs.append({"logprobs": tensor_json(logp), "elementwise_loss": tensor_json(result.elementwise)})
        if backward:
            if m.grads is None:
                m.grads = grads
            else:
                for name, g in grads.items():
                    m.grads[name] = m.grads[name] + g
            m.loss_tokens += tokens
            m.sequences += sequences
        return {"loss_fn_output_type": LOSS_OUTPUT_TYPE, "loss_fn_outputs": outputs, "metrics": {"loss:sum": total}}

    def _trainable(self, m: _Model, doc: Doc, job: str, what: str) -> None:
        if doc.get("forwardOnly"):
            raise invalid(f"{what} is not available: trainer {job} is a forward-only trainer "
                          "(trainer mode FORWARD_ONLY); it serves forward only")
        if m.base_only:
            raise invalid(f"{what} is not available on a base-only model (LoRA adapters disabled): "
                          "it serves reference forward passes only")

    def forward(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        return self._future(rt, m.model_id, self._run_loss(m, doc, body, "forward_input", backward=False))

    def forward_backward(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        self._trainable(m, doc, job, "forward_backward")
        return self._future(rt, m.model_id, self._run_loss(m, doc, body, "forward_backward_input", backward=True))

    def optim_step(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        self._trainable(m, doc, job, "optim_step")
        params = body.get("adam_params")
        if not isinstance(params, Mapping):
            raise invalid("adam_params: required (learning_rate, beta1, beta2, eps, weight_decay, grad_clip_norm)")
        normalization = body.get("grad_accumulation_normalization") or "none"
        if normalization not in NORMALIZATIONS:
            raise invalid(f"grad_accumulation_normalization {normalization!r}: use one of {', '.join(NORMALIZATIONS)}")
        kwargs: dict[str, float] = {}
        for name in ("learning_rate", "beta1", "beta2", "eps", "weight_decay", "grad_clip_norm"):
            if name in params:
                value = params[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise invalid(f"adam_params.{name}: a number is required")
                kwargs[name] = float(value)
        if kwargs.get("learning_rate", 1e-4) < 0:
            raise invalid("adam_params.learning_rate must be >= 0")
        grads = m.grads or {name: np.zeros_like(m.model.weights[name]) for name in m.model.trainable}
        divisor = {"num_loss_tokens": m.loss_tokens, "num_sequences": m.sequences}.get(str(normalization), 1)
        if divisor > 1:
            grads = {name: g / divisor for name, g in grads.items()}
        metrics = m.adam.step(m.model, grads, **kwargs)
        m.grads, m.loss_tokens, m.sequences = None, 0, 0
        return self._future(rt, m.model_id, {"type": "optim_step", "metrics": {"step": float(m.adam.t), **metrics}})

    # -- weights ----------------------------------------------------------------------------------

    def _state_key(self, account: str, job: str, name: str) -> str:
        return f"state:{account}/{job}/{name}"

    def save_weights(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        name = _name(body.get("path") or f"step-{m.adam.t}", "path")
        key = self._state_key(account, job, name)
        if self.plane.weights.has(key):
            raise invalid(f"path {name!r}: a training state of that name exists on trainer {job}; use a new name")
        self.plane.weights.save(key, m.model)
        self.plane.weights.save_optimizer(key, m.adam)
        return self._future(rt, m.model_id, {"type": "save_weights", "path": name})

    def load_weights(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        path = str(body.get("path") or "")
        source_job, name = job, path
        if path.startswith("cross_job://"):
            source_job, _, name = path[len("cross_job://"):].partition("/")
        key = self._state_key(account, source_job, _name(name, "path"))
        saved = self.plane.weights.load(key)
        if saved is None:
            raise not_found(f"training state {path!r} not found (save it with save_state first)")
        if (saved.vocab, saved.buckets, saved.dim, saved.lora_rank) != (
                m.model.vocab, m.model.buckets, m.model.dim, m.model.lora_rank):
            raise invalid(f"path {path!r}: the saved state does not fit this model (another shape or LoRA rank)")
        m.model.weights = {k: v.copy() for k, v in saved.weights.items()}
        m.adam = (self.plane.weights.load_optimizer(key) or Adam()) if body.get("optimizer") else Adam()
        m.grads = None
        return self._future(rt, m.model_id, {"type": "load_weights", "path": path})

    def save_weights_for_sampler(self, rt: _Runtime, account: str, job: str, doc: Doc,
                                 body: Mapping[str, Any]) -> Any:
        m = self._model(rt, body)
        if m.base_only:
            raise invalid("save_weights_for_sampler is not available on a base-only model: nothing is trained")
        name = _name(body.get("path") or f"step-{m.adam.t}", "path")
        snapshot = self._create_snapshot(account, job, {"name": name})
        identity = str(snapshot["identity"])
        self.plane.weights.save(identity, m.model)
        return self._future(rt, m.model_id, {"type": "save_weights_for_sampler", "path": identity})

    def list_checkpoints(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        prefix = self._state_key(account, job, "")
        names = sorted(k[len(prefix):] for k in self.plane.weights.identities(prefix))
        return {"checkpoints": names}

    # -- futures ----------------------------------------------------------------------------------

    def retrieve_future(self, rt: _Runtime, account: str, job: str, doc: Doc, body: Mapping[str, Any]) -> Any:
        request_id = body.get("request_id")
        result = rt.futures.get(str(request_id))
        if result is None:
            raise not_found(f"request {request_id!r} not found on this trainer")
        return result


def _name(value: Any, where: str) -> str:
    name = str(value).strip()
    if not name or len(name) > 128 or not all(c.isalnum() or c in "._-" for c in name):
        raise invalid(f"{where} {value!r}: use letters, digits, '.', '_' and '-' (up to 128)")
    return name


def _datum(raw: Any, where: str) -> tuple[list[int], dict[str, np.ndarray]]:
    if not isinstance(raw, Mapping):
        raise invalid(f"{where}: a datum object is required")
    model_input = raw.get("model_input")
    chunks = model_input.get("chunks") if isinstance(model_input, Mapping) else None
    if not isinstance(chunks, list):
        raise invalid(f"{where}.model_input.chunks: required")
    tokens: list[int] = []
    for i, chunk in enumerate(chunks):
        kind = chunk.get("type") if isinstance(chunk, Mapping) else None
        if kind != "encoded_text":
            raise invalid(f"{where}.model_input.chunks[{i}]: {kind!r} chunks are not supported by this trainer "
                          "(encoded_text only)")
        values = chunk.get("tokens")
        if not isinstance(values, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in values):
            raise invalid(f"{where}.model_input.chunks[{i}].tokens: a list of token ids is required")
        tokens += values
    inputs = raw.get("loss_fn_inputs") or {}
    if not isinstance(inputs, Mapping):
        raise invalid(f"{where}.loss_fn_inputs: an object of tensors is required")
    fields = {str(k): tensor(v, f"{where}.loss_fn_inputs.{k}") for k, v in inputs.items()}
    for name, array in fields.items():
        if array.shape != (len(tokens),):
            raise invalid(f"{where}.loss_fn_inputs.{name}: {array.size} values for a model input of {len(tokens)} "
                          "tokens")
    return tokens, fields


_OPS: dict[str, Callable[..., Any]] = {
    "create_session": Training.create_session,
    "session_heartbeat": Training.session_heartbeat,
    "create_model": Training.create_model,
    "get_info": Training.get_info,
    "unload_model": Training.unload_model,
    "forward": Training.forward,
    "forward_backward": Training.forward_backward,
    "optim_step": Training.optim_step,
    "save_weights": Training.save_weights,
    "load_weights": Training.load_weights,
    "save_weights_for_sampler": Training.save_weights_for_sampler,
    "list_checkpoints": Training.list_checkpoints,
    "retrieve_future": Training.retrieve_future,
}

__all__ = ["Training"]
