"""v2 record batches: what kafka-python's own builder writes decodes to the same records, and what the
broker encodes reads back with kafka-python's reader (an independent implementation)."""

from __future__ import annotations

import struct

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

from ksql.engine.log.kafka_batch import batch_records
from server.kafka.records import CorruptBatchError, UnsupportedFormatError, encode_batch, split_batches

RECORDS = [
    (b"k1", b"v1", 1_700_000_000_000, []),
    (None, b"x" * 300, 1_700_000_000_005, [("trace", b"abc"), ("empty", None)]),  # 2-byte varint lengths
    (b"", None, 1_699_999_999_000, []),  # a timestamp before the first: negative delta
    (b"k" * 20_000, b"", 1_700_000_100_000, [("h", b"")]),
]


def _build(codec: int, producer=(-1, -1, -1)) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=producer[0], producer_epoch=producer[1],
                                        base_sequence=producer[2], batch_size=1 << 20)
    for i, (key, value, ts, headers) in enumerate(RECORDS):
        builder.append(i, timestamp=ts, key=key, value=value, headers=headers)
    return bytes(builder.build())


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4], ids=["none", "gzip", "snappy", "lz4", "zstd"])
def test_produced_batches_decode(codec: int) -> None:
    data = _build(codec, producer=(42, 3, 17))
    [batch] = split_batches(data + b"")
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.count) == (42, 3, 17, 4)
    assert batch.last_sequence == 20
    columns = batch_records(batch.raw)
    assert list(zip(columns.keys, columns.values, columns.timestamps, strict=True)) == [r[:3] for r in RECORDS]
    assert [list(h) for h in columns.headers] == [r[3] for r in RECORDS]


def test_several_batches_in_one_request() -> None:
    batches = split_batches(_build(0) + _build(4))
    assert [b.count for b in batches] == [4, 4]


def test_damaged_batches_are_refused() -> None:
    data = bytearray(_build(0))
    data[-1] ^= 0xFF
    with pytest.raises(CorruptBatchError, match="CRC32C"):
        split_batches(bytes(data))
    with pytest.raises(CorruptBatchError, match="does not fit"):
        split_batches(_build(0)[:-5])
    with pytest.raises(CorruptBatchError, match="do not fill"):  # framing checked past a valid CRC
        split_batches(_recrc(_build(0)[:-3]))
    old = bytearray(_build(0))
    old[16] = 1  # magic byte
    with pytest.raises(UnsupportedFormatError, match="v1"):
        split_batches(bytes(old))


def _recrc(data: bytes) -> bytes:
    """A batch cut short with its length and CRC made to match: only the records' framing is wrong."""
    fixed = bytearray(data)
    struct.pack_into(">i", fixed, 8, len(fixed) - 12)
    struct.pack_into(">I", fixed, 17, calc_crc32c(bytes(fixed[21:])))
    return bytes(fixed)


def test_encoded_batches_read_back_with_kafka_python() -> None:
    offsets = [10, 11, 13, 14]  # a gap, as after damaged bytes
    keys, values, timestamps, headers = zip(*RECORDS, strict=True)
    raw = encode_batch(10, offsets, keys, values, timestamps, headers)
    batch = DefaultRecordBatch(raw)
    assert batch.validate_crc()
    records = list(batch)
    assert [r.offset for r in records] == offsets
    assert [(r.key, r.value, r.timestamp) for r in records] == [r[:3] for r in RECORDS]
    assert [list(r.headers) for r in records] == [r[3] for r in RECORDS]
