"""The local file backend: one JSON document on disk, a lock file beside it.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``, fsync of the directory),
the file is 0600 from the moment it exists, and the previous version is kept at ``<path>.backup``.

The lock is ``<path>.lock``, published exclusively and holding the holder's ``LockInfo`` as JSON,
plus an ``fcntl.flock`` kept by the holding process for as long as it holds the lock. A lock file
whose flock is gone belongs to a process that died: it is stale and is taken over. A lock whose
file was removed or replaced meanwhile (``fwctl force-unlock``) is lost: writes under it are
refused with ``LockLost``.

A state path that is a symbolic link is written through to its target (the backup and the lock
sit next to the target), never replaced by a regular file. Every failure of the file system
(read-only, full, not a directory) is a one-line ``StateError``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from reconciler.model.state import LockInfo, StateDocument
from reconciler.state.base import document_from_data
from reconciler.state.errors import LockHeld, LockLost, StateConflict, StateError

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class LocalFileBackend:
    """State in a local JSON file (default ``.fwctl/state.json``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.given = Path(path)
        # A link is followed to its target: writes replace the target, not the link.
        self.path = Path(os.path.realpath(self.given)) if self.given.is_symlink() else self.given
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._held: dict[str, int] = {}  # lock id -> fd carrying our flock
        self._mutex = threading.Lock()
        # What this process last wrote: (file identity, lineage, serial, bytes). While the file is
        # unchanged on disk, the next write needs neither to re-read nor to re-parse it.
        self._written: tuple[tuple[int, int, int], str, int, bytes] | None = None

    def __repr__(self) -> str:
        return f"LocalFileBackend({str(self.path)!r})"

    def describe(self) -> str:
        return str(self.given) if self.given == self.path else f"{self.given} (-> {self.path})"

    # -- document -----------------------------------------------------------------------------

    def read(self) -> StateDocument | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state: {exc.strerror or exc}") from None
        return _parse_document(self.path, raw)

    def write(self, doc: StateDocument) -> None:
        self._store(doc, check_lineage=True)

    def overwrite(self, doc: StateDocument) -> None:
        """Store ``doc`` even if its lineage differs (``fwctl state push --force``); serial must rise."""
        self._store(doc, check_lineage=False)

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _stored(self) -> tuple[str, int, bytes] | None:
        """(lineage, serial, bytes) of the stored document, from cache while the file is unchanged."""
        if self._written is not None and self._identity() == self._written[0]:
            return self._written[1:]
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state: {exc.strerror or exc}") from None
        stored = _parse_document(self.path, raw)
        return stored.lineage, stored.serial, raw

    def write_versions(self, docs: Sequence[StateDocument]) -> None:
        """Store ``docs`` as one step: a file keeps the last as its state and the one before as its backup."""
        if docs:
            self._store(docs[-1], check_lineage=True, first=docs[0],
                        backup=self._encode(docs[-2]) if len(docs) > 1 else None)

    def _encode(self, doc: StateDocument) -> bytes:
        try:
            return doc.model_dump_json(indent=2).encode() + b"\n"
        except (ValueError, RecursionError):
            raise StateError(f"{self.path}: cannot write state: the document cannot be written as JSON") from None

    def _store(self, doc: StateDocument, *, check_lineage: bool, first: StateDocument | None = None,
               backup: bytes | None = None) -> None:
        first = first or doc
        with self._mutex:
            self.check_lock()  # fenced: a lock this handle held and lost allows no write
            stored = self._stored()
            if stored is not None:
                lineage, serial, _ = stored
                if check_lineage and lineage != first.lineage:
                    raise StateConflict(
                        f"{self.path}: refusing to write state of lineage {first.lineage} over a "
                        f"document of lineage {lineage} (a different stack's state?)"
                    )
                if first.serial <= serial:
                    raise StateConflict(
                        f"{self.path}: refusing to write serial {first.serial}: the stored state is "
                        f"already at serial {serial} (it changed since it was read; re-run)"
                    )
            self._ensure_parent()
            data = self._encode(doc)
            try:
                previous = backup if backup is not None else stored[2] if stored is not None else None
                if previous is not None:
                    _atomic_write(self.backup_path, previous)
                _atomic_write(self.path, data)
            except OSError as exc:
                self._written = None
                raise StateError(f"{self.path}: cannot write state: {exc.strerror or exc}") from None
            identity = self._identity()
            self._written = (identity, doc.lineage, doc.serial, data) if identity else None

    # -- history (what a file keeps: the current version and the one before) -------------------

    def history(self) -> list[tuple[int, datetime, str]]:
        """(serial, written_at, lineage) of the backup and the current version, oldest first.

        A file keeps only these two; the PostgreSQL backend keeps every version.
        """
        entries: dict[int, tuple[int, datetime, str]] = {}
        for path in (self.backup_path, self.path):
            doc = self._read_path(path)
            if doc is not None:
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                entries[doc.serial] = (doc.serial, written, doc.lineage)
        return [entries[k] for k in sorted(entries)]

    def read_version(self, serial: int) -> StateDocument | None:
        """The document at ``serial`` if it is the current version or the backup, else None."""
        for path in (self.path, self.backup_path):
            doc = self._read_path(path)
            if doc is not None and doc.serial == serial:
                return doc
        return None

    def _read_path(self, path: Path) -> StateDocument | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{path}: cannot read state: {exc.strerror or exc}") from None
        return _parse_document(path, raw)

    def _ensure_parent(self) -> None:
        parent = self.path.parent
        try:
            if not parent.exists():
                parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            elif not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        except OSError as exc:
            raise StateError(
                f"{parent}: cannot create the state directory: {exc.strerror or exc}"
            ) from None

    # -- lock ---------------------------------------------------------------------------------

    def lock(self, info: LockInfo) -> str:
        if not info.path:
            info = info.model_copy(update={"path": str(self.path)})
        self._ensure_parent()
        payload = info.model_dump_json().encode()
        with self._mutex:
            for _ in range(20):  # only races with concurrent lockers/unlockers loop here
                try:
                    fd = self._publish_lock_file(payload)
                    if fd is None:
                        fd = self._take_over_stale(payload)
                except OSError as exc:  # read-only, full, not a directory...
                    raise StateError(f"{self.lock_path}: cannot take the state lock: {exc.strerror or exc}") from None
                if fd is not None:
                    self._held[info.id] = fd
                    return info.id
        raise StateError(f"{self.lock_path}: could not take the lock (it changes hands too quickly)")

    def _publish_lock_file(self, payload: bytes) -> int | None:
        """Create the lock file, already flocked and filled, in one exclusive step; None if it exists."""
        tmp = self.lock_path.with_name(f".{self.lock_path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, payload)
            os.fsync(fd)
            try:
                os.link(tmp, self.lock_path)  # exclusive, like O_CREAT|O_EXCL, but never half-written
            except FileExistsError:
                os.close(fd)
                return None
            return fd
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _take_over_stale(self, payload: bytes) -> int | None:
        """The lock file exists: raise ``LockHeld`` if its holder lives, else take it over."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return None  # released meanwhile: try publishing again
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise LockHeld(str(self.path), self._read_holder(fd)) from None
            # We hold the flock: the recorded holder is gone. Make sure the path still names this
            # file (an unlocker may have unlinked it after we opened it), then claim it.
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                return None
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0)
            os.fsync(fd)
            return fd
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise

    def _read_holder(self, fd: int) -> LockInfo:
        try:
            raw = os.pread(fd, 1 << 16, 0)
            return LockInfo.model_validate_json(raw)
        except (OSError, ValidationError, ValueError):
            return LockInfo(id="?", operation="?", path=str(self.path))

    def _read_lock_file(self) -> LockInfo | None:
        try:
            raw = self.lock_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return LockInfo.model_validate_json(raw)
        except (ValidationError, ValueError):
            return LockInfo(id="?", operation="?", path=str(self.path))

    def check_lock(self) -> None:
        """Raise ``LockLost`` if the lock file this handle holds was removed or replaced meanwhile."""
        for lock_id, fd in self._held.items():
            try:
                ours = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except OSError:
                ours = False
            if not ours:
                raise LockLost(str(self.path), lock_id,
                               f"its lock file {self.lock_path} was removed or replaced: force-unlocked?")

    def unlock(self, lock_id: str) -> None:
        with self._mutex:
            fd = self._held.pop(lock_id, None)
            if fd is None:
                holder = self._read_lock_file()
                who = holder.describe() if holder else "nobody"
                raise StateError(
                    f"{self.path}: cannot unlock {lock_id}: this process does not hold it ({who})"
                )
            try:
                # Unlink while still holding the flock, so no one can claim the dying file; only
                # our own file (one force-unlocked and taken over since is someone else's).
                with contextlib.suppress(OSError):
                    if os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino:
                        os.unlink(self.lock_path)
            finally:
                os.close(fd)

    def force_unlock(self, lock_id: str) -> None:
        with self._mutex:
            holder = self._read_lock_file()
            if holder is None:
                return
            if holder.id != lock_id:
                raise StateError(
                    f"{self.path}: lock id {lock_id} does not match the current lock: {holder.describe()}"
                )
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
            fd = self._held.pop(lock_id, None)
            if fd is not None:
                os.close(fd)


def _parse_document(path: Path, raw: bytes) -> StateDocument:
    hint = f"; fix it or restore {path.name}.backup"
    try:
        data = json.loads(raw)
        if b"\\ud" in raw.lower():  # an escaped surrogate: must pair up into real text
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{path}: not a valid fwctl state file (invalid JSON: {exc}){hint}") from None
    except UnicodeEncodeError:
        raise StateError(f"{path}: not a valid fwctl state file (a lone surrogate escape: not text){hint}") from None
    except RecursionError:
        raise StateError(f"{path}: not a valid fwctl state file (nested too deeply){hint}") from None
    return document_from_data(data, str(path), hint)


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: either the old or the new content survives a crash."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
