"""OffsetCommit and OffsetFetch: consumer-group offsets, kept durably by the log's commit().

A commit is acknowledged once the log has it on disk, so committed offsets survive a
kill -9 of the server. Only the offsets are kept: commit metadata strings are not stored
and read back as empty.
"""

from __future__ import annotations

import asyncio

from kafka.protocol.consumer.group import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
)

from ksql.engine.log import LogError
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_COMMIT_OFFSET_SIZE = 28
UNSTABLE_OFFSET_COMMIT = 88
INVALID_GROUP_ID = 24

CommitTopic = OffsetCommitResponse.OffsetCommitResponseTopic
CommitPartition = CommitTopic.OffsetCommitResponsePartition


def partition_error(broker: Broker, topic: str, partition: int, offset: int) -> int:
    """Why an offset of topic-partition cannot be committed (0: it can)."""
    log = broker.log
    try:
        if not 0 <= partition < log.partitions(topic):
            return UNKNOWN_TOPIC_OR_PARTITION
    except LogError:
        return UNKNOWN_TOPIC_OR_PARTITION
    return 0 if offset >= 0 else INVALID_COMMIT_OFFSET_SIZE


@handles(OffsetCommitRequest, OffsetCommitResponse, 0, 9)
async def offset_commit(broker: Broker, request: OffsetCommitRequest, conn: Connection) -> OffsetCommitResponse:
    version = request.API_VERSION
    generation = request.generation_id_or_member_epoch if version >= 1 else -1
    member_id = request.member_id if version >= 1 else ""
    group_error = (INVALID_GROUP_ID if not request.group_id
                   else broker.groups.commit_error(request.group_id, generation, member_id))
    errors: dict[tuple[str, int], int] = {}
    offsets: dict[tuple[str, int], int] = {}
    for t in request.topics:
        for p in t.partitions:
            tp = (t.name, p.partition_index)
            errors[tp] = group_error or partition_error(broker, t.name, p.partition_index, p.committed_offset)
            if errors[tp] == 0:
                offsets[tp] = p.committed_offset
    if offsets:
        await asyncio.to_thread(broker.log.commit, request.group_id, offsets)
    return OffsetCommitResponse(version=version, throttle_time_ms=0, topics=[
        CommitTopic(name=t.name, partitions=[
            CommitPartition(partition_index=p.partition_index, error_code=errors[(t.name, p.partition_index)])
            for p in t.partitions])
        for t in request.topics])


def _committed(broker: Broker, group: str, topics, require_stable: bool) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """(topic, [(partition, offset or -1, error)]) for the topics asked (None: every committed one)."""
    log = broker.log
    if topics is None:
        by_topic: dict[str, list[int]] = {}
        for (topic, partition) in sorted(log.group_offsets(group)):
            by_topic.setdefault(topic, []).append(partition)
        asked = list(by_topic.items())
    else:
        asked = [(t.name, list(t.partition_indexes)) for t in topics]
    pending = broker.transactions.pending_offsets(group) if require_stable else set()
    answer = []
    for topic, partitions in asked:
        rows = []
        for partition in partitions:
            offset = log.committed(group, topic, partition)
            error = UNSTABLE_OFFSET_COMMIT if (topic, partition) in pending else 0
            rows.append((partition, -1 if offset is None else offset, error))
        answer.append((topic, rows))
    return answer


@handles(OffsetFetchRequest, OffsetFetchResponse, 1, 9)
async def offset_fetch(broker: Broker, request: OffsetFetchRequest, conn: Connection) -> OffsetFetchResponse:
    version = request.API_VERSION
    stable = version >= 7 and request.require_stable
    if version >= 8:
        R = OffsetFetchResponse.OffsetFetchResponseGroup
        return OffsetFetchResponse(version=version, throttle_time_ms=0, groups=[
            R(group_id=group.group_id, error_code=0, topics=[
                R.OffsetFetchResponseTopics(name=topic, partitions=[
                    R.OffsetFetchResponseTopics.OffsetFetchResponsePartitions(
                        partition_index=p, committed_offset=o, committed_leader_epoch=-1, metadata="",
                        error_code=e) for p, o, e in rows])
                for topic, rows in _committed(broker, group.group_id, group.topics, stable)])
            for group in request.groups])
    T = OffsetFetchResponse.OffsetFetchResponseTopic
    return OffsetFetchResponse(version=version, throttle_time_ms=0, error_code=0, topics=[
        T(name=topic, partitions=[
            T.OffsetFetchResponsePartition(partition_index=p, committed_offset=o, committed_leader_epoch=-1,
                                           metadata="", error_code=e) for p, o, e in rows])
        for topic, rows in _committed(broker, request.group_id, request.topics, stable)])
