"""MemoryLog: an in-memory, deterministic, thread-safe Log for tests and the TestDriver.

Each partition keeps its records as four parallel lists (keys, values, timestamps,
headers as tuples, () for none) plus the offset of their first element (retention moves
it forward): appends are list extends and reads list slices, with no per-record object
besides the caller's bytes (and nothing per record for the cyclic GC to track).
append() never mutates or keeps the caller's Record objects; read() builds fresh Record
objects and read_batch() fresh lists, so callers may mutate what they read.
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
    __slots__ = ("keys", "values", "timestamps", "headers", "start")

    def __init__(self) -> None:
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.timestamps: list[int] = []
        self.headers: list[tuple] = []  # tuples of (name, value) pairs, () for none
        self.start = 0  # offset of the first record held


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


def _check_headers(h: tuple, topic: str, partition: int) -> None:
    for hdr in h:
        try:
            name, val = hdr
        except (TypeError, ValueError):
            raise _bad(topic, partition, f"header {hdr!r} is not a (name, value) pair") from None
        if type(name) is not str:
            raise _bad(topic, partition, f"header name must be str, got {type(name).__name__}")
        _as_bytes(val, topic, partition)


def _record_size(k, v, h) -> int:
    n = 18 + (len(k) if k is not None else 0) + (len(v) if v is not None else 0)
    for hk, hv in h:
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

    def size_bytes(self, topic: str) -> int | None:
        """The bytes its records would take in the embedded log's format (what retention counts here)."""
        with self._lock:
            return sum(_record_size(k, v, h) for p in self._topic(topic).parts
                       for k, v, h in zip(p.keys, p.values, p.headers, strict=True))

    # ---- data ----

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        return list(self._store(topic, partition, [r.key for r in records], [r.value for r in records],
                                [r.timestamp for r in records],
                                [tuple(r.headers) if r.headers else () for r in records]))

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> range:
        try:
            headers = list(map(tuple, batch.headers))
        except TypeError as e:
            raise _bad(topic, partition, str(e)) from None
        return self._store(topic, partition, list(batch.keys), list(batch.values), list(batch.timestamps),
                           headers)

    def _store(self, topic: str, partition: int, keys: list, values: list, timestamps: list,
               headers: list) -> range:
        """Validate (all or nothing; bytearray / memoryview become bytes), then append."""
        n = len(keys)
        if not len(values) == len(timestamps) == len(headers) == n:
            raise _bad(topic, partition, "columns of different lengths")
        with self._lock:
            p = self._part(topic, partition)
            # validate in bulk (sets of types); the slow paths pinpoint or coerce
            if not set(map(type, keys)) | set(map(type, values)) <= _OK_TYPES:
                keys = [_as_bytes(k, topic, partition) for k in keys]
                values = [_as_bytes(v, topic, partition) for v in values]
            if n and set(map(type, timestamps)) != _INT:
                bad = next(ts for ts in timestamps if type(ts) is not int)
                raise _bad(topic, partition, f"timestamp must be an int, got {type(bad).__name__}")
            if any(headers):
                for h in headers:
                    _check_headers(h, topic, partition)
                if any(type(v) is not bytes and v is not None for h in headers for _, v in h):
                    headers = [tuple((k, _as_bytes(v, topic, partition)) for k, v in h) for h in headers]
            base = p.start + len(p.keys)
            p.keys += keys
            p.values += values
            p.timestamps += timestamps
            p.headers += headers
            return range(base, base + n)

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        b = self.read_batch(topic, partition, offset, max_records)
        return [Record(k, v, ts, list(h), o, partition)
                for k, v, ts, h, o in zip(b.keys, b.values, b.timestamps, b.headers, b.offsets, strict=True)]

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        with self._lock:
            p = self._part(topic, partition)
            i = max(offset - p.start, 0)
            j = i + max(max_records, 0)
            return RecordBatch(p.keys[i:j], p.values[i:j], p.timestamps[i:j], p.headers[i:j],
                               range(p.start + i, p.start + min(j, len(p.keys))), partition)

    def start_offset(self, topic: str, partition: int) -> int:
        with self._lock:
            return self._part(topic, partition).start

    def end_offset(self, topic: str, partition: int) -> int:
        with self._lock:
            p = self._part(topic, partition)
            return p.start + len(p.keys)

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
                    n = len(p.keys)
                    drop = 0
                    if cfg.retention_ms >= 0:
                        cutoff = now - cfg.retention_ms
                        while drop < n - 1 and p.timestamps[drop] < cutoff:
                            drop += 1
                    if cfg.retention_bytes >= 0:
                        sizes = list(map(_record_size, p.keys, p.values, p.headers))
                        total = sum(sizes[drop:])
                        while drop < n - 1 and total > cfg.retention_bytes:
                            total -= sizes[drop]
                            drop += 1
                    if drop:
                        for column in (p.keys, p.values, p.timestamps, p.headers):
                            del column[:drop]
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
