"""The engine lock: reentrant, first come first served, and given up by requests whose client left.

Python's own RLock lets a thread that releases it take it straight back while
another thread is waiting for it: a /ksql script of hundreds of statements, taking
the lock once per statement, would then keep the runner (and so ingest) waiting
until the whole script ran. This lock hands itself over in arrival order, so the
runner gets its turn between any two statements or batches of a request.

A request running in a worker thread carries a `threading.Event` (the contextvar
CANCELLED, set by `server.http.in_worker`) that is set when its client
disconnects; waiting for the lock then ends with RequestCancelled instead of
doing work nobody will read.
"""

from __future__ import annotations

import threading
from collections import deque
from contextvars import ContextVar
from types import TracebackType

CANCELLED: ContextVar[threading.Event | None] = ContextVar("ksql_request_cancelled", default=None)
CANCEL_CHECK_SECONDS = 0.05


class RequestCancelled(Exception):
    """The request's client disconnected before its work got the engine lock."""


class EngineLock:
    """A reentrant lock granted in the order it was asked for."""

    def __init__(self) -> None:
        self._state = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[object] = deque()

    def acquire(self) -> None:
        """Wait for the lock (raises RequestCancelled when this request's client is gone meanwhile)."""
        me = threading.get_ident()
        cancelled = CANCELLED.get()
        with self._state:
            if self._owner == me:
                self._depth += 1
                return
            if cancelled is not None and cancelled.is_set():
                raise RequestCancelled("The client disconnected")
            ticket = object()
            self._waiting.append(ticket)
            try:
                while self._owner is not None or self._waiting[0] is not ticket:
                    if cancelled is not None and cancelled.is_set():
                        raise RequestCancelled("The client disconnected")
                    self._state.wait(CANCEL_CHECK_SECONDS if cancelled is not None else None)
            except BaseException:
                self._waiting.remove(ticket)
                self._state.notify_all()
                raise
            self._waiting.popleft()
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._state:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of an engine lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._state.notify_all()

    def __enter__(self) -> EngineLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
