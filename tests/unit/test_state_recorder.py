"""The StateRecorder's group commit over the real local file backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from reconciler.executor import StateRecorder, initial_state
from reconciler.model.state import ResourceState, StateDocument
from reconciler.state import StateBackend, StateError

from .support import state_backend

N = 20


class CountingBackend:
    """The real backend, counting the versions written (and, optionally, a slow disk)."""

    def __init__(self, backend: StateBackend, delay: float = 0.0):
        self.backend = backend
        self.delay = delay
        self.serials: list[int] = []

    def read(self) -> StateDocument | None:
        return self.backend.read()

    def write(self, doc: StateDocument) -> None:
        time.sleep(self.delay)
        self.backend.write(doc)
        self.serials.append(doc.serial)

    def __getattr__(self, name: str) -> object:
        return getattr(self.backend, name)


def record(i: int) -> tuple[str, ResourceState]:
    return f"Trainer/t{i}", ResourceState(kind="Trainer", name=f"t{i}", remote_id=f"s-t{i}-abc123")


def fresh() -> StateDocument:
    return initial_state("s", "lineage-1", "local", "acme", "test")


def test_concurrent_sets_all_land_in_fewer_writes_than_calls(tmp_path: Path) -> None:
    backend = CountingBackend(state_backend(tmp_path), delay=0.005)
    recorder = StateRecorder(backend, fresh())  # type: ignore[arg-type]

    async def main() -> None:
        await asyncio.gather(*(recorder.set(*record(i)) for i in range(N)))

    asyncio.run(main())
    stored = backend.read()
    assert stored is not None
    assert sorted(stored.resources) == sorted(record(i)[0] for i in range(N))
    assert all(stored.resources[f"Trainer/t{i}"].remote_id == f"s-t{i}-abc123" for i in range(N))
    assert all(recorder.get(address) == stored.resources[address] for address in stored.resources)
    # Group commit: the updates that arrived together shared versions; each version is serial + 1.
    assert 1 <= len(backend.serials) < N
    assert backend.serials == list(range(1, len(backend.serials) + 1))
    assert stored.serial == len(backend.serials) and stored.lineage == "lineage-1"


def test_each_caller_returns_only_once_its_version_is_stored(tmp_path: Path) -> None:
    backend = CountingBackend(state_backend(tmp_path), delay=0.005)
    recorder = StateRecorder(backend, fresh())  # type: ignore[arg-type]
    on_disk_when_returned: dict[str, bool] = {}

    async def one(i: int) -> None:
        await asyncio.sleep(0.001 * (i % 4))  # arrive in a few waves
        address, res = record(i)
        await recorder.set(address, res)
        stored = backend.read()
        on_disk_when_returned[address] = stored is not None and stored.resources.get(address) == res

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(N)))

    asyncio.run(main())
    assert on_disk_when_returned == {record(i)[0]: True for i in range(N)}


def test_sequential_sets_write_one_version_each_and_none_removes(tmp_path: Path) -> None:
    backend = state_backend(tmp_path)
    recorder = StateRecorder(backend, fresh())

    async def main() -> None:
        await recorder.set(*record(1))
        await recorder.set(*record(2))
        await recorder.set(record(1)[0], None)

    asyncio.run(main())
    stored = backend.read()
    assert stored is not None and stored.serial == 3
    assert list(stored.resources) == ["Trainer/t2"]
    assert recorder.get("Trainer/t1") is None


def test_a_write_failure_surfaces_to_every_caller_of_that_version(tmp_path: Path) -> None:
    backend = state_backend(tmp_path)
    start = fresh()
    # Another writer moved the stored state on (same lineage, a later serial): our next write conflicts.
    backend.write(start.model_copy(update={"serial": 5}))
    recorder = StateRecorder(backend, start)

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(recorder.set(*record(i)) for i in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, StateError) for o in outcomes), outcomes
    assert "serial" in str(outcomes[0])
    assert recorder.get("Trainer/t0") is None  # not recorded as stored
    stored = backend.read()
    assert stored is not None and stored.serial == 5 and stored.resources == {}


def test_a_failed_write_raises_from_set(tmp_path: Path) -> None:
    backend = state_backend(tmp_path)
    backend.write(StateDocument(stack="s", lineage="someone-else", serial=1))
    recorder = StateRecorder(backend, fresh())
    with pytest.raises(StateError, match="lineage"):
        asyncio.run(recorder.set(*record(0)))


class FlakyBackend(CountingBackend):
    """The real backend behind a disk that fails the first ``failures`` writes (a full disk freed)."""

    def __init__(self, backend: StateBackend, failures: int):
        super().__init__(backend)
        self.failures = failures
        self.attempts = 0

    def write(self, doc: StateDocument) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StateError("state.json: cannot write state: No space left on device")
        super().write(doc)


def test_a_write_that_fails_once_is_retried_and_every_change_of_the_batch_is_recorded(tmp_path: Path) -> None:
    backend = FlakyBackend(state_backend(tmp_path), failures=1)
    recorder = StateRecorder(backend, fresh())  # type: ignore[arg-type]

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(recorder.set(*record(i)) for i in range(3)), return_exceptions=True)

    assert asyncio.run(main()) == [None, None, None]
    stored = backend.read()
    assert stored is not None and sorted(stored.resources) == sorted(record(i)[0] for i in range(3))


def test_a_write_that_keeps_failing_fails_its_batch_after_the_retries(tmp_path: Path) -> None:
    from reconciler.executor import WRITE_RETRIES

    backend = FlakyBackend(state_backend(tmp_path), failures=100)
    recorder = StateRecorder(backend, fresh())  # type: ignore[arg-type]
    with pytest.raises(StateError, match="No space left"):
        asyncio.run(recorder.set(*record(0)))
    assert backend.attempts == len(WRITE_RETRIES) + 1
