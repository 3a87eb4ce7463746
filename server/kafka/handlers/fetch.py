"""Fetch: records from each partition's fetch offset, waiting up to max_wait_ms for min_bytes.

Batches that came in through Produce are served as the producer sent them (the embedded
log stores them so); other records (written by persistent queries or the REST API) are
encoded as one Kafka batch per batch the log stored.
Every request is answered in full (fetch sessions are not kept: session id 0 tells the
client so). What read_committed consumers may see is the broker's to say
(Broker.last_stable_offset and Broker.aborted_transactions).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import struct
import time

from kafka.errors import KafkaStorageError, OffsetOutOfRangeError, UnknownTopicOrPartitionError
from kafka.protocol.consumer import FetchRequest, FetchResponse

from ksql.engine.log import Log, LogError, RecordBatch, UnknownTopicError
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles
from server.kafka.records import encode_batch

logger = logging.getLogger("ksql.server.kafka")
TopicData = FetchResponse.FetchableTopicResponse
PartitionData = TopicData.PartitionData
_LAST_OFFSET_DELTA = struct.Struct(">i")  # at byte 23 of a Kafka batch
RECHECK_SECONDS = 0.05  # how often a waiting fetch looks again for records appended by the engine


@handles(FetchRequest, FetchResponse, 4, 12)
async def fetch(broker: Broker, request: FetchRequest, conn: Connection) -> FetchResponse:
    deadline = time.monotonic() + max(0, request.max_wait_ms) / 1000
    while True:
        waiter = broker.appended
        topics, size, failed = _read(broker, request)
        remaining = deadline - time.monotonic()
        if size >= max(1, request.min_bytes) or failed or remaining <= 0 or waiter is None:
            break
        try:
            await asyncio.wait_for(waiter.wait(), min(remaining, RECHECK_SECONDS))
        except TimeoutError:
            pass
    return FetchResponse(version=request.API_VERSION, throttle_time_ms=0, error_code=0, session_id=0,
                         responses=topics)


def _read(broker: Broker, request: FetchRequest) -> tuple[list[TopicData], int, bool]:
    """The response's topics, the bytes of records in them, and whether a partition failed."""
    log = broker.log
    budget = request.max_bytes
    total = 0
    failed = False
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            limit = min(p.partition_max_bytes, budget - total) if total else p.partition_max_bytes
            data = _read_partition(broker, log, t.topic, p.partition, p.fetch_offset, limit,
                                   request.isolation_level)
            failed = failed or data.error_code != 0
            size = len(data.records) if data.records else 0
            total += size
            parts.append(data)
        topics.append(TopicData(topic=t.topic, partitions=parts))
    return topics, total, failed


def _read_partition(broker: Broker, log: Log, topic: str, partition: int, offset: int, max_bytes: int,
                    isolation_level: int) -> PartitionData:
    try:
        start = log.start_offset(topic, partition)
        end = log.end_offset(topic, partition)
    except (UnknownTopicError, LogError):
        return PartitionData(partition_index=partition, error_code=UnknownTopicOrPartitionError.errno,
                             high_watermark=-1, last_stable_offset=-1, log_start_offset=-1,
                             aborted_transactions=None, records=None)
    stable = broker.last_stable_offset(topic, partition, end, isolation_level)
    reply = PartitionData(partition_index=partition, error_code=0, high_watermark=end,
                          last_stable_offset=stable, log_start_offset=start, preferred_read_replica=-1,
                          aborted_transactions=broker.aborted_transactions(topic, partition, offset, stable,
                                                                           isolation_level),
                          records=b"")
    if offset < start or offset > end:
        reply.error_code = OffsetOutOfRangeError.errno
        return reply
    if offset == stable or max_bytes <= 0:
        return reply
    try:
        reply.records = _records(log, topic, partition, offset, stable, max_bytes)
    except (LogError, OSError) as err:
        reply.error_code = KafkaStorageError.errno
        reply.records = b""
        logger.warning("fetch from %s-%d failed: %s", topic, partition, err)
    return reply


def _records(log: Log, topic: str, partition: int, offset: int, stable: int, max_bytes: int) -> bytes:
    """Batches from the one holding `offset`, up to max_bytes (at least one, as Kafka), none reaching
    `stable`: Kafka batches as stored, other records encoded as one batch per stored batch."""
    out: list[bytes] = []
    size = 0
    while offset < stable and (not out or size < max_bytes):
        batches = log.read_raw(topic, partition, offset, max_bytes - size if out else max_bytes)
        if not batches:
            break
        for base, batch in batches:
            if isinstance(batch, RecordBatch):
                offsets = list(batch.offsets)
                keep = bisect.bisect_left(offsets, stable)
                if not keep:
                    return b"".join(out)
                encoded = encode_batch(base, offsets[:keep], batch.keys[:keep], batch.values[:keep],
                                       batch.timestamps[:keep], batch.headers[:keep])
                after = offsets[keep - 1] + 1
            else:
                encoded = batch
                after = base + _LAST_OFFSET_DELTA.unpack_from(batch, 23)[0] + 1
                if after > stable:
                    return b"".join(out)
            if out and size + len(encoded) > max_bytes:
                return b"".join(out)
            out.append(encoded)
            size += len(encoded)
            offset = after
    return b"".join(out)
