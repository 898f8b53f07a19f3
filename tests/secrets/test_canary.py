"""Secrets never leak.

A canary Fireworks API key (the only key a `fwctl local serve` accepts, so it is really used on
every request) and a canary PostgreSQL password (in a `postgresql://` state URL that cannot
authenticate) go through every command fwctl has — plan, plan --json/--format markdown/--out,
apply (from manifests and from a saved plan), show, output, status, state, destroy, with -v and
-vv debug logging — and through the error paths: a bad manifest, a wrong key (401), an unreachable
endpoint, a held state lock, the PostgreSQL URL as --state and as FWCTL_STATE, a key with a line
break (refused when read), a PostgreSQL URL whose password holds a raw '@', ':' or '/' (refused
before any connection or name lookup). Every byte written
is scanned — stdout, stderr, every file under the working directory (state, backups, lock, saved
plans) — for either canary: zero hits. State and saved-plan files are 0600.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
GRPO = REPO / "manifests" / "examples" / "grpo"
CANARY_KEY = "fw-CANARY-k3y-7f1d2c9e4b"
WRONG_KEY = "fw-CANARY-wr0ng-5e8a13"
CANARY_PW = "CANARYPW-q9v2x7"
# what is searched for: the whole secrets and their distinctive tails (a truncated echo is a leak too)
NEEDLES = [s.encode() for s in (CANARY_KEY, WRONG_KEY, CANARY_PW, "k3y-7f1d", "wr0ng-5e8",
                                "CANARYPW", "q9v2x7")]
POSTGRES_URL = f"postgresql://fwctl:{CANARY_PW}@127.0.0.1:5432/test"
SPEED = "50"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fwctl_exe() -> str:
    return shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float = 0.0


@dataclass
class Harness:
    work: Path
    url: str
    runs: list[Run] = field(default_factory=list)

    def __call__(self, *args: str, key: str | None = CANARY_KEY, endpoint: str | None = None,
                 extra_env: dict[str, str] | None = None, stdin: bytes | None = None) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
        env.update(NO_COLOR="1", FWCTL_ENDPOINT=endpoint or self.url)
        if key is not None:
            env["FIREWORKS_API_KEY"] = key
        env.update(extra_env or {})
        start = time.monotonic()
        proc = subprocess.run([_fwctl_exe(), *args], cwd=self.work, env=env, input=stdin, capture_output=True,
                              timeout=300)
        run = Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        self.runs.append(run)
        return run

    def ok(self, *args: str, **kwargs: object) -> Run:
        run = self(*args, **kwargs)  # type: ignore[arg-type]
        assert run.returncode in (0, 2), f"fwctl {' '.join(args)} exited {run.returncode}:\n" \
            f"{run.stdout.decode(errors='replace')}\n{run.stderr.decode(errors='replace')}"
        return run

    def fails(self, *args: str, **kwargs: object) -> Run:
        run = self(*args, **kwargs)  # type: ignore[arg-type]
        out = run.stdout + run.stderr
        assert run.returncode == 1, f"fwctl {' '.join(args)} should fail, exited {run.returncode}:\n{out!r}"
        assert b"Traceback" not in out, out.decode(errors="replace")
        return run


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    plane_dir = tmp_path / "plane"  # the control plane's own database is not fwctl's output
    plane_dir.mkdir()
    work = tmp_path / "work"
    shutil.copytree(GRPO, work / "grpo")
    port = _free_port()
    proc = subprocess.Popen(
        [_fwctl_exe(), "local", "serve", "--port", str(port), "--db", str(plane_dir / "local.db"), "--speed", SPEED,
         "--api-key", CANARY_KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_local/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("fwctl local serve did not start") from None
                time.sleep(0.1)
        yield Harness(work, url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _scan(harness: Harness) -> list[str]:
    hits = []
    for run in harness.runs:
        for name, data in (("stdout", run.stdout), ("stderr", run.stderr)):
            for needle in NEEDLES:
                if needle in data:
                    hits.append(f"fwctl {' '.join(run.args)}: {name} contains {needle.decode()!r}")
    for path in sorted(harness.work.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for needle in NEEDLES:
                if needle in data:
                    hits.append(f"{path.relative_to(harness.work)} contains {needle.decode()!r}")
    return hits


def _assert_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, f"{path} is {oct(mode)}, not 0o600"


def test_no_canary_anywhere(harness: Harness) -> None:
    fw = harness
    grpo = ("-f", "grpo")
    state = fw.work / ".fwctl" / "state.json"

    # the key is really used: the plane accepts only the canary
    with httpx.Client(base_url=fw.url, timeout=10) as client:
        assert client.get("/v1/accounts", headers={"X-Api-Key": "fwctl-local-key"}).status_code == 401
        assert client.get("/v1/accounts", headers={"X-Api-Key": CANARY_KEY}).status_code == 200

    fw.ok("validate", *grpo)
    fw.ok("plan", *grpo)
    fw.ok("plan", *grpo, "--json")
    fw.ok("plan", *grpo, "--format", "markdown")
    fw.ok("plan", *grpo, "-vv", "--out", "grpo.plan")
    assert (fw.work / "grpo.plan").exists()
    _assert_private(fw.work / "grpo.plan")
    fw.ok("apply", "grpo.plan", "-vv")
    _assert_private(state)
    fw.ok("plan", *grpo, "-vv", "--detailed-exitcode")
    fw.ok("apply", *grpo, "--auto-approve", "-v")
    fw.ok("show")
    fw.ok("show", "--json")
    fw.ok("output")
    fw.ok("output", "--json")
    fw.ok("status", *grpo, "-vv")
    fw.ok("state", "list")
    fw.ok("state", "show", "Trainer/policy")
    fw.ok("state", "show")
    fw.ok("state", "pull")
    fw.ok("state", "history")
    fw.ok("show", "grpo.plan")
    fw.ok("show", "grpo.plan", "--json")

    # error paths
    (fw.work / "bad").mkdir()
    (fw.work / "bad" / "stack.yaml").write_text(
        "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: bad}\nspec: {endpoint: 42}\n---\n"
        "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: t}\nspec: {baseModle: x}\n"
    )
    fw.fails("plan", "-f", "bad", "-vv")
    fw.fails("apply", "-f", "bad", "--auto-approve", "-vv")
    wrong = fw.fails("plan", *grpo, "-vv", key=WRONG_KEY)
    assert b"401" in wrong.stdout + wrong.stderr or b"nauthor" in wrong.stdout + wrong.stderr
    fw.fails("apply", *grpo, "--auto-approve", "-vv", key=WRONG_KEY)
    fw.fails("destroy", *grpo, "--auto-approve", key=WRONG_KEY)
    unreachable = f"http://127.0.0.1:{_free_port()}"
    # (one run only: each request is retried within a 120 s budget before fwctl gives up)
    fw.fails("plan", *grpo, "-vv", endpoint=unreachable)
    fw.fails("plan", *grpo, endpoint="http://fireworks.invalid")  # plain http to a remote host: refused

    # a held lock
    from reconciler.model.state import LockInfo
    from reconciler.state import LocalFileBackend

    backend = LocalFileBackend(state)
    lock_id = backend.lock(LockInfo(operation="apply", who="someone@elsewhere", host="elsewhere", pid=1))
    try:
        fw.fails("apply", *grpo, "--auto-approve", "-vv")
        fw.fails("destroy", *grpo, "--auto-approve")
    finally:
        backend.unlock(lock_id)

    # the canary PostgreSQL password, as --state and as FWCTL_STATE (it cannot authenticate)
    fw.fails("plan", *grpo, "-vv", "--state", POSTGRES_URL)
    fw.fails("apply", *grpo, "--auto-approve", "-vv", "--state", POSTGRES_URL)
    fw.fails("show", "--state", POSTGRES_URL)
    fw.fails("output", "--json", "--state", POSTGRES_URL)
    fw.fails("state", "list", "--state", POSTGRES_URL)
    fw.fails("plan", *grpo, "-vv", extra_env={"FWCTL_STATE": POSTGRES_URL})
    fw.fails("destroy", *grpo, "--auto-approve", extra_env={"FWCTL_STATE": POSTGRES_URL})
    fw.fails("force-unlock", "no-such-lock", "--state", POSTGRES_URL)

    # the real key never reaches the embedded plane either
    fw.ok("validate", *grpo, "-o", "json")
    fw.ok("plan", *grpo, "--state", "embedded.json", endpoint="local")

    fw.ok("destroy", *grpo, "--auto-approve", "-vv")
    fw.ok("plan", *grpo, "--json")

    for path in [state, *state.parent.glob("state.json.backup*")]:
        _assert_private(path)
    assert (fw.work / "grpo.plan").exists()
    if os.environ.get("FWCTL_CANARY_DUMP"):
        for run in fw.runs:
            print(f"$ fwctl {' '.join(run.args)} -> {run.returncode} ({run.seconds:.1f}s)\n{run.stderr.decode(errors='replace')[-400:]}")
    hits = _scan(fw)
    assert not hits, "secrets leaked:\n" + "\n".join(hits)


def test_a_key_with_control_characters_is_refused_unechoed(harness: Harness) -> None:
    """A key with a line break (a copy-paste accident) is refused when read, never sent, never shown."""
    fw = harness
    for bad in (f"{CANARY_KEY}\nX-Evil: 1", f"fw-\r{CANARY_KEY}", f"{CANARY_KEY[:10]}\x1b{CANARY_KEY[10:]}",
                f"{CANARY_KEY}\u00e9"):
        for args in (("plan", "-f", "grpo", "-vv"), ("apply", "-f", "grpo", "--auto-approve", "-vv"),
                     ("status", "-f", "grpo"), ("local", "fault", "--clear", "--endpoint", fw.url)):
            run = fw.fails(*args, key=bad)
            assert b"FIREWORKS_API_KEY contains a control or non-ASCII character" in run.stderr, run.stderr
            assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (fw.work / ".fwctl" / "state.json").exists()  # refused before anything was done
    hits = _scan(fw)
    assert not hits, "secrets leaked:\n" + "\n".join(hits)


def test_an_ambiguous_postgres_url_is_refused_before_any_lookup(harness: Harness) -> None:
    """A raw '@', ':', '/', '?' or '#' in the password: refused before connecting or resolving, redacted.

    The host names end in .invalid, which never resolves; that nothing is resolved at all is
    tests/test_state_postgres.py::test_ambiguous_urls_are_refused_before_any_lookup (socket.getaddrinfo
    patched to fail). Here: the message says it was refused as ambiguous, not "cannot connect".
    """
    fw = harness
    urls = [f"postgresql://fwctl:{CANARY_PW}@{CANARY_PW}@db.invalid/test",
            f"postgresql://fwctl:x@{CANARY_PW}@db.invalid/test",
            f"postgresql://fwctl:{CANARY_PW}/x@db.invalid/test",
            f"postgresql://fwctl:{CANARY_PW}#x@db.invalid/test",
            f"postgresql://fwctl:{CANARY_PW}:x@db.invalid/test",
            f"postgresql://fwctl:{CANARY_PW}/test",
            f"postgresql://fwctl:{CANARY_PW}@[::1/test"]
    for url in urls:
        for args in (("plan", "-f", "grpo", "-vv", "--state", url), ("state", "list", "--state", url),
                     ("state", "migrate", "--to", url)):
            run = fw.fails(*args)
            assert b"cannot connect" not in run.stderr and b"resolve" not in run.stderr, run.stderr
            assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        run = fw.fails("apply", "-f", "grpo", "--auto-approve", extra_env={"FWCTL_STATE": url})
        assert b"PostgreSQL state URL" in run.stderr, run.stderr
    empty = fw.fails("plan", "-f", "grpo", "--state", "postgresql://")
    assert b"names no host" in empty.stderr, empty.stderr
    hits = _scan(fw)
    assert not hits, "secrets leaked:\n" + "\n".join(hits)


def test_the_scan_finds_a_planted_canary(tmp_path: Path) -> None:
    """The scanner itself: a canary planted in a nested file, in stderr, or truncated, is found."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "log.txt").write_bytes(b"... Bearer " + CANARY_KEY[:-2].encode() + b" ...")
    harness = Harness(tmp_path, "http://127.0.0.1:1")
    harness.runs.append(Run(("plan",), 1, b"", f"connecting to {POSTGRES_URL}".encode()))
    hits = _scan(harness)
    assert any("log.txt" in hit for hit in hits) and any("stderr" in hit for hit in hits), hits
