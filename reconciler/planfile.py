"""Saved plans: ``fwctl plan --out FILE`` writes one, ``fwctl apply FILE`` carries out exactly it.

A plan file is one JSON object::

    {
      "format_version": 1,                 # of the plan file; the plan has its own
      "plan": {...},                       # the machine-readable plan (reconciler.render.plan_json)
      "manifests": [{"file": "grpo/00-stack.yaml", "text": "..."}, ...],   # in load order
      "checksum": "sha256:<hex>"           # over the three fields above, canonical JSON
    }

The plan records the prior state's lineage and serial, the manifests' digest, the stack, the
endpoint and the account; ``reconciler.operations`` compares them with the present before applying. The checksum
detects a file edited or damaged after it was written (integrity, not authenticity: anyone who can
write the file can also recompute it). Plan files hold no credentials and are written with mode
0600, atomically (a temporary file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from reconciler.model.errors import FwctlError
from reconciler.model.plan import Plan
from reconciler.render import plan_json

PLAN_FILE_FORMAT_VERSION = 1
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024


class PlanFileError(FwctlError):
    """A plan file cannot be written, read or trusted; the message is one line a person can act on."""


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    manifests: tuple[tuple[str, str], ...]  # (file, text), in the order they were loaded
    checksum: str


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def plan_file_checksum(format_version: int, plan: dict[str, Any], manifests: list[dict[str, str]]) -> str:
    """``sha256:<hex>`` over the canonical JSON of the plan file's content (everything but the checksum).

    Raises ``UnicodeEncodeError`` for a string that is not text (a lone surrogate).
    """
    payload = {"format_version": format_version, "plan": plan, "manifests": manifests}
    return "sha256:" + hashlib.sha256(_canonical(payload)).hexdigest()


def plan_file_document(plan: Plan, manifests_sources: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The JSON object written to a plan file."""
    data = plan_json(plan)
    manifests = [{"file": file, "text": text} for file, text in manifests_sources]
    return {
        "format_version": PLAN_FILE_FORMAT_VERSION,
        "plan": data,
        "manifests": manifests,
        "checksum": plan_file_checksum(PLAN_FILE_FORMAT_VERSION, data, manifests),
    }


def write_plan_file(path: str, plan: Plan, manifests_sources: Sequence[tuple[str, str]]) -> None:
    """Write ``plan`` and the manifests it was made from to ``path`` (mode 0600, atomic replace)."""
    text = json.dumps(plan_file_document(plan, manifests_sources), indent=2, ensure_ascii=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # O_CREAT's mode is ignored when a stale temporary file exists
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                fd = -1
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            if fd != -1:
                os.close(fd)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        with contextlib.suppress(OSError, ValueError):
            os.unlink(tmp)
        why = exc.strerror if isinstance(exc, OSError) else None
        raise PlanFileError(f"cannot write the plan file {_shown(path)}: {why or exc}") from None


def _shown(path: str) -> str:
    return path if path.isprintable() else repr(path)


def _not_a_plan(path: str, why: str) -> PlanFileError:
    return PlanFileError(f"{path} is not a saved fwctl plan ({why}); make one with `fwctl plan --out FILE`")


def read_plan_file(path: str) -> SavedPlan:
    """Read and check a plan file; raises :class:`PlanFileError` if it is unreadable, malformed or tampered."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PLAN_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) else None
        raise PlanFileError(f"cannot read the plan file {_shown(path)}: {why or exc}") from None
    try:
        return _read_plan(path, raw)
    except RecursionError:
        raise _not_a_plan(path, "nested too deeply") from None


def _read_plan(path: str, raw: bytes) -> SavedPlan:
    if len(raw) > MAX_PLAN_FILE_BYTES:
        raise _not_a_plan(path, f"larger than {MAX_PLAN_FILE_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _not_a_plan(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _not_a_plan(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, dict) or not {"format_version", "plan", "manifests", "checksum"} <= doc.keys():
        raise _not_a_plan(path, "expected an object with format_version, plan, manifests and checksum")
    version = doc["format_version"]
    if version != PLAN_FILE_FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: plan file format {version!r} is not supported by this fwctl "
            f"(it reads format {PLAN_FILE_FORMAT_VERSION}); make a new plan with this fwctl"
        )
    data, manifests = doc["plan"], doc["manifests"]
    if not isinstance(data, dict) or not isinstance(manifests, list) or not all(
        isinstance(m, dict) and set(m) == {"file", "text"} and all(isinstance(v, str) for v in m.values())
        for m in manifests
    ):
        raise _not_a_plan(path, "plan must be an object and manifests a list of {file, text}")
    for m in manifests:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in m["file"]) or len(m["file"]) > 4096:
            raise _not_a_plan(path, f"a manifest's file name {m['file'][:80]!r} holds a control character "
                                    f"(a NUL?) or is too long")
    try:
        checksum = plan_file_checksum(version, data, manifests)
    except UnicodeEncodeError:
        raise _not_a_plan(path, "it holds a string that is not text (a lone surrogate escape)") from None
    if doc["checksum"] != checksum:
        raise PlanFileError(
            f"{path} was modified after `fwctl plan --out` wrote it (checksum mismatch); refusing to apply it, "
            f"make a new plan"
        )
    try:
        plan = Plan.model_validate(_plan_value(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise _not_a_plan(path, f"invalid plan at {where or 'top level'}: {first.get('msg', 'invalid')}") from None
    return SavedPlan(
        plan=plan,
        manifests=tuple((m["file"], m["text"]) for m in manifests),
        checksum=str(doc["checksum"]),
    )


def _plan_value(data: dict[str, Any]) -> dict[str, Any]:
    # The file holds the machine-readable plan; drop what plan_json derives to get the Plan value back.
    value = {k: v for k, v in data.items() if k != "summary"}
    changes = value.get("changes")
    if isinstance(changes, list):
        value["changes"] = [
            {k: v for k, v in c.items() if k != "actions"} if isinstance(c, dict) else c for c in changes
        ]
    return value


def write_sources(directory: str, sources: Sequence[tuple[str, str]]) -> list[str]:
    """Materialise a saved plan's manifests under ``directory``; returns the files in load order.

    Each file goes into its own numbered subdirectory under its original base name, so names never
    collide and messages still name the file a person knows.
    """
    paths = []
    for index, (file, text) in enumerate(sources):
        name = os.path.basename(file.replace("\\", "/")) or "manifest.yaml"
        if name in ("<stdin>", ".", ".."):
            name = "stdin.yaml"
        folder = os.path.join(directory, f"{index:04d}")
        target = os.path.join(folder, name)
        try:
            os.makedirs(folder, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except (OSError, ValueError, UnicodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else None
            raise PlanFileError(f"cannot write the saved plan's manifest {_shown(file)}: {why or exc}") from None
        paths.append(target)
    return paths
