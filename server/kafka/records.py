"""Kafka record batches (magic v2): read the ones producers send, write the ones fetches return.

A batch is a 61-byte header (base offset, length, leader epoch, magic, CRC32C of
everything after the CRC, attributes, last offset delta, first and max timestamps,
producer id / epoch / base sequence, record count) followed by the records, compressed
as a whole when the attributes say so. Each record is varint-framed: length,
attributes, timestamp delta, offset delta, key, value, headers.

The CRC (kafka.record.util.calc_crc32c, over the C crc32c package) and the codecs
(kafka.codec: gzip, xerial-framed or raw snappy, lz4 frames, zstd) are kafka-python's;
the record loops are written out here because they are the broker's hot path.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from kafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from kafka.record.util import calc_crc32c

from ksql.engine.log import NO_HEADERS, RecordBatch

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
_CRC_START = 21  # the CRC covers the batch from the attributes on
_LENGTH_END = 12  # base offset and length: the batch length counts the bytes after them

COMPRESSION_MASK = 0x07
TRANSACTIONAL = 0x10
CONTROL = 0x20
_DECOMPRESS = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


class CorruptBatchError(ValueError):
    """Bytes that are not a well-formed v2 record batch (CORRUPT_MESSAGE to the producer)."""


class UnsupportedFormatError(ValueError):
    """A batch of an older message format (magic 0 or 1) than this broker stores."""


@dataclass(slots=True)
class ProducedBatch:
    """One batch as a producer sent it: its header fields and its bytes (CRC checked)."""

    raw: memoryview
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int

    @property
    def transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL)

    @property
    def control(self) -> bool:
        return bool(self.attributes & CONTROL)

    @property
    def last_sequence(self) -> int:
        return self.base_sequence + self.last_offset_delta

    def columns(self) -> RecordBatch:
        """The batch's records as log columns (decompressed when needed)."""
        codec = self.attributes & COMPRESSION_MASK
        body = self.raw[HEADER_SIZE:]
        if codec:
            decompress = _DECOMPRESS.get(codec)
            if decompress is None:
                raise CorruptBatchError(f"unknown compression codec {codec}")
            try:
                body = decompress(bytes(body))
            except Exception as err:  # noqa: BLE001 - each codec raises its own errors for bad input
                raise CorruptBatchError(f"{COMPRESSION_NAMES[codec]} data does not decompress: {err}") from None
        else:
            body = bytes(body)
        try:
            return decode_records(body, self.count, self.base_timestamp)
        except (IndexError, ValueError, UnicodeDecodeError) as err:
            raise CorruptBatchError(f"records do not decode: {err}") from None


def split_batches(data: bytes | memoryview) -> list[ProducedBatch]:
    """The batches of a Produce request's records field, each checked (framing, magic, CRC)."""
    view = memoryview(data)
    batches = []
    pos = 0
    end = len(view)
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise CorruptBatchError(f"{end - pos} bytes left over after the last batch")
        (_, length, _, magic, crc, attributes, last_delta, base_ts, max_ts, pid, epoch, base_seq,
         count) = HEADER.unpack_from(view, pos)
        if magic != 2:
            raise UnsupportedFormatError(f"message format v{magic} (this broker takes v2 record batches)")
        stop = pos + _LENGTH_END + length
        if length < HEADER_SIZE - _LENGTH_END or stop > end:
            raise CorruptBatchError(f"batch length {length} does not fit the {end - pos} bytes sent")
        if calc_crc32c(view[pos + _CRC_START:stop]) != crc:
            raise CorruptBatchError("CRC32C mismatch")
        if count < 0 or count != last_delta + 1:
            raise CorruptBatchError(f"{count} records but a last offset delta of {last_delta}")
        batches.append(ProducedBatch(view[pos:stop], attributes, last_delta, base_ts, max_ts, pid, epoch,
                                     base_seq, count))
        pos = stop
    return batches


def decode_records(body: bytes, count: int, base_ts: int) -> RecordBatch:
    """`count` uncompressed v2 records -> columns (keys, values, timestamps, headers)."""
    keys: list = []
    values: list = []
    timestamps: list = []
    headers: list = []
    kap, vap, tap, hap = keys.append, values.append, timestamps.append, headers.append
    pos = 0
    for _ in range(count):
        # length (skipped: each field below is read in turn), attributes (unused in v2)
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
        else:
            n, pos = _varint(body, pos)
        if n < 0:
            vap(None)
        else:
            vap(body[pos:pos + n])
            pos += n
        # headers
        b = body[pos]
        if b == 0:
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


def _zigzag(value: int) -> bytes:
    """The zigzag varint of `value`."""
    n = (value << 1) ^ (value >> 63)
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes([n]) for n in range(0x80)]
_NULL = _zigzag(-1)


def encode_batch(base_offset: int, offsets: Sequence[int], keys: Sequence[bytes | None],
                 values: Sequence[bytes | None], timestamps: Sequence[int],
                 headers: Sequence[Sequence[tuple[str, bytes | None]]], attributes: int = 0,
                 producer_id: int = -1, producer_epoch: int = -1) -> bytes:
    """One uncompressed v2 batch of records read from the log at `offsets` (no producer id, unless
    it is a transaction's: then its producer and the TRANSACTIONAL / CONTROL attributes)."""
    base_ts = min(timestamps)
    parts: list[bytes] = []
    ap = parts.append
    zz = _zigzag
    for offset, key, value, ts, hdrs in zip(offsets, keys, values, timestamps, headers, strict=True):
        body = [b"\x00", zz(ts - base_ts), zz(offset - base_offset)]
        if key is None:
            body.append(_NULL)
        else:
            body += (zz(len(key)), key)
        if value is None:
            body.append(_NULL)
        else:
            body += (zz(len(value)), value)
        body.append(zz(len(hdrs)))
        for name, hv in hdrs:
            nb = name.encode("utf-8")
            body += (zz(len(nb)), nb)
            if hv is None:
                body.append(_NULL)
            else:
                body += (zz(len(hv)), hv)
        record = b"".join(body)
        ap(zz(len(record)))
        ap(record)
    records = b"".join(parts)
    last_delta = offsets[-1] - base_offset
    tail = struct.pack(">hiqqqhii", attributes, last_delta, base_ts, max(timestamps), producer_id, producer_epoch,
                       -1, len(offsets)) + records
    return struct.pack(">qiibI", base_offset, len(tail) + 9, 0, 2, calc_crc32c(tail)) + tail


def with_base_offset(raw: bytes | memoryview, base_offset: int) -> bytes:
    """A batch's bytes with its base offset set (outside the CRC: nothing else changes)."""
    return struct.pack(">q", base_offset) + bytes(raw[8:])
