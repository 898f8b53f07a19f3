"""The conformance suite every state backend passes (Terraform's ``TestFull``, in our words).

To add a backend, add a parameter to the ``backend_factory`` fixture returning a factory that
gives *independent handles on the same state* (as two fwctl processes would have).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.model.state import LockInfo, ResourceState, StateDocument
from reconciler.state import (
    LocalFileBackend,
    LockHeld,
    LockLost,
    PostgresBackend,
    StateBackend,
    StateConflict,
    lock_with_timeout,
)

Factory = Callable[[], StateBackend]


PG_URL = os.environ.get("FWCTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None when the test server answers, else why not (the reason the PostgreSQL cases skip)."""
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means: skip with the reason
        return f"PostgreSQL at {PG_URL} unreachable ({str(exc).strip().splitlines()[0]}); .ci/run starts it"
    return None


@pytest.fixture(params=["local", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    if request.param == "local":
        path = tmp_path / "nested" / "state.json"
        yield lambda: LocalFileBackend(path)
        return
    if request.param == "postgres":
        reason = _postgres_reachable()
        if reason:
            pytest.skip(reason)
        stack = f"conformance-{uuid.uuid4().hex[:12]}"  # a fresh stack per test: no collisions
        made: list[PostgresBackend] = []

        def factory() -> StateBackend:
            made.append(PostgresBackend(PG_URL, stack=stack))
            return made[-1]

        yield factory
        for handle in made:
            handle.close()
        return
    raise AssertionError(request.param)


@pytest.fixture
def backend(backend_factory: Factory) -> StateBackend:
    return backend_factory()


def _doc(**kw: object) -> StateDocument:
    return StateDocument(stack="demo", **kw)  # type: ignore[arg-type]


def test_satisfies_protocol(backend: StateBackend) -> None:
    assert isinstance(backend, StateBackend)
    assert backend.describe()


def test_read_of_empty_state_is_none(backend: StateBackend) -> None:
    assert backend.read() is None


def test_write_read_round_trip(backend: StateBackend, backend_factory: Factory) -> None:
    doc = _doc(account="acme").with_resource(
        "Trainer/policy", ResourceState(kind="Trainer", name="policy", remote_id="j1", outputs={"x": 1})
    )
    backend.write(doc.next_version())
    got = backend_factory().read()
    assert got is not None
    assert got.serial == 1
    assert got.lineage == doc.lineage
    assert got.resources["Trainer/policy"].remote_id == "j1"
    assert got.resources["Trainer/policy"].outputs == {"x": 1}
    assert got == doc.next_version().model_copy(update={"updated_at": got.updated_at})


def test_serial_must_rise(backend: StateBackend) -> None:
    first = _doc().next_version()
    backend.write(first)
    with pytest.raises(StateConflict):
        backend.write(first)  # same serial again
    second = first.next_version()
    backend.write(second)
    with pytest.raises(StateConflict):
        backend.write(first)  # older
    stored = backend.read()
    assert stored is not None and stored.serial == 2


def test_lineage_mismatch_refused(backend: StateBackend) -> None:
    backend.write(_doc().next_version())
    other = _doc(serial=10)
    with pytest.raises(StateConflict, match="lineage"):
        backend.write(other.next_version())


def test_lock_and_unlock(backend: StateBackend, backend_factory: Factory) -> None:
    info = LockInfo(operation="apply", who="ada@lab", pid=123)
    lock_id = backend.lock(info)
    assert lock_id == info.id
    backend.unlock(lock_id)
    again = backend_factory().lock(LockInfo(operation="plan"))
    assert again


def test_second_lock_refused_with_holder(backend: StateBackend, backend_factory: Factory) -> None:
    info = LockInfo(operation="apply", who="ada@lab", pid=123)
    backend.lock(info)
    with pytest.raises(LockHeld) as caught:
        backend_factory().lock(LockInfo(operation="plan"))
    holder = caught.value.holder
    assert holder.id == info.id
    assert holder.operation == "apply"
    assert holder.who == "ada@lab"
    assert "apply" in str(caught.value) and "ada@lab" in str(caught.value)
    # The same handle is refused too: a lock is not re-entrant.
    with pytest.raises(LockHeld):
        backend.lock(LockInfo(operation="plan"))


def test_force_unlock(backend: StateBackend, backend_factory: Factory) -> None:
    info = LockInfo(operation="apply")
    backend.lock(info)
    other = backend_factory()
    other.force_unlock(info.id)
    lock_id = other.lock(LockInfo(operation="plan"))
    other.unlock(lock_id)


def test_force_unlock_needs_the_right_id(backend: StateBackend, backend_factory: Factory) -> None:
    backend.lock(LockInfo(operation="apply"))
    other = backend_factory()
    with pytest.raises(Exception, match="does not match"):
        other.force_unlock("not-the-id")
    with pytest.raises(LockHeld):
        other.lock(LockInfo(operation="plan"))


def test_unlock_of_a_lock_not_held_is_refused(backend: StateBackend) -> None:
    with pytest.raises(Exception, match="cannot unlock"):
        backend.unlock("nope")


def test_lock_with_timeout_waits_then_succeeds(backend: StateBackend, backend_factory: Factory) -> None:
    first = LockInfo(operation="apply", who="first")
    backend.lock(first)
    releaser = threading.Timer(0.4, backend.unlock, args=(first.id,))
    releaser.start()
    waited: list[LockInfo] = []
    started = time.monotonic()
    lock_id = lock_with_timeout(backend_factory(), LockInfo(operation="plan"), 5.0, waited.append)
    assert lock_id
    assert 0.3 < time.monotonic() - started < 3.0
    assert [h.who for h in waited] == ["first"]  # told once, with the holder
    releaser.join()


def test_lock_with_timeout_gives_up(backend: StateBackend, backend_factory: Factory) -> None:
    backend.lock(LockInfo(operation="apply", who="first"))
    started = time.monotonic()
    with pytest.raises(LockHeld, match="apply"):
        lock_with_timeout(backend_factory(), LockInfo(operation="plan"), 0.3)
    assert time.monotonic() - started < 2.0
    with pytest.raises(LockHeld):  # timeout 0: one try
        lock_with_timeout(backend_factory(), LockInfo(operation="plan"), 0)


def _hold_lock(factory: Factory, ready: object, release: object) -> None:
    backend = factory()
    lock_id = backend.lock(LockInfo(operation="apply", who="child"))
    ready.set()  # type: ignore[attr-defined]
    release.wait(10)  # type: ignore[attr-defined]
    backend.unlock(lock_id)


def test_lock_with_timeout_across_processes(backend_factory: Factory, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(backend_factory, ready, release))
    child.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockHeld, match="child"):
            backend_factory().lock(LockInfo(operation="plan"))
        threading.Timer(0.3, release.set).start()
        waited: list[LockInfo] = []
        assert lock_with_timeout(backend_factory(), LockInfo(operation="plan"), 10.0, waited.append)
        assert waited and waited[0].who == "child"
    finally:
        release.set()
        child.join(10)


def test_write_versions_stores_them_all(backend: StateBackend, backend_factory: Factory) -> None:
    first = _doc().next_version()
    second, third = first.next_version(), first.next_version().next_version()
    backend.write_versions([first, second, third])
    fresh = backend_factory()
    assert fresh.read() == third
    assert fresh.read_version(2) == second  # every backend keeps at least the version before


def test_write_versions_is_refused_whole(backend: StateBackend) -> None:
    stored = _doc().next_version().next_version()
    backend.write(stored)
    with pytest.raises(StateConflict):
        backend.write_versions([stored.model_copy(update={"serial": 1}), stored.next_version()])
    assert backend.read() == stored


def test_check_lock_passes_while_the_lock_is_held(backend: StateBackend) -> None:
    backend.check_lock()  # no lock: nothing to lose
    lock_id = backend.lock(LockInfo(operation="apply"))
    backend.check_lock()
    backend.write(_doc().next_version())
    backend.unlock(lock_id)
    backend.check_lock()


def test_a_lock_force_unlocked_by_someone_else_is_lost_and_fences_writes(
        backend: StateBackend, backend_factory: Factory) -> None:
    doc = _doc().next_version()
    backend.write(doc)
    lock_id = backend.lock(LockInfo(operation="apply"))
    other = backend_factory()
    other.force_unlock(lock_id)
    taken = other.lock(LockInfo(operation="apply", who="the next one"))
    with pytest.raises(LockLost, match=lock_id):
        backend.write(doc.next_version())
    with pytest.raises(LockLost):
        backend.check_lock()
    assert other.read() == doc
    other.write(doc.next_version())  # the new holder writes
    backend.unlock(lock_id)  # quiet, and leaves the new holder's lock alone
    with pytest.raises(LockHeld, match="the next one"):
        backend_factory().lock(LockInfo(operation="plan"))
    other.unlock(taken)
