"""The built-in losses of the training API, over one datum's logprobs, and the ``TensorData`` codec.

Each loss is tinker's: a *sum* over the datum's tokens (normalisation is ``optim_step``'s
``grad_accumulation_normalization``), with ``ratio = exp(logprobs - sampling_logprobs)``:

- ``cross_entropy``: ``-sum(weights * logprobs)`` (``weights`` default to 1). The custom-loss path of
  both SDKs runs a ``forward`` and then this loss with ``weights = -dC/dlogprobs``.
- ``importance_sampling``: ``-sum(ratio * advantages)``.
- ``ppo``: ``-sum(min(ratio * A, clip(ratio, low, high) * A))``; ``loss_fn_config`` (or per-token
  ``loss_fn_inputs``) ``clip_low_threshold`` / ``clip_high_threshold`` are ratios, default 0.8 / 1.2.
- ``cispo``: ``-sum(stopgrad(clip(ratio)) * A * logprobs)``, same thresholds.
- ``reinforce``: ``-sum(advantages * logprobs)``.

``dloss`` is d(loss)/d(logprobs) per token: the model turns it into weight gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from reconciler.local._errors import invalid

DTYPES = {"int64": np.int64, "float32": np.float32}


@dataclass(frozen=True)
class LossResult:
    loss: float
    elementwise: np.ndarray
    dloss: np.ndarray


def tensor(raw: Any, where: str) -> np.ndarray:
    """A ``TensorData`` JSON object (dense or CSR-sparse) as a flat numpy array."""
    if not isinstance(raw, Mapping):
        raise invalid(f"{where}: a TensorData object (data, dtype, shape) is required")
    dtype = DTYPES.get(str(raw.get("dtype")))
    if dtype is None:
        raise invalid(f"{where}.dtype {raw.get('dtype')!r}: use int64 or float32")
    data = raw.get("data")
    if not isinstance(data, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
        raise invalid(f"{where}.data: a list of numbers is required")
    shape = raw.get("shape")
    crow, col = raw.get("sparse_crow_indices"), raw.get("sparse_col_indices")
    try:
        if crow is not None or col is not None:
            if not isinstance(shape, list) or len(shape) != 2 or not isinstance(crow, list) or not isinstance(col, list):
                raise ValueError("a sparse tensor needs shape [rows, cols], sparse_crow_indices and sparse_col_indices")
            dense = np.zeros(shape, dtype=dtype)
            for row in range(shape[0]):
                for k in range(crow[row], crow[row + 1]):
                    dense[row, col[k]] = data[k]
            array = dense
        else:
            array = np.asarray(data, dtype=dtype)
            if shape is not None:
                array = array.reshape(shape)
    except (ValueError, IndexError, TypeError) as err:
        raise invalid(f"{where}: {err}") from None
    if array.ndim != 1:
        raise invalid(f"{where}: shape {list(array.shape)}: this trainer takes one value per token (1-D)")
    return array


def tensor_json(array: np.ndarray) -> dict[str, Any]:
    values = np.asarray(array, dtype=np.float64)
    return {"data": [float(v) for v in values], "dtype": "float32", "shape": [int(values.size)]}


def _need(fields: Mapping[str, np.ndarray], name: str, where: str) -> np.ndarray:
    if name not in fields:
        raise invalid(f"{where}.loss_fn_inputs.{name}: required by this loss")
    return fields[name].astype(np.float64)


def _thresholds(fields: Mapping[str, np.ndarray], config: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    low = fields.get("clip_low_threshold")
    high = fields.get("clip_high_threshold")
    try:
        lo = low.astype(np.float64) if low is not None else np.full(n, float(config.get("clip_low_threshold", 0.8)))
        hi = high.astype(np.float64) if high is not None else np.full(n, float(config.get("clip_high_threshold", 1.2)))
    except (TypeError, ValueError):
        raise invalid("loss_fn_config.clip_low_threshold / clip_high_threshold must be numbers") from None
    if np.any(lo > hi) or np.any(lo < 0):
        raise invalid("clip thresholds: need 0 <= clip_low_threshold <= clip_high_threshold")
    return lo, hi


def cross_entropy(logp: np.ndarray, fields: Mapping[str, np.ndarray], config: Mapping[str, Any],
                  where: str) -> LossResult:
    weights = fields["weights"].astype(np.float64) if "weights" in fields else np.ones_like(logp)
    elementwise = -weights * logp
    return LossResult(float(elementwise.sum()), elementwise, -weights)


def importance_sampling(logp: np.ndarray, fields: Mapping[str, np.ndarray], config: Mapping[str, Any],
                        where: str) -> LossResult:
    adv, ratio = _need(fields, "advantages", where), np.exp(logp - _need(fields, "logprobs", where))
    elementwise = -ratio * adv
    return LossResult(float(elementwise.sum()), elementwise, -ratio * adv)


def ppo(logp: np.ndarray, fields: Mapping[str, np.ndarray], config: Mapping[str, Any], where: str) -> LossResult:
    adv, ratio = _need(fields, "advantages", where), np.exp(logp - _need(fields, "logprobs", where))
    lo, hi = _thresholds(fields, config, logp.size)
    unclipped, clipped = ratio * adv, np.clip(ratio, lo, hi) * adv
    chosen = unclipped <= clipped
    elementwise = -np.minimum(unclipped, clipped)
    return LossResult(float(elementwise.sum()), elementwise, np.where(chosen, -ratio * adv, 0.0))


def cispo(logp: np.ndarray, fields: Mapping[str, np.ndarray], config: Mapping[str, Any], where: str) -> LossResult:
    adv, ratio = _need(fields, "advantages", where), np.exp(logp - _need(fields, "logprobs", where))
    lo, hi = _thresholds(fields, config, logp.size)
    coef = np.clip(ratio, lo, hi) * adv
    elementwise = -coef * logp
    return LossResult(float(elementwise.sum()), elementwise, -coef)


def reinforce(logp: np.ndarray, fields: Mapping[str, np.ndarray], config: Mapping[str, Any],
              where: str) -> LossResult:
    adv = _need(fields, "advantages", where)
    elementwise = -adv * logp
    return LossResult(float(elementwise.sum()), elementwise, -adv)


Loss = Callable[[np.ndarray, Mapping[str, np.ndarray], Mapping[str, Any], str], LossResult]
LOSSES: dict[str, Loss] = {
    "cross_entropy": cross_entropy,
    "importance_sampling": importance_sampling,
    "ppo": ppo,
    "cispo": cispo,
    "reinforce": reinforce,
}
