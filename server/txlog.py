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
also what makes the planned base offsets exact. The journal is an ordinary topic
that others could write to: a last record that does not decode as a transaction,
completely, is reported and left alone rather than half applied.

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

from ksql.engine.log import EncodedBatch, Log, Record, TopicConfig
from ksql.engine.log.wrapping import WrappingLog

_log = logging.getLogger("ksql.server.txlog")

_REC = struct.Struct("<qiiH")  # timestamp, key length (-1 null), value length (-1 null), header count
_HDR = struct.Struct("<Hi")  # header name length, header value length (-1 null)


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


class JournalFormatError(ValueError):
    """A journal record that is not a whole transaction as flush() writes it."""


def _take(data: memoryview, pos: int, length: int) -> tuple[bytes | None, int]:
    """`length` bytes at `pos` (None for -1), and the position after them."""
    if length < 0:
        return None, pos
    if pos + length > len(data):
        raise JournalFormatError(f"a field of {length} bytes runs past the end of the record")
    return bytes(data[pos:pos + length]), pos + length


def _decode_rows(data: memoryview, pos: int, count: int) -> tuple[list[Record], int]:
    """`count` rows encoded by _encode_rows from data[pos:]; ValueError / struct.error if they are not."""
    out: list[Record] = []
    try:
        for _ in range(count):
            ts, kl, vl, nh = _REC.unpack_from(data, pos)
            key, pos = _take(data, pos + _REC.size, kl)
            value, pos = _take(data, pos, vl)
            headers = []
            for _ in range(nh):
                nl, hl = _HDR.unpack_from(data, pos)
                name, pos = _take(data, pos + _HDR.size, nl)
                header_value, pos = _take(data, pos, hl)
                headers.append((name.decode("utf-8"), header_value))
            out.append(Record(key, value, ts, headers))
    except (struct.error, UnicodeDecodeError) as err:
        raise JournalFormatError(str(err)) from None
    return out, pos


def _decode_transaction(value: bytes | None) -> tuple[list[tuple[str, int, int, list[Record]]], list]:
    """(appends as (topic, partition, base offset, records), commits as [group, [[topic, partition,
    offset]...]]) of a journal record, all checked before anything is applied."""
    data = memoryview(value or b"")
    try:
        (size,) = struct.unpack_from("<I", data, 0)
        doc = orjson.loads(bytes(data[4:4 + size]))
    except (struct.error, orjson.JSONDecodeError) as err:
        raise JournalFormatError(str(err)) from None
    if type(doc) is not dict or type(doc.get("appends")) is not list or type(doc.get("commits")) is not list:
        raise JournalFormatError("not an object of appends and commits")
    pos = 4 + size
    appends = []
    for entry in doc["appends"]:
        if not (type(entry) is list and len(entry) == 4 and type(entry[0]) is str
                and all(type(n) is int and n >= 0 for n in entry[1:])):
            raise JournalFormatError(f"an append that is not [topic, partition, base, count]: {entry!r:.80}")
        records, pos = _decode_rows(data, pos, entry[3])
        appends.append((entry[0], entry[1], entry[2], records))
    if pos != len(data):
        raise JournalFormatError(f"{len(data) - pos} bytes after the last record")
    for entry in doc["commits"]:
        if not (type(entry) is list and len(entry) == 2 and type(entry[0]) is str and type(entry[1]) is list
                and all(type(c) is list and len(c) == 3 and type(c[0]) is str and type(c[1]) is int
                        and type(c[2]) is int for c in entry[1])):
            raise JournalFormatError(f"a commit that is not [group, [[topic, partition, offset]...]]: "
                                     f"{entry!r:.80}")
    return appends, doc["commits"]


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


class TransactionalLog(WrappingLog):
    """A Log whose appends and commits inside `transactions()` become atomic, one flush() at a time."""

    def __init__(self, inner: Log, journal: str):
        self.inner = inner
        self.journal = journal
        self._local = threading.local()
        self._unfinished = False  # the journal's last transaction is decided but not fully written
        # partitions a flush is writing to -> the end readers see until the whole transaction is written
        self._hidden: dict[tuple[str, int], int] = {}
        self._hidden_lock = threading.Lock()
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
            if isinstance(records, EncodedBatch):  # encoded by a worker process in the same format
                count, blob = len(records), records.payload
            else:
                rows = _rows_of(records)
                count, blob = len(rows), _encode_rows(rows)
            header.append([topic, partition, base, count])
            blobs.append(blob)
            planned[(topic, partition)] = base + count
        commits = [[group, [[t, p, o] for (t, p), o in offsets.items()]] for group, offsets in txn.commits.items()]
        doc = orjson.dumps({"commits": commits, "appends": header})
        value = struct.pack("<I", len(doc)) + doc + b"".join(blobs)
        self.inner.append(self.journal, 0, [Record(None, value, int(time.time() * 1000), [])])
        with self._hidden_lock:
            for topic, partition, base, _ in header:
                self._hidden.setdefault((topic, partition), base)
        try:
            for topic, partition, kind, records in txn.appends:
                self._write(topic, partition, kind, records)
            self._commit_all(txn)
        except BaseException:
            self._unfinished = True
            raise
        finally:
            with self._hidden_lock:  # every partition of the transaction becomes visible at once
                for topic, partition, _, _ in header:
                    self._hidden.pop((topic, partition), None)

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
        """Finish the journal's last transaction if a crash interrupted it (idempotent).

        An entry that cannot be decoded is reported and skipped: it was never acted on (appends
        and commits follow a durable journal entry), so nothing is lost but that roll-forward.
        Offsets are committed no further than the end of their partition: a torn tail of the
        input, cut when the log opened, would otherwise make its group skip new records."""
        end = self.inner.end_offset(self.journal, 0)
        if end <= self.inner.start_offset(self.journal, 0):
            return
        [record] = self.inner.read(self.journal, 0, end - 1, 1)
        try:
            appends, commits = _decode_transaction(record.value)
        except JournalFormatError as err:
            _log.error("transaction journal %s: the record at offset %d is not a transaction this server "
                       "wrote (%s): not recovered", self.journal, record.offset, err)
            return
        for topic, partition, base, records in appends:
            if not self._has_partition(topic, partition):
                continue
            now = self.inner.end_offset(topic, partition)
            if now == base:
                self.inner.append(topic, partition, records)
                _log.info("recovered %d records of an interrupted transaction into %s/%d", len(records), topic,
                          partition)
            elif now < base:
                _log.warning("transaction journal: %s/%d ends at %d, before the planned %d: skipped", topic,
                             partition, now, base)
        for group, offsets in commits:
            todo = {}
            for t, p, o in offsets:
                if self._has_partition(t, p):
                    o = min(o, self.inner.end_offset(t, p))  # never past a partition's end (a lost tail)
                    if (self.inner.committed(group, t, p) or -1) < o:
                        todo[(t, p)] = o
            if todo:
                self.inner.commit(group, todo)

    def _has_partition(self, topic: str, partition: int) -> bool:
        return self.inner.topic_exists(topic) and 0 <= partition < self.inner.topic_config(topic).partitions

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

    def append_kafka_batch(self, topic: str, partition: int, raw: bytes | memoryview, count: int,
                           max_timestamp: int) -> Sequence[int]:
        if self._txn() is not None:  # held with the transaction's other appends, as records
            return super().append_kafka_batch(topic, partition, raw, count, max_timestamp)
        self.finish()
        return self.inner.append_kafka_batch(topic, partition, raw, count, max_timestamp)

    def read_raw(self, topic: str, partition: int, offset: int, max_bytes: int) -> list:
        return self.inner.read_raw(topic, partition, offset, max_bytes)

    # ---- the Kafka listener's extras of the embedded log (consumer groups, Kafka transactions)

    @property
    def txn_index(self) -> Any:
        return self.inner.txn_index

    def groups(self) -> list[str]:
        return self.inner.groups()

    def group_offsets(self, group: str) -> dict[tuple[str, int], int]:
        return self.inner.group_offsets(group)

    def delete_group(self, group: str) -> bool:
        return self.inner.delete_group(group)

    def visible_end_offsets(self, topic: str) -> list[int]:
        """The partitions' ends, short of the records of a transaction being written right now."""
        partitions = self.inner.partitions(topic)
        with self._hidden_lock:
            hidden = [self._hidden.get((topic, p)) for p in range(partitions)]
            return [self.inner.end_offset(topic, p) if end is None else end for p, end in enumerate(hidden)]
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        txn = self._txn()
        if txn is not None and (topic, partition) in txn.commits.get(group, {}):
            return txn.commits[group][(topic, partition)]  # this thread's own, not yet flushed
        return self.inner.committed(group, topic, partition)

    def enforce_retention(self, now_ms: int | None = None) -> None:
        self.inner.enforce_retention(now_ms)

    def close(self) -> None:
        self.inner.close()
