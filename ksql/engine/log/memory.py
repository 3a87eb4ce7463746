"""MemoryLog: an in-memory, deterministic, thread-safe Log for tests and the TestDriver.

Each partition is a python list of plain tuples (key, value, timestamp, headers tuple)
plus the offset of its first element (retention moves it forward). Tuples of bytes/int
are not tracked by the cyclic GC, so a large in-memory log does not slow down every
garbage collection. append() never mutates or keeps the caller's Record objects; read()
builds fresh Record objects, so callers may mutate what they read.
"""

from __future__ import annotations

import threading
import time

from .base import (
    Log,
    LogClosedError,
    PartitionOutOfRangeError,
    Record,
    RecordBatch,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
    validate_topic,
)

_DEFAULT_CONFIG = TopicConfig()


class _Partition:
    __slots__ = ("records", "start")

    def __init__(self) -> None:
        self.records: list[tuple] = []  # (key, value, timestamp, headers tuple (empty: none))
        self.start = 0  # offset of records[0]


class _Topic:
    __slots__ = ("name", "config", "parts")

    def __init__(self, name: str, config: TopicConfig) -> None:
        self.name = name
        self.config = config
        self.parts = [_Partition() for _ in range(config.partitions)]


_OK_TYPES = {bytes, type(None)}
_INT = {int}


def _bad(topic: str, partition: int, msg: str) -> TypeError:
    return TypeError(
        f"append to {topic}-{partition}: records need bytes|None key/value, int timestamp, "
        f"list[(str, bytes|None)] headers: {msg}"
    )


def _as_bytes(x, topic: str, partition: int):
    if x is None or type(x) is bytes:
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise _bad(topic, partition, f"key/value must be bytes or None, got {type(x).__name__}")


def _validated(t: tuple, topic: str, partition: int) -> tuple:
    k, v, ts, h = t
    if type(ts) is not int:
        raise _bad(topic, partition, f"timestamp must be an int, got {type(ts).__name__}")
    return (_as_bytes(k, topic, partition), _as_bytes(v, topic, partition), ts, h)


def _check_headers(h: tuple, topic: str, partition: int) -> None:
    for hdr in h:
        try:
            name, val = hdr
        except (TypeError, ValueError):
            raise _bad(topic, partition, f"header {hdr!r} is not a (name, value) pair") from None
        if type(name) is not str:
            raise _bad(topic, partition, f"header name must be str, got {type(name).__name__}")
        _as_bytes(val, topic, partition)


def _coerce_headers(t: tuple, topic: str, partition: int) -> tuple:
    if not t[3]:
        return t
    return (t[0], t[1], t[2], tuple((n, _as_bytes(v, topic, partition)) for n, v in t[3]))


def _record_size(t: tuple) -> int:
    k, v, _, h = t
    n = 18 + (len(k) if k is not None else 0) + (len(v) if v is not None else 0)
    for hk, hv in h or ():
        n += 6 + len(hk.encode("utf-8")) + (len(hv) if hv is not None else 0)
    return n


class MemoryLog(Log):
    """In-memory Log. Nothing survives the process; everything else behaves like EmbeddedLog."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, dict[tuple[str, int], int]] = {}
        self._closed = False

    # ---- helpers ----

    def _topic(self, name: str) -> _Topic:
        t = self._topics.get(name)
        if t is None:
            if self._closed:
                raise LogClosedError("log is closed")
            raise UnknownTopicError(f"unknown topic {name!r}")
        return t

    def _part(self, topic: str, partition: int) -> _Partition:
        t = self._topic(topic)
        if type(partition) is not int or not 0 <= partition < len(t.parts):
            raise PartitionOutOfRangeError(
                f"partition {partition!r} out of range for topic {topic!r} with {len(t.parts)} partition(s)"
            )
        return t.parts[partition]

    # ---- topics ----

    def create_topic(self, name: str, config: TopicConfig = _DEFAULT_CONFIG) -> None:
        validate_topic(name, config)
        with self._lock:
            if self._closed:
                raise LogClosedError("log is closed")
            if name in self._topics:
                raise TopicExistsError(f"topic {name!r} already exists")
            self._topics[name] = _Topic(name, config)

    def delete_topic(self, name: str) -> None:
        with self._lock:
            self._topic(name)
            del self._topics[name]
            for offs in self._groups.values():
                for tp in [tp for tp in offs if tp[0] == name]:
                    del offs[tp]

    def topic_exists(self, name: str) -> bool:
        return name in self._topics

    def topic_config(self, name: str) -> TopicConfig:
        return self._topic(name).config

    def list_topics(self) -> list[str]:
        with self._lock:
            return sorted(self._topics)

    def partitions(self, topic: str) -> int:
        return len(self._topic(topic).parts)

    # ---- data ----

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        # Tuples of bytes/int/None are untracked by the cyclic GC: a big in-memory log of
        # Record objects would make every full collection traverse all of them.
        new = [(r.key, r.value, r.timestamp, tuple(r.headers) if r.headers else ()) for r in records]
        return list(self._store(topic, partition, new))

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> range:
        try:
            new = list(zip(batch.keys, batch.values, batch.timestamps, map(tuple, batch.headers), strict=True))
        except (TypeError, ValueError) as e:
            raise _bad(topic, partition, str(e)) from None
        return self._store(topic, partition, new)

    def _store(self, topic: str, partition: int, new: list[tuple]) -> range:
        with self._lock:
            p = self._part(topic, partition)
            stored = p.records
            base = p.start + len(stored)
            # validate in bulk (cheap set comprehensions); the slow path pinpoints or coerces
            if not ({type(t[0]) for t in new} | {type(t[1]) for t in new}) <= _OK_TYPES or (
                new and {type(t[2]) for t in new} != _INT
            ):
                new = [_validated(t, topic, partition) for t in new]
            for t in new:
                if t[3]:
                    _check_headers(t[3], topic, partition)
                    if any(type(v) is not bytes and v is not None for _, v in t[3]):
                        new = [_coerce_headers(x, topic, partition) for x in new]
                        break
            stored.extend(new)
            return range(base, base + len(new))

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        chunk, off = self._chunk(topic, partition, offset, max_records)
        return [
            Record(k, v, ts, list(h), o, partition)
            for o, (k, v, ts, h) in zip(range(off, off + len(chunk)), chunk, strict=True)
        ]

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        chunk, off = self._chunk(topic, partition, offset, max_records)
        if not chunk:
            return RecordBatch([], [], [], [], range(off, off), partition)
        keys, values, timestamps, headers = zip(*chunk, strict=True)
        return RecordBatch(keys, values, timestamps, headers, range(off, off + len(chunk)), partition)

    def _chunk(self, topic: str, partition: int, offset: int, max_records: int) -> tuple[list[tuple], int]:
        """The stored records from `offset` (at most max_records) and the offset of the first."""
        with self._lock:
            p = self._part(topic, partition)
            i = offset - p.start
            if i < 0:
                i = 0
            if max_records <= 0:
                return [], p.start + i
            return p.records[i : i + max_records], p.start + i

    def start_offset(self, topic: str, partition: int) -> int:
        with self._lock:
            return self._part(topic, partition).start

    def end_offset(self, topic: str, partition: int) -> int:
        with self._lock:
            p = self._part(topic, partition)
            return p.start + len(p.records)

    # ---- retention ----

    def enforce_retention(self, now_ms: int | None = None) -> None:
        """Record-granular retention (there are no segments): drops the oldest records while
        they are older than now - retention_ms, then while the partition holds more than
        retention_bytes (sizes as encoded by EmbeddedLog). The newest record is always kept."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            for t in self._topics.values():
                cfg = t.config
                for p in t.parts:
                    recs = p.records
                    drop = 0
                    if cfg.retention_ms >= 0:
                        cutoff = now - cfg.retention_ms
                        while drop < len(recs) - 1 and recs[drop][2] < cutoff:
                            drop += 1
                    if cfg.retention_bytes >= 0:
                        total = sum(_record_size(r) for r in recs[drop:])
                        while drop < len(recs) - 1 and total > cfg.retention_bytes:
                            total -= _record_size(recs[drop])
                            drop += 1
                    if drop:
                        del recs[:drop]
                        p.start += drop

    # ---- consumer groups ----

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        with self._lock:
            for (topic, partition), off in offsets.items():
                self._part(topic, partition)
                if type(off) is not int or off < 0:
                    raise ValueError(f"invalid offset {off!r} for {topic}-{partition}")
            self._groups.setdefault(group, {}).update(offsets)

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        with self._lock:
            g = self._groups.get(group)
            return None if g is None else g.get((topic, partition))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._topics.clear()
            self._groups.clear()
