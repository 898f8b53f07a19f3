"""The SQLite store: one row per resource, the resource as a JSON document.

States are never stored as such: documents keep timestamps (epoch seconds) and the lifecycle
module derives the state on read, so a restarted server carries on where it stopped.
The connection is shared behind a re-entrant lock; WAL and a busy timeout let several
processes open the same file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trainers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, last_activity REAL,
    UNIQUE (account, id));
CREATE TABLE IF NOT EXISTS deployments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
    UNIQUE (account, id));
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL, job TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
    UNIQUE (account, job, name));
CREATE TABLE IF NOT EXISTS weights (identity TEXT PRIMARY KEY, spec TEXT NOT NULL, blob BLOB NOT NULL);
"""

Doc = dict[str, Any]


class Store:
    """Resource documents in SQLite."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        self._depth = 0

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction (re-entrant: nested uses join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    def _exec(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    # -- meta -------------------------------------------------------------------------------------

    def meta(self, key: str, default: str) -> str:
        """The stored value of ``key``; stores ``default`` first if there is none."""
        with self.atomic():
            row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
            if row is not None:
                return str(row[0])
            self._exec("INSERT INTO meta (key, value) VALUES (?, ?)", (key, default))
            return default

    # -- trainers ---------------------------------------------------------------------------------

    def get_trainer(self, account: str, job: str) -> tuple[Doc, float | None] | None:
        row = self._one(
            "SELECT doc, last_activity FROM trainers WHERE account = ? AND id = ?", (account, job)
        )
        return (json.loads(row[0]), row[1]) if row else None

    def list_trainers(self, account: str) -> list[tuple[Doc, float | None]]:
        rows = self._all("SELECT doc, last_activity FROM trainers WHERE account = ? ORDER BY seq", (account,))
        return [(json.loads(doc), act) for doc, act in rows]

    def insert_trainer(self, account: str, job: str, doc: Doc) -> bool:
        """False when the id is taken."""
        try:
            self._exec(
                "INSERT INTO trainers (account, id, doc) VALUES (?, ?, ?)", (account, job, json.dumps(doc))
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def put_trainer(self, account: str, job: str, doc: Doc, *, reset_activity: bool = False) -> None:
        if reset_activity:
            self._exec(
                "UPDATE trainers SET doc = ?, last_activity = NULL WHERE account = ? AND id = ?",
                (json.dumps(doc), account, job),
            )
        else:
            self._exec(
                "UPDATE trainers SET doc = ? WHERE account = ? AND id = ?", (json.dumps(doc), account, job)
            )

    def touch_trainer(self, account: str, job: str, when: float) -> None:
        self._exec("UPDATE trainers SET last_activity = ? WHERE account = ? AND id = ?", (when, account, job))

    # -- deployments ------------------------------------------------------------------------------

    def get_deployment(self, account: str, dep: str) -> Doc | None:
        row = self._one("SELECT doc FROM deployments WHERE account = ? AND id = ?", (account, dep))
        return json.loads(row[0]) if row else None

    def list_deployments(self, account: str) -> list[Doc]:
        rows = self._all("SELECT doc FROM deployments WHERE account = ? ORDER BY seq", (account,))
        return [json.loads(r[0]) for r in rows]

    def insert_deployment(self, account: str, dep: str, doc: Doc) -> bool:
        try:
            self._exec(
                "INSERT INTO deployments (account, id, doc) VALUES (?, ?, ?)", (account, dep, json.dumps(doc))
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def put_deployment(self, account: str, dep: str, doc: Doc) -> None:
        self._exec(
            "UPDATE deployments SET doc = ? WHERE account = ? AND id = ?", (json.dumps(doc), account, dep)
        )

    def drop_deployment(self, account: str, dep: str) -> None:
        self._exec("DELETE FROM deployments WHERE account = ? AND id = ?", (account, dep))

    # -- snapshots --------------------------------------------------------------------------------

    def insert_snapshot(self, account: str, job: str, name: str, doc: Doc) -> bool:
        try:
            self._exec(
                "INSERT INTO snapshots (account, job, name, doc) VALUES (?, ?, ?, ?)",
                (account, job, name, json.dumps(doc)),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def list_snapshots(self, account: str, job: str) -> list[Doc]:
        rows = self._all(
            "SELECT doc FROM snapshots WHERE account = ? AND job = ? ORDER BY seq", (account, job)
        )
        return [json.loads(r[0]) for r in rows]

    def has_snapshot(self, account: str, job: str, name: str) -> bool:
        row = self._one(
            "SELECT 1 FROM snapshots WHERE account = ? AND job = ? AND name = ?", (account, job, name)
        )
        return row is not None

    # -- weights (the tiny models of snapshots and saved states; ``_weights.WeightStore``) ----------

    def put_weights(self, identity: str, spec: str, blob: bytes) -> None:
        self._exec(
            "INSERT INTO weights (identity, spec, blob) VALUES (?, ?, ?) "
            "ON CONFLICT (identity) DO UPDATE SET spec = excluded.spec, blob = excluded.blob",
            (identity, spec, blob),
        )

    def get_weights(self, identity: str) -> tuple[str, bytes] | None:
        row = self._one("SELECT spec, blob FROM weights WHERE identity = ?", (identity,))
        return (str(row[0]), bytes(row[1])) if row else None

    def weight_identities(self, prefix: str) -> list[str]:
        rows = self._all("SELECT identity FROM weights WHERE substr(identity, 1, ?) = ? ORDER BY identity",
                         (len(prefix), prefix))
        return [str(r[0]) for r in rows]
