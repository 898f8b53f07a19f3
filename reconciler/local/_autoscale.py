"""Autoscaling of ``minReplicaCount: 0`` deployments, and deployments that stay ``CREATING`` while serving.

Scale to zero (Fireworks docs, "Autoscaling"; the public ``AutoscalingPolicy`` type): a deployment with
``minReplicaCount == 0`` is scaled down to zero replicas once no request reached it for
``autoscalingPolicy.scaleToZeroWindow`` (default 1 h, at least 5 min). Its state stays ``READY``; its
``replicaCount`` and ``desiredReplicaCount`` are 0. The next inference request answers ``503
DEPLOYMENT_SCALING_UP`` and starts a cold start (``SCALE_UP_S``; "cold starts take up to a few minutes"),
during which every request answers the same; then it serves again, from the base weights (new pods: a
hot-loaded snapshot does not survive). A ``min: 0`` deployment, parked at ``maxReplicaCount: 0`` or not,
is deleted after ``IDLE_DELETE_S`` (7 days) without traffic ("auto-deleted after 7 days of no traffic").
Every duration is emulated: divided by the plane's ``--speed``.

Stays-creating (the SDK's ``wait_for_ready``: "hotload-enabled deployments whose background reconciliation
is intentionally skipped -- the control-plane state may stay CREATING even though the deployment is
already serving"): with ``fwctl local serve --deployments-stay-creating`` (or ``PUT /_local/v1/inference
{"deploymentsStayCreating": true}``), hot-load deployments created from then on report ``CREATING`` where
they would report ``READY`` or ``UPDATING``, with their serving replicas counted; the inference endpoint
(``_inference``) answers as usual, so readiness is "``READY``, or ``CREATING`` plus a successful probe".
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.local._errors import invalid

SCALE_TO_ZERO_S = 3600.0  # autoscalingPolicy.scaleToZeroWindow default
MIN_SCALE_TO_ZERO_S = 300.0
SCALE_UP_S = 6.0  # a cold start from zero replicas
IDLE_DELETE_S = 7 * 86400.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str, where: str) -> float:
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise invalid(f"{where}: {text!r} is not a duration (e.g. \"3600s\", \"1h\", \"5m\")")
    return float(match.group(1)) * _UNIT[match.group(2)]


def policy(raw: Any) -> dict[str, Any]:
    """The ``autoscalingPolicy`` of a create, checked (``_relaxed_rules`` checked its field types)."""
    found = dict(raw or {})
    window = found.get("scaleToZeroWindow")
    if window is not None and seconds(window, "deployment.autoscaling_policy.scale_to_zero_window") < MIN_SCALE_TO_ZERO_S:
        raise invalid("deployment.autoscaling_policy.scale_to_zero_window must be at least 5m")
    for key in ("scaleDownWindow", "scaleUpWindow"):
        if found.get(key) is not None and seconds(found[key], f"deployment.autoscaling_policy.{key}") > 3600:
            raise invalid(f"deployment.autoscaling_policy.{key} must be less than or equal to 1 hour")
    return found


def window_s(doc: dict[str, Any]) -> float:
    text = (doc.get("autoscalingPolicy") or {}).get("scaleToZeroWindow")
    return seconds(text, "scaleToZeroWindow") if text else SCALE_TO_ZERO_S


def _serving_from(doc: dict[str, Any], ready_at: float, speed: float) -> float:
    wake = doc.get("wakeAt")
    return max(ready_at, float(wake) + SCALE_UP_S / speed) if wake is not None else ready_at


def scaling_up(doc: dict[str, Any], now: float, speed: float) -> bool:
    """A cold start from zero replicas is under way."""
    wake = doc.get("wakeAt")
    return wake is not None and float(wake) <= now < float(wake) + SCALE_UP_S / speed


def scaled_to_zero(doc: dict[str, Any], ready_at: float, now: float, speed: float) -> bool:
    """No replica runs because the autoscaler took them away (``min: 0``, idle), or one is starting."""
    if int(doc.get("minReplicaCount", 1)) != 0 or int(doc.get("maxReplicaCount", 1)) <= 0 or now < ready_at:
        return False
    if scaling_up(doc, now, speed):
        return True
    last = max(_serving_from(doc, ready_at, speed), float(doc.get("lastRequestAt") or 0.0))
    return now >= last + window_s(doc) / speed


def auto_deleted_at(doc: dict[str, Any], speed: float) -> float | None:
    """When a ``min: 0`` deployment is deleted for lack of traffic (None: never, it has a minimum)."""
    if int(doc.get("minReplicaCount", 1)) != 0:
        return None
    last = max(float(doc["createTime"]), float(doc.get("lastRequestAt") or 0.0), float(doc.get("wakeAt") or 0.0),
               float(doc.get("updateTime") or 0.0))
    return last + IDLE_DELETE_S / speed


def shown_state(doc: dict[str, Any], state: str) -> str:
    """The state the API reports: ``CREATING`` for a serving stays-creating deployment."""
    return "CREATING" if doc.get("staysCreating") and state in ("READY", "UPDATING") else state


__all__ = ["IDLE_DELETE_S", "SCALE_TO_ZERO_S", "SCALE_UP_S", "auto_deleted_at", "policy", "scaled_to_zero",
           "scaling_up", "shown_state", "window_s"]
