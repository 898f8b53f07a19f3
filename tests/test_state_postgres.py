"""The PostgreSQL backend's own guarantees: history, secrets kept out, locks across processes.

Runs against the real server on 127.0.0.1 (``.ci/run`` starts it); ``FWCTL_TEST_PG_URL`` points
elsewhere. Every test uses a fresh stack name, so tests never see each other's rows.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.model.state import LockInfo, ResourceState, StateDocument
from reconciler.state import (
    LocalFileBackend,
    LockHeld,
    LockLost,
    PostgresBackend,
    StateConflict,
    StateError,
    lock_with_timeout,
    open_backend,
)
from tests.conformance.test_state_backends import PG_URL, _postgres_reachable

pytestmark = pytest.mark.postgres

CANARY = "Canary-pw-7f3a9e"


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def stack() -> str:
    return f"pgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backend(stack: str) -> Iterator[PostgresBackend]:
    handle = PostgresBackend(PG_URL, stack=stack)
    yield handle
    handle.close()


def _doc() -> StateDocument:
    return StateDocument(stack="demo")


# -- history ----------------------------------------------------------------------------------


def test_every_version_is_kept_and_readable(backend: PostgresBackend) -> None:
    docs = []
    doc = _doc()
    for i in range(4):
        doc = doc.with_resource(f"Trainer/t{i}", ResourceState(kind="Trainer", name=f"t{i}")).next_version()
        backend.write(doc)
        docs.append(doc)
    history = backend.history()
    assert [serial for serial, _, _ in history] == [1, 2, 3, 4]
    assert {lineage for _, _, lineage in history} == {doc.lineage}
    assert [h[1] for h in history] == sorted(h[1] for h in history)
    assert all(h[1].tzinfo is not None for h in history)
    for written in docs:
        got = backend.read_version(written.serial)
        assert got is not None
        assert sorted(got.resources) == sorted(written.resources)
        assert got.serial == written.serial
    assert backend.read_version(99) is None
    current = backend.read()
    assert current is not None and current.serial == 4


def test_stacks_are_separate_rows(stack: str) -> None:
    a = PostgresBackend(PG_URL, stack=stack)
    b = open_backend(PG_URL, stack=stack + "-other")
    assert isinstance(b, PostgresBackend)
    try:
        a.write(_doc().next_version())
        assert b.read() is None and b.history() == []
        b.write(_doc().next_version())  # another lineage, but another stack: fine
        # Stacks lock independently too.
        lock_a = a.lock(LockInfo(operation="apply"))
        lock_b = b.lock(LockInfo(operation="apply"))
        a.unlock(lock_a)
        b.unlock(lock_b)
    finally:
        a.close()
        b.close()


def test_overwrite_replaces_lineage_but_keeps_serial_rising(backend: PostgresBackend) -> None:
    first = _doc().next_version()
    backend.write(first)
    other = _doc().model_copy(update={"serial": 2})
    with pytest.raises(StateConflict, match="lineage"):
        backend.write(other)
    backend.overwrite(other)
    with pytest.raises(StateConflict, match="serial"):
        backend.overwrite(other)
    assert [(s, lin) for s, _, lin in backend.history()] == [(1, first.lineage), (2, other.lineage)]


def test_concurrent_writers_of_the_same_serial_one_wins(stack: str) -> None:
    base = _doc()
    handles = [PostgresBackend(PG_URL, stack=stack) for _ in range(6)]
    outcomes: list[str] = []

    def attempt(handle: PostgresBackend) -> None:
        try:
            handle.write(base.next_version())
            outcomes.append("ok")
        except StateConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in handles:
        h.close()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{CANARY}@127.0.0.1:1/test",  # nothing listens on port 1
        f"postgresql://fwctl_no_such_user:{CANARY}@127.0.0.1:5432/test",  # the server refuses the role
        f"postgres://postgres@127.0.0.1:1/test?password={CANARY}&connect_timeout=3",
    ],
)
def test_password_never_shown(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = open_backend(url, stack="secrets")
    assert CANARY not in backend.describe() and CANARY not in repr(backend)
    assert backend.describe().startswith(("postgresql://", "postgres://"))
    assert "(stack secrets)" in backend.describe()
    for call in (backend.read, backend.history, lambda: backend.lock(LockInfo(operation="apply"))):
        with pytest.raises(StateError) as caught:
            call()
        message = str(caught.value)
        assert CANARY not in message
        assert "\n" not in message
        assert "@127.0.0.1" in message  # names where it failed
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert CANARY not in caplog.text


def test_pgpassword_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", CANARY)
    backend = PostgresBackend("postgresql://fwctl_no_such_user@127.0.0.1:5432/test", stack="s")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert CANARY not in str(caught.value) and CANARY not in backend.describe()


def test_describe_format() -> None:
    backend = PostgresBackend("postgresql://ada:pw@db.example:5433/fw?sslmode=require", stack="prod")
    assert backend.describe() == "postgresql://ada@db.example:5433/fw (stack prod)"


# -- locks across processes -------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from reconciler.model.state import LockInfo
    from reconciler.state import PostgresBackend

    url, stack, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    backend = PostgresBackend(url, stack=stack)
    info = LockInfo(operation="apply", who="holder@test", host="testhost", pid=12345, version="9.9")
    lock_id = backend.lock(info)
    print("locked", lock_id, flush=True)
    time.sleep(hold)
    backend.unlock(lock_id)
    print("unlocked", flush=True)
    """
)

_WAITER = textwrap.dedent(
    """
    import sys, time
    from reconciler.model.state import LockInfo
    from reconciler.state import PostgresBackend, lock_with_timeout

    url, stack = sys.argv[1], sys.argv[2]
    backend = PostgresBackend(url, stack=stack)
    started = time.monotonic()
    lock_id = lock_with_timeout(
        backend, LockInfo(operation="plan", who="waiter"), 20.0,
        on_wait=lambda holder: print("waiting:", holder.describe(), flush=True),
    )
    print("got", lock_id, round(time.monotonic() - started, 2), flush=True)
    backend.unlock(lock_id)
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_locked(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("locked"), (line, proc.stderr.read() if proc.stderr else "")
    return line.split()[1]


def test_second_process_waits_prints_holder_then_gets_it(stack: str) -> None:
    holder = _spawn(_HOLDER, PG_URL, stack, "1.5")
    try:
        lock_id = _wait_locked(holder)
        waiter = _spawn(_WAITER, PG_URL, stack)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("waiting:")
        assert lock_id in lines[0] and "holder@test" in lines[0] and "'apply'" in lines[0]
        assert "fwctl 9.9" in lines[0] and "pid 12345" in lines[0]
        assert lines[1].startswith("got")
        assert float(lines[1].split()[2]) >= 0.5
    finally:
        holder.kill()
        holder.wait()


def test_holder_killed_with_sigkill_releases_the_lock(backend: PostgresBackend) -> None:
    holder = _spawn(_HOLDER, PG_URL, backend.stack, "120")
    try:
        dead_id = _wait_locked(holder)
        with pytest.raises(LockHeld) as caught:
            backend.lock(LockInfo(operation="plan"))
        assert caught.value.holder.id == dead_id and caught.value.holder.who == "holder@test"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        mine = LockInfo(operation="plan", who="survivor")
        assert lock_with_timeout(backend, mine, 10.0) == mine.id
        assert time.monotonic() - started < 5.0
        # The dead holder's row was overwritten: others now see the new holder.
        with pytest.raises(LockHeld) as again:
            PostgresBackend(PG_URL, stack=backend.stack).lock(LockInfo(operation="plan"))
        assert again.value.holder.id == mine.id and again.value.holder.who == "survivor"
        backend.unlock(mine.id)
    finally:
        holder.kill()
        holder.wait()


def test_force_unlock_ends_a_live_holder(backend: PostgresBackend) -> None:
    holder = _spawn(_HOLDER, PG_URL, backend.stack, "120")
    try:
        lock_id = _wait_locked(holder)
        with pytest.raises(StateError, match="does not match"):
            backend.force_unlock("not-the-id")
        with pytest.raises(LockHeld):
            backend.lock(LockInfo(operation="plan"))
        backend.force_unlock(lock_id)
        mine = backend.lock(LockInfo(operation="plan"))
        backend.unlock(mine)
    finally:
        holder.kill()
        holder.wait()


def test_force_unlock_of_a_dead_holders_row(backend: PostgresBackend) -> None:
    holder = _spawn(_HOLDER, PG_URL, backend.stack, "120")
    try:
        lock_id = _wait_locked(holder)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        backend.force_unlock(lock_id)  # only the row is left: removed, nothing to terminate
        backend.force_unlock(lock_id)  # nothing left at all: a no-op
    finally:
        holder.kill()
        holder.wait()


def test_unlock_after_being_force_unlocked_is_quiet(backend: PostgresBackend) -> None:
    lock_id = backend.lock(LockInfo(operation="apply"))
    PostgresBackend(PG_URL, stack=backend.stack).force_unlock(lock_id)
    backend.unlock(lock_id)  # the session was terminated: nothing left to release, no error
    other = PostgresBackend(PG_URL, stack=backend.stack)
    other.unlock(other.lock(LockInfo(operation="plan")))


# -- a lock lost while held: watched, fenced ----------------------------------------------------


def _terminate(backend: PostgresBackend) -> int:
    """End the database session holding ``backend``'s advisory lock, as an admin (or a restart) would."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        pids = backend._advisory_holders(conn)
        assert len(pids) == 1, pids
        conn.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        deadline = time.monotonic() + 30  # the session ends asynchronously; a bound, not a timing check
        while backend._advisory_holders(conn) and time.monotonic() < deadline:
            time.sleep(0.02)
    return pids[0]


def test_a_lost_lock_fences_every_write_and_is_reported(backend: PostgresBackend) -> None:
    lock_id = backend.lock(LockInfo(operation="apply"))
    doc = _doc().next_version()
    backend.write(doc)  # under a live lock: written
    backend.check_lock()
    _terminate(backend)

    # The very next write is refused in its transaction, whether the watcher noticed yet or not.
    with pytest.raises(LockLost, match="was lost") as lost:
        backend.write(doc.next_version())
    assert lock_id in str(lost.value) and "\n" not in str(lost.value)
    with pytest.raises(LockLost):
        backend.check_lock()  # no I/O: what the fence (or the watcher) found
    assert backend.read() == doc  # nothing was written

    # A second fwctl gets the lock at once (the session is gone), writes, and the first stays fenced.
    second = PostgresBackend(PG_URL, stack=backend.stack)
    second_id = second.lock(LockInfo(operation="apply"))
    second.write(doc.next_version())
    with pytest.raises(LockLost):
        backend.write(doc.next_version().next_version())
    assert [s for s, _, _ in second.history()] == [1, 2]
    backend.unlock(lock_id)  # quiet: nothing left to release
    second.unlock(second_id)
    second.close()


def test_the_watcher_notices_a_terminated_lock_session_without_a_write(backend: PostgresBackend) -> None:
    lock_id = backend.lock(LockInfo(operation="apply"))
    _terminate(backend)
    deadline = time.monotonic() + 30  # a bound for a hung test, not a timing assertion
    while True:
        try:
            backend.check_lock()
        except LockLost as exc:
            assert "session ended" in str(exc)
            break
        assert time.monotonic() < deadline, "the watcher never noticed the lost lock"
        time.sleep(0.1)
    backend.unlock(lock_id)


def test_locked_ends_with_lock_lost_when_the_lock_went_during_the_block(backend: PostgresBackend) -> None:
    from reconciler.state import locked

    with pytest.raises(LockLost, match="run it again to finish"), \
            locked(backend, LockInfo(operation="apply"), timeout_s=0):
        _terminate(backend)
        with pytest.raises(LockLost):
            backend.write(_doc().next_version())
    assert threading.active_count() == 1 or all(
        not t.name.startswith("fwctl-lock-watch") for t in threading.enumerate()), "the watcher outlived its lock"


def test_write_versions_is_one_transaction(backend: PostgresBackend) -> None:
    first = _doc().next_version()
    second, third = first.next_version(), first.next_version().next_version()
    with pytest.raises(StateConflict):
        backend.write_versions([first, third, second])  # the third step fails: none of it stays
    assert backend.read() is None and backend.history() == []
    backend.write_versions([first, second, third])
    assert [s for s, _, _ in backend.history()] == [1, 2, 3] and backend.read() == third


# -- URLs that cannot be read unambiguously: refused before any connection or lookup -----------


@pytest.mark.parametrize("url,why", [
    (f"postgresql://fwctl:{CANARY}@x@db.invalid/test", "raw '@'"),
    (f"postgresql://fwctl:{CANARY}/x@db.invalid/test", "follows the host part"),
    (f"postgresql://fwctl:{CANARY}?x@db.invalid/test", "follows the host part"),
    (f"postgresql://fwctl:{CANARY}:x@db.invalid/test", "more than one ':'"),
    (f"postgresql://fwctl:{CANARY}/test", "port"),  # the host forgotten: the password reads as a port
    (f"postgresql://fwctl:{CANARY}@[::1/test", "IPv6"),
    (f"postgresql://fwctl:{CANARY}@db.invalid:99999/test", "port"),
    ("postgresql://", "no host"),
    ("postgresql:///test", "no host"),
    (f"postgresql://fwctl:{CANARY}\n@db.invalid/test", "control character"),
])
def test_ambiguous_urls_are_refused_before_any_lookup(url: str, why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import psycopg

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a name was resolved or a connection opened for a URL that should be refused")

    monkeypatch.setattr(socket, "getaddrinfo", never)
    monkeypatch.setattr(psycopg, "connect", never)
    with pytest.raises(StateError) as caught:
        open_backend(url, stack="demo").read()
    message = str(caught.value)
    assert why in message and "\n" not in message
    assert CANARY not in message and CANARY[:8] not in message and CANARY[-6:] not in message


def test_unambiguous_urls_still_open() -> None:
    for url in ("postgresql://u:p%40ss%2Fw%3Ard@127.0.0.1:5432/db", "postgresql://[::1]:5432/db",
                "postgresql://h1:5432,h2:5433/db?sslmode=disable", "postgresql:///db?host=/var/run/postgresql"):
        assert open_backend(url).describe()


# -- CLI: history, show --version, pull, push, migrate ------------------------------------------


def _fwctl(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from reconciler.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_history_show_pull_push(stack: str, tmp_path: Path) -> None:
    backend = PostgresBackend(PG_URL, stack=stack)
    first = StateDocument(stack=stack).next_version()
    backend.write(first)
    second = first.with_resource("Trainer/a", ResourceState(kind="Trainer", name="a")).next_version()
    backend.write(second)
    where = ["--state", PG_URL, "--stack", stack]

    code, out = _fwctl("state", "history", *where)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["1", "2"]
    code, out = _fwctl("state", "show", "--version", "1", *where)
    assert code == 0 and json.loads(out)["serial"] == 1 and json.loads(out)["resources"] == {}
    code, out = _fwctl("state", "show", "Trainer/a", "--version", "2", *where)
    assert code == 0 and json.loads(out)["name"] == "a"
    code, out = _fwctl("state", "show", "--version", "7", *where)
    assert code == 1 and "no version 7" in out

    code, out = _fwctl("state", "pull", *where)
    assert code == 0 and json.loads(out)["serial"] == 2
    pulled = tmp_path / "pulled.json"
    pulled.write_text(out)
    code, out = _fwctl("state", "push", str(pulled), *where)
    assert code == 1 and "not newer" in out  # stale serial
    data = json.loads(pulled.read_text())
    newer, alien = tmp_path / "newer.json", tmp_path / "alien.json"
    newer.write_text(json.dumps({**data, "serial": 5}))
    alien.write_text(json.dumps({**data, "serial": 9, "lineage": str(uuid.uuid4())}))
    code, out = _fwctl("state", "push", str(alien), *where)
    assert code == 1 and "lineage" in out
    code, out = _fwctl("state", "push", str(newer), *where)
    assert code == 0, out
    code, out = _fwctl("state", "push", str(pulled), "--force", *where)
    assert code == 0 and "serial 6" in out
    assert [s for s, _, _ in backend.history()] == [1, 2, 5, 6]
    backend.close()


def test_cli_migrate_local_to_postgres(stack: str, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    local = LocalFileBackend(path)
    first = StateDocument(stack=stack).next_version()
    local.write(first)
    local.write(first.next_version())
    code, out = _fwctl("state", "migrate", "--state", str(path), "--stack", stack, "--to", PG_URL)
    assert code == 0, out
    target = PostgresBackend(PG_URL, stack=stack)
    assert [s for s, _, _ in target.history()] == [1, 2]
    code, out = _fwctl("state", "migrate", "--state", str(path), "--stack", stack, "--to", PG_URL)
    assert code == 0 and "nothing to copy" in out
    other = tmp_path / "other.json"
    LocalFileBackend(other).write(StateDocument(stack=stack).next_version())
    code, out = _fwctl("state", "migrate", "--state", str(other), "--stack", stack, "--to", PG_URL)
    assert code == 1 and "another lineage" in out
    target.close()
