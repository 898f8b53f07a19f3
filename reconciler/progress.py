"""Progress while applying: a live table on a terminal, one line per state change otherwise.

Pipelines get a line per change of state and a heartbeat every 30 s so a CI log never looks hung.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

HEARTBEAT_S = 30.0


@dataclass
class _Row:
    action: str
    status: str = "waiting"
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class LineReporter:
    """One line per state change, and a heartbeat listing what is still in flight."""

    def __init__(self, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S):
        self.stream = stream or sys.stdout
        self.rows: dict[str, _Row] = {}
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True)
        self._thread.start()

    def event(self, address: str, action: str, status: str, detail: str = "") -> None:
        row = self.rows.setdefault(address, _Row(action))
        row.status, row.detail = status, detail
        if status in ("done", "failed", "skipped"):
            row.ended = time.monotonic()
        suffix = f": {detail}" if detail else ""
        print(f"[{time.monotonic() - self.start:7.1f}s] {address}: {action}: {status}{suffix}",
              file=self.stream, flush=True)

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            busy = [f"{a} ({r.status}, {r.elapsed():.0f}s)" for a, r in self.rows.items() if r.ended is None]
            if busy:
                print(f"[{time.monotonic() - self.start:7.1f}s] still working on: {', '.join(busy)}",
                      file=self.stream, flush=True)

    def close(self) -> None:
        self._stop.set()


class TableReporter:
    """A live table (address, action, state, elapsed) redrawn in place with rich."""

    def __init__(self) -> None:
        from rich.live import Live

        self.rows: dict[str, _Row] = {}
        self._live = Live(self._table(), refresh_per_second=4, transient=False)
        self._live.start()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for name in ("address", "action", "state", "elapsed"):
            table.add_column(name)
        for address, row in self.rows.items():
            status = f"{row.status}: {row.detail}" if row.detail else row.status
            table.add_row(address, row.action, status, f"{row.elapsed():.1f}s")
        return table

    def event(self, address: str, action: str, status: str, detail: str = "") -> None:
        row = self.rows.setdefault(address, _Row(action))
        row.status, row.detail = status, detail
        if status in ("done", "failed", "skipped"):
            row.ended = time.monotonic()
        self._live.update(self._table())

    def close(self) -> None:
        self._live.update(self._table())
        self._live.stop()
