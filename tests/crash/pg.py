"""PostgreSQL faults for the crash harness: the sessions of one fwctl process, and ending them.

A real server restart is not allowed on this shared machine (other suites use the same server), so a
"restart" is emulated the way a fwctl process sees one: every session that process holds (the lock's
own session and the data connections) is ended at once with ``pg_terminate_backend``. Only the
sessions of the fwctl process under test are touched: they are found by the client ports of that
process's sockets (/proc/PID/fd -> /proc/net/tcp*), matched against ``pg_stat_activity``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from tests.conformance.test_state_backends import PG_URL, _postgres_reachable

__all__ = ["PG_URL", "cleanup", "lock_session", "postgres_unreachable", "sessions_of", "terminate"]


def postgres_unreachable() -> str | None:
    return _postgres_reachable()


def _client_ports(pid: int) -> set[int]:
    """Local ports of ``pid``'s TCP connections to the PostgreSQL server's port."""
    server_port = urlsplit(PG_URL).port or 5432
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in inodes and int(parts[2].rsplit(":", 1)[1], 16) == server_port:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def sessions_of(pid: int) -> list[int]:
    """Backend pids of the fwctl sessions process ``pid`` holds now."""
    import psycopg

    ports = _client_ports(pid)
    if not ports:
        return []
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'fwctl'"
                            " AND client_port = ANY(%s)", (sorted(ports),)).fetchall()
    return [int(r[0]) for r in rows]


def lock_session(stack: str) -> int | None:
    """The backend pid of the session holding ``stack``'s advisory lock, if any."""
    import psycopg

    from reconciler.state._postgres import advisory_key

    unsigned = advisory_key(stack) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
    return None if row is None else int(row[0])


def terminate(backends: list[int]) -> int:
    """End these backends; how many were still there to end."""
    import psycopg

    ended = 0
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        for backend in backends:
            row = conn.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()
            ended += bool(row and row[0])
    return ended


def cleanup(stack: str) -> None:
    """Drop ``stack``'s rows (every trial uses a fresh stack name)."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        for table in ("states", "state_versions", "locks"):
            conn.execute(f"DELETE FROM fwctl.{table} WHERE stack = %s", (stack,))
