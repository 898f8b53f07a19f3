"""The executor: a Plan -> provider calls in dependency order -> state, persisted after each step.

Each change runs as its own task. A change starts when what it depends on is *ready* (usable) and
what it only needs to exist has been *created*; removals run in reverse order. A semaphore bounds
how many changes are in flight. Before a remote create the intended id is written to state as
pending, so a killed apply, re-run, adopts the resource instead of duplicating it. A failed change
fails its dependents (skipped) while independent branches finish.

The executor knows no kind: each change's apply step is its kind's (``reconciler.kinds``), given an
``ApplyContext`` whose two signals (created, ready) release the changes that wait on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

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
from reconciler.model.state import ResourceState, StateDocument
from reconciler.provider.base import Provider
from reconciler.provider.errors import ProviderError
from reconciler.state.base import StateBackend
from reconciler.state.errors import StateError


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
        self._queue: list[tuple[str, ResourceState | None, asyncio.Future[None]]] = []
        self._writing = False

    async def set(self, address: str, resource: ResourceState | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((address, resource, done))
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

    async def _write(self, batch: list[tuple[str, ResourceState | None, asyncio.Future[None]]]) -> None:
        doc = self.doc
        for address, resource, _ in batch:
            doc = doc.with_resource(address, resource)
        doc = doc.next_version()
        try:
            await asyncio.to_thread(self.backend.write, doc)
        except Exception as exc:
            for *_, waiting in batch:
                waiting.set_exception(exc)
            return
        self.doc = doc
        for *_, waiting in batch:
            waiting.set_result(None)

    def get(self, address: str) -> ResourceState | None:
        return self.doc.resources.get(address)


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
        self._semaphore = asyncio.Semaphore(self.parallelism)
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
            else:
                for dep in change.depends_on:
                    needed = self.slots.get(dep)
                    if needed is not None and not needed.change.action.is_removal:
                        await needed.ready.wait()
                        if needed.failed:
                            raise _Skip(f"{dep} failed")
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
            async with self._semaphore:
                self.reporter.event(change.address, change.action.value, "started")
                started = time.monotonic()
                await self._carry_out(slot)
                self.reporter.event(change.address, change.action.value, "done",
                                    f"{time.monotonic() - started:.1f}s")
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
        if change.action is Action.FORGET or k is None:
            await self.recorder.set(change.address, None)
            return
        await k.apply(ApplyContext(
            change=change, provider=self.provider, recorder=self.recorder, poll=self.poll,
            reporter=self.reporter, default_timeout=k.default_timeout,
            mark_created=slot.created.set, mark_ready=slot.ready.set, health_probe=self.health_probe,
        ))


class _Skip(Exception):
    pass


def initial_state(stack: str, lineage: str | None, endpoint: str, account: str, version: str) -> StateDocument:
    kwargs: dict[str, Any] = {"stack": stack, "endpoint": endpoint, "account": account, "fwctl_version": version}
    if lineage:
        kwargs["lineage"] = lineage
    return StateDocument(**kwargs)


__all__ = ["ApplyResult", "ChangeFailed", "Executor", "NullReporter", "Poll", "StateRecorder", "initial_state"]
