"""apply and destroy: one path for a fresh plan and a saved one.

    with prepare_apply(ApplyRequest(files=("grpo",))) as prepared:   # state locked, provider open
        show(prepared.plan)
        if prepared.plan.has_changes and person_agrees():
            outcome = prepared.apply(parallelism=10, reporter=reporter)

A fresh plan is made under the lock; a saved one (``plan_file``) is read, checked against its
manifests, the state, the endpoint and the account (``_saved``), and carried out exactly. Either
way the plan is carried out by the one ``Executor`` built here, while the lock is still held.
Before the account is read, the state's endpoint is checked (``Session.check_endpoint``), and its
account once the account is known; ``allow_endpoint_change`` moves the stack instead of refusing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.operations._plan import PlanOptions, make_plan
from reconciler.operations._saved import (
    check_account,
    check_given_manifests,
    check_saved_manifests,
    check_state,
    check_variables,
)
from reconciler.operations._session import QUIET, Listener, Session, failing_as, open_session

if TYPE_CHECKING:
    import asyncio

    from reconciler.kinds.base import Reporter
    from reconciler.model.plan import Plan
    from reconciler.model.state import StateDocument
    from reconciler.provider import FireworksProvider


@dataclass(frozen=True)
class ApplyRequest:
    """What to apply: the manifests' plan (``options``), or exactly the plan saved in ``plan_file``."""

    files: tuple[str, ...] = ()
    endpoint: str | None = None
    state: str | None = None
    lock_timeout_s: float = 0.0
    options: PlanOptions = PlanOptions()  # a fresh plan's; a saved plan carries its own
    plan_file: str | None = None
    allow_endpoint_change: bool = False  # move a stack whose state is bound to another endpoint or account


@dataclass(frozen=True)
class Applied:
    """What an apply carried out; completes "N changes have been ..."."""

    what: str  # "apply" | "destroy"
    done: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


class PreparedApply:
    """A plan ready to be carried out: the state stays locked and the provider open meanwhile."""

    def __init__(self, session: Session, the_plan: Plan, prior: StateDocument | None, *, saved: bool,
                 runner: asyncio.Runner, provider: FireworksProvider) -> None:
        self.session = session
        self.plan = the_plan
        self.prior = prior
        self.saved = saved  # carried out without asking: it was reviewed when it was made
        self._runner = runner
        self._provider = provider

    @property
    def what(self) -> str:
        return "destroy" if self.plan.destroy else "apply"

    @property
    def moves(self) -> bool:
        """The state is bound to another endpoint or account and apply rebinds it (``--allow-endpoint-change``)."""
        return self.session.moves(self.prior, self.plan.account)

    @property
    def has_changes(self) -> bool:
        """Something to carry out: the plan's changes, or recording a move of the stack."""
        return self.plan.has_changes or self.moves

    def apply(self, *, parallelism: int = 10, reporter: Reporter | None = None) -> Applied:
        """Carry the plan out; a failed change fails its dependents, the rest still finishes."""
        return self._runner.run(self._execute(parallelism, reporter))

    async def _execute(self, parallelism: int, reporter: Reporter | None) -> Applied:
        from reconciler import __version__
        from reconciler.executor import Executor, StateRecorder, initial_state
        from reconciler.health import TrainerProbe

        session, the_plan = self.session, self.plan
        if self.prior is not None:
            doc = session.bound(self.prior, the_plan.account)
            if not the_plan.has_changes:
                if doc is not self.prior:  # a move with nothing else to do: record the new binding
                    session.backend.write(doc.next_version())
                return Applied(self.what, ())
        else:
            doc = initial_state(session.stack, the_plan.state_lineage, session.endpoint.url, the_plan.account,
                                __version__)
        probe = TrainerProbe(self._provider, session.endpoint.api_key, healthz_only=session.endpoint.embedded)
        executor = Executor(self._provider, StateRecorder(session.backend, doc), reporter=reporter,
                            parallelism=parallelism, health_probe=probe.after_apply())
        result = await executor.apply(the_plan)
        return Applied(self.what, tuple(result.done), dict(result.failed), dict(result.skipped))


@contextlib.contextmanager
def prepare_apply(request: ApplyRequest, listener: Listener = QUIET) -> Iterator[PreparedApply]:
    """Lock the state, open the provider and make (or check) the plan; see the module docstring.

    Raises ``OperationError`` for a saved plan that may not be applied here, ``PlanError``,
    ``ManifestError``, ``PlanFileError``, ``StateError``.
    """
    with contextlib.ExitStack() as stack:
        saved: Plan | None = None
        if request.plan_file is None:
            session = open_session(request.files, request.endpoint, request.state,
                                   allow_endpoint_change=request.allow_endpoint_change)
        else:
            session, saved = _saved_session(request, stack)
        destroy = saved.destroy if saved is not None else request.options.destroy
        stack.enter_context(session.locked("destroy" if destroy else "apply", request.lock_timeout_s, listener))
        prior = session.read_state()
        if saved is not None:
            assert request.plan_file is not None
            check_state(saved, prior, plan_file=request.plan_file, endpoint=session.endpoint.url,
                        where=session.backend.describe(), allow_move=session.allow_endpoint_change)
        session.check_endpoint(prior, listener)
        listener.connecting(session)
        runner, provider = stack.enter_context(_opened(session))
        if saved is None:
            the_plan = runner.run(make_plan(session, provider, prior, request.options, listener))
        else:
            assert request.plan_file is not None
            with failing_as("reading the account"):
                account = runner.run(provider.account_id())
            check_account(saved, account, request.plan_file)
            session.check_account(prior, account, listener)
            the_plan = saved
        yield PreparedApply(session, the_plan, prior, saved=saved is not None, runner=runner, provider=provider)


def _saved_session(request: ApplyRequest, stack: contextlib.ExitStack) -> tuple[Session, Plan]:
    """Read the plan file and open a session over the manifests saved in it."""
    import tempfile

    from reconciler.manifest import load_manifests
    from reconciler.planfile import read_plan_file, write_sources

    assert request.plan_file is not None
    saved = read_plan_file(request.plan_file)
    if request.files:
        check_given_manifests(saved.plan, load_manifests(list(request.files)), request.plan_file)
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fwctl-plan-"))
    session = open_session(tuple(write_sources(tmp, saved.manifests)), request.endpoint, request.state,
                           allow_endpoint_change=request.allow_endpoint_change)
    assert session.manifests is not None
    check_variables(saved.plan, session.manifests, request.plan_file)
    check_saved_manifests(saved.plan, session.manifests, request.plan_file)
    return session, saved.plan


@contextlib.contextmanager
def _opened(session: Session) -> Iterator[tuple[asyncio.Runner, FireworksProvider]]:
    """An event loop with the provider open in it."""
    import asyncio

    with asyncio.Runner() as runner:
        provider = runner.run(_entered(session))
        try:
            yield runner, provider
        finally:
            runner.run(_closed(provider))


async def _entered(session: Session) -> FireworksProvider:
    provider = session.provider()
    await provider.__aenter__()
    return provider


async def _closed(provider: Any) -> None:
    """Close the provider once nothing else runs (an interrupted apply may leave tasks behind)."""
    import asyncio

    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    await provider.__aexit__(None, None, None)


__all__ = ["Applied", "ApplyRequest", "PreparedApply", "prepare_apply"]
