"""What one operation works with: the manifests, the endpoint, the state backend, the provider.

``open_session`` is the composition root of the engine: it loads the manifests, resolves the
endpoint, opens the state backend and knows how to build the provider (the embedded local control
plane is created here, from ``reconciler.local``, and handed to ``FireworksProvider.in_process``).
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
        """The arguments are checked; the state is about to be locked and the account read."""

    def lock_waiting(self, holder: LockInfo) -> None:
        """The state lock is held by ``holder``; the operation waits (up to its lock timeout)."""


QUIET = Listener()


@dataclass
class Session:
    """One command's wiring. ``provider()`` builds a new provider, to be used as ``async with``."""

    manifests: Manifests | None
    stack: str
    endpoint: Endpoint
    backend: StateBackend
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

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
        speed = float(self.env.get("FWCTL_LOCAL_SPEED", "1"))
        return FireworksProvider.in_process(create_app(LocalConfig(db_path=db, speed=speed)), self.endpoint.api_key)

    def run(self, work: Callable[[FireworksProvider], Awaitable[T]]) -> T:
        """Run ``work`` with a fresh provider, in an event loop of its own."""
        import asyncio

        async def main() -> T:
            async with self.provider() as provider:
                return await work(provider)

        return asyncio.run(main())

    def read_state(self) -> StateDocument | None:
        return self.backend.read()

    @contextmanager
    def locked(self, operation: str, timeout_s: float, listener: Listener = QUIET) -> Iterator[str]:
        """Hold the state lock for ``operation``; yields the lock id."""
        from reconciler.state import lock_info, locked

        with locked(self.backend, lock_info(operation, self.backend), timeout_s, listener.lock_waiting) as lock_id:
            yield lock_id


def open_session(files: Sequence[str], endpoint: str | None = None, state: str | None = None, *,
                 need_manifests: bool = True, env: Mapping[str, str] | None = None) -> Session:
    """Load the manifests of ``files`` (default: the current directory), choose the endpoint
    (``--endpoint`` > environment > the Stack) and open the state (``--state`` > the Stack's).

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
    return Session(manifests, stack, chosen, backend, env)


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
