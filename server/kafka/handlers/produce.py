"""Produce: each partition's batches are appended to the log (acks 0, 1 and all are the same on one
node: the reply waits for the append, as durable as the log's fsync policy makes it)."""

from __future__ import annotations

import asyncio

from kafka.protocol.producer import ProduceRequest, ProduceResponse

from server.kafka.broker import Appended, Broker
from server.kafka.dispatch import Connection, handles

TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = TopicResponse.PartitionProduceResponse


@handles(ProduceRequest, ProduceResponse, 3, 9)
async def produce(broker: Broker, request: ProduceRequest, conn: Connection) -> ProduceResponse | None:
    work = [(t.name, p.index, p.records) for t in request.topic_data for p in t.partition_data]
    results = await asyncio.to_thread(_append_all, broker, work)
    topics: dict[str, list[PartitionResponse]] = {}
    broker.notify_appended()
    for (topic, partition, _), appended in zip(work, results, strict=True):
        topics.setdefault(topic, []).append(PartitionResponse(
            index=partition, error_code=appended.error_code, base_offset=appended.base_offset,
            log_append_time_ms=-1, log_start_offset=appended.log_start_offset, record_errors=[],
            error_message=appended.message))
    if request.acks == 0:
        return None
    return ProduceResponse(version=request.API_VERSION, throttle_time_ms=0, responses=[
        TopicResponse(name=topic, partition_responses=parts) for topic, parts in topics.items()])


def _append_all(broker: Broker, work: list[tuple[str, int, bytes | None]]) -> list[Appended]:
    return [broker.produce(topic, partition, records or b"") for topic, partition, records in work]
