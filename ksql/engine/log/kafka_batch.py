"""Kafka record batches (magic v2) as the embedded log stores them for Kafka producers.

The embedded log keeps a batch a Kafka producer sent as it was sent (base offset set),
so a Kafka fetch serves it without touching its records; the engine, which reads
records, gets them decoded here. A batch is a 61-byte header (base offset, length,
leader epoch, magic, CRC32C, attributes, last offset delta, first and max timestamps,
producer id / epoch / base sequence, record count) and then its records, compressed as a
whole when the attributes say so; each record is varint-framed: length, attributes,
timestamp delta, offset delta, key, value, headers.

Decompression (gzip, xerial or raw snappy, lz4 frames, zstd) is kafka-python's
(kafka.codec); the record loop is written out here because it is a hot path.
"""

from __future__ import annotations

import struct

from kafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode

from .base import NO_HEADERS, RecordBatch

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
COMPRESSION_MASK = 0x07
CONTROL = 0x20
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_DECOMPRESS = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}
_ATTRIBUTES = struct.Struct(">h")
_ATTRIBUTES_AT = 21
_FIRST_TIMESTAMP = struct.Struct(">q")
_FIRST_TIMESTAMP_AT = 27
_COUNT = struct.Struct(">i")
_COUNT_AT = 57


TRANSACTIONAL = 0x10
_PRODUCER = struct.Struct(">qh")  # producer id, producer epoch
_PRODUCER_AT = 43
_CONTROL_KEY = struct.Struct(">hh")  # version, type (0 abort, 1 commit)
_COMMIT = 1


class KafkaBatchError(ValueError):
    """A batch whose records cannot be read (bad compression or framing)."""


def is_control(buf: bytes | memoryview, start: int = 0) -> bool:
    """Whether the batch at buf[start:] holds control records (transaction markers), which are
    offsets of the partition but never records for its readers."""
    return bool(_ATTRIBUTES.unpack_from(buf, start + _ATTRIBUTES_AT)[0] & CONTROL)


def records_body(raw: bytes | memoryview) -> bytes:
    """The batch's records, decompressed."""
    codec = _ATTRIBUTES.unpack_from(raw, _ATTRIBUTES_AT)[0] & COMPRESSION_MASK
    body = raw[HEADER_SIZE:]
    if not codec:
        return bytes(body)
    decompress = _DECOMPRESS.get(codec)
    if decompress is None:
        raise KafkaBatchError(f"unknown compression codec {codec}")
    try:
        return decompress(bytes(body))
    except Exception as err:  # noqa: BLE001 - each codec raises its own errors for bad input
        raise KafkaBatchError(f"{COMPRESSION_NAMES[codec]} data does not decompress: {err}") from None


def check_records(raw: bytes | memoryview) -> None:
    """Check that the batch's records are framed as its header says (KafkaBatchError if not): walks the
    records' length prefixes only, so a stored batch can later be decoded."""
    body = records_body(raw)
    count = _COUNT.unpack_from(raw, _COUNT_AT)[0]
    pos = 0
    end = len(body)
    try:
        for _ in range(count):
            b = body[pos]
            if b < 0x80:
                pos += 1 + ((b >> 1) ^ -(b & 1))
            elif body[pos + 1] < 0x80:  # two bytes: records of 64..8191 bytes
                z = (b & 0x7F) | (body[pos + 1] << 7)
                pos += 2 + ((z >> 1) ^ -(z & 1))
            else:
                length, pos = _varint(body, pos)
                pos += length
    except IndexError:
        pos = end + 1
    if pos != end:
        raise KafkaBatchError(f"the {count} records of the batch do not fill its {end} bytes")


def batch_records(raw: bytes | memoryview) -> RecordBatch:
    """The batch's records as log columns (keys, values, timestamps, headers)."""
    count = _COUNT.unpack_from(raw, _COUNT_AT)[0]
    first_ts = _FIRST_TIMESTAMP.unpack_from(raw, _FIRST_TIMESTAMP_AT)[0]
    try:
        return decode_records(records_body(raw), count, first_ts)
    except (IndexError, ValueError, UnicodeDecodeError) as err:
        raise KafkaBatchError(f"records do not decode: {err}") from None


def decode_records(body: bytes, count: int, base_ts: int) -> RecordBatch:
    """`count` uncompressed v2 records -> columns."""
    keys: list = []
    values: list = []
    timestamps: list = []
    headers: list = []
    kap, vap, tap, hap = keys.append, values.append, timestamps.append, headers.append
    pos = 0
    for _ in range(count):
        # length (each field below is read in turn), attributes (unused in v2)
        b = body[pos]
        pos += 1
        while b & 0x80:
            b = body[pos]
            pos += 1
        pos += 1
        # timestamp delta
        b = body[pos]
        if b < 0x80:
            pos += 1
            tap(base_ts + ((b >> 1) ^ -(b & 1)))
        else:
            delta, pos = _varint(body, pos)
            tap(base_ts + delta)
        # offset delta (the record's position is its index)
        b = body[pos]
        pos += 1
        while b & 0x80:
            b = body[pos]
            pos += 1
        # key
        b = body[pos]
        if b < 0x80:
            pos += 1
            n = (b >> 1) ^ -(b & 1)
        else:
            n, pos = _varint(body, pos)
        if n < 0:
            kap(None)
        else:
            kap(body[pos:pos + n])
            pos += n
        # value
        b = body[pos]
        if b < 0x80:
            pos += 1
            n = (b >> 1) ^ -(b & 1)
        elif body[pos + 1] < 0x80:  # two bytes: values of 64..8191 bytes
            z = (b & 0x7F) | (body[pos + 1] << 7)
            pos += 2
            n = (z >> 1) ^ -(z & 1)
        else:
            n, pos = _varint(body, pos)
        if n < 0:
            vap(None)
        else:
            vap(body[pos:pos + n])
            pos += n
        # headers
        if body[pos] == 0:
            pos += 1
            hap(NO_HEADERS)
        else:
            n, pos = _varint(body, pos)
            record_headers = []
            for _ in range(n):
                size, pos = _varint(body, pos)
                name = body[pos:pos + size].decode("utf-8")
                pos += size
                size, pos = _varint(body, pos)
                if size < 0:
                    record_headers.append((name, None))
                else:
                    record_headers.append((name, body[pos:pos + size]))
                    pos += size
            hap(record_headers)
    if pos != len(body):
        raise ValueError(f"{len(body) - pos} bytes after record {count}")
    return RecordBatch(keys, values, timestamps, headers)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint at buf[pos] -> (value, position after it)."""
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


def transaction_of(raw: bytes | memoryview) -> tuple[int, int, bool | None] | None:
    """(producer id, epoch, None) for a batch of records of a Kafka transaction, (producer id, epoch,
    whether it commits) for a transaction's marker (a control batch), None for any other batch."""
    attributes = _ATTRIBUTES.unpack_from(raw, _ATTRIBUTES_AT)[0]
    if not attributes & TRANSACTIONAL:
        return None
    producer_id, epoch = _PRODUCER.unpack_from(raw, _PRODUCER_AT)
    if not attributes & CONTROL:
        return producer_id, epoch, None
    keys = batch_records(raw).keys
    if not keys or keys[0] is None or len(keys[0]) < _CONTROL_KEY.size:
        raise KafkaBatchError("a control batch without a control record")
    return producer_id, epoch, _CONTROL_KEY.unpack_from(keys[0])[1] == _COMMIT
