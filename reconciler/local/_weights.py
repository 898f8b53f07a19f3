"""Weights: the tiny model a base model starts from, and the weights saved under a snapshot identity.

``base_model`` builds the starting point of every trainer and deployment of a base model. Its seed is
derived from the base model's *name*, so a policy and its reference (two trainers of one base model)
start bit-for-bit equal, and a deployment of the base model samples what an untrained policy would.
Sizes come from the catalog entry's optional ``tinyModel`` field (``{"buckets": 64, "dim": 16,
"vocab": 151936}``); without it, the vocabulary is the real tokenizer's (the model's embedding size:
151 936 for Qwen3, 128 256 for Llama 3), so token ids from the real tokenizer are always in range.

``WeightStore`` persists a :class:`TinyModel` (its spec and its weights as ``.npz``) in the local
plane's SQLite store under an identity (a snapshot's identity, a saved training state's path), so a
restarted server still serves what was saved.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from reconciler.local._store import Store
from reconciler.local._tiny_model import (
    DEFAULT_BUCKETS,
    DEFAULT_DIM,
    DEFAULT_VOCAB,
    Adam,
    TinyModel,
    seed_for,
)

# The embedding size of the real tokenizers, by base model family (the last path segment's prefix).
_OPTIMIZER = "optimizer:"
_VOCABS = (("qwen3", 151_936), ("qwen2", 151_936), ("llama-v3", 128_256), ("llama3", 128_256))


def vocab_for(model_name: str) -> int:
    short = model_name.rsplit("/", 1)[-1].lower()
    return next((size for prefix, size in _VOCABS if short.startswith(prefix)), DEFAULT_VOCAB)


def base_model(model_name: str, catalog_entry: Mapping[str, Any] | None, lora_rank: int = 0) -> TinyModel:
    """The untrained tiny model of ``model_name`` (with zero-initialised LoRA adapters of ``lora_rank``).

    The base weights depend only on the name and the sizes, never on ``lora_rank``: a LoRA policy with
    adapters disabled is exactly the full-parameter reference of the same base model.
    """
    sizes = dict((catalog_entry or {}).get("tinyModel") or {})
    vocab = int(sizes.get("vocab", vocab_for(model_name)))
    buckets = int(sizes.get("buckets", DEFAULT_BUCKETS))
    dim = int(sizes.get("dim", DEFAULT_DIM))
    seed = seed_for(model_name)
    base = TinyModel(vocab=vocab, buckets=buckets, dim=dim, seed=seed)
    if not lora_rank:
        return base
    lora = TinyModel(vocab=vocab, buckets=buckets, dim=dim, seed=seed, lora_rank=lora_rank)
    lora.weights.update({name: base.weights[name].copy() for name in ("E", "U", "b")})
    return lora


class WeightStore:
    """Tiny models by identity, in the plane's store (table ``weights``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, identity: str, model: TinyModel) -> None:
        """Store ``model`` (a copy of its weights now) under ``identity``, replacing what was there."""
        self._store.put_weights(identity, json.dumps(model.spec()), model.to_bytes())

    def load(self, identity: str) -> TinyModel | None:
        """The model saved under ``identity`` (a fresh copy), or None."""
        row = self._store.get_weights(identity)
        if row is None:
            return None
        spec, blob = row
        fields = json.loads(spec)
        model = TinyModel(vocab=int(fields["vocab"]), buckets=int(fields["buckets"]), dim=int(fields["dim"]),
                          seed=int(fields["seed"]), lora_rank=int(fields["lora_rank"]))
        model.load_bytes(blob)
        return model

    def has(self, identity: str) -> bool:
        return self._store.get_weights(identity) is not None

    def identities(self, prefix: str) -> list[str]:
        """The saved identities that start with ``prefix`` (optimizer states left out)."""
        return [i for i in self._store.weight_identities(prefix) if not i.startswith(_OPTIMIZER)]

    def save_optimizer(self, identity: str, adam: Adam) -> None:
        """Adam's moments and step count beside the weights saved under ``identity``."""
        arrays = {f"m.{k}": v for k, v in adam.m.items()} | {f"v.{k}": v for k, v in adam.v.items()}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        self._store.put_weights(_OPTIMIZER + identity, json.dumps({"t": adam.t}), buffer.getvalue())

    def load_optimizer(self, identity: str) -> Adam | None:
        row = self._store.get_weights(_OPTIMIZER + identity)
        if row is None:
            return None
        spec, blob = row
        adam = Adam(t=int(json.loads(spec)["t"]))
        with np.load(io.BytesIO(blob)) as data:
            for name in data.files:
                kind, _, weight = name.partition(".")
                (adam.m if kind == "m" else adam.v)[weight] = np.array(data[name])
        return adam


__all__ = ["WeightStore", "base_model", "vocab_for"]
