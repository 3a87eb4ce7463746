"""The batches producers sent, kept as sent (base offset set) for the fetches that follow them.

The log keeps records in its own format; a fetch of records that came in through a
Produce request is answered with the producer's own batches (compressed or not), so
the common case, consumers reading what was just produced, re-encodes nothing. The
cache is bounded (oldest batches go first) and keyed by the log's incarnation of the
topic, so a topic deleted and created again never serves the old batches. Only the
listener's event loop touches it.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Partition:
    incarnation: int
    bases: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)


class BatchCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._order: deque[tuple[str, int, int]] = deque()  # (topic, partition, base) in insertion order

    def add(self, topic: str, partition: int, incarnation: int, base: int, end: int, raw: bytes) -> None:
        """Keep batch [base, end) of the partition; batches must be added in offset order."""
        part = self._parts.get((topic, partition))
        if part is None or part.incarnation != incarnation or (part.ends and part.ends[-1] > base):
            part = self._parts[(topic, partition)] = _Partition(incarnation)
        part.bases.append(base)
        part.ends.append(end)
        part.raws.append(raw)
        self.bytes += len(raw)
        self._order.append((topic, partition, base))
        while self.bytes > self.max_bytes and self._order:
            self._evict(*self._order.popleft())

    def _evict(self, topic: str, partition: int, base: int) -> None:
        part = self._parts.get((topic, partition))
        if part is None or not part.bases or part.bases[0] != base:
            return  # already dropped with its partition
        self.bytes -= len(part.raws[0])
        del part.bases[0], part.ends[0], part.raws[0]

    def read(self, topic: str, partition: int, incarnation: int, offset: int, max_bytes: int
             ) -> tuple[list[bytes], int] | None:
        """Consecutive cached batches from the one holding `offset`, up to max_bytes (at least one),
        and the offset after them; None when `offset` is not cached."""
        part = self._parts.get((topic, partition))
        if part is None or part.incarnation != incarnation:
            return None
        i = bisect.bisect_right(part.bases, offset) - 1
        if i < 0 or part.ends[i] <= offset:
            return None
        out = [part.raws[i]]
        size = len(out[0])
        end = part.ends[i]
        i += 1
        while i < len(part.bases) and part.bases[i] == end and size + len(part.raws[i]) <= max_bytes:
            out.append(part.raws[i])
            size += len(part.raws[i])
            end = part.ends[i]
            i += 1
        return out, end

    def forget_topic(self, topic: str) -> None:
        for key in [k for k in self._parts if k[0] == topic]:
            part = self._parts.pop(key)
            self.bytes -= sum(map(len, part.raws))
