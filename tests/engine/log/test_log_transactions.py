"""Kafka transactions in the embedded log: committed readers see committed records only."""

from __future__ import annotations

import json
import struct

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

from ksql.engine.log import EmbeddedLog, Record, RecordBatch, TopicConfig


def txn_batch(producer_id: int, *values: str) -> bytes:
    """A batch of records of producer_id's transaction, as a Kafka producer sends it."""
    builder = DefaultRecordBatchBuilder(2, 0, True, producer_id, 0, 0, 1 << 20)
    for i, v in enumerate(values):
        builder.append(i, timestamp=1, key=None, value=v.encode(), headers=[])
    return bytes(builder.build())


def marker(producer_id: int, commit: bool) -> bytes:
    """The commit or abort marker of producer_id's transaction (a control batch)."""
    builder = DefaultRecordBatchBuilder(2, 0, True, producer_id, 0, -1, 1 << 20)
    builder.append(0, timestamp=1, key=struct.pack(">hh", 0, 1 if commit else 0), value=struct.pack(">hi", 0, 0),
                   headers=[])
    raw = bytearray(builder.build())
    struct.pack_into(">h", raw, 21, struct.unpack_from(">h", raw, 21)[0] | 0x20)  # the CONTROL attribute
    struct.pack_into(">I", raw, 17, calc_crc32c(bytes(raw[21:])))
    return bytes(raw)


def add(log: EmbeddedLog, topic: str, partition: int, raw: bytes, count: int = 1) -> range:
    return log.append_kafka_batch(topic, partition, raw, count, 1)


def values(records) -> list[str]:
    if isinstance(records, RecordBatch):
        return [v.decode() for v in records.values]
    return [r.value.decode() for r in records]


def everything(log: EmbeddedLog, topic: str, partition: int) -> int:
    """How many records the partition holds, markers and aborted ones included (a Kafka read)."""
    return sum(len(b) if isinstance(b, RecordBatch) else struct.unpack_from(">i", b, 57)[0]
               for _, b in log.read_raw(topic, partition, 0, 1 << 20))


def open_log(path) -> EmbeddedLog:
    return EmbeddedLog(str(path), fsync="never")


def test_open_transaction_holds_readers_at_the_last_stable_offset(tmp_path):
    with open_log(tmp_path / "log") as log:
        log.create_topic("t")
        log.append("t", 0, [Record(None, b"before", 1)])
        assert add(log, "t", 0, txn_batch(7, "t1", "t2"), 2) == range(1, 3)
        log.append("t", 0, [Record(None, b"after", 1)])
        assert values(log.read("t", 0, 0)) == ["before"]
        assert values(log.read_batch("t", 0, 0)) == ["before"]
        assert log.txn_index.stable_end("t", 0, log.end_offset("t", 0)) == 1
        assert add(log, "t", 0, marker(7, commit=True)) == range(4, 5)
        assert values(log.read("t", 0, 0)) == ["before", "t1", "t2", "after"]
        got = log.read_batch("t", 0, 0)
        assert values(got) == ["before", "t1", "t2", "after"] and list(got.offsets) == [0, 1, 2, 3]
        assert [m.commit for m in log.txn_index.markers("t", 0, 0, 10)] == [True]
        assert log.txn_index.aborted("t", 0, 0, 10) == []
        assert everything(log, "t", 0) == 5


def test_aborted_records_and_markers_are_skipped(tmp_path):
    with open_log(tmp_path / "log") as log:
        log.create_topic("t", TopicConfig(partitions=2))
        add(log, "t", 1, txn_batch(3, "a1"))
        log.append("t", 1, [Record(None, b"plain", 1)])
        add(log, "t", 1, txn_batch(3, "a2", "a3"), 2)
        add(log, "t", 1, marker(3, commit=False))
        add(log, "t", 1, txn_batch(3, "c1"))
        add(log, "t", 1, marker(3, commit=True))
        got = log.read_batch("t", 1, 0)
        assert values(got) == ["plain", "c1"] and list(got.offsets) == [1, 5]
        assert values(log.read("t", 1, 2)) == ["c1"]  # reads on past the hidden records
        assert values(log.read("t", 1, 0, max_records=1)) == ["plain"]
        [aborted] = log.txn_index.aborted("t", 1, 0, 10)
        assert (aborted.producer_id, aborted.first_offset, aborted.last_offset) == (3, 0, 4)
        assert log.txn_index.aborted_ranges("t", 1, 0, 10) == [(3, 0, 1), (3, 2, 4)]
        assert log.read("t", 0, 0) == []  # another partition is not affected


def test_transactions_survive_reopen_and_unwritten_intents_are_dropped(tmp_path):
    root = tmp_path / "log"
    with open_log(root) as log:
        log.create_topic("t")
        add(log, "t", 0, txn_batch(1, "x"))
        add(log, "t", 0, marker(1, commit=False))
        add(log, "t", 0, txn_batch(2, "open"))
        log.append("t", 0, [Record(None, b"late", 1)])
        log.txn_index.set_coordinator_state("tx-a", {"pid": 2, "state": "Ongoing"})
        end = log.end_offset("t", 0)
    # a write-ahead entry whose append never happened (a crash in between)
    with open(root / "transactions.jsonl", "a") as f:
        f.write(json.dumps({"e": "data", "t": "t", "p": 0, "pid": 9, "base": end, "n": 5}) + "\n")
        f.write('{"e": "data", "t"')  # torn last line
    with open_log(root) as log:
        assert everything(log, "t", 0) == 4  # x, its marker, open, late
        assert log.txn_index.open_transactions("t", 0) == {2: 2}
        assert log.txn_index.coordinator_state == {"tx-a": {"pid": 2, "state": "Ongoing"}}
        assert log.read("t", 0, 0) == []  # held at the open transaction; "x" was aborted
        add(log, "t", 0, marker(2, commit=False))
        assert values(log.read("t", 0, 0)) == ["late"]
    with open_log(root) as log:
        assert values(log.read("t", 0, 0)) == ["late"]
        assert [a.producer_id for a in log.txn_index.aborted("t", 0, 0, 10)] == [1, 2]


def test_deleted_topic_forgets_its_transactions(tmp_path):
    root = tmp_path / "log"
    with open_log(root) as log:
        log.create_topic("t")
        add(log, "t", 0, txn_batch(1, "x"))
        log.delete_topic("t")
        log.create_topic("t")
        log.append("t", 0, [Record(None, b"new", 1)])
        assert values(log.read("t", 0, 0)) == ["new"]
    with open_log(root) as log:
        assert values(log.read("t", 0, 0)) == ["new"]
