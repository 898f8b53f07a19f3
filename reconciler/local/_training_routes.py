"""HTTP for the trainer's training API: the gateway hands ``/api/v1/{op}`` paths it does not serve here.

The gateway (``_app``) has authenticated the caller, checked the trainer is RUNNING and recorded the
activity; this module parses the JSON body and calls :class:`_training.Training`. POST carries the
Tinker request bodies; ``list_checkpoints`` is a GET, as the SDK sends it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from reconciler.local._errors import invalid
from reconciler.local._store import Doc
from reconciler.local._training import Training

GET_OPS = frozenset({"list_checkpoints"})


async def training_gateway(training: Training, request: Request, account: str, job: str, doc: Doc,
                           rest: str) -> Any | None:
    """The answer for a training call, or None when ``rest`` is no training call (the gateway 404s)."""
    if (request.method == "GET") != (rest in GET_OPS):
        return None
    body: Any = {}
    if request.method == "POST":
        if "protobuf" in request.headers.get("content-type", ""):
            # TINKER_COMPATIBILITY.md: Fireworks trainers keep the JSON requests of the Tinker 0.23 contract;
            # protobuf bodies (newer tinker's forward/forward_backward) need a gateway change they do not have.
            raise invalid(f"/api/v1/{rest}: protobuf request bodies are not accepted by Fireworks trainers; "
                          "send JSON (the fireworks-ai training SDK does)")
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as err:
                raise invalid(f"Invalid JSON payload received: {err}") from None
        if not isinstance(body, dict):
            raise invalid(f"/api/v1/{rest}: the request body must be a JSON object")
    return training.dispatch(account, job, doc, rest, body)
