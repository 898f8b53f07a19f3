"""A PostgreSQL state lock held by this process: its session, watched, and the fence of every write.

``Lease`` is one lock ``PostgresBackend.lock`` took: the connection opened for it alone, and the
identity (backend pid and start time) of the database session that holds the advisory lock. A
watcher thread pings that session every second; ``lost`` says why the lock is gone once it is
(its session ended: terminated, a server restart, a dropped network; or its holder row was
removed or taken by someone else: ``force-unlock``). ``fence`` runs inside a write's transaction
and refuses the write unless the lock is still this lease's. The watcher is stopped and joined
by ``stop`` (``unlock`` / ``close``), so it never outlives the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

WATCH_INTERVAL_S = 1.0  # how often a held lock's session is pinged
_JOIN_S = 30.0  # a watcher stuck in a query on a dead network is abandoned after this (it is a daemon)


@dataclass(eq=False)
class Lease:
    lock_id: str
    conn: psycopg.Connection[Any]
    backend_pid: int
    backend_start: datetime
    key: int  # the stack's advisory lock key (signed 64 bits)
    lost: str | None = None  # why the lock is gone, once it is
    io: threading.Lock = field(default_factory=threading.Lock)  # the watcher and unlock share conn
    stop_event: threading.Event = field(default_factory=threading.Event)
    watcher: threading.Thread | None = None

    def watch(self, holder_sql: Any, stack: str, reason: Callable[[BaseException], str]) -> None:
        """Start the watcher: ``holder_sql`` reads the stack's holder row (``lock_id``)."""
        self.watcher = threading.Thread(target=self._watch, args=(holder_sql, stack, reason), daemon=True,
                                        name=f"fwctl-lock-watch-{self.lock_id[:8]}")
        self.watcher.start()

    def _watch(self, holder_sql: Any, stack: str, reason: Callable[[BaseException], str]) -> None:
        import psycopg

        while not self.stop_event.wait(WATCH_INTERVAL_S):
            with self.io:
                if self.stop_event.is_set():
                    return
                try:
                    row = self.conn.execute(holder_sql, (stack,)).fetchone()
                except psycopg.Error as exc:
                    self.lost = self.lost or f"its database session ended: {reason(exc)}"
                    return
                except Exception:  # noqa: BLE001 - the connection was closed under us: nothing to watch
                    return
            if self._holder_is_not_us(row):
                return

    def _holder_is_not_us(self, row: Any) -> bool:
        if row is not None and row[0] == self.lock_id:
            return False
        self.lost = self.lost or ("its holder record was removed (force-unlocked?)" if row is None
                                  else f"it is now held as lock {row[0]}")
        return True

    def stop(self) -> None:
        """Stop the watcher and wait for it (bounded: a query hung on a dead network is left behind)."""
        self.stop_event.set()
        watcher = self.watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(_JOIN_S)

    def fence(self, conn: psycopg.Connection[Any], holder_for_share_sql: Any, stack: str) -> bool:
        """In a write's transaction: True while this lease still holds the lock, else False (and ``lost``).

        The holder row is read ``FOR SHARE``: a new holder's claim of it waits until this write
        commits, so the new holder reads the state only after it. The advisory lock must still be
        granted to the lease's very session (pid and start time: a reused pid does not pass).
        """
        if self._holder_is_not_us(conn.execute(holder_for_share_sql, (stack,)).fetchone()):
            return False
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        held = conn.execute(
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.pid = %s AND a.backend_start = %s"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 1",
            (self.backend_pid, self.backend_start, unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
        if held is None:
            self.lost = self.lost or f"its database session (backend pid {self.backend_pid}) ended"
            return False
        return True


__all__ = ["WATCH_INTERVAL_S", "Lease"]
