"""Pull query plans cached by statement text, so a repeated pull query is parsed, analysed and compiled once.

Services doing key lookups send the same few statement texts over and over; parsing
(Lark) and compiling cost far more than the lookup itself. An entry is keyed by what
decides the plan besides the engine's state: the SQL text, the request's session
variables and properties. The engine's state is covered by its generation
(`Engine.generation`, bumped when a statement that may change the metastore,
properties or variables ends): an entry made at another generation is stale and
never served. The cache holds at most `capacity` entries, least recently used
dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ksql.engine.pull import PullPlan
from ksql.parser import ast

DEFAULT_CAPACITY = 1000

PlanKey = tuple[str, tuple, tuple]


@dataclass(frozen=True)
class CachedPull:
    """A parsed pull query with its plan, valid while the engine is at `generation`."""

    statement: ast.SelectStatement
    plan: PullPlan
    generation: int


def plan_key(sql: str, variables: dict[str, Any] | None, properties: dict[str, Any]) -> PlanKey | None:
    """The cache key of a request (None when a value cannot be part of one)."""
    try:
        key = (sql, tuple(sorted((variables or {}).items())), tuple(sorted(properties.items())))
        hash(key)
    except TypeError:  # a session variable that is an object or a list: not cached
        return None
    return key


class PullPlanCache:
    """A bounded LRU of pull plans; safe to use from the event loop and worker threads at once."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._entries: OrderedDict[PlanKey, CachedPull] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: PlanKey, generation: int) -> CachedPull | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.generation != generation:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: PlanKey, entry: CachedPull) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
