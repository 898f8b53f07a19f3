"""The tiny real model behind every local trainer and deployment: a hashed-bigram language model.

The local control plane has no GPU, but a training loop run against it must see real numbers:
log-probabilities that are log-probabilities, gradients that are gradients, a loss that falls when a
batch is repeated, and samples that change when a deployment hot-loads new weights. This module is
that model, in numpy, deterministic under its seed.

The model. Token ids come from the real tokenizer of the base model (up to ``vocab``, e.g. 151 936 for
Qwen3), far too many for a table. Each token falls into one of ``buckets`` hash buckets
(``token % buckets``); the next-token distribution is a softmax over buckets, conditioned on the bucket
of the previous token, spread uniformly over the tokens of a bucket::

    h(prev)      = E[bucket(prev)] @ U + b            (+ A[bucket(prev)] @ B  with LoRA adapters)
    log p(t|prev) = log_softmax(h(prev))[bucket(t)] - log n[bucket(t)]

so ``p`` sums to 1 over the whole vocabulary. ``E`` (buckets x dim), ``U`` (dim x buckets) and ``b``
are the base weights, initialised from ``seed`` (derive it from the base model's name, so a policy
and its reference start equal); a LoRA model trains only ``A`` (buckets x rank, random) and ``B``
(rank x buckets, zero), so at step 0 it equals its base. ``adapters=False`` evaluates the base alone
(a LoRA trainer serving the shared reference).

Losses are the training layer's business: :meth:`TinyModel.backward` takes d(loss)/d(logprob) per
position and returns the gradients of the trainable weights (the chain rule through the softmax, exact).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_VOCAB = 151_936
DEFAULT_BUCKETS = 64
DEFAULT_DIM = 16
BASE = ("E", "U", "b")
LORA = ("A", "B")

Weights = dict[str, np.ndarray]


def seed_for(name: str) -> int:
    """A stable 32-bit seed from a name (a base model, a job id)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


@dataclass
class TinyModel:
    vocab: int = DEFAULT_VOCAB
    buckets: int = DEFAULT_BUCKETS
    dim: int = DEFAULT_DIM
    seed: int = 0
    lora_rank: int = 0
    weights: Weights = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vocab < self.buckets or self.buckets < 2 or self.dim < 1 or self.lora_rank < 0:
            raise ValueError("a tiny model needs vocab >= buckets >= 2, dim >= 1 and lora_rank >= 0")
        if not self.weights:
            rng = np.random.default_rng(self.seed)
            scale = 1.0 / np.sqrt(self.dim)
            self.weights = {
                "E": rng.normal(0.0, 1.0, (self.buckets, self.dim)),
                "U": rng.normal(0.0, scale, (self.dim, self.buckets)),
                "b": np.zeros(self.buckets),
            }
            if self.lora_rank:
                self.weights["A"] = rng.normal(0.0, scale, (self.buckets, self.lora_rank))
                self.weights["B"] = np.zeros((self.lora_rank, self.buckets))
        counts = np.full(self.buckets, self.vocab // self.buckets, dtype=np.int64)
        counts[: self.vocab % self.buckets] += 1
        self._log_counts = np.log(counts.astype(np.float64))
        self._counts = counts

    # --- what is trained ---------------------------------------------------------------------

    @property
    def trainable(self) -> tuple[str, ...]:
        return LORA if self.lora_rank else BASE

    def _check(self, tokens: Sequence[int], what: str) -> np.ndarray:
        array = np.asarray(tokens, dtype=np.int64)
        if array.ndim != 1:
            raise ValueError(f"{what}: expected a flat list of token ids")
        if array.size and (array.min() < 0 or array.max() >= self.vocab):
            raise ValueError(f"{what}: token ids must be in [0, {self.vocab})")
        return array

    def _logits(self, prev: np.ndarray, adapters: bool) -> np.ndarray:
        w = self.weights
        rows = prev % self.buckets
        logits = w["E"][rows] @ w["U"] + w["b"]
        if adapters and self.lora_rank:
            logits = logits + w["A"][rows] @ w["B"]
        return logits

    @staticmethod
    def _log_softmax(logits: np.ndarray) -> np.ndarray:
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    # --- forward and backward ----------------------------------------------------------------

    def logprobs(self, inputs: Sequence[int], targets: Sequence[int], *, adapters: bool = True) -> np.ndarray:
        """log p(targets[i] | inputs[i]) for each position (a datum's model input and target tokens)."""
        prev, nxt = self._check(inputs, "model_input"), self._check(targets, "target_tokens")
        if prev.shape != nxt.shape:
            raise ValueError(f"target_tokens: {nxt.size} tokens for a model input of {prev.size}")
        if not prev.size:
            return np.zeros(0)
        logp = self._log_softmax(self._logits(prev, adapters))
        cols = nxt % self.buckets
        return logp[np.arange(prev.size), cols] - self._log_counts[cols]

    def backward(self, inputs: Sequence[int], targets: Sequence[int], dlogp: Sequence[float]) -> Weights:
        """The gradients of ``sum(dlogp[i] * logprob[i])`` with respect to the trainable weights."""
        prev, nxt = self._check(inputs, "model_input"), self._check(targets, "target_tokens")
        coef = np.asarray(dlogp, dtype=np.float64)
        if not (prev.shape == nxt.shape == coef.shape):
            raise ValueError("model_input, target_tokens and weights must have the same length")
        grads = {name: np.zeros_like(self.weights[name]) for name in self.trainable}
        if not prev.size:
            return grads
        rows, cols = prev % self.buckets, nxt % self.buckets
        probs = np.exp(self._log_softmax(self._logits(prev, adapters=True)))
        dlogits = -probs * coef[:, None]  # d logp[col] / d logits = onehot(col) - softmax
        dlogits[np.arange(prev.size), cols] += coef
        w = self.weights
        if self.lora_rank:
            hidden = w["A"][rows]
            grads["B"] = hidden.T @ dlogits
            np.add.at(grads["A"], rows, dlogits @ w["B"].T)
        else:
            hidden = w["E"][rows]
            grads["U"] = hidden.T @ dlogits
            grads["b"] = dlogits.sum(axis=0)
            np.add.at(grads["E"], rows, dlogits @ w["U"].T)
        return grads

    # --- sampling ----------------------------------------------------------------------------

    def sample(self, prompt: Sequence[int], max_tokens: int, *, temperature: float = 1.0, seed: int = 0,
               adapters: bool = True) -> tuple[list[int], list[float]]:
        """``max_tokens`` tokens after ``prompt`` and their log-probabilities under the model
        (temperature 0: the most likely bucket's first token)."""
        tokens = self._check(prompt, "prompt")
        if not tokens.size:
            raise ValueError("prompt: at least one token is required")
        rng = np.random.default_rng(seed)
        prev = int(tokens[-1])
        out: list[int] = []
        logps: list[float] = []
        for _ in range(max(0, max_tokens)):
            logits = self._logits(np.asarray([prev]), adapters)[0]
            logp = self._log_softmax(logits[None, :])[0]
            if temperature <= 0:
                col = int(np.argmax(logp))
                token = col
            else:
                scaled = np.exp(self._log_softmax((logits / temperature)[None, :])[0])
                col = int(rng.choice(self.buckets, p=scaled / scaled.sum()))
                token = col + self.buckets * int(rng.integers(0, self._counts[col]))
            out.append(token)
            logps.append(float(logp[col] - self._log_counts[col]))
            prev = token
        return out, logps

    # --- persistence -------------------------------------------------------------------------

    def to_bytes(self, names: Sequence[str] | None = None) -> bytes:
        """The weights (all, or ``names``) as an ``.npz`` blob."""
        buffer = io.BytesIO()
        chosen = {k: v for k, v in self.weights.items() if names is None or k in names}
        np.savez(buffer, **chosen)  # type: ignore[arg-type]
        return buffer.getvalue()

    def load_bytes(self, blob: bytes) -> None:
        """Replace the weights found in ``blob`` (an ``.npz`` from :meth:`to_bytes`)."""
        with np.load(io.BytesIO(blob)) as data:
            for name in data.files:
                if name not in self.weights or data[name].shape != self.weights[name].shape:
                    raise ValueError(f"snapshot weight {name!r} does not fit this model")
                self.weights[name] = np.array(data[name])

    def copy(self) -> TinyModel:
        return TinyModel(self.vocab, self.buckets, self.dim, self.seed, self.lora_rank,
                         {k: v.copy() for k, v in self.weights.items()})

    def spec(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "buckets": self.buckets, "dim": self.dim, "seed": self.seed,
                "lora_rank": self.lora_rank}


@dataclass
class Adam:
    """AdamW with decoupled weight decay and optional global-norm clipping (tinker's ``AdamParams``)."""

    m: Weights = field(default_factory=dict)
    v: Weights = field(default_factory=dict)
    t: int = 0

    def step(self, model: TinyModel, grads: Mapping[str, np.ndarray], *, learning_rate: float = 1e-4,
             beta1: float = 0.9, beta2: float = 0.95, eps: float = 1e-12, weight_decay: float = 0.0,
             grad_clip_norm: float = 0.0) -> dict[str, float]:
        """Apply one update to ``model``'s trainable weights; returns metrics (the global grad norm)."""
        norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
        scale = grad_clip_norm / norm if grad_clip_norm > 0 and norm > grad_clip_norm else 1.0
        self.t += 1
        for name in model.trainable:
            grad = grads.get(name)
            if grad is None:
                continue
            grad = grad * scale
            m = self.m.get(name, np.zeros_like(grad)) * beta1 + (1 - beta1) * grad
            v = self.v.get(name, np.zeros_like(grad)) * beta2 + (1 - beta2) * grad * grad
            self.m[name], self.v[name] = m, v
            m_hat = m / (1 - beta1 ** self.t)
            v_hat = v / (1 - beta2 ** self.t)
            weights = model.weights[name]
            if weight_decay:
                weights = weights * (1 - learning_rate * weight_decay)
            model.weights[name] = weights - learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        return {"grad_norm": norm}


__all__ = ["DEFAULT_BUCKETS", "DEFAULT_DIM", "DEFAULT_VOCAB", "Adam", "TinyModel", "seed_for"]
