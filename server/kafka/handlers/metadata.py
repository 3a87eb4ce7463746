"""Metadata and DescribeCluster: this one node leads every partition of every topic of the log.

Topics a client names that do not exist are created with one partition when the
client allows it (auto.create.topics.enable is on, as in Kafka's default config).
"""

from __future__ import annotations

import asyncio

from kafka.errors import InvalidTopicError as InvalidTopic
from kafka.errors import UnknownTopicOrPartitionError
from kafka.protocol.admin import DescribeClusterRequest, DescribeClusterResponse
from kafka.protocol.metadata import MetadataRequest, MetadataResponse

from ksql.engine.log import InvalidTopicError, LogError, TopicConfig, TopicExistsError, UnknownTopicError
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

Topic = MetadataResponse.MetadataResponseTopic
Partition = Topic.MetadataResponsePartition


@handles(MetadataRequest, MetadataResponse, 0, 12)
async def metadata(broker: Broker, request: MetadataRequest, conn: Connection) -> MetadataResponse:
    version = request.API_VERSION
    log = broker.log
    if request.topics is None or (version == 0 and not request.topics):
        names = sorted(log.list_topics())
    else:
        names = [t.name for t in request.topics if t.name is not None]
    auto_create = version < 4 or request.allow_auto_topic_creation
    topics = [await _describe(broker, name, auto_create and request.topics is not None) for name in names]
    return MetadataResponse(
        version=version, throttle_time_ms=0,
        brokers=[MetadataResponse.MetadataResponseBroker(node_id=broker.node_id, host=broker.host,
                                                         port=broker.port, rack=None)],
        cluster_id=broker.cluster_id, controller_id=broker.node_id, topics=topics)


async def _describe(broker: Broker, name: str, auto_create: bool) -> Topic:
    log = broker.log
    if not log.topic_exists(name) and auto_create:
        try:
            await asyncio.to_thread(broker.create_topic, name, TopicConfig(partitions=1))
        except TopicExistsError:
            pass
        except InvalidTopicError:
            return Topic(error_code=InvalidTopic.errno, name=name, topic_id=broker.topic_id(name), partitions=[])
    try:
        count = log.partitions(name)
    except (UnknownTopicError, LogError):
        return Topic(error_code=UnknownTopicOrPartitionError.errno, name=name,
                     topic_id=broker.topic_id(name), partitions=[])
    node = broker.node_id
    return Topic(error_code=0, name=name, topic_id=broker.topic_id(name), is_internal=False, partitions=[
        Partition(error_code=0, partition_index=p, leader_id=node, leader_epoch=0, replica_nodes=[node],
                  isr_nodes=[node], offline_replicas=[]) for p in range(count)])


@handles(DescribeClusterRequest, DescribeClusterResponse, 0, 1)
async def describe_cluster(broker: Broker, request: DescribeClusterRequest, conn: Connection
                           ) -> DescribeClusterResponse:
    return DescribeClusterResponse(
        version=request.API_VERSION, throttle_time_ms=0, error_code=0, error_message=None, endpoint_type=1,
        cluster_id=broker.cluster_id, controller_id=broker.node_id,
        brokers=[DescribeClusterResponse.DescribeClusterBroker(broker_id=broker.node_id, host=broker.host,
                                                               port=broker.port, rack=None)])
