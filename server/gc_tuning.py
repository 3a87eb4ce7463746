"""Garbage-collector settings for a serving process, so that request latency stays flat.

With CPython's defaults (a young-generation collection every 700 net allocations) each request
runs several young collections, and every one promotes the objects of the requests in flight into
the old generation. Those die young anyway, but the promotions count towards the next full
collection, which walks every tracked object of the process (modules, the parser's grammar, the
engine's state): tens of milliseconds every few seconds under load, the p99 of a key lookup.

Two settings take that away without turning the collector off:
- the objects that exist once the server has started (imports, grammar, restored state) are moved
  to the permanent generation (`gc.freeze`), so full collections no longer walk them;
- young collections run every YOUNG_THRESHOLD allocations, so short-lived request objects are
  mostly freed by reference counting before a collection could promote them.
Cycles among new objects are still collected; frozen objects are still freed when their
reference count drops to zero.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
MIDDLE_THRESHOLD = 10
OLD_THRESHOLD = 10


def tune_for_serving() -> None:
    """Call once the server has started, before it takes requests."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
