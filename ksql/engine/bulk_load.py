"""Pausing Python's cycle collector while state is rebuilt in bulk.

Restoring a query's state builds hundreds of thousands of long-lived containers (keys, rows,
accumulators) in one go; each allocation burst triggers a collection that walks the growing heap
again, which costs about a third of a restart. None of these objects form cycles that need
collecting meanwhile, so the collector is paused for the duration and resumes afterwards.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cycle collector off (nested and concurrent uses share one pause)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
