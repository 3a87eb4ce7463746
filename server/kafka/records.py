"""Kafka record batches (magic v2) at the broker: check the ones producers send, write the ones
fetches return for records the engine or the REST API appended.

The format is described in ksql.engine.log.kafka_batch, which reads stored batches'
records for the engine. The CRC32C is kafka-python's (kafka.record.util.calc_crc32c,
over the C crc32c package).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from kafka.record.util import calc_crc32c

from ksql.engine.log.kafka_batch import CONTROL, HEADER, HEADER_SIZE, KafkaBatchError, check_records

_CRC_START = 21  # the CRC covers the batch from the attributes on
_LENGTH_END = 12  # base offset and length: the batch length counts the bytes after them

TRANSACTIONAL = 0x10


class CorruptBatchError(ValueError):
    """Bytes that are not a well-formed v2 record batch (CORRUPT_MESSAGE to the producer)."""


class UnsupportedFormatError(ValueError):
    """A batch of an older message format (magic 0 or 1) than this broker stores."""


@dataclass(slots=True)
class ProducedBatch:
    """One batch as a producer sent it: its header fields and its bytes (CRC and framing checked)."""

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
        try:
            check_records(view[pos:stop])
        except KafkaBatchError as err:
            raise CorruptBatchError(str(err)) from None
        batches.append(ProducedBatch(view[pos:stop], attributes, last_delta, base_ts, max_ts, pid, epoch,
                                     base_seq, count))
        pos = stop
    return batches


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
