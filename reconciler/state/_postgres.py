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
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from reconciler.model.state import LockInfo, StateDocument
from reconciler.state.base import document_from_data
from reconciler.state.errors import LockHeld, StateConflict, StateError

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
        if not _IDENT.match(schema):
            raise StateError(f"invalid PostgreSQL schema name {schema!r} (letters, digits, underscores)")
        if not stack:
            raise StateError("the stack name of a PostgreSQL state must not be empty")
        self.url = url
        self.stack = stack
        self.schema = schema
        self._key = advisory_key(stack)
        self._secrets = _secrets_of(url)
        self._where = _redacted(url)
        self._conn: psycopg.Connection[Any] | None = None  # for read/write; never shared across fork
        self._conn_pid = 0
        self._held: dict[str, psycopg.Connection[Any]] = {}  # lock id -> its dedicated connection
        self._held_pid = os.getpid()  # the process that opened the connections in _held
        self._ready = False
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.describe()!r})"

    def describe(self) -> str:
        return f"{self._where} (stack {self.stack})"

    # -- connections --------------------------------------------------------------------------

    def _fail(self, what: str, exc: BaseException) -> StateError:
        """A one-line ``StateError`` for a psycopg error, with every secret of the URL removed."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return StateError(f"{self.describe()}: {what}: {text}")

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        kwargs: dict[str, Any] = {"autocommit": True, "application_name": "fwctl"}
        if "connect_timeout" not in self.url:
            kwargs["connect_timeout"] = _CONNECT_TIMEOUT_S
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
            closable += list(self._held.values()) if self._held_pid == pid else []
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
        self._store(doc, check_lineage=True)

    def overwrite(self, doc: StateDocument) -> None:
        """Store ``doc`` even if its lineage differs (``fwctl state push --force``); serial must rise."""
        self._store(doc, check_lineage=False)

    def _store(self, doc: StateDocument, *, check_lineage: bool) -> None:
        import psycopg
        from psycopg.types.json import Jsonb

        payload = Jsonb(doc.model_dump(mode="json"))
        with self._mutex:
            conn = self._data_conn()
            try:
                with conn.transaction():
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
            except psycopg.errors.UniqueViolation:
                raise StateConflict(
                    f"{self.describe()}: refusing to write serial {doc.serial}: that version is already "
                    f"in the history (re-run)"
                ) from None
            except psycopg.Error as exc:
                raise self._fail("cannot write state", exc) from None

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
            conn = self._connect()  # this lock's own connection, open for as long as it is held
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
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    conn.close()
                if isinstance(exc, psycopg.Error):
                    raise self._fail("cannot take the state lock", exc) from None
                raise
            if self._held_pid != os.getpid():  # forked: the parent's locks are not ours
                self._held, self._held_pid = {}, os.getpid()
            self._held[info.id] = conn
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
            conn = self._held.pop(lock_id, None)
            if conn is None:
                holder = self._read_holder()
                who = holder.describe() if holder else "nobody holds it"
                raise StateError(
                    f"{self.describe()}: cannot unlock {lock_id}: this process does not hold it ({who})"
                )
            try:
                conn.execute(self._sql("DELETE FROM {s}.locks WHERE stack = %s AND lock_id = %s"),
                             (self.stack, lock_id))
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error as exc:
                # The session is gone (force-unlocked, or the server restarted): so is the advisory lock.
                log.warning("%s: lock %s was already released (%s)", self.describe(), lock_id,
                            str(self._fail("unlock", exc)))
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
                    with contextlib.suppress(Exception):
                        mine.close()
                refused = []
                for pid in pids:
                    row = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
                    if not (row and row[0]):
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


def _secrets_of(url: str) -> list[str]:
    """The password of ``url`` (raw and decoded) and of ``PGPASSWORD``: never to be shown."""
    secrets: list[str] = []
    netloc = urlsplit(url).netloc
    userinfo = netloc.rpartition("@")[0]
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        secrets += [raw, unquote(raw)]
    query = urlsplit(url).query
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "password" and value:
            secrets += [value, unquote(value)]
    env = os.environ.get("PGPASSWORD")
    if env:
        secrets.append(env)
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def _redacted(url: str) -> str:
    """``postgresql://user@host:port/db``: no password, no query parameters."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = unquote(userinfo.split(":", 1)[0]) if userinfo else ""
    return f"{parts.scheme}://{user + '@' if user else ''}{hosts}{parts.path}"
