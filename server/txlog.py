"""Exactly-once persistent queries across crashes: a log wrapper that makes output atomic with commits.

A persistent query appends its output (sink records, state changelog records)
and then commits its input offsets. A crash between the two would make the
restarted query process that input again and append the same output twice.

`TransactionalLog` wraps the server's log. Inside `transactions()` (the runner
thread, while it polls persistent queries) appends and commits are held back;
`flush()`, called after each query's poll, turns them into one transaction:

1. the transaction (every held record with the offset it must land at, and the
   offsets of every consumer group committed) is appended to a journal topic:
   from here on it is durable;
2. the records are appended to their topics;
3. the offsets are committed (a join commits one group per input).

On open, `recover()` rolls the journal's last transaction forward: records not
yet in their partition (its end offset is still the planned base) are appended,
and offsets not yet committed are committed. Only the last transaction can be
incomplete, because transactions run one at a time and writers are serialized
by the caller (the server holds its engine lock around every write), which is
also what makes the planned base offsets exact.

A failed flush (disk full, I/O error) either fails before the journal holds the
transaction, and nothing of it was written (the log's appends are all or
nothing), or after, and the transaction is decided: it is rolled forward by
`finish()` before anything else is written through this log, so no other
append can take the offsets it planned.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from ksql.engine.log import Log, Record, TopicConfig

_log = logging.getLogger("ksql.server.txlog")

_REC = struct.Struct("<qiiH")  # timestamp, key length (-1 null), value length (-1 null), header count
_HDR = struct.Struct("<Hi")  # header name length, header value length (-1 null)

_DEFAULT_TOPIC = TopicConfig()

Row = tuple[bytes | None, bytes | None, int, Sequence[tuple[str, bytes | None]]]


def journal_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_transactions"


def _encode_rows(rows: list[Row]) -> bytes:
    parts: list[bytes] = []
    for key, value, ts, headers in rows:
        parts.append(_REC.pack(ts, -1 if key is None else len(key), -1 if value is None else len(value),
                               len(headers)))
        if key is not None:
            parts.append(key)
        if value is not None:
            parts.append(value)
        for name, hv in headers:
            nb = name.encode("utf-8")
            parts.append(_HDR.pack(len(nb), -1 if hv is None else len(hv)))
            parts.append(nb)
            if hv is not None:
                parts.append(hv)
    return b"".join(parts)


def _decode_rows(data: memoryview, pos: int, count: int) -> tuple[list[Record], int]:
    out: list[Record] = []
    for _ in range(count):
        ts, kl, vl, nh = _REC.unpack_from(data, pos)
        pos += _REC.size
        key = None if kl < 0 else bytes(data[pos:pos + kl])
        pos += max(kl, 0)
        value = None if vl < 0 else bytes(data[pos:pos + vl])
        pos += max(vl, 0)
        headers = []
        for _ in range(nh):
            nl, hl = _HDR.unpack_from(data, pos)
            pos += _HDR.size
            name = bytes(data[pos:pos + nl]).decode("utf-8")
            pos += nl
            headers.append((name, None if hl < 0 else bytes(data[pos:pos + hl])))
            pos += max(hl, 0)
        out.append(Record(key, value, ts, headers))
    return out, pos


def _rows_of(records: Any) -> list[Row]:
    """(key, value, timestamp, headers) of a list of Records or of a columnar batch."""
    if isinstance(records, list):
        return [(r.key, r.value, r.timestamp, r.headers or ()) for r in records]
    return list(zip(records.keys, records.values, records.timestamps, records.headers, strict=True))


class _Txn:
    """What one thread holds back: appends (topic, partition, kind, records) and commits per group."""

    __slots__ = ("appends", "commits")

    def __init__(self) -> None:
        self.appends: list[tuple[str, int, str, Any]] = []
        self.commits: dict[str, dict[tuple[str, int], int]] = {}

    def clear(self) -> None:
        self.appends.clear()
        self.commits.clear()


class TransactionalLog(Log):
    """A Log whose appends and commits inside `transactions()` become atomic, one flush() at a time."""

    def __init__(self, inner: Log, journal: str):
        self.inner = inner
        self.journal = journal
        self._local = threading.local()
        self._unfinished = False  # the journal's last transaction is decided but not fully written
        if not inner.topic_exists(journal):
            # only the last transaction matters: keep just the active segment
            inner.create_topic(journal, TopicConfig(partitions=1, retention_bytes=1))
        self.recover()

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transactions(self) -> Iterator[None]:
        """Hold this thread's appends and commits until flush() (and at the end of the block).

        After an exception what is held is dropped: its input was not committed and will be
        processed again."""
        self._local.txn = _Txn()
        try:
            yield
        except BaseException:
            self._local.txn = None
            raise
        try:
            self.flush()
        finally:
            self._local.txn = None

    def rollback(self) -> None:
        """Drop what this thread holds: its input was not committed and will be processed again."""
        txn = self._txn()
        if txn is not None:
            txn.clear()

    def _txn(self) -> _Txn | None:
        return getattr(self._local, "txn", None)

    def finish(self) -> None:
        """Roll forward the transaction a failed flush left decided but not fully written (if any)."""
        if self._unfinished:
            self.recover()
            self._unfinished = False

    def flush(self) -> None:
        """Make what this thread holds durable as one transaction: journal, appends, then commits."""
        txn = self._txn()
        if txn is None or not (txn.appends or txn.commits):
            return
        self.finish()
        if not txn.appends and len(txn.commits) == 1:  # one group's commit is atomic by itself
            self._commit_all(txn)
            return
        header: list[list] = []
        blobs: list[bytes] = []
        planned: dict[tuple[str, int], int] = {}
        for topic, partition, _, records in txn.appends:
            base = planned.get((topic, partition))
            if base is None:
                base = self.inner.end_offset(topic, partition)
            rows = _rows_of(records)
            header.append([topic, partition, base, len(rows)])
            blobs.append(_encode_rows(rows))
            planned[(topic, partition)] = base + len(rows)
        commits = [[group, [[t, p, o] for (t, p), o in offsets.items()]] for group, offsets in txn.commits.items()]
        doc = orjson.dumps({"commits": commits, "appends": header})
        value = struct.pack("<I", len(doc)) + doc + b"".join(blobs)
        self.inner.append(self.journal, 0, [Record(None, value, int(time.time() * 1000), [])])
        try:
            for topic, partition, kind, records in txn.appends:
                self._write(topic, partition, kind, records)
            self._commit_all(txn)
        except BaseException:
            self._unfinished = True
            raise

    def _commit_all(self, txn: _Txn) -> None:
        for group, offsets in txn.commits.items():
            self.inner.commit(group, offsets)
        txn.clear()

    def _write(self, topic: str, partition: int, kind: str, records: Any) -> Sequence[int]:
        if kind == "batch":
            return self.inner.append_batch(topic, partition, records)
        return self.inner.append(topic, partition, records)

    def _hold(self, topic: str, partition: int, kind: str, records: Any, txn: _Txn) -> list[int]:
        n = len(records)
        if not n:
            return []
        base = self.inner.end_offset(topic, partition) + sum(
            len(r) for t, p, _, r in txn.appends if t == topic and p == partition)
        txn.appends.append((topic, partition, kind, records))
        return list(range(base, base + n))

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        txn = self._txn()
        if txn is None:
            self.finish()
            self.inner.commit(group, offsets)
        else:
            txn.commits.setdefault(group, {}).update(offsets)

    def recover(self) -> None:
        """Finish the journal's last transaction if a crash interrupted it (idempotent)."""
        end = self.inner.end_offset(self.journal, 0)
        if end <= self.inner.start_offset(self.journal, 0):
            return
        [record] = self.inner.read(self.journal, 0, end - 1, 1)
        data = memoryview(record.value or b"")
        (size,) = struct.unpack_from("<I", data, 0)
        doc = orjson.loads(bytes(data[4:4 + size]))
        pos = 4 + size
        for topic, partition, base, count in doc["appends"]:
            records, pos = _decode_rows(data, pos, count)
            if not self.inner.topic_exists(topic):
                continue
            now = self.inner.end_offset(topic, partition)
            if now == base:
                self.inner.append(topic, partition, records)
                _log.info("recovered %d records of an interrupted transaction into %s/%d", count, topic,
                          partition)
            elif now < base:
                _log.warning("transaction journal: %s/%d ends at %d, before the planned %d: skipped", topic,
                             partition, now, base)
        for group, offsets in doc["commits"]:
            todo = {(t, p): o for t, p, o in offsets
                    if self.inner.topic_exists(t) and (self.inner.committed(group, t, p) or -1) < o}
            if todo:
                self.inner.commit(group, todo)

    # -- the Log interface ------------------------------------------------------------------------

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        txn = self._txn()
        if txn is None:
            self.finish()
            return self.inner.append(topic, partition, records)
        return self._hold(topic, partition, "records", list(records), txn)

    def append_batch(self, topic: str, partition: int, batch: Any) -> Sequence[int]:
        txn = self._txn()
        if txn is None:
            self.finish()
            return self.inner.append_batch(topic, partition, batch)
        return self._hold(topic, partition, "batch", batch, txn)

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        return self.inner.read(topic, partition, offset, max_records)

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> Any:
        return self.inner.read_batch(topic, partition, offset, max_records)

    def create_topic(self, name: str, config: TopicConfig = _DEFAULT_TOPIC) -> None:
        self.inner.create_topic(name, config)

    def delete_topic(self, name: str) -> None:
        self.inner.delete_topic(name)

    def topic_exists(self, name: str) -> bool:
        return self.inner.topic_exists(name)

    def topic_config(self, name: str) -> TopicConfig:
        return self.inner.topic_config(name)

    def list_topics(self) -> list[str]:
        return self.inner.list_topics()

    def start_offset(self, topic: str, partition: int) -> int:
        return self.inner.start_offset(topic, partition)

    def end_offset(self, topic: str, partition: int) -> int:
        return self.inner.end_offset(topic, partition)

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        txn = self._txn()
        if txn is not None and (topic, partition) in txn.commits.get(group, {}):
            return txn.commits[group][(topic, partition)]  # this thread's own, not yet flushed
        return self.inner.committed(group, topic, partition)

    def partitions(self, topic: str) -> int:
        return self.inner.partitions(topic)

    def enforce_retention(self, now_ms: int | None = None) -> None:
        self.inner.enforce_retention(now_ms)

    def close(self) -> None:
        self.inner.close()
