"""One reader and one decoder per source for all the push queries over it.

A hundred push queries over one stream used to read and decode every record a
hundred times. A SharedReader reads the source's topic for all of its subscribers
and decodes each record batch once; every subscriber then runs its compiled
filter/projection (or aggregation) on its slice of the decoded rows, and those with
the same statement share that evaluation too (ksql.engine.transient.SharedProjection).

Subscribers keep their own read positions (they start at the latest offsets, the
earliest, or an SSE resume position, and each takes only what fits its buffer),
so the reader serves every distinct position: per partition, it reads one batch
from the position of the furthest-behind subscriber, long enough for every
subscriber whose position falls inside it to fill its buffer, and hands each one
the records from its position on (as many as its buffer has room for); the
subscribers past that batch get the next one, read from the first of their
positions. Subscribers at the same position, which is where they all end up once
caught up, share every batch. A subscriber whose buffer is full is skipped for the
round: it holds up neither the reader nor the others.

The reader keeps the batches it decoded that some subscriber has yet to pass (at most
the newest `cache_records` records of each partition), with what each shared
evaluation made of them: subscribers that fall behind one another, as they do when
their clients read at different speeds, take their rows from those batches in later
rounds instead of reading and decoding the same records again, each at its own pace.
Only a subscriber behind all of them reads (and decodes) on its own. Once every
subscriber is past a batch, it is dropped: caught-up subscribers keep nothing.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, Protocol

from ksql.engine.codec import RecordDecoder
from ksql.engine.log import Log, LogError, Record
from ksql.engine.metastore import DataSource
from ksql.engine.processing_log import ProcessingLog
from ksql.errors import KsqlError

# where a decoded row keeps its source offset: (..., timestamp, partition, offset, window start,
# window end, headers, tombstone)
ROW_OFFSET = -5
MAX_BATCHES_PER_READ = 8  # a read serves subscribers up to this many of their batches apart
DEFAULT_CACHE_RECORDS = 32 * 1000  # at most, decoded records kept per partition for subscribers behind others


class DecodedBatch:
    """Records of one partition, read and decoded once: offsets first..end-1 (some may be missing, as
    compaction leaves them). `evaluated` keeps what each shared evaluation made of the rows, so it is
    computed once however many subscribers, in however many rounds, take rows from the batch."""

    __slots__ = ("record_offsets", "rows", "row_offsets", "first", "end", "evaluated")

    def __init__(self, records: list[Record], rows: list[tuple]):
        self.record_offsets = [r.offset for r in records]
        self.rows = rows
        self.row_offsets = [r[ROW_OFFSET] for r in rows]
        self.first = self.record_offsets[0]
        self.end = self.record_offsets[-1] + 1
        self.evaluated: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.record_offsets)


class Subscriber(Protocol):
    """What the reader needs of a push query."""

    positions: dict[int, int]

    @property
    def done(self) -> bool: ...

    def room(self) -> int:
        """How many more records the subscriber can take now."""

    def deliver(self, partition: int, next_offset: int, batch: DecodedBatch, start: int, stop: int) -> None:
        """Process batch.rows[start:stop], its decoded rows of `partition`, then read on from `next_offset`.
        The batch is the same object for every subscriber that takes rows from it: queries that evaluate
        alike compute it once (see ksql.engine.transient.SharedProjection)."""

    def fail(self, message: str) -> None:
        """End the subscriber with an error."""

    def notify(self) -> None:
        """Wake its consumer: new rows, or the end."""


class SharedReader:
    """Reads `source`'s topic for every push query over it; `poll` runs one round for the given ones."""

    def __init__(self, log: Log, source: DataSource, name: str, reporter: ProcessingLog | None = None,
                 cache_records: int = DEFAULT_CACHE_RECORDS):
        self.log = log
        self.source = source
        self.topic = source.topic
        self.decoder = RecordDecoder(source, name, reporter=reporter)
        self.cache_records = cache_records
        self._cache: dict[int, list[DecodedBatch]] = {}  # per partition, by first offset
        self._cached_records: dict[int, int] = {}  # per partition
        self._lock = threading.Lock()  # one round at a time

    def poll(self, subscribers: Sequence[Subscriber], max_records: int = 1000) -> int:
        """Hand the subscribers what they have room for; each record is decoded once. Returns the records
        read or taken from kept batches."""
        with self._lock:
            rooms = {id(s): min(s.room(), max_records) for s in subscribers if not s.done}
            live = [s for s in subscribers if rooms.get(id(s), 0) > 0]
            if not live:
                return 0
            touched: dict[int, Subscriber] = {}
            served = 0
            try:
                for partition in sorted({p for s in live for p in s.positions}):
                    served += self._poll_partition(partition, live, rooms, touched, max_records)
            except (LogError, KsqlError) as err:
                for s in live:
                    if not s.done:
                        s.fail(f"stopped: {err}")
                    touched[id(s)] = s
            self._drop_passed(subscribers)
        for s in touched.values():
            s.notify()
        return served

    def _poll_partition(self, partition: int, subscribers: list[Subscriber], rooms: dict[int, int],
                        touched: dict[int, Subscriber], max_records: int) -> int:
        pending = sorted((s for s in subscribers if rooms[id(s)] > 0 and not s.done and partition in s.positions),
                         key=lambda s: s.positions[partition])
        served = 0
        while pending:
            position = pending[0].positions[partition]
            batch = self._kept(partition, position)
            if batch is None:
                batch = self._read(partition, position,
                                   self._span(pending, partition, rooms, MAX_BATCHES_PER_READ * max_records))
                if batch is None:  # nothing from here on: nor for anyone further ahead
                    break
            served += len(batch)
            reached = 0
            while reached < len(pending) and pending[reached].positions[partition] < batch.end:
                reached += 1
            more = []  # those that took the batch to its end with room left go on in the next one
            for subscriber in pending[:reached]:
                if self._hand(partition, subscriber, batch, rooms):
                    touched[id(subscriber)] = subscriber
                if rooms[id(subscriber)] > 0 and not subscriber.done:
                    more.append(subscriber)
            pending = more + pending[reached:]  # all now at or past the batch's end: still in order
        return served

    def _hand(self, partition: int, subscriber: Subscriber, batch: DecodedBatch, rooms: dict[int, int]) -> bool:
        """Deliver the subscriber its part of `batch` (as much as it has room for); False if none."""
        position = subscriber.positions[partition]
        first = bisect_left(batch.record_offsets, position)
        last = min(first + rooms[id(subscriber)], len(batch))
        if first >= last:
            return False
        next_offset = batch.record_offsets[last - 1] + 1
        rows_from = bisect_left(batch.row_offsets, position)
        rows_to = bisect_left(batch.row_offsets, next_offset)
        rooms[id(subscriber)] -= last - first
        subscriber.deliver(partition, next_offset, batch, rows_from, rows_to)
        return True

    def _kept(self, partition: int, position: int) -> DecodedBatch | None:
        """The kept batch holding `position`, if any."""
        kept = self._cache.get(partition)
        if not kept:
            return None
        i = bisect_right(kept, position, key=lambda b: b.first) - 1
        return kept[i] if i >= 0 and position < kept[i].end else None

    def _read(self, partition: int, position: int, span: int) -> DecodedBatch | None:
        """Read and decode up to `span` records from `position` (no further than the next kept batch), and
        keep the batch, dropping the oldest kept ones past cache_records."""
        kept = self._cache.setdefault(partition, [])
        i = bisect_right(kept, position, key=lambda b: b.first)
        if i < len(kept):
            span = min(span, kept[i].first - position)
        records = self.log.read(self.topic, partition, position, span)
        if not records:
            return None
        if i < len(kept) and records[0].offset >= kept[i].first:  # compaction left nothing before it
            return kept[i]
        batch = DecodedBatch(records, self.decoder.decode(records))
        kept.insert(i, batch)
        total = self._cached_records.get(partition, 0) + len(batch)
        while total > self.cache_records and len(kept) > 1:
            total -= len(kept.pop(0))
        self._cached_records[partition] = total
        return batch

    def _drop_passed(self, subscribers: Sequence[Subscriber]) -> None:
        """Forget the kept batches that all the subscribers (those of this round) are past."""
        for partition, kept in self._cache.items():
            lowest = min((s.positions[partition] for s in subscribers if not s.done and partition in s.positions),
                         default=None)
            passed = len(kept) if lowest is None else bisect_right(kept, lowest, key=lambda b: b.end)
            if passed:
                self._cached_records[partition] -= sum(len(b) for b in kept[:passed])
                del kept[:passed]

    @staticmethod
    def _span(pending: list[Subscriber], partition: int, rooms: dict[int, int], cap: int) -> int:
        """How many records to read from the first subscriber's position: enough for it and for every
        subscriber whose position the read reaches to fill its buffer (at most `cap`)."""
        start = pending[0].positions[partition]
        end = start
        for s in pending:
            position = s.positions[partition]
            if position > end and end > start:
                break
            end = max(end, position + rooms[id(s)])
        return min(end - start, cap)


__all__ = ["DecodedBatch", "SharedReader", "Subscriber"]
