"""ListOffsets: a partition's earliest (-2) or latest (-1) offset, the record with the greatest
timestamp (-3), or the first offset whose record's timestamp is at or after a given one.

The embedded log has no time index a broker can use, so a timestamp is found by reading the
partition from its start offset: fine for the consumers that look one up once (offsetsForTimes,
kcat -o s@TS), not meant to be called per record.
"""

from __future__ import annotations

import asyncio

from kafka.errors import UnknownTopicOrPartitionError
from kafka.protocol.consumer import ListOffsetsRequest, ListOffsetsResponse

from ksql.engine.log import Log, LogError
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

TopicResponse = ListOffsetsResponse.ListOffsetsTopicResponse
PartitionResponse = TopicResponse.ListOffsetsPartitionResponse
LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3
SCAN_RECORDS = 10_000


@handles(ListOffsetsRequest, ListOffsetsResponse, 1, 7)
async def list_offsets(broker: Broker, request: ListOffsetsRequest, conn: Connection) -> ListOffsetsResponse:
    isolation = request.isolation_level if request.API_VERSION >= 2 else 0
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            try:
                timestamp, offset = await asyncio.to_thread(_lookup, broker, t.name, p.partition_index,
                                                            p.timestamp, isolation)
                parts.append(PartitionResponse(partition_index=p.partition_index, error_code=0,
                                               timestamp=timestamp, offset=offset, leader_epoch=0))
            except LogError:
                parts.append(PartitionResponse(partition_index=p.partition_index,
                                               error_code=UnknownTopicOrPartitionError.errno))
        topics.append(TopicResponse(name=t.name, partitions=parts))
    return ListOffsetsResponse(version=request.API_VERSION, throttle_time_ms=0, topics=topics)


def _lookup(broker: Broker, topic: str, partition: int, timestamp: int, isolation: int) -> tuple[int, int]:
    """(timestamp, offset) for the query `timestamp`; (-1, -1) when no record is that recent."""
    log = broker.log
    end = broker.last_stable_offset(topic, partition, log.end_offset(topic, partition), isolation)
    if timestamp == LATEST:
        return -1, end
    if timestamp == EARLIEST:
        return -1, log.start_offset(topic, partition)
    best = (-1, -1)
    for offsets, timestamps in _scan(log, topic, partition, end):
        for offset, ts in zip(offsets, timestamps, strict=True):
            if timestamp == MAX_TIMESTAMP:
                if ts >= best[0]:
                    best = (ts, offset)
            elif ts >= timestamp:
                return ts, offset
    return best


def _scan(log: Log, topic: str, partition: int, end: int):
    """(offsets, timestamps) of the partition's records below `end`, a read at a time."""
    offset = log.start_offset(topic, partition)
    while offset < end:
        batch = log.read_batch(topic, partition, offset, min(SCAN_RECORDS, end - offset))
        if not len(batch):
            return
        yield batch.offsets, batch.timestamps
        offset = batch.offsets[-1] + 1
