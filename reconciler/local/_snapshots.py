"""Sampler snapshots as the platform keeps them: session identities, base and delta checkpoints.

What the sources say (the fireworks-ai training SDK):

- ``client.qualify_snapshot_name``: a training session suffixes every sampler snapshot name with its
  8-hex session id (``step-4`` -> ``step-4-a1b2c3d4``), a fresh one per session, a resume included. The
  SDK does it client-side, so identities reach the trainer already qualified; the admin endpoint
  (``POST /_local/v1/.../snapshots``) does it on ``"session": true`` with the trainer's current session,
  which the local plane derives from the job and the start of its current run (a resume or a re-queue
  starts a new one). A qualified identity's session is its suffix; an unqualified one's, the trainer's.
- ``_snapshot_chain.resolve_next_checkpoint_type``: LoRA saves are standalone adapters (``base``);
  full-parameter saves are a ``base`` first, then ``delta`` (an override may say either, or
  ``merged_base`` for LoRA). Assumption where the SDK is silent: "first" is per session, as the SDK's
  own ``base_saved`` flag is per training client.
- ``FireworksClient.list_checkpoints``: rows carry ``checkpointType`` and ``promotable``, which is
  authoritative. A delta is ``CHECKPOINT_TYPE_INFERENCE_ARC_V2`` and not promotable (it is only usable
  on top of its base); a base is ``CHECKPOINT_TYPE_INFERENCE_BASE``, an adapter
  ``CHECKPOINT_TYPE_INFERENCE_LORA``, both promotable.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local._errors import invalid
from reconciler.local._store import Doc

SESSION_SUFFIX_RE = re.compile(r"-([0-9a-f]{8})$")
SNAPSHOT_BODY = {"name": "str", "session": "bool", "checkpointType": "str"}
CHECKPOINT_TYPES = ("base", "delta", "merged_base")
BASE, LORA, DELTA = ("CHECKPOINT_TYPE_INFERENCE_BASE", "CHECKPOINT_TYPE_INFERENCE_LORA",
                     "CHECKPOINT_TYPE_INFERENCE_ARC_V2")


def session_of(doc: Doc) -> str:
    """The trainer's current session id: new for each run of the job (create, resume, re-queue)."""
    return hashlib.sha256(f"{doc['id']}:{doc['cycleStart']}".encode()).hexdigest()[:8]


def identity_for(doc: Doc, name: str, body: dict[str, Any]) -> str:
    return f"{name}-{session_of(doc)}" if body.get("session") else name


def snapshot_record(doc: Doc, account: str, job: str, identity: str, body: dict[str, Any],
                    existing: list[Doc], now: float) -> Doc:
    """The stored snapshot ``identity`` of trainer ``doc``: its type (base, delta or adapter), whether it
    is promotable, and for a delta the base it was computed against."""
    lora = int(doc["trainingConfig"]["loraRank"]) > 0
    requested = str(body.get("checkpointType") or "").lower()
    if requested and requested not in CHECKPOINT_TYPES:
        raise invalid(f"checkpointType {requested!r} is not one of {', '.join(CHECKPOINT_TYPES)}")
    suffix = SESSION_SUFFIX_RE.search(identity)
    session = suffix.group(1) if suffix else session_of(doc)  # a qualified identity names its session
    bases = [s for s in existing if s.get("session") == session and s.get("promotable", True)
             and s.get("checkpointType") == BASE]
    if lora:
        if requested == "delta":
            raise invalid("checkpointType delta: LoRA adapters are standalone; only full-parameter trainers save deltas")
        kind = "merged_base" if requested == "merged_base" else "adapter"
    else:
        if requested == "merged_base":
            raise invalid("checkpointType merged_base folds a LoRA adapter into the base: this trainer has no adapter")
        kind = requested or ("delta" if bases else "base")
        if kind == "delta" and not bases:
            raise invalid(f"checkpointType delta: no base snapshot saved in this session ({session}) of trainer {job}")
    record: Doc = {
        "identity": identity,
        "name": f"accounts/{account}/rlorTrainerJobs/{job}/checkpoints/{identity}",
        "trainer": f"accounts/{account}/rlorTrainerJobs/{job}",
        "createTime": life.iso(now),
        "updateTime": life.iso(now),
        "checkpointType": {"adapter": LORA, "delta": DELTA}.get(kind, BASE),
        "promotable": kind != "delta",
        "bucketUrl": f"{doc['hotLoadBucketUrl']}{identity}/",
        "session": session,
        "step": SESSION_SUFFIX_RE.sub("", identity),
    }
    if kind == "delta":
        record["base"] = bases[-1]["identity"]
    return record
