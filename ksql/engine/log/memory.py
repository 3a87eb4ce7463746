"""MemoryLog: an in-memory, deterministic, thread-safe Log for tests and the TestDriver.

Each partition is a python list of Records plus the offset of its first element
(retention moves it forward). append() stores fresh Record objects (the caller's
objects are never mutated or aliased); read() returns the stored objects without
copying, so callers must treat records returned by read() as immutable.
"""

from __future__ import annotations

import threading
import time

from .base import (
    Log,
    LogClosedError,
    PartitionOutOfRangeError,
    Record,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
    validate_topic,
)

_DEFAULT_CONFIG = TopicConfig()


class _Partition:
    __slots__ = ("records", "start")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.start = 0  # offset of records[0]


class _Topic:
    __slots__ = ("name", "config", "parts")

    def __init__(self, name: str, config: TopicConfig) -> None:
        self.name = name
        self.config = config
        self.parts = [_Partition() for _ in range(config.partitions)]


def _as_bytes(x):
    if x is None or type(x) is bytes:
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"key/value must be bytes or None, got {type(x).__name__}")


def _check_headers(h) -> list:
    out = []
    for name, val in h:
        if type(name) is not str:
            raise TypeError(f"header name must be str, got {type(name).__name__}")
        out.append((name, _as_bytes(val)))
    return out


def _record_size(r: Record) -> int:
    n = 18 + (len(r.key) if r.key is not None else 0) + (len(r.value) if r.value is not None else 0)
    for hk, hv in r.headers:
        n += 6 + len(hk) + (len(hv) if hv is not None else 0)
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
        with self._lock:
            p = self._part(topic, partition)
            stored = p.records
            base = p.start + len(stored)
            off = base
            try:
                for r in records:
                    k = r.key
                    v = r.value
                    ts = r.timestamp
                    h = r.headers
                    if (k is not None and type(k) is not bytes) or (v is not None and type(v) is not bytes):
                        k, v = _as_bytes(k), _as_bytes(v)
                    if type(ts) is not int:
                        raise TypeError(f"timestamp must be an int, got {type(ts).__name__}")
                    if h:
                        h = _check_headers(h)
                    stored.append(Record(k, v, ts, h if h else [], off, partition))
                    off += 1
            except BaseException as e:
                del stored[base - p.start :]  # all-or-nothing, like EmbeddedLog
                if isinstance(e, (TypeError, AttributeError, ValueError)):
                    raise TypeError(
                        f"append to {topic}-{partition}: records need bytes|None key/value, int timestamp, "
                        f"list[(str, bytes|None)] headers: {e}"
                    ) from e
                raise
            return list(range(base, off))

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        with self._lock:
            p = self._part(topic, partition)
            i = offset - p.start
            if i < 0:
                i = 0
            if max_records <= 0:
                return []
            return p.records[i : i + max_records]

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
                        while drop < len(recs) - 1 and recs[drop].timestamp < cutoff:
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
