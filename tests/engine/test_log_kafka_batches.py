"""EmbeddedLog keeps Kafka producers' record batches as they came: Kafka reads (read_raw) get them back
byte for byte (base offset set), the engine's reads get their records, across a reopen too."""

from __future__ import annotations

import os
from pathlib import Path

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

from ksql.engine.log import EmbeddedLog, Record, RecordBatch


def kafka_batch(values: list[bytes], codec: int = 0, first_ts: int = 1_000) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, 1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=first_ts + i, key=b"k%d" % i, value=value,
                       headers=[("h", b"1")] if i == 0 else [])
    return bytes(builder.build())


def append(log: EmbeddedLog, values: list[bytes], codec: int = 0) -> range:
    return log.append_kafka_batch("t", 0, kafka_batch(values, codec), len(values), 1_000 + len(values) - 1)


def test_engine_reads_records_kafka_reads_batches(tmp_path: Path) -> None:
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        log.create_topic("t")
        log.append("t", 0, [Record(None, b"native", 5)])
        assert append(log, [b"a", b"b", b"c"]) == range(1, 4)
        assert append(log, [b"d", b"e"], codec=4) == range(4, 6)  # zstd
        log.append("t", 0, [Record(b"x", b"native2", 6)])

        records = log.read("t", 0, 0)
        assert [(r.offset, r.value) for r in records] == [
            (0, b"native"), (1, b"a"), (2, b"b"), (3, b"c"), (4, b"d"), (5, b"e"), (6, b"native2")]
        assert records[1].key == b"k0" and records[1].headers == [("h", b"1")] and records[2].timestamp == 1_001
        # a read that stops inside a Kafka batch resumes at the next record
        first = log.read_batch("t", 0, 1, max_records=2)
        rest = log.read_batch("t", 0, 3, max_records=10)
        assert list(first.values) + list(rest.values) == [b"a", b"b", b"c", b"d", b"e", b"native2"]
        assert list(rest.offsets) == [3, 4, 5, 6]

        raw = log.read_raw("t", 0, 2, max_bytes=1 << 20)
        assert [base for base, _ in raw] == [1, 4, 6]
        stored = DefaultRecordBatch(raw[0][1])
        assert stored.validate_crc() and [r.offset for r in stored] == [1, 2, 3]
        assert raw[0][1][8:] == kafka_batch([b"a", b"b", b"c"])[8:]  # the producer's bytes
        assert isinstance(raw[2][1], RecordBatch) and list(raw[2][1].values) == [b"native2"]
        assert len(log.read_raw("t", 0, 1, max_bytes=1)) == 1  # at least one batch


def test_kafka_batches_survive_a_reopen_and_a_torn_tail(tmp_path: Path) -> None:
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        log.create_topic("t")
        append(log, [b"a", b"b"])
        append(log, [b"c"], codec=3)  # lz4
    segment = tmp_path / "topics" / "t" / "0" / f"{0:020d}.log"
    with open(segment, "ab") as f:  # a crash in the middle of the next batch's write
        f.write(kafka_batch([b"lost"])[:-10])
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        assert log.end_offset("t", 0) == 3
        assert [r.value for r in log.read("t", 0, 0)] == [b"a", b"b", b"c"]
        assert append(log, [b"d"]) == range(3, 4)
        assert [base for base, _ in log.read_raw("t", 0, 0, 1 << 20)] == [0, 2, 3]
    assert os.path.getsize(segment) > 0


def test_transaction_markers_are_offsets_but_not_records(tmp_path: Path) -> None:
    builder = DefaultRecordBatchBuilder(2, 0, True, 7, 0, -1, 1 << 20)
    builder.append(0, timestamp=2_000, key=b"\x00\x00\x00\x01", value=b"\x00\x00\x00\x00\x00\x00", headers=[])
    marker = bytearray(builder.build())
    marker[22] |= 0x20  # the control flag (attributes, low byte)
    marker[17:21] = calc_crc32c(bytes(marker[21:])).to_bytes(4, "big")
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        log.create_topic("t")
        append(log, [b"a"])
        assert log.append_kafka_batch("t", 0, bytes(marker), 1, 2_000) == range(1, 2)
        append(log, [b"b"])
        batch = log.read_batch("t", 0, 0)
        assert (list(batch.values), list(batch.offsets)) == ([b"a", b"b"], [0, 2])
        assert [base for base, _ in log.read_raw("t", 0, 0, 1 << 20)] == [0, 1, 2]  # Kafka readers get it
