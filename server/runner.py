"""The runner: one background thread that keeps every query moving.

Each round polls every persistent query once (one batch per input partition,
under the engine lock and inside a log transaction, so output and offset
commits are atomic), then every push query (outside the lock: they only read).
When a round finds nothing to do the thread sleeps until woken by a write or a
short timeout. A failing query never stops the loop: the error is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ksql.server.runner")


class Runner:
    """Calls `persistent()` and `transient()` in a loop; both return how much work they did."""

    def __init__(self, persistent: Callable[[], int], transient: Callable[[], int],
                 idle_sleep: float = 0.02):
        self.persistent = persistent
        self.transient = transient
        self.idle_sleep = idle_sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ksql-runner", daemon=True)
        self.rounds = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New data may be waiting: run a round now rather than after the idle sleep."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            work = 0
            for step in (self.persistent, self.transient):
                try:
                    work += step()
                except Exception:  # noqa: BLE001 - a bug in one query must not stop every other one
                    log.exception("query runner step failed")
            self.rounds += 1
            if not work:
                self._wake.wait(self.idle_sleep)
                self._wake.clear()
