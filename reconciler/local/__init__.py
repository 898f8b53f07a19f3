"""The local Fireworks control plane: the embedded default and the test peer.

It speaks the Fireworks REST subset fwctl and the official training SDK use (accounts, RLOR
trainer jobs, deployments, training/deployment shapes, the hot-load API, the trainer gateway),
persists resources in SQLite and derives their states from stored timestamps, so it needs no
background thread and survives restarts. Use it in-process through ``httpx.ASGITransport`` or
over HTTP with :func:`serve` (``fwctl local serve``). It never imports the provider: the two meet
only over HTTP.
"""

from __future__ import annotations

from reconciler.local._app import create_app
from reconciler.local._config import DEFAULT_ACCOUNT, DEFAULT_API_KEY, LocalConfig

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_API_KEY", "LocalConfig", "create_app", "serve"]


def serve(
    config: LocalConfig, host: str = "127.0.0.1", port: int = 8787, *, log_level: str = "warning"
) -> None:
    """Serve the control plane over HTTP with uvicorn until interrupted."""
    import uvicorn

    # Keep idle connections open like a production front end does (uvicorn's default is 5 s): clients
    # that poll every 5 s, as the official SDK does, would otherwise race the server's close and see
    # "Server disconnected without sending a response" on a reused connection.
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, access_log=False,
                timeout_keep_alive=75)
