"""The transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn (the state
machine is server.kafka.transactions; InitProducerId is in producer_ids)."""

from __future__ import annotations

from kafka.protocol.producer.transaction import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
)

from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles
from server.kafka.handlers.offsets import partition_error
from server.kafka.transactions import INVALID_PRODUCER_EPOCH, PRODUCER_FENCED

TopicResult = AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult
PartitionResult = TopicResult.AddPartitionsToTxnPartitionResult
CommitTopic = TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic
CommitPartition = CommitTopic.TxnOffsetCommitResponsePartition


def _for_version(error: int, version: int, fenced_since: int) -> int:
    """PRODUCER_FENCED is INVALID_PRODUCER_EPOCH to clients of versions before KIP-588's."""
    return INVALID_PRODUCER_EPOCH if error == PRODUCER_FENCED and version < fenced_since else error


@handles(AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, 0, 3)
async def add_partitions_to_txn(broker: Broker, request: AddPartitionsToTxnRequest,
                                conn: Connection) -> AddPartitionsToTxnResponse:
    version = request.API_VERSION
    topics = request.v3_and_below_topics
    errors = await broker.transactions.add_partitions(
        request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
        request.v3_and_below_producer_epoch, [(t.name, p) for t in topics for p in t.partitions])
    return AddPartitionsToTxnResponse(version=version, throttle_time_ms=0, results_by_topic_v3_and_below=[
        TopicResult(name=t.name, results_by_partition=[
            PartitionResult(partition_index=p, partition_error_code=_for_version(errors[(t.name, p)], version, 2))
            for p in t.partitions])
        for t in topics])


@handles(AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, 0, 4)
async def add_offsets_to_txn(broker: Broker, request: AddOffsetsToTxnRequest,
                             conn: Connection) -> AddOffsetsToTxnResponse:
    error = await broker.transactions.add_offsets(request.transactional_id, request.producer_id,
                                                  request.producer_epoch, request.group_id)
    version = request.API_VERSION
    return AddOffsetsToTxnResponse(version=version, throttle_time_ms=0, error_code=_for_version(error, version, 2))


@handles(TxnOffsetCommitRequest, TxnOffsetCommitResponse, 0, 4)
async def txn_offset_commit(broker: Broker, request: TxnOffsetCommitRequest,
                            conn: Connection) -> TxnOffsetCommitResponse:
    version = request.API_VERSION
    group_error = 0
    if version >= 3 and request.generation_id >= 0:  # a consumer in the group: its generation must be current
        group_error = broker.groups.commit_error(request.group_id, request.generation_id, request.member_id)
    errors = {(t.name, p.partition_index): group_error or partition_error(
                  broker, t.name, p.partition_index, p.committed_offset)
              for t in request.topics for p in t.partitions}
    offsets = {(t.name, p.partition_index): p.committed_offset for t in request.topics for p in t.partitions
               if errors[(t.name, p.partition_index)] == 0}
    if offsets:
        error = await broker.transactions.commit_offsets(request.transactional_id, request.producer_id,
                                                         request.producer_epoch, request.group_id, offsets)
        if error:
            errors = dict.fromkeys(errors, _for_version(error, version, 3))
    return TxnOffsetCommitResponse(version=version, throttle_time_ms=0, topics=[
        CommitTopic(name=t.name, partitions=[
            CommitPartition(partition_index=p.partition_index, error_code=errors[(t.name, p.partition_index)])
            for p in t.partitions])
        for t in request.topics])


@handles(EndTxnRequest, EndTxnResponse, 0, 4)
async def end_txn(broker: Broker, request: EndTxnRequest, conn: Connection) -> EndTxnResponse:
    error = await broker.transactions.end_transaction(request.transactional_id, request.producer_id,
                                                      request.producer_epoch, request.committed)
    version = request.API_VERSION
    return EndTxnResponse(version=version, throttle_time_ms=0, error_code=_for_version(error, version, 2))
