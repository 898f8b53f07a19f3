"""Hostile saved plans, state files and environment variables through the real CLI, end to end.

The manifests suite (test_hostile_manifests.py) covers what a person writes; this covers the other
inputs fwctl reads: a saved plan (``fwctl show FILE`` / ``fwctl apply FILE``), a state file
(``--state FILE``) and the environment (``FWCTL_LOCAL_SPEED``, ``FWCTL_ENDPOINT``, ``FWCTL_STATE``,
``FIREWORKS_API_KEY``). Whatever the input, every run ends with a one-line error and exit 1 (or
succeeds), never a traceback, and leaves the applied state byte for byte as it was. Saved plans
that get past their checksum are re-checksummed, so the deeper checks are the ones exercised.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.planfile import plan_file_checksum

REPO = Path(__file__).resolve().parents[2]
GRPO = REPO / "manifests" / "examples" / "grpo"
TIMEOUT_S = 60


def _fwctl_exe() -> str:
    return shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"


@dataclass
class Files:
    root: Path
    state: Path
    state_bytes: bytes
    plan: dict[str, Any]  # a valid saved plan (of the destroy of the applied stack), as JSON
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([_fwctl_exe(), *args], cwd=self.root, env={**self.env, **(env or {})},
                              capture_output=True, timeout=TIMEOUT_S)

    def refused(self, *args: str, env: dict[str, str] | None = None, expect: str = "") -> str:
        """Run; assert exit 1 with one line on stderr, no traceback, the state untouched; return that line."""
        result = self.run(*args, env=env)
        out = (result.stdout + result.stderr).decode(errors="replace")
        assert "Traceback" not in out, out[-3000:]
        assert result.returncode == 1, f"fwctl {' '.join(args)} exited {result.returncode}:\n{out[-3000:]}"
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        lines = [line for line in lines if not line.startswith("Using the embedded local control plane")]
        assert len(lines) == 1, f"not one line:\n{out[-3000:]}"
        assert expect in lines[0], lines[0]
        assert self.state.read_bytes() == self.state_bytes, "the state changed"
        return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    root = tmp_path_factory.mktemp("hostile-files")
    shutil.copytree(GRPO, root / "grpo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT="local", FWCTL_LOCAL_SPEED="1000", NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    for args in (("apply", "-f", "grpo", "--auto-approve"), ("plan", "-f", "grpo", "--destroy", "--out", "d.plan")):
        done = subprocess.run([_fwctl_exe(), *args], cwd=root, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    state = root / ".fwctl" / "state.json"
    yield Files(root, state, state.read_bytes(), json.loads((root / "d.plan").read_text()), env)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _plan_text(doc: dict[str, Any], *, rechecksum: bool = True) -> str:
    """``doc`` as a plan file, its checksum recomputed when it can be (a forger can do the same)."""
    if rechecksum:
        with contextlib.suppress(UnicodeEncodeError):  # not text: the checksum cannot be computed
            doc = {**doc, "checksum": plan_file_checksum(doc["format_version"], doc["plan"], doc["manifests"])}
    return json.dumps(doc)


def _with_manifest(plan: dict[str, Any], **change: str) -> dict[str, Any]:
    manifests = [dict(m) for m in plan["manifests"]]
    manifests[0].update(change)
    return {**plan, "manifests": manifests}


SAVED_PLANS: dict[str, Any] = {
    "deep-array": lambda p: _nested(200_000),
    "deep-inside-plan": lambda p: _plan_text({**p, "plan": {**p["plan"], "deep": json.loads(_nested(900))}}),
    "deeper-inside-plan": lambda p: json.dumps(p)[:-1] + ', "deep": ' + _nested(50_000) + "}",
    "lone-surrogate-text": lambda p: _plan_text(_with_manifest(p, text="kind: Trainer\ud800\n")),
    "lone-surrogate-escape": lambda p: json.dumps(p).replace('"plan": {', '"plan": {"x": "\\udc80", ', 1),
    "nul-in-file-name": lambda p: _plan_text(_with_manifest(p, file="grpo/00-st\0ack.yaml")),
    "newline-in-file-name": lambda p: _plan_text(_with_manifest(p, file="grpo/a\nb.yaml")),
    "very-long-file-name": lambda p: _plan_text(_with_manifest(p, file="x" * 5000 + ".yaml")),
    "changes-not-a-list": lambda p: _plan_text({**p, "plan": {**p["plan"], "changes": "all"}}),
    "huge-format-version": lambda p: _plan_text({**p, "format_version": 10**400}, rechecksum=False),
    "binary": lambda p: "\x00\xff\xfe garbage",
    "truncated": lambda p: json.dumps(p)[: len(json.dumps(p)) // 2],
    "not-an-object": lambda p: "[1, 2, 3]",
}


@pytest.mark.parametrize("name", sorted(SAVED_PLANS))
def test_hostile_saved_plan(files: Files, name: str) -> None:
    path = files.root / f"{name}.plan"
    text = SAVED_PLANS[name](files.plan)
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    files.refused("show", path.name)
    files.refused("apply", path.name)


STATE_FILES: dict[str, str] = {
    "deep-array": _nested(200_000),
    "deep-object": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "deep-inside-resources": '{"stack": "grpo-qwen3-8b", "resources": {"Trainer/policy": ' + _nested(900) + "}}",
    "lone-surrogate": '{"stack": "grpo-qwen3-8b\\ud800", "serial": 3}',
    "binary": "\x00\x01\x02\xff",
    "array": "[]",
    "serial-not-a-number": '{"stack": "grpo-qwen3-8b", "serial": "three"}',
    "nan": '{"stack": "grpo-qwen3-8b", "serial": NaN}',
}


@pytest.mark.parametrize("name", sorted(STATE_FILES))
def test_hostile_state_file(files: Files, name: str) -> None:
    path = files.root / "hostile-state" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(STATE_FILES[name].encode("utf-8", "surrogatepass"))
    before = path.read_bytes()
    for args in (("state", "list"), ("show",), ("plan", "-f", "grpo"), ("apply", "-f", "grpo", "--auto-approve"),
                 ("state", "rm", "Trainer/policy")):
        result = files.run(*args, "--state", str(path))
        out = (result.stdout + result.stderr).decode(errors="replace")
        assert "Traceback" not in out, out[-3000:]
        assert result.returncode == 1, f"fwctl {' '.join(args)} exited {result.returncode}:\n{out[-3000:]}"
        assert len(result.stderr.decode(errors="replace").strip().splitlines()) == 1, out[-3000:]
        assert path.read_bytes() == before, f"fwctl {' '.join(args)} changed a state it could not read"


ENVIRONMENTS: dict[str, tuple[dict[str, str], str]] = {
    "speed-abc": ({"FWCTL_LOCAL_SPEED": "abc"}, "FWCTL_LOCAL_SPEED"),
    "speed-zero": ({"FWCTL_LOCAL_SPEED": "0"}, "FWCTL_LOCAL_SPEED"),
    "speed-negative": ({"FWCTL_LOCAL_SPEED": "-1"}, "FWCTL_LOCAL_SPEED"),
    "speed-nan": ({"FWCTL_LOCAL_SPEED": "nan"}, "FWCTL_LOCAL_SPEED"),
    "speed-inf": ({"FWCTL_LOCAL_SPEED": "inf"}, "FWCTL_LOCAL_SPEED"),
    "endpoint-port-out-of-range": ({"FWCTL_ENDPOINT": "http://127.0.0.1:99999"}, "FWCTL_ENDPOINT"),
    "endpoint-port-not-a-number": ({"FWCTL_ENDPOINT": "http://127.0.0.1:x"}, "FWCTL_ENDPOINT"),
    "endpoint-port-zero": ({"FWCTL_ENDPOINT": "http://127.0.0.1:0"}, "FWCTL_ENDPOINT"),
    "endpoint-bad-ipv6": ({"FWCTL_ENDPOINT": "http://[::1"}, "FWCTL_ENDPOINT"),
    "endpoint-scheme": ({"FWCTL_ENDPOINT": "ftp://127.0.0.1"}, "FWCTL_ENDPOINT"),
    "state-bad-ipv6": ({"FWCTL_STATE": "postgresql://[::1"}, "IPv6"),
    "state-no-host": ({"FWCTL_STATE": "postgresql://"}, "no host"),
    "state-port": ({"FWCTL_STATE": "postgresql://u@127.0.0.1:99999/db"}, "port"),
    "state-scheme": ({"FWCTL_STATE": "s3://bucket/state"}, "s3://"),
    "key-line-break": ({"FIREWORKS_API_KEY": "fw-abc\ndef", "FWCTL_ENDPOINT": "http://127.0.0.1:1"},
                       "FIREWORKS_API_KEY"),
    "key-non-ascii": ({"FIREWORKS_API_KEY": "fw-abc\u00e9", "FWCTL_ENDPOINT": "http://127.0.0.1:1"},
                      "FIREWORKS_API_KEY"),
}


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_hostile_environment(files: Files, name: str) -> None:
    env, expect = ENVIRONMENTS[name]
    line = files.refused("plan", "-f", "grpo", env=env, expect=expect)
    assert "fw-abc" not in line  # a key is never echoed
    files.refused("apply", "-f", "grpo", "--auto-approve", env=env, expect=expect)
