"""One reader and one decoder per source for all the push queries over it.

A hundred push queries over one stream used to read and decode every record a
hundred times. A SharedReader reads the source's topic once per round for all of
its subscribers and decodes each record batch once; every subscriber then runs its
own compiled filter/projection (or aggregation) on its slice of the decoded rows.

Subscribers keep their own read positions (they start at the latest offsets, the
earliest, or an SSE resume position, and each takes only what fits its buffer),
so the reader serves every distinct position: per partition, it reads one batch
from the position of the furthest-behind subscriber, long enough for every
subscriber whose position falls inside it to fill its buffer, and hands each one
the records from its position on (as many as its buffer has room for); the
subscribers past that batch get the next one, read from the first of their
positions. So no record is decoded twice in a round, and a subscriber that is
behind (with little room) makes the reader re-read only what it takes itself.
Subscribers at the same position, which is where they all end up once caught up,
share every batch. A subscriber whose buffer is full is skipped for the round: it
holds up neither the reader nor the others.

Each subscriber is handed the whole decoded batch and the bounds of its slice, so
push queries with the same statement evaluate a batch once and share the result rows.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence
from typing import Protocol

from ksql.engine.codec import RecordDecoder
from ksql.engine.log import Log, LogError
from ksql.engine.metastore import DataSource
from ksql.engine.processing_log import ProcessingLog
from ksql.errors import KsqlError

# where a decoded row keeps its source offset: (..., timestamp, partition, offset, window start,
# window end, headers, tombstone)
ROW_OFFSET = -5
MAX_BATCHES_PER_READ = 8  # a read serves subscribers up to this many of their batches apart


class Subscriber(Protocol):
    """What the reader needs of a push query."""

    positions: dict[int, int]

    @property
    def done(self) -> bool: ...

    def room(self) -> int:
        """How many more records the subscriber can take now."""

    def deliver(self, partition: int, next_offset: int, rows: list[tuple], start: int, stop: int) -> None:
        """Process rows[start:stop], its decoded rows of `partition`, then read on from `next_offset`.
        `rows` is the whole batch the reader decoded, the same list for every subscriber it reached:
        queries that evaluate alike compute it once (see ksql.engine.transient.SharedProjection)."""

    def fail(self, message: str) -> None:
        """End the subscriber with an error."""

    def notify(self) -> None:
        """Wake its consumer: new rows, or the end."""


class SharedReader:
    """Reads `source`'s topic for every push query over it; `poll` runs one round for the given ones."""

    def __init__(self, log: Log, source: DataSource, name: str, reporter: ProcessingLog | None = None):
        self.log = log
        self.source = source
        self.topic = source.topic
        self.decoder = RecordDecoder(source, name, reporter=reporter)
        self._lock = threading.Lock()  # one round at a time

    def poll(self, subscribers: Sequence[Subscriber], max_records: int = 1000) -> int:
        """Read what the subscribers have room for; each record is decoded once. Returns records read."""
        with self._lock:
            rooms = {id(s): min(s.room(), max_records) for s in subscribers if not s.done}
            live = [s for s in subscribers if rooms.get(id(s), 0) > 0]
            if not live:
                return 0
            touched: dict[int, Subscriber] = {}
            read = 0
            try:
                for partition in sorted({p for s in live for p in s.positions}):
                    read += self._poll_partition(partition, live, rooms, touched, max_records)
            except (LogError, KsqlError) as err:
                for s in live:
                    if not s.done:
                        s.fail(f"stopped: {err}")
                    touched[id(s)] = s
        for s in touched.values():
            s.notify()
        return read

    def _poll_partition(self, partition: int, subscribers: list[Subscriber], rooms: dict[int, int],
                        touched: dict[int, Subscriber], max_records: int) -> int:
        pending = sorted((s for s in subscribers if rooms[id(s)] > 0 and not s.done and partition in s.positions),
                         key=lambda s: s.positions[partition])
        read = 0
        i = 0
        while i < len(pending):
            start = pending[i].positions[partition]
            records = self.log.read(self.topic, partition, start,
                                    self._span(pending[i:], partition, rooms, MAX_BATCHES_PER_READ * max_records))
            if not records:  # nothing from here on: nor for anyone further ahead
                break
            read += len(records)
            end = records[-1].offset + 1
            record_offsets = [r.offset for r in records]
            rows = self.decoder.decode(records)
            row_offsets = [r[ROW_OFFSET] for r in rows]
            while i < len(pending) and pending[i].positions[partition] < end:
                subscriber = pending[i]
                i += 1
                first = bisect_left(record_offsets, subscriber.positions[partition])
                last = min(first + rooms[id(subscriber)], len(records))
                if first >= last:
                    continue
                next_offset = record_offsets[last - 1] + 1
                rows_from = bisect_left(row_offsets, subscriber.positions[partition])
                rows_to = bisect_left(row_offsets, next_offset)
                rooms[id(subscriber)] -= last - first
                subscriber.deliver(partition, next_offset, rows, rows_from, rows_to)
                touched[id(subscriber)] = subscriber
        return read

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


__all__ = ["SharedReader", "Subscriber"]
