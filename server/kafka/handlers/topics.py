"""CreateTopics, DeleteTopics and CreatePartitions on the embedded log (one node: replication factor 1).

Topics the server itself depends on (its command topic and transaction journal) cannot be
deleted through Kafka: that would destroy every stream, table and query definition.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from kafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    KafkaStorageError,
    PolicyViolationError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kafka.protocol.admin import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)

from ksql.engine.log import InvalidTopicError as BadTopic
from ksql.engine.log import LogError, TopicConfig, TopicExistsError, UnknownTopicError
from ksql.engine.log.base import validate_topic
from server.kafka import topic_configs
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

DEFAULT_PARTITIONS = 1  # num.partitions of a Kafka broker's default config
INTERNAL_PREFIX = "_confluent-ksql-"
DEFAULT_SOURCE = 5  # ConfigSource DEFAULT_CONFIG
TOPIC_SOURCE = 1  # ConfigSource TOPIC_CONFIG

Created = CreateTopicsResponse.CreatableTopicResult


class _Refused(Exception):
    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@handles(CreateTopicsRequest, CreateTopicsResponse, 2, 7)
async def create_topics(broker: Broker, request: CreateTopicsRequest, conn: Connection) -> CreateTopicsResponse:
    results = []
    for topic in request.topics:
        result = Created(name=topic.name, topic_id=broker.topic_id(topic.name), error_code=0, error_message=None,
                         topic_config_error_code=0, num_partitions=-1, replication_factor=-1, configs=None)
        try:
            config = _new_topic_config(topic)
            if not request.validate_only:
                await asyncio.to_thread(broker.create_topic, topic.name, config)
            result.num_partitions = config.partitions
            result.replication_factor = 1
            result.configs = [Created.CreatableTopicConfigs(
                name=setting.name, value=value, read_only=False, is_sensitive=False,
                config_source=DEFAULT_SOURCE if is_default else TOPIC_SOURCE)
                for setting, value, is_default in topic_configs.describe(config)]
        except _Refused as err:
            result.error_code, result.error_message = err.errno, str(err)
        except TopicExistsError:
            result.error_code = TopicAlreadyExistsError.errno
            result.error_message = f"Topic '{topic.name}' already exists."
        except BadTopic as err:
            result.error_code, result.error_message = InvalidTopicError.errno, str(err)
        except (LogError, OSError) as err:
            result.error_code, result.error_message = KafkaStorageError.errno, str(err)
        results.append(result)
    return CreateTopicsResponse(version=request.API_VERSION, throttle_time_ms=0, topics=results)


def _new_topic_config(topic) -> TopicConfig:
    """The log config of a CreatableTopic, or _Refused saying what is wrong with it."""
    if topic.assignments:
        raise _Refused(InvalidReplicationAssignmentError.errno,
                       "replica assignments are not supported: this broker is a single node")
    partitions = DEFAULT_PARTITIONS if topic.num_partitions == -1 else topic.num_partitions
    if partitions < 1:
        raise _Refused(InvalidPartitionsError.errno, f"Number of partitions must be at least 1, got {partitions}")
    if topic.replication_factor not in (-1, 1):
        raise _Refused(InvalidReplicationFactorError.errno,
                       f"Replication factor {topic.replication_factor} is larger than the 1 available broker")
    try:
        config = topic_configs.apply(TopicConfig(partitions=partitions),
                                     {c.name: c.value for c in topic.configs})
        validate_topic(topic.name, config)
    except topic_configs.ConfigError as err:
        raise _Refused(InvalidConfigurationError.errno, str(err)) from None
    except BadTopic as err:
        raise _Refused(InvalidTopicError.errno, str(err)) from None
    return config


@handles(DeleteTopicsRequest, DeleteTopicsResponse, 1, 6)
async def delete_topics(broker: Broker, request: DeleteTopicsRequest, conn: Connection) -> DeleteTopicsResponse:
    names = [t.name for t in request.topics] if request.API_VERSION >= 6 else list(request.topic_names)
    results = []
    for name in names:
        result = DeleteTopicsResponse.DeletableTopicResult(name=name, topic_id=broker.topic_id(name or ""),
                                                           error_code=0, error_message=None)
        if name is None:
            result.error_code = UnknownTopicOrPartitionError.errno
            result.error_message = "topics are deleted by name on this broker"
        elif name.startswith(INTERNAL_PREFIX):
            result.error_code = PolicyViolationError.errno
            result.error_message = f"{name} is the server's own topic and cannot be deleted through Kafka"
        else:
            try:
                await asyncio.to_thread(broker.delete_topic, name)
            except UnknownTopicError:
                result.error_code = UnknownTopicOrPartitionError.errno
                result.error_message = f"unknown topic {name!r}"
            except (LogError, OSError) as err:
                result.error_code, result.error_message = KafkaStorageError.errno, str(err)
        results.append(result)
    return DeleteTopicsResponse(version=request.API_VERSION, throttle_time_ms=0, responses=results)


@handles(CreatePartitionsRequest, CreatePartitionsResponse, 0, 3)
async def create_partitions(broker: Broker, request: CreatePartitionsRequest, conn: Connection
                            ) -> CreatePartitionsResponse:
    results = []
    for topic in request.topics:
        result = CreatePartitionsResponse.CreatePartitionsTopicResult(name=topic.name, error_code=0,
                                                                      error_message=None)
        try:
            config = broker.log.topic_config(topic.name)
            if topic.count <= config.partitions:
                raise _Refused(InvalidPartitionsError.errno,
                               f"Topic {topic.name} has {config.partitions} partitions; "
                               f"the new count must be larger, got {topic.count}")
            if topic.assignments:
                raise _Refused(InvalidReplicationAssignmentError.errno,
                               "replica assignments are not supported: this broker is a single node")
            if not request.validate_only:
                await asyncio.to_thread(broker.alter_topic, topic.name, replace(config, partitions=topic.count))
        except _Refused as err:
            result.error_code, result.error_message = err.errno, str(err)
        except UnknownTopicError:
            result.error_code = UnknownTopicOrPartitionError.errno
            result.error_message = f"unknown topic {topic.name!r}"
        except (LogError, OSError) as err:
            result.error_code, result.error_message = KafkaStorageError.errno, str(err)
        results.append(result)
    return CreatePartitionsResponse(version=request.API_VERSION, throttle_time_ms=0, results=results)
