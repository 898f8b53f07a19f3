"""An apply whose PostgreSQL lock session is terminated mid-flight stops, says so, and writes nothing more.

The GRPO example under a fresh stack name, its state in the real PostgreSQL on 127.0.0.1, a served
`fwctl local serve` as the endpoint (see test_postgres_apply.py). Trainers are held PENDING by a
capacity fault so the apply is mid-flight when an admin runs ``pg_terminate_backend`` on the
session holding its advisory lock (a server restart does the same). A second apply then gets the
lock; the first must not write beside it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conformance.test_state_backends import PG_URL
from tests.crash.pg import lock_session
from tests.e2e import test_postgres_apply as pg
from tests.e2e.conftest import LocalPlane
from tests.e2e.test_postgres_apply import _assert_converged, _history, _lock_row, _ok, _run, _serial, _start

pytestmark = pytest.mark.postgres
_server, stack, work = pg._server, pg.stack, pg.work  # the fixtures: a reachable server, a fresh stack


def _terminate(pid: int) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_terminating_the_lock_session_stops_the_apply_with_one_line(
        work: Path, stack: str, local_plane: LocalPlane) -> None:
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "pendingSeconds": 250})
    first = _start(work, local_plane, "apply", "-f", "grpo", "--auto-approve")
    try:
        deadline = time.monotonic() + 60
        while True:  # holding the lock, with creates recorded as pending
            row = _lock_row(stack)
            if row is not None and row[1] == first.pid and _serial(stack) >= 2:
                break
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, f"apply never held the lock and wrote state: {row}"
            time.sleep(0.05)
        session = lock_session(stack)
        assert session is not None
        _terminate(session)

        # A second fwctl gets the lock at once and carries on; the first may not write beside it.
        second = _run(work, local_plane, "apply", "-f", "grpo", "--auto-approve", "--lock-timeout", "2m")
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 1, f"the apply that lost its lock exited {first.returncode}:\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    last = err.strip().splitlines()[-1]
    assert "the state lock" in last and "was lost" in last and "run it again" in last, err
    assert "Apply complete" not in out
    assert second.returncode == 0, second.stdout + second.stderr

    # Every version is of one lineage, serials without gaps or clashes: nobody wrote beside anybody.
    local_plane.admin("DELETE", "/_local/v1/faults")
    _ok(work, local_plane, "apply", "-f", "grpo", "--auto-approve")
    history = _history(work, local_plane)
    assert [r["serial"] for r in history] == list(range(1, len(history) + 1))
    assert len({r["lineage"] for r in history}) == 1
    _assert_converged(work, local_plane, stack)
    assert _lock_row(stack) is None
    plan = _run(work, local_plane, "plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
