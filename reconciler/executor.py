"""The executor: a Plan -> provider calls in dependency order -> state, persisted after each step.

Each change runs as its own task. A change starts when what it depends on is *ready* (usable) and
what it only needs to exist has been *created*; removals run in reverse order. ``parallelism``
bounds the mutating requests in flight (creates, updates, deletes, resumes, hot loads), not the
changes: each change's apply step gets a provider whose mutating calls hold one slot for the
duration of the request, so a resource waiting for readiness holds none, and N independent
resources boot in one boot time. Before a remote create the intended id is written to state as
pending, so a killed apply, re-run, adopts the resource instead of duplicating it. A failed change
fails its dependents (skipped) while independent branches finish.

The executor knows no kind: each change's apply step is its kind's (``reconciler.kinds``), given an
``ApplyContext`` whose two signals (created, ready) release the changes that wait on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from reconciler.kinds import kind_of
from reconciler.kinds.base import (
    ApplyContext,
    ChangeFailed,
    HealthProbe,
    NullReporter,
    Poll,
    Reporter,
)
from reconciler.model.plan import Action, Change, Plan
from reconciler.model.state import ResourceState, RetainedResource, StateDocument
from reconciler.provider.base import MUTATING, Provider
from reconciler.provider.errors import ProviderError
from reconciler.state.base import StateBackend
from reconciler.state.errors import LockLost, StateConflict, StateError

#: Pauses before retrying a failed state write (then the batch's changes fail with its error).
WRITE_RETRIES: tuple[float, ...] = (0.2, 1.0)


class StateRecorder:
    """The one writer of state during an apply.

    Group commit: updates that arrive while a write is in flight go into the next version together,
    and each caller returns only once the version holding its update is stored (so a pending id is
    still on disk before its remote create). With many changes in flight this turns thousands of
    whole-document writes into a few hundred.
    """

    def __init__(self, backend: StateBackend, doc: StateDocument):
        self.backend = backend
        self.doc = doc
        self._queue: list[tuple[str, ResourceState | None, RetainedResource | None, asyncio.Future[None]]] = []
        self._writing = False

    async def set(self, address: str, resource: ResourceState | None,
                  retained: RetainedResource | None = None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((address, resource, retained, done))
        if not self._writing:
            self._writing = True
            try:
                while self._queue:
                    batch, self._queue = self._queue, []
                    await self._write(batch)
            finally:
                self._writing = False
                for *_, waiting in self._queue:  # only left behind when this writer was cancelled
                    waiting.cancel()
                self._queue = []
        await done

    async def _write(self, batch: list[tuple[str, ResourceState | None, RetainedResource | None,
                                           asyncio.Future[None]]]) -> None:
        doc = self.doc
        for address, resource, retained, _ in batch:
            held = doc.resources.get(address)
            doc = doc.with_resource(address, resource)
            if retained is not None and resource is None and held is not None and held.remote_id:
                doc = doc.with_retained(held.remote_id, retained)  # forgotten on purpose: not an orphan
        doc = doc.next_version()
        for attempt in range(len(WRITE_RETRIES) + 1):
            try:
                await asyncio.to_thread(self.backend.write, doc)
                break
            except (StateConflict, LockLost) as exc:  # retrying cannot help: another writer, or no lock
                error: Exception = exc
            except Exception as exc:  # a full disk, a dropped connection: often gone a moment later
                error = exc
                if attempt < len(WRITE_RETRIES):
                    await asyncio.sleep(WRITE_RETRIES[attempt])
                    continue
            # The remote changes of this batch happened; their records fail with the write, and the
            # pending ids already on disk let the next apply adopt them.
            for *_, waiting in batch:
                waiting.set_exception(error)
            return
        self.doc = doc
        for *_, waiting in batch:
            waiting.set_result(None)

    def get(self, address: str) -> ResourceState | None:
        return self.doc.resources.get(address)

    def check_lock(self) -> None:
        """Raise ``LockLost`` (a ``StateError``) once the state lock is lost: no change starts without it."""
        self.backend.check_lock()


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


@dataclass
class _Slot:
    change: Change
    created: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None


class Executor:
    def __init__(
        self,
        provider: Provider,
        recorder: StateRecorder,
        *,
        reporter: Reporter | None = None,
        parallelism: int = 10,
        poll: Poll | None = None,
        health_probe: HealthProbe | None = None,
    ):
        self.provider = provider
        self.recorder = recorder
        self.reporter = reporter or NullReporter()
        self.parallelism = max(1, parallelism)
        self.poll = poll or Poll()
        self.health_probe = health_probe
        self.slots: dict[str, _Slot] = {}

    async def apply(self, plan: Plan) -> ApplyResult:
        self.slots = {c.address: _Slot(c) for c in plan.changes}
        self._requests = RequestSlots(self.parallelism)
        result = ApplyResult()
        tasks = [asyncio.create_task(self._run(slot, result), name=slot.change.address)
                 for slot in self.slots.values()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return result

    def _removal_waits(self, change: Change) -> list[_Slot]:
        """A removal waits for the removal of everything that depends on it."""
        return [
            s for s in self.slots.values()
            if s.change.action.is_removal and change.address in s.change.depends_on
        ]

    async def _run(self, slot: _Slot, result: ApplyResult) -> None:
        change = slot.change
        try:
            if change.action.is_removal:
                # What depends on this must have let go of it: its removal accepted (not finished).
                for other in self._removal_waits(change):
                    await other.created.wait()
            # What is not being removed must be ready first (a removal names such a dependency only to
            # wait for its successor: a job replaced with createBeforeDestroy goes once that is used).
            # What is being removed first must be gone (a replaced job whose earlier removal did not
            # complete, before its address's next job is created); a failed removal skips this.
            for dep in change.depends_on:
                needed = self.slots.get(dep)
                if needed is None or (needed.change.action.is_removal and change.action.is_removal):
                    continue
                await (needed.finished if needed.change.action.is_removal else needed.ready).wait()
                if needed.failed:
                    raise _Skip(f"{dep} failed")
            if not change.action.is_removal:
                for dep in change.after_created:
                    needed = self.slots.get(dep)
                    if needed is not None:
                        await needed.created.wait()  # set on create, and on any end
                        if needed.failed:
                            raise _Skip(f"{dep} failed")
            if change.action is Action.NOOP:
                slot.created.set()
                slot.ready.set()
                return
            self.recorder.check_lock()
            self.reporter.event(change.address, change.action.value, "started")
            started = time.monotonic()
            await self._carry_out(slot)
            self.reporter.event(change.address, change.action.value, "done", f"{time.monotonic() - started:.1f}s")
            result.done.append(change.address)
        except _Skip as skip:
            slot.failed = str(skip)
            result.skipped[change.address] = str(skip)
            self.reporter.event(change.address, change.action.value, "skipped", str(skip))
        except (ChangeFailed, ProviderError, StateError) as exc:
            slot.failed = str(exc)
            result.failed[change.address] = str(exc)
            self.reporter.event(change.address, change.action.value, "failed", str(exc))
        finally:
            slot.created.set()
            slot.ready.set()
            slot.finished.set()

    async def _carry_out(self, slot: _Slot) -> None:
        change = slot.change
        k = kind_of(change.address)
        if k is None:
            await self.recorder.set(change.address, None)
            return

        def queued() -> None:
            self.reporter.event(change.address, change.action.value, "waiting for a slot",
                                f"--parallelism {self.parallelism}")

        provider = cast(Provider, BoundedProvider(self.provider, self._requests, on_queued=queued))
        ctx = ApplyContext(
            change=change, provider=provider, recorder=self.recorder, poll=self.poll,
            reporter=self.reporter, default_timeout=k.default_timeout,
            mark_created=slot.created.set, mark_ready=slot.ready.set, health_probe=self.health_probe,
        )
        await (k.forget(ctx) if change.action is Action.FORGET else k.apply(ctx))


class _Skip(Exception):
    pass


T = TypeVar("T")


class RequestSlots:
    """The ``parallelism`` slots of one apply, shared by every change's ``BoundedProvider``.

    A mutating request holds one slot while it runs. Reads take none, but one that starts while a
    mutating request is queued for a slot waits until the queue is empty: mutating requests go
    first, so the polls of resources already booting never delay the creates of the others (the
    provider's own connection limit is shared by both). The queue always drains: a request in
    flight never waits for a read.
    """

    def __init__(self, count: int):
        self._free = asyncio.Semaphore(max(1, count))
        self._queued = 0
        self._no_queue = asyncio.Event()
        self._no_queue.set()

    async def mutate(self, call: Callable[[], Awaitable[T]], on_queued: Callable[[], None] | None = None) -> T:
        if self._free.locked() and on_queued is not None:
            on_queued()
        self._queued += 1
        self._no_queue.clear()
        try:
            await self._free.acquire()
        finally:
            self._queued -= 1
            if not self._queued:
                self._no_queue.set()
        try:
            return await call()
        finally:
            self._free.release()

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        await self._no_queue.wait()
        return await call()


class BoundedProvider:
    """A ``Provider`` whose mutating requests (``provider.base.MUTATING``) each hold one of the
    apply's ``RequestSlots`` while they run.

    Creates, updates, deletes, resumes and hot loads wait for a free slot (``on_queued`` is called
    when one has to); reads (gets, lists, health checks, hot-load status) hold none, so a resource
    polling for readiness does not count against ``--parallelism``. Every Provider method passes
    through by name: a new method needs no change here, only its place in ``MUTATING`` if it mutates.
    """

    def __init__(self, provider: Provider, slots: RequestSlots, on_queued: Callable[[], None] | None = None):
        self._provider = provider
        self._slots = slots
        self._on_queued = on_queued

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._provider, name)
        if name in MUTATING:
            async def mutating(*args: Any, **kwargs: Any) -> Any:
                return await self._slots.mutate(lambda: method(*args, **kwargs), self._on_queued)
            return mutating

        async def reading(*args: Any, **kwargs: Any) -> Any:
            return await self._slots.read(lambda: method(*args, **kwargs))
        return reading


def initial_state(stack: str, lineage: str | None, endpoint: str, account: str, version: str) -> StateDocument:
    kwargs: dict[str, Any] = {"stack": stack, "endpoint": endpoint, "account": account, "fwctl_version": version}
    if lineage:
        kwargs["lineage"] = lineage
    return StateDocument(**kwargs)


__all__ = ["ApplyResult", "BoundedProvider", "ChangeFailed", "Executor", "NullReporter", "Poll", "RequestSlots",
           "StateRecorder", "initial_state"]
