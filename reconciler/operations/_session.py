"""What one operation works with: the manifests, the endpoint, the state backend, the provider.

``open_session`` is the composition root of the engine: it loads the manifests, resolves the
endpoint, opens the state backend and knows how to build the provider (the embedded local control
plane is created here, from ``reconciler.local``, and handed to ``FireworksProvider.in_process``).

A state is bound to the endpoint and account it was written against: every operation that talks
to the account checks both (``Session.check_endpoint`` once the state is read, before connecting;
``Session.check_account`` once the account is known) and refuses a mismatch, unless the session
was opened with ``allow_endpoint_change`` (moving a stack), in which case the next write records
the new binding (``Session.bound``). The embedded fallback is never used for a bound state.

A state also belongs to one stack: ``Session.check_stack`` refuses a state written for another
stack than the one the manifests (or ``--stack``) name. ``check_endpoint`` runs it first, so every
operation that checks the endpoint checks the stack too; a session of the state commands checks it
on every ``read_state`` (``check_stack_on_read``). Sharing one state between two stacks would make
one stack's apply delete what the other created.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from reconciler.manifest import Manifests
    from reconciler.model.resources import Resource, StackSpec
    from reconciler.model.state import LockInfo, StateDocument
    from reconciler.provider import Endpoint, FireworksProvider
    from reconciler.state import StateBackend

T = TypeVar("T")

DEFAULT_LOCAL_DB = ".fwctl/local.db"


class Listener:
    """What an operation tells whoever runs it, as it happens. The defaults say nothing."""

    def connecting(self, session: Session) -> None:
        """The arguments are checked (and the state's endpoint, when it was read); the account is about to be read."""

    def lock_waiting(self, holder: LockInfo) -> None:
        """The state lock is held by ``holder``; the operation waits (up to its lock timeout)."""

    def moving(self, message: str) -> None:
        """``--allow-endpoint-change``: the state belongs elsewhere and the stack is being moved."""


QUIET = Listener()


@dataclass
class Session:
    """One command's wiring. ``provider()`` builds a new provider, to be used as ``async with``."""

    manifests: Manifests | None
    stack: str
    endpoint: Endpoint
    backend: StateBackend
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    allow_endpoint_change: bool = False  # move a stack: a state bound elsewhere is rebound, not refused
    #: What chose ``stack``, for messages: "manifests", "--stack", or "" (nothing did: no stack check).
    stack_source: str = "manifests"
    check_stack_on_read: bool = False  # the state commands: ``read_state`` refuses another stack's state

    @property
    def resources(self) -> Mapping[str, Resource]:
        return self.manifests.resources if self.manifests else {}

    @property
    def stack_spec(self) -> StackSpec | None:
        return self.manifests.stack.spec if self.manifests and self.manifests.stack else None

    def provider(self) -> FireworksProvider:
        from reconciler.provider import FireworksProvider

        if not self.endpoint.embedded:
            return FireworksProvider(self.endpoint.url, self.endpoint.api_key)
        from reconciler.local import LocalConfig, create_app

        db = self.env.get("FWCTL_LOCAL_DB", DEFAULT_LOCAL_DB)
        from reconciler.operations._local import local_speed

        speed = local_speed(self.env)
        return FireworksProvider.in_process(create_app(LocalConfig(db_path=db, speed=speed)), self.endpoint.api_key)

    def run(self, work: Callable[[FireworksProvider], Awaitable[T]]) -> T:
        """Run ``work`` with a fresh provider, in an event loop of its own."""
        import asyncio

        async def main() -> T:
            async with self.provider() as provider:
                return await work(provider)

        return asyncio.run(main())

    def read_state(self) -> StateDocument | None:
        doc = self.backend.read()
        if self.check_stack_on_read:
            self.check_stack(doc)
        return doc

    def check_stack(self, prior: StateDocument | None) -> None:
        """Refuse a state written for another stack (``OperationError``, one line naming both)."""
        from reconciler.operations.errors import OperationError

        if prior is None or not self.stack_source or not prior.stack or prior.stack == self.stack:
            return
        where = self.backend.describe()
        if self.stack_source == "--stack":
            chosen, way_out = "--stack names", f"use --stack {prior.stack}"
        else:
            chosen, way_out = "the manifests name", f"-f the manifests of stack {prior.stack}"
        raise OperationError(f"the state at {where} belongs to stack {prior.stack}, but {chosen} stack {self.stack}; "
                             f"every stack needs a state of its own: point --state (or FWCTL_STATE) at the state "
                             f"of stack {self.stack}, or {way_out}")

    @contextmanager
    def locked(self, operation: str, timeout_s: float, listener: Listener = QUIET) -> Iterator[str]:
        """Hold the state lock for ``operation``; yields the lock id."""
        from reconciler.state import lock_info, locked

        with locked(self.backend, lock_info(operation, self.backend), timeout_s, listener.lock_waiting) as lock_id:
            yield lock_id

    def check_endpoint(self, prior: StateDocument | None, listener: Listener = QUIET) -> None:
        """Refuse to use a state of another stack (``check_stack``) or written against another
        endpoint (``OperationError``, one line).

        The embedded fallback is never chosen for such a state, even with ``allow_endpoint_change``.
        """
        from reconciler.operations.errors import OperationError

        self.check_stack(prior)
        recorded = prior.endpoint if prior is not None else None
        url = self.endpoint.url
        if not recorded or recorded == url:
            return
        where = self.backend.describe()
        belongs = f"the state at {where} belongs to endpoint {_named(recorded)}{_of(prior)}"
        if self.endpoint.fallback:
            raise OperationError(f"{belongs}, but no endpoint is set (no --endpoint, FWCTL_ENDPOINT or "
                                 f"FIREWORKS_API_KEY) and fwctl never falls back to the embedded control plane "
                                 f"for it; use --endpoint {recorded}")
        if not self.allow_endpoint_change:
            raise OperationError(f"{belongs}, but this run targets {_named(url, self.endpoint.source)}; "
                                 f"use --endpoint {recorded} to target the recorded one, or "
                                 f"--allow-endpoint-change to move the stack to {url}")
        listener.moving(f"{belongs}; --allow-endpoint-change: moving the stack to {_named(url)} "
                        f"(recorded in the state at its next write)")

    def check_account(self, prior: StateDocument | None, account: str, listener: Listener = QUIET) -> None:
        """Refuse a state written for another account than the one the API key resolves to."""
        from reconciler.operations.errors import OperationError

        recorded = prior.account if prior is not None else None
        if not recorded or recorded == account:
            return
        assert prior is not None
        belongs = (f"the state at {self.backend.describe()} belongs to account {recorded} "
                   f"(endpoint {_named(prior.endpoint or self.endpoint.url)})")
        if not self.allow_endpoint_change:
            raise OperationError(f"{belongs}, but the API key resolves to account {account}; use the API key of "
                                 f"account {recorded}, or --allow-endpoint-change to move the stack to account "
                                 f"{account}")
        listener.moving(f"{belongs}; --allow-endpoint-change: moving the stack to account {account} "
                        f"(recorded in the state at its next write)")

    def moves(self, prior: StateDocument | None, account: str) -> bool:
        """Whether ``prior`` is bound to another endpoint or account than this session's (a move)."""
        if prior is None:
            return False
        return bool((prior.endpoint and prior.endpoint != self.endpoint.url)
                    or (prior.account and account and prior.account != account))

    def bound(self, doc: StateDocument, account: str) -> StateDocument:
        """``doc`` recording this session's endpoint and ``account`` (what the checks passed or moved to)."""
        update = {"endpoint": self.endpoint.url, "account": account or doc.account}
        if (doc.endpoint, doc.account) == (update["endpoint"], update["account"]):
            return doc
        return doc.model_copy(update=update)


def _named(url: str, source: str = "") -> str:
    """``url`` for a message: the embedded plane said so, and where the choice came from."""
    from reconciler.provider.endpoint import LOCAL

    notes = [n for n in ("the embedded control plane" if url == LOCAL else "", f"from {source}" if source else "") if n]
    return f"{url} ({', '.join(notes)})" if notes else url


def _of(prior: StateDocument | None) -> str:
    return f" (account {prior.account})" if prior is not None and prior.account else ""


def open_session(files: Sequence[str], endpoint: str | None = None, state: str | None = None, *,
                 need_manifests: bool = True, env: Mapping[str, str] | None = None,
                 allow_endpoint_change: bool = False) -> Session:
    """Load the manifests of ``files`` (default: the current directory), choose the endpoint
    (``--endpoint`` > environment > the Stack) and open the state (``--state`` > the Stack's).
    ``allow_endpoint_change``: a state bound to another endpoint or account is moved, not refused.

    Raises ``ManifestError``, ``EndpointError`` or ``StateError``.
    """
    from reconciler.manifest import load_manifests
    from reconciler.provider.endpoint import resolve_endpoint
    from reconciler.state import open_backend

    env = dict(os.environ) if env is None else env
    manifests = load_manifests(list(files) or ["."]) if need_manifests else None
    stack_spec = manifests.stack.spec if manifests and manifests.stack else None
    stack = manifests.stack_name if manifests else "default"
    chosen = resolve_endpoint(endpoint, env, stack_spec.endpoint if stack_spec else None)
    backend = open_backend(state or (stack_spec.state if stack_spec else None), stack=stack)
    return Session(manifests, stack, chosen, backend, env, allow_endpoint_change=allow_endpoint_change,
                   stack_source="manifests" if manifests else "")


def open_state_session(files: Sequence[str], state: str | None = None, stack: str | None = None) -> Session:
    """A session for commands that need the state, not the account.

    The stack (a PostgreSQL state's row key) and its state location come from ``files``, else from
    the manifests in the current directory when they load, else ``default``; ``stack`` overrides
    the stack name.
    """
    from reconciler.manifest import ManifestError, load_manifests
    from reconciler.state import open_backend

    if not files:
        try:
            load_manifests(["."])
            files = (".",)
        except (ManifestError, OSError):
            pass
    session = open_session(files, "local", state, need_manifests=bool(files))
    if stack and stack != session.stack:
        spec = session.stack_spec
        session.stack = stack
        session.backend = open_backend(state or (spec.state if spec else None), stack=stack)
    if stack:
        session.stack_source = "--stack"
    session.check_stack_on_read = True  # a state of another stack is refused (unless no stack was chosen)
    return session


@contextmanager
def failing_as(what: str) -> Iterator[None]:
    """Turn a ``ProviderError`` raised in the block into ``OperationError("{what} failed: ...")``."""
    from reconciler.operations.errors import OperationError
    from reconciler.provider.errors import ProviderError

    try:
        yield
    except ProviderError as exc:
        raise OperationError(f"{what} failed: {exc}") from None


__all__ = ["QUIET", "Listener", "Session", "failing_as", "open_session", "open_state_session"]
