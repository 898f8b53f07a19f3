"""The deployments' inference endpoint: ``POST /inference/v1/completions``, answered by a tiny real model.

The wire is the one the official SDK's ``DeploymentSampler`` speaks (``fireworks/training/sdk/sampling.py``)
and its ``DeploymentManager`` probes (``deployment.py``: ``_probe_inference``, ``warmup``):

- ``model``: ``accounts/<a>/deployments/<id>``; or a base model with the deployment after ``#``
  (``accounts/fireworks/models/qwen3-8b#accounts/<a>/deployments/<id>``) or in a
  ``fireworks-deployment`` header (as the hot-load API takes it). A base model alone is serverless
  inference, which the local plane does not serve (404).
- ``prompt``: token ids (a string is taken as its UTF-8 bytes: the local plane has no tokenizer);
  ``max_tokens``, ``temperature``, ``top_p``, ``top_k``, ``seed``, ``n``, ``stream`` (SSE chunks, then
  ``data: [DONE]``), ``logprobs`` (``choices[].logprobs.content[]`` with ``token_id``, ``logprob`` - the
  model's log-probability - and ``sampling_logprob`` - the sampling distribution's, after temperature,
  top-k and top-p), ``echo`` / ``echo_last`` (the prompt, or its last N tokens, comes back first in
  ``raw_output.completion_token_ids`` and in the logprobs; the first prompt token, which has no context,
  gets the uniform log-probability), ``raw_output`` (``prompt_token_ids``, ``completion_token_ids``,
  ``completion``), ``return_token_ids`` (``choices[].prompt_token_ids``). Unknown fields are refused (400),
  as are features the local plane does not emulate (routing matrices, Parquet sampling references, images).
- Text: no tokenizer, so a token is rendered ``<ID>``. ``finish_reason`` is ``length`` (no stop tokens).

The answer comes from the :class:`TinyModel` of the snapshot the deployment serves now (``_hotload``'s
status: its newest loaded adapter, else its current snapshot; the base model before any hot load), from
the plane's ``WeightStore``; so a hot load visibly changes what is sampled.

Errors, in the OpenAI-style envelope of the inference API (``{"error": {"object": "error", "type",
"code", "message"}}``): 404 for an unknown deployment, 503 ``UNAVAILABLE`` while no replica serves yet
(CREATING, FAILED, or parked at ``maxReplicaCount: 0``), ``503 DEPLOYMENT_SCALING_UP`` while a ``min: 0``
deployment is scaled to zero or cold-starting (the request starts the scale-up: ``_autoscale``), and
whatever an armed inference outage says (``PUT /_local/v1/inference``). Each served request is traffic:
it resets the idle windows of ``_autoscale``.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from reconciler.local import _autoscale as autoscale
from reconciler.local import _lifecycle as life
from reconciler.local._errors import invalid
from reconciler.local._plane import Plane
from reconciler.local._store import Doc
from reconciler.local._tiny_model import TinyModel
from reconciler.local._validate import check_object
from reconciler.local._weights import base_model

COMPLETION_BODY = {
    "model": "str", "prompt": "any", "max_tokens": "int", "temperature": "num", "top_p": "num", "top_k": "int",
    "seed": "int", "n": "int", "stream": "bool", "logprobs": "any", "top_logprobs": "int", "echo": "bool",
    "echo_last": "int", "raw_output": "bool", "return_token_ids": "bool", "perf_metrics_in_response": "bool",
    "prompt_cache_key": "str", "stop": "any", "user": "str", "min_p": "num", "frequency_penalty": "num",
    "presence_penalty": "num", "repetition_penalty": "num", "ignore_eos": "bool",
    "context_length_exceeded_behavior": "str", "max_completion_tokens": "int",
}
NOT_EMULATED = ("include_routing_matrix", "routing_matrix_format", "top_sampling_logprobs", "top_sampling_format",
                "sampling_mask", "images", "r3_ttl_seconds")
MAX_TOKENS = 4096
DEPLOYMENT_RE = re.compile(r"^accounts/([^/]+)/deployments/([^/#]+)$")
INFERENCE_BODY = {"deploymentsStayCreating": "bool", "deployment": "str", "status": "int", "message": "str",
                  "account": "str"}


class InferenceError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        kind = "invalid_request_error" if self.status == 400 else "error"
        return JSONResponse({"error": {"object": "error", "type": kind, "code": self.code, "message": self.message}},
                            status_code=self.status, headers=self.headers)


class Inference:
    """Completions against the deployments of one plane; outages armed per deployment (admin)."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self.outages: dict[tuple[str, str], tuple[int, str]] = {}  # (account, deployment) -> (status, message)
        self._models: dict[tuple[str, str], TinyModel] = {}  # (base model, identity) -> model (cache)

    # -- which deployment, which model --------------------------------------------------------------

    def _deployment(self, model: str, header: str | None) -> tuple[str, str]:
        named = header or ""
        if "#" in model:
            model, _, named = model.partition("#")
        match = DEPLOYMENT_RE.match(model)
        if match is None:
            match = DEPLOYMENT_RE.match(named)
            if match is None:
                raise InferenceError(404, "NOT_FOUND", f"Model not found, inaccessible, and/or not deployed: {model}"
                                     " (the local control plane serves deployments only: model "
                                     "accounts/<a>/deployments/<id>)")
        account, dep = match.group(1), match.group(2)
        if account != self.plane.account:
            raise InferenceError(403, "PERMISSION_DENIED", f"the API key has no access to account {account!r}")
        return account, dep

    def _serving_model(self, doc: Doc, state: str, now: float) -> tuple[TinyModel, str | None]:
        replicas = life.hotload_status(doc, state, now, self.plane.speed)["replicas"]
        identity = None
        if replicas:
            first = replicas[0]
            adapters = [a["identity"] for a in first.get("loaded_adapters", [])]
            identity = adapters[-1] if adapters else first.get("current_snapshot_identity")
        key = (str(doc["baseModel"]), identity or "")
        cached = self._models.get(key)
        if cached is None:
            loaded = self.plane.weights.load(identity) if identity else None
            # a snapshot without saved weights (an admin-made one) serves the base model's weights
            cached = loaded or base_model(key[0], self.plane.catalog.models.get(key[0]))
            if len(self._models) > 64:
                self._models.clear()
            self._models[key] = cached
        return cached, identity

    def _admit(self, account: str, dep: str) -> tuple[Doc, str, float]:
        """The deployment, if a replica can answer now; records the request (traffic, or a wake-up)."""
        plane, speed = self.plane, self.plane.speed
        with plane.store.atomic():
            now = plane.clock()
            doc = plane.store.get_deployment(account, dep)
            state = life.deployment_state(doc, now, speed) if doc else None
            if doc is None or state is None or state == "DELETING":
                raise InferenceError(404, "NOT_FOUND", f"Model not found, inaccessible, and/or not deployed: "
                                     f"accounts/{account}/deployments/{dep}")
            outage = self.outages.get((account, dep))
            if outage is not None:
                raise InferenceError(outage[0], "UNAVAILABLE" if outage[0] >= 500 else "INVALID_ARGUMENT", outage[1])
            if int(doc["maxReplicaCount"]) == 0:
                raise InferenceError(503, "UNAVAILABLE", f"deployment {dep} is scaled to zero (maxReplicaCount 0); "
                                     "raise maxReplicaCount to serve requests")
            if state in ("CREATING", "FAILED"):
                raise InferenceError(503, "UNAVAILABLE", f"deployment {dep} is {state}: no replica is serving",
                                     {"Retry-After": "1"})
            waking = life.current_replicas(state, doc, now, speed) == 0
            if waking and not autoscale.scaling_up(doc, now, speed):
                doc["wakeAt"], doc["hotload"] = now, None  # new pods: they start from the base weights
            elif not waking:
                doc["lastRequestAt"] = now
            plane.store.put_deployment(account, dep, doc)  # committed before any answer
        if waking:
            raise InferenceError(503, "DEPLOYMENT_SCALING_UP", f"Deployment accounts/{account}/deployments/{dep} "
                                 "is scaled to zero and is scaling up; retry in a few minutes", {"Retry-After": "1"})
        return doc, state, now

    # -- the completion ----------------------------------------------------------------------------

    def complete(self, raw: Any, header: str | None) -> dict[str, Any] | Iterator[str]:
        if not isinstance(raw, dict):
            raise InferenceError(400, "INVALID_ARGUMENT", "body: expected a JSON object")
        for key in raw:
            if key in NOT_EMULATED:
                raise InferenceError(400, "INVALID_ARGUMENT", f"{key} is not emulated by the local control plane")
            if key not in COMPLETION_BODY:
                raise InferenceError(400, "INVALID_ARGUMENT", f"{key}: extra inputs are not permitted")
        try:
            body = check_object({k: v for k, v in raw.items() if COMPLETION_BODY[k] != "any"},
                                {k: t for k, t in COMPLETION_BODY.items() if t != "any"}, "completion")
        except Exception as err:  # ApiError: the same message, in the inference envelope
            raise InferenceError(400, "INVALID_ARGUMENT", str(err)) from None
        body.update({k: v for k, v in raw.items() if COMPLETION_BODY[k] == "any"})
        body = {k: v for k, v in body.items() if v is not None}
        model_name = body.get("model") or ""
        if not model_name:
            raise InferenceError(400, "INVALID_ARGUMENT", "model: field required")
        prompt = _prompt(body.get("prompt"))
        max_tokens = int(body.get("max_tokens", body.get("max_completion_tokens", 16)))
        n = int(body.get("n", 1))
        temperature = float(body.get("temperature", 1.0))
        if not 0 <= max_tokens <= MAX_TOKENS or not 1 <= n <= 64 or temperature < 0:
            raise InferenceError(400, "INVALID_ARGUMENT", f"max_tokens must be in [0, {MAX_TOKENS}], n in [1, 64] "
                                 "and temperature >= 0")
        account, dep = self._deployment(model_name, header)
        doc, state, now = self._admit(account, dep)
        model, _ = self._serving_model(doc, state, now)
        if any(t >= model.vocab for t in prompt):
            raise InferenceError(400, "INVALID_ARGUMENT", f"prompt: token ids must be in [0, {model.vocab})")
        seed = body.get("seed")
        choices = [self._choice(i, model, prompt, max_tokens, body, temperature,
                                (int(seed) + i) if seed is not None else secrets.randbits(32))
                   for i in range(n)]
        usage = {"prompt_tokens": len(prompt), "completion_tokens": sum(c.pop("_generated") for c in choices)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        answer = {"id": f"cmpl-{secrets.token_hex(12)}", "object": "text_completion", "created": int(time.time()),
                  "model": model_name, "choices": choices, "usage": usage}
        return _stream(answer, bool(body.get("perf_metrics_in_response"))) if body.get("stream") else answer

    def _choice(self, index: int, model: TinyModel, prompt: list[int], max_tokens: int, body: Mapping[str, Any],
                temperature: float, seed: int) -> dict[str, Any]:
        tokens, logps, sampling = _sample(model, prompt, max_tokens, temperature, float(body.get("top_p", 1.0)),
                                          int(body.get("top_k", 0)), seed)
        echo_count = len(prompt) if body.get("echo") else 0
        if body.get("echo_last") is not None:
            echo_count = min(max(0, int(body["echo_last"])), len(prompt))
        echoed = prompt[len(prompt) - echo_count:] if echo_count else []
        echoed_logps: list[float] = []
        if echoed:
            start = len(prompt) - echo_count
            context = prompt[start - 1:-1] if start else prompt[:-1]
            conditioned = model.logprobs(context, prompt[max(start, 1):]).tolist() if len(prompt) > 1 else []
            echoed_logps = ([-math.log(model.vocab)] if start == 0 else []) + [float(x) for x in conditioned]
        all_tokens = echoed + tokens
        choice: dict[str, Any] = {"index": index, "text": "".join(f"<{t}>" for t in tokens),
                                  "finish_reason": "length", "_generated": len(tokens)}
        if body.get("logprobs"):
            content: list[dict[str, Any]] = [{"token": f"<{t}>", "token_id": t, "logprob": lp, "sampling_logprob": None, "bytes": [],
                        "top_logprobs": []} for t, lp in zip(echoed, echoed_logps, strict=True)]
            content += [{"token": f"<{t}>", "token_id": t, "logprob": lp, "sampling_logprob": sp, "bytes": [],
                         "top_logprobs": []} for t, lp, sp in zip(tokens, logps, sampling, strict=True)]
            choice["logprobs"] = {"content": content}
        if body.get("raw_output"):
            choice["raw_output"] = {"prompt_token_ids": prompt, "completion_token_ids": all_tokens,
                                    "completion": choice["text"]}
        if body.get("return_token_ids"):
            choice["prompt_token_ids"] = prompt
        return choice

    # -- admin ---------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {"deploymentsStayCreating": self.plane.stay_creating,
                "outages": [{"account": a, "deployment": d, "status": s, "message": m}
                            for (a, d), (s, m) in sorted(self.outages.items())]}

    def configure(self, raw: Any) -> dict[str, Any]:
        body = check_object(raw, INFERENCE_BODY, "inference")
        if "deploymentsStayCreating" in body:
            self.plane.stay_creating = bool(body["deploymentsStayCreating"])
        if body.get("deployment"):
            status = int(body.get("status", 503))
            if not 400 <= status <= 599:
                raise invalid("inference.status must be an HTTP error status (400-599)")
            message = body.get("message") or f"injected fault: the inference endpoint answers HTTP {status}"
            self.outages[(body.get("account") or self.plane.account, body["deployment"])] = (status, message)
        return self.describe()

    def reset(self) -> dict[str, Any]:
        self.outages.clear()
        return self.describe()


def _prompt(value: Any) -> list[int]:
    if isinstance(value, str):
        return list(value.encode("utf-8"))
    if isinstance(value, list) and value and isinstance(value[0], list):  # a batch of one prompt
        value = value[0] if len(value) == 1 else None
    if not isinstance(value, list) or not value or not all(isinstance(t, int) and t >= 0 for t in value):
        raise InferenceError(400, "INVALID_ARGUMENT", "prompt: a non-empty list of token ids (or a string) is required")
    return list(value)


def _bucket_logps(model: TinyModel, prev: int) -> tuple[np.ndarray, np.ndarray]:
    """log p(bucket | prev) over the model's buckets (a token's log-probability plus log(bucket size))."""
    cols = np.arange(model.buckets)
    per_token = model.logprobs([prev] * model.buckets, cols.tolist())
    sizes = np.full(model.buckets, model.vocab // model.buckets, dtype=np.float64)
    sizes[: model.vocab % model.buckets] += 1
    return np.asarray(per_token) + np.log(sizes), sizes


def _sample(model: TinyModel, prompt: list[int], max_tokens: int, temperature: float, top_p: float, top_k: int,
            seed: int) -> tuple[list[int], list[float], list[float]]:
    """Tokens, their model log-probabilities and their sampling-distribution log-probabilities."""
    rng = np.random.default_rng(seed)
    prev = prompt[-1]
    tokens: list[int] = []
    logps: list[float] = []
    sampling: list[float] = []
    for _ in range(max_tokens):
        bucket_logp, sizes = _bucket_logps(model, prev)
        if temperature <= 0:
            col = int(np.argmax(bucket_logp))
            token, sample_logp = col, 0.0  # greedy: the behaviour policy is a point mass
        else:
            scaled = bucket_logp / temperature
            keep = np.ones(model.buckets, dtype=bool)
            if top_k > 0:
                keep[np.argsort(-scaled)[top_k:]] = False
            probs = np.where(keep, np.exp(scaled - scaled.max()), 0.0)
            probs /= probs.sum()
            if top_p < 1.0:
                order = np.argsort(-probs)
                cut = np.cumsum(probs[order]) - probs[order] >= top_p
                probs[order[cut]] = 0.0
                probs /= probs.sum()
            col = int(rng.choice(model.buckets, p=probs))
            token = col + model.buckets * int(rng.integers(0, int(sizes[col])))
            sample_logp = float(np.log(probs[col]) - np.log(sizes[col]))
        tokens.append(token)
        logps.append(float(bucket_logp[col] - np.log(sizes[col])))
        sampling.append(sample_logp)
        prev = token
    return tokens, logps, sampling


def _stream(answer: dict[str, Any], perf: bool) -> Iterator[str]:
    """The answer as server-sent events: one chunk per token, a last one with the finish reason and
    ``raw_output``, one with ``usage`` (and ``perf_metrics``), then ``[DONE]``."""
    head = {k: answer[k] for k in ("id", "object", "created", "model")}
    for choice in answer["choices"]:
        content: list[dict[str, Any]] = (choice.get("logprobs") or {}).get("content") or []
        for entry in content:
            yield _event({**head, "choices": [{"index": choice["index"], "text": entry["token"],
                                               "logprobs": {"content": [entry]}, "finish_reason": None}]})
        last = {"index": choice["index"], "text": "" if content else choice["text"],
                "finish_reason": choice["finish_reason"]}
        for key in ("raw_output", "prompt_token_ids"):
            if key in choice:
                last[key] = choice[key]
        yield _event({**head, "choices": [last]})
    tail: dict[str, Any] = {**head, "choices": [], "usage": answer["usage"]}
    if perf:
        tail["perf_metrics"] = {"prompt-tokens": str(answer["usage"]["prompt_tokens"]), "cached-prompt-tokens": "0"}
    yield _event(tail)
    yield "data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def add_routes(add: Callable[[str, list[str], str, Callable[[Request], Awaitable[Any]]], None], app: Any,
               json_body: Callable[..., Awaitable[Any]]) -> None:
    """``POST /inference/v1/completions``; admin ``GET|PUT|DELETE /_local/v1/inference`` (the stays-creating
    mode, inference outages per deployment)."""
    inference = Inference(app.plane)

    async def completions(request: Request) -> Response:
        try:
            raw = await request.body()
            try:
                parsed = json.loads(raw) if raw.strip() else None
            except ValueError as err:
                raise InferenceError(400, "INVALID_ARGUMENT", f"Invalid JSON payload received: {err}") from None
            answer = inference.complete(parsed, request.headers.get("fireworks-deployment"))
        except InferenceError as err:
            return err.response()
        if isinstance(answer, dict):
            return JSONResponse(answer)
        return StreamingResponse(answer, media_type="text/event-stream")

    async def admin(request: Request) -> Any:
        if request.method == "PUT":
            return inference.configure(await json_body(request))
        if request.method == "DELETE":
            return inference.reset()
        return inference.describe()

    add("/inference/v1/completions", ["POST"], "hotload", completions)
    add("/_local/v1/inference", ["GET", "PUT", "DELETE"], "admin", admin)


__all__ = ["Inference", "InferenceError", "add_routes"]
