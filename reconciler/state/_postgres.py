"""The PostgreSQL backend: one row per stack, every version kept, locks whose holder others can read.

Tables live in the schema ``fwctl`` (created when missing):

``states(stack, lineage, serial, doc, updated_at)``
    the current document of each stack; a write takes the row ``FOR UPDATE`` and refuses another
    lineage or a serial that does not rise, in the same transaction as the insert below.
``state_versions(stack, serial, lineage, doc, written_at)``
    every version ever written (``history`` / ``read_version``).
``locks(stack, lock_id, operation, who, host, pid, version, created)``
    who holds the lock, for whoever waits.

The lock itself is a session-level ``pg_try_advisory_lock`` taken on a connection opened for that
lock alone and kept open until ``unlock``: a holder that dies (even by SIGKILL) drops its
connection and PostgreSQL releases the advisory lock with it. The next ``lock`` then gets the
advisory lock, finds the dead holder's row and overwrites it. ``force_unlock`` deletes the row and
terminates the backend session holding the advisory lock.

Losing the lock (session terminated, server restarted, ``force-unlock``) is watched and fenced
(``reconciler.state._pg_lease``): ``check_lock`` reports it without I/O and every write, in its
transaction, refuses with ``LockLost`` unless the lock is still this process's.

The URL is checked before anything connects (``reconciler.state._url``): one whose password
cannot be told apart from its host, without a host, or with a malformed host or port is refused.
Passwords come only from the URL or libpq's environment (``PGPASSWORD``, ``.pgpass``); they never
appear in ``describe()``, in logs or in error messages. psycopg is imported here and nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler.model.state import LockInfo, StateDocument
from reconciler.state._pg_lease import Lease
from reconciler.state._url import check_pg_url
from reconciler.state.base import document_from_data, serialised
from reconciler.state.errors import LockHeld, LockLost, StateConflict, StateError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 10
_RELEASE_WAIT_S = 5.0  # how long force_unlock waits for a terminated holder's lock to go
_HOLDER_WAIT_S = 1.0  # how long a contender waits for a new holder to record itself
_SCHEMA_LOCK_KEY = 0x66776374_6C736368  # "fwctlsch": serialises creating the tables
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def advisory_key(stack: str) -> int:
    """The advisory lock key of a stack: a stable signed 64-bit hash of its name."""
    digest = hashlib.blake2b(f"fwctl-state:{stack}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresBackend:
    """State in PostgreSQL (``--state postgresql://user@host/db``), one row per stack."""

    def __init__(self, url: str, *, stack: str = "default", schema: str = "fwctl") -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StateError("a PostgreSQL state location must start with postgresql:// or postgres://")
        checked = check_pg_url(url)  # before any connection or name lookup
        if not _IDENT.match(schema):
            raise StateError(f"invalid PostgreSQL schema name {schema!r} (letters, digits, underscores)")
        if not stack:
            raise StateError("the stack name of a PostgreSQL state must not be empty")
        self.url = url
        self.stack = stack
        self.schema = schema
        self._key = advisory_key(stack)
        self._secrets = list(checked.secrets)
        self._where = checked.redacted
        self._conn: psycopg.Connection[Any] | None = None  # for read/write; never shared across fork
        self._conn_pid = 0
        self._held: dict[str, Lease] = {}  # lock id -> its dedicated connection and session
        self._held_pid = os.getpid()  # the process that opened the connections in _held
        self._ready = False
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.describe()!r})"

    def describe(self) -> str:
        return f"{self._where} (stack {self.stack})"

    # -- connections --------------------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        """The first line of ``exc``'s message, with every secret of the URL removed."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _fail(self, what: str, exc: BaseException) -> StateError:
        """A one-line ``StateError`` for a psycopg error, with every secret of the URL removed."""
        return StateError(f"{self.describe()}: {what}: {self._reason(exc)}")

    def _connect(self, *, for_lock: bool = False) -> psycopg.Connection[Any]:
        import psycopg

        kwargs: dict[str, Any] = {"autocommit": True, "application_name": "fwctl"}
        if "connect_timeout" not in self.url:
            kwargs["connect_timeout"] = _CONNECT_TIMEOUT_S
        if for_lock and "keepalives" not in self.url:
            # A lock's session must be found dead within seconds, even when the network, not the
            # server, dropped it (TCP only; ignored on a Unix socket).
            kwargs.update(keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
        try:
            conn = psycopg.connect(self.url, **kwargs)
        except psycopg.Error as exc:
            raise self._fail("cannot connect", exc) from None
        except Exception as exc:  # malformed URL and the like: still never echo the URL
            raise self._fail("cannot connect (invalid URL?)", exc) from None
        if not self._ready:
            try:
                self._create_tables(conn)
            except psycopg.Error as exc:
                conn.close()
                raise self._fail("cannot create the state tables", exc) from None
            self._ready = True
        return conn

    def _data_conn(self) -> psycopg.Connection[Any]:
        """The connection for reads and writes, reopened when closed or inherited through fork."""
        conn = self._conn
        if conn is not None and (self._conn_pid != os.getpid() or conn.closed or conn.broken):
            if self._conn_pid == os.getpid():
                with contextlib.suppress(Exception):
                    conn.close()
            conn = None  # a forked child must not talk on its parent's socket
        if conn is None:
            conn = self._connect()
            self._conn, self._conn_pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close every connection of this handle; a lock still held is released with its connection."""
        with self._mutex:
            pid = os.getpid()
            closable = [self._conn] if self._conn_pid == pid else []
            if self._held_pid == pid:
                for lease in self._held.values():
                    lease.stop()
                    closable.append(lease.conn)
            for conn in closable:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._conn = None
            self._held.clear()

    def _create_tables(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        s = sql.Identifier(self.schema)
        with conn.transaction():
            # CREATE ... IF NOT EXISTS races with itself; a transaction lock makes it one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.states ("
                " stack text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL,"
                " doc jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(s))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.state_versions ("
                " stack text NOT NULL, serial bigint NOT NULL, lineage text NOT NULL,"
                " doc jsonb NOT NULL, written_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (stack, serial))"
            ).format(s))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.locks ("
                " stack text PRIMARY KEY, lock_id text NOT NULL, operation text NOT NULL DEFAULT '',"
                " who text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid integer NOT NULL DEFAULT 0,"
                " version text NOT NULL DEFAULT '', created timestamptz NOT NULL DEFAULT now())"
            ).format(s))

    def _sql(self, template: str) -> Any:
        """``template`` with ``{s}`` replaced by the quoted schema name."""
        from psycopg import sql

        return sql.SQL(template).format(s=sql.Identifier(self.schema))

    # -- document -----------------------------------------------------------------------------

    def read(self) -> StateDocument | None:
        import psycopg

        with self._mutex:
            try:
                row = self._data_conn().execute(
                    self._sql("SELECT doc FROM {s}.states WHERE stack = %s"), (self.stack,)
                ).fetchone()
            except psycopg.Error as exc:
                raise self._fail("cannot read state", exc) from None
        return None if row is None else self._parse(row[0], "current version")

    def write(self, doc: StateDocument) -> None:
        self._store([doc], check_lineage=True)

    def overwrite(self, doc: StateDocument) -> None:
        """Store ``doc`` even if its lineage differs (``fwctl state push --force``); serial must rise."""
        self._store([doc], check_lineage=False)

    def write_versions(self, docs: Sequence[StateDocument]) -> None:
        """Store ``docs`` (serials rising, one lineage) in one transaction: all of them or none."""
        if docs:
            self._store(list(docs), check_lineage=True)

    def _store(self, docs: list[StateDocument], *, check_lineage: bool) -> None:
        import psycopg
        from psycopg.types.json import Jsonb

        payloads = [Jsonb(serialised(doc, self.describe())) for doc in docs]
        with self._mutex:
            lease = self._lease()
            self.check_lock()
            conn = self._data_conn()
            try:
                with conn.transaction():
                    if lease is not None and not lease.fence(
                            conn, self._sql("SELECT lock_id FROM {s}.locks WHERE stack = %s FOR SHARE"), self.stack):
                        raise self._lost(lease)
                    for doc, payload in zip(docs, payloads, strict=True):
                        self._store_one(conn, doc, payload, check_lineage=check_lineage)
            except psycopg.errors.UniqueViolation:
                raise StateConflict(
                    f"{self.describe()}: refusing to write serial {docs[-1].serial}: that version is already "
                    f"in the history (re-run)"
                ) from None
            except psycopg.Error as exc:
                raise self._fail("cannot write state", exc) from None

    def _store_one(self, conn: psycopg.Connection[Any], doc: StateDocument, payload: Any, *,
                   check_lineage: bool) -> None:
        row = conn.execute(
            self._sql("SELECT lineage, serial FROM {s}.states WHERE stack = %s FOR UPDATE"),
            (self.stack,),
        ).fetchone()
        if row is not None:
            lineage, serial = row
            if check_lineage and lineage != doc.lineage:
                raise StateConflict(
                    f"{self.describe()}: refusing to write state of lineage {doc.lineage} over "
                    f"a document of lineage {lineage} (a different stack's state?)"
                )
            if doc.serial <= serial:
                raise StateConflict(
                    f"{self.describe()}: refusing to write serial {doc.serial}: the stored "
                    f"state is already at serial {serial} (it changed since it was read; re-run)"
                )
            conn.execute(
                self._sql("UPDATE {s}.states SET lineage = %s, serial = %s, doc = %s,"
                          " updated_at = now() WHERE stack = %s"),
                (doc.lineage, doc.serial, payload, self.stack),
            )
        else:
            created = conn.execute(
                self._sql("INSERT INTO {s}.states (stack, lineage, serial, doc) VALUES (%s, %s, %s, %s)"
                          " ON CONFLICT (stack) DO NOTHING RETURNING stack"),
                (self.stack, doc.lineage, doc.serial, payload),
            ).fetchone()
            if created is None:
                raise StateConflict(
                    f"{self.describe()}: refusing to write serial {doc.serial}: another "
                    f"writer created this stack's state meanwhile (re-run)"
                )
        conn.execute(
            self._sql("INSERT INTO {s}.state_versions (stack, serial, lineage, doc)"
                      " VALUES (%s, %s, %s, %s)"),
            (self.stack, doc.serial, doc.lineage, payload),
        )

    # -- fencing ------------------------------------------------------------------------------

    def _lease(self) -> Lease | None:
        """The lock this process holds on this stack, if any (writes under it are fenced)."""
        if self._held_pid != os.getpid() or not self._held:
            return None
        return next(iter(self._held.values()))

    def _lost(self, lease: Lease) -> LockLost:
        return LockLost(self.describe(), lease.lock_id, lease.lost or "?")

    def check_lock(self) -> None:
        """Raise ``LockLost`` if a lock this process holds was lost (as last seen by its watcher; no I/O)."""
        lease = self._lease()
        if lease is not None and lease.lost:
            raise self._lost(lease)

    # -- history ------------------------------------------------------------------------------

    def history(self) -> list[tuple[int, datetime, str]]:
        """Every version kept, oldest first: (serial, written_at, lineage)."""
        import psycopg

        with self._mutex:
            try:
                rows = self._data_conn().execute(
                    self._sql("SELECT serial, written_at, lineage FROM {s}.state_versions"
                              " WHERE stack = %s ORDER BY serial"),
                    (self.stack,),
                ).fetchall()
            except psycopg.Error as exc:
                raise self._fail("cannot read the state history", exc) from None
        return [(int(serial), written_at, lineage) for serial, written_at, lineage in rows]

    def read_version(self, serial: int) -> StateDocument | None:
        """The document as written at ``serial``, or None when that version was never written."""
        import psycopg

        with self._mutex:
            try:
                row = self._data_conn().execute(
                    self._sql("SELECT doc FROM {s}.state_versions WHERE stack = %s AND serial = %s"),
                    (self.stack, serial),
                ).fetchone()
            except psycopg.Error as exc:
                raise self._fail(f"cannot read state version {serial}", exc) from None
        return None if row is None else self._parse(row[0], f"version {serial}")

    def _parse(self, data: Any, which: str) -> StateDocument:
        return document_from_data(data, f"{self.describe()}: {which}")

    # -- lock ---------------------------------------------------------------------------------

    def lock(self, info: LockInfo) -> str:
        import psycopg

        with self._mutex:
            if info.id in self._held:
                raise LockHeld(self.describe(), self._holder_or_unknown(self._read_holder()))
            conn = self._connect(for_lock=True)  # this lock's own connection, open while it is held
            try:
                got = self._try_advisory_lock(conn)
                if not got:
                    # The holder records itself right after taking the advisory lock: a contender
                    # that looks in between finds no row. Give the holder a moment to write it,
                    # so that whoever waits is told who holds the lock, not "lock ? held by ?".
                    holder = self._read_holder(conn)
                    deadline = time.monotonic() + _HOLDER_WAIT_S
                    while holder is None and time.monotonic() < deadline:
                        time.sleep(0.02)
                        got = self._try_advisory_lock(conn)
                        if got:
                            break
                        holder = self._read_holder(conn)
                    if not got:
                        raise LockHeld(self.describe(), self._holder_or_unknown(holder))
                # The advisory lock is ours: any row left is a dead holder's, overwrite it.
                conn.execute(
                    self._sql(
                        "INSERT INTO {s}.locks (stack, lock_id, operation, who, host, pid, version, created)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (stack) DO UPDATE SET lock_id = EXCLUDED.lock_id,"
                        " operation = EXCLUDED.operation, who = EXCLUDED.who, host = EXCLUDED.host,"
                        " pid = EXCLUDED.pid, version = EXCLUDED.version, created = EXCLUDED.created"
                    ),
                    (self.stack, info.id, info.operation, info.who, info.host, info.pid, info.version,
                     info.created),
                )
                session = conn.execute("SELECT pid, backend_start FROM pg_stat_activity"
                                       " WHERE pid = pg_backend_pid()").fetchone()
                assert session is not None
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    conn.close()
                if isinstance(exc, psycopg.Error):
                    raise self._fail("cannot take the state lock", exc) from None
                raise
            if self._held_pid != os.getpid():  # forked: the parent's locks are not ours
                self._held, self._held_pid = {}, os.getpid()
            lease = Lease(info.id, conn, int(session[0]), session[1], self._key)
            lease.watch(self._sql("SELECT lock_id FROM {s}.locks WHERE stack = %s"), self.stack, self._reason)
            self._held[info.id] = lease
            return info.id

    def _try_advisory_lock(self, conn: psycopg.Connection[Any]) -> bool:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        return bool(got and got[0])

    def _read_holder(self, conn: psycopg.Connection[Any] | None = None) -> LockInfo | None:
        import psycopg

        try:
            row = (conn or self._data_conn()).execute(
                self._sql("SELECT lock_id, operation, who, host, pid, version, created"
                          " FROM {s}.locks WHERE stack = %s"),
                (self.stack,),
            ).fetchone()
        except psycopg.Error as exc:
            raise self._fail("cannot read the lock holder", exc) from None
        if row is None:
            return None
        lock_id, operation, who, host, pid, version, created = row
        return LockInfo(id=lock_id, operation=operation, who=who, host=host, pid=pid, version=version,
                        created=created, path=self.describe())

    def _holder_or_unknown(self, holder: LockInfo | None) -> LockInfo:
        # The holder took the advisory lock but has not recorded itself yet (or its row was deleted).
        return holder or LockInfo(id="?", operation="?", path=self.describe())

    def _advisory_holders(self, conn: psycopg.Connection[Any]) -> list[int]:
        """Backend pids holding this stack's advisory lock, in the current database."""
        unsigned = self._key & 0xFFFFFFFFFFFFFFFF
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def unlock(self, lock_id: str) -> None:
        import psycopg

        with self._mutex:
            lease = self._held.pop(lock_id, None) if self._held_pid == os.getpid() else None
            if lease is None:
                holder = self._read_holder()
                who = holder.describe() if holder else "nobody holds it"
                raise StateError(
                    f"{self.describe()}: cannot unlock {lock_id}: this process does not hold it ({who})"
                )
            lease.stop()
            conn = lease.conn
            try:
                if lease.lost is None:
                    conn.execute(self._sql("DELETE FROM {s}.locks WHERE stack = %s AND lock_id = %s"),
                                 (self.stack, lock_id))
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error as exc:
                # The session is gone (force-unlocked, or the server restarted): so is the advisory lock.
                log.warning("%s: lock %s was already released (%s)", self.describe(), lock_id, self._reason(exc))
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def force_unlock(self, lock_id: str) -> None:
        import psycopg

        with self._mutex:
            conn = self._connect()
            try:
                holder = self._read_holder(conn)
                pids = self._advisory_holders(conn)
                if holder is None and not pids:
                    return  # nothing to release
                if holder is None or holder.id != lock_id:
                    current = holder.describe() if holder else "a session that has not recorded its holder"
                    raise StateError(
                        f"{self.describe()}: lock id {lock_id} does not match the current lock: {current}"
                    )
                conn.execute(self._sql("DELETE FROM {s}.locks WHERE stack = %s AND lock_id = %s"),
                             (self.stack, lock_id))
                mine = self._held.pop(lock_id, None)
                if mine is not None:  # held by this very handle: just drop it
                    mine.stop()
                    with contextlib.suppress(Exception):
                        mine.conn.close()
                refused = []
                for pid in pids:
                    row = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
                    if not (row and row[0]) and conn.execute(  # false: refused, or that session just ended
                            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None:
                        refused.append(pid)
                if refused:
                    raise StateError(
                        f"{self.describe()}: removed the holder record of lock {lock_id}, but could not end "
                        f"the session holding it (backend pid {refused[0]}); stop process {holder.pid} on "
                        f"{holder.host or holder.who or '?'} or ask a database admin to run "
                        f"SELECT pg_terminate_backend({refused[0]})"
                    )
                deadline = time.monotonic() + _RELEASE_WAIT_S
                while self._advisory_holders(conn) and time.monotonic() < deadline:
                    time.sleep(0.05)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise StateError(
                    f"{self.describe()}: removed the holder record of lock {lock_id}, but this database "
                    f"user may not end the holder's session ({self._fail('terminate', exc)}); ask a "
                    f"database admin to terminate it"
                ) from None
            except psycopg.Error as exc:
                raise self._fail("cannot force-unlock", exc) from None
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

