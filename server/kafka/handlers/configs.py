"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs of topics (see server.kafka.topic_configs).

The broker resource describes the few broker settings clients ask about, read-only.
"""

from __future__ import annotations

import asyncio

from kafka.errors import (
    InvalidConfigurationError,
    InvalidRequestError,
    KafkaStorageError,
    UnknownTopicOrPartitionError,
)
from kafka.protocol.admin import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

from ksql.engine.log import LogError, TopicConfig, UnknownTopicError
from server.kafka import topic_configs
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles
from server.kafka.handlers.topics import DEFAULT_PARTITIONS, DEFAULT_SOURCE, TOPIC_SOURCE

TOPIC, BROKER = 2, 4  # ConfigResource types
STATIC_BROKER_SOURCE = 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3  # IncrementalAlterConfigs operations
Result = DescribeConfigsResponse.DescribeConfigsResult
Entry = Result.DescribeConfigsResourceResult

BROKER_SETTINGS = {
    "auto.create.topics.enable": "true",
    "num.partitions": str(DEFAULT_PARTITIONS),
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
}


class _Refused(Exception):
    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@handles(DescribeConfigsRequest, DescribeConfigsResponse, 1, 4)
async def describe_configs(broker: Broker, request: DescribeConfigsRequest, conn: Connection
                           ) -> DescribeConfigsResponse:
    results = []
    for resource in request.resources:
        result = Result(error_code=0, error_message=None, resource_type=resource.resource_type,
                        resource_name=resource.resource_name, configs=[])
        keys = set(resource.configuration_keys) if resource.configuration_keys is not None else None
        if resource.resource_type == TOPIC:
            try:
                config = broker.log.topic_config(resource.resource_name)
            except (UnknownTopicError, LogError):
                result.error_code = UnknownTopicOrPartitionError.errno
                result.error_message = f"unknown topic {resource.resource_name!r}"
            else:
                result.configs = [
                    Entry(name=s.name, value=value, read_only=False, is_default=is_default,
                          config_source=DEFAULT_SOURCE if is_default else TOPIC_SOURCE, is_sensitive=False,
                          synonyms=[], config_type=s.config_type,
                          documentation=s.documentation if request.include_documentation else None)
                    for s, value, is_default in topic_configs.describe(config) if keys is None or s.name in keys]
        elif resource.resource_type == BROKER:
            result.configs = [
                Entry(name=name, value=value, read_only=True, is_default=False,
                      config_source=STATIC_BROKER_SOURCE, is_sensitive=False, synonyms=[], config_type=0,
                      documentation=None)
                for name, value in BROKER_SETTINGS.items() if keys is None or name in keys]
        else:
            result.error_code = InvalidRequestError.errno
            result.error_message = f"resource type {resource.resource_type} is not described by this broker"
        results.append(result)
    return DescribeConfigsResponse(version=request.API_VERSION, throttle_time_ms=0, results=results)


@handles(AlterConfigsRequest, AlterConfigsResponse, 0, 2)
async def alter_configs(broker: Broker, request: AlterConfigsRequest, conn: Connection) -> AlterConfigsResponse:
    """The legacy AlterConfigs: the settings given replace the topic's (the others go back to defaults)."""
    responses = []
    for resource in request.resources:
        changes: dict[str, str | None] = {name: None for name in topic_configs.SETTINGS}
        changes.update({c.name: c.value for c in resource.configs})
        responses.append(await _alter(broker, resource, lambda _config, changes=changes: changes,
                                      request.validate_only, AlterConfigsResponse))
    return AlterConfigsResponse(version=request.API_VERSION, throttle_time_ms=0, responses=responses)


@handles(IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, 0, 1)
async def incremental_alter_configs(broker: Broker, request: IncrementalAlterConfigsRequest, conn: Connection
                                    ) -> IncrementalAlterConfigsResponse:
    responses = []
    for resource in request.resources:
        responses.append(await _alter(broker, resource, lambda config, r=resource: _increments(config, r.configs),
                                      request.validate_only, IncrementalAlterConfigsResponse))
    return IncrementalAlterConfigsResponse(version=request.API_VERSION, throttle_time_ms=0, responses=responses)


def _increments(config: TopicConfig, ops) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    for op in ops:
        if op.config_operation == SET:
            changes[op.name] = op.value
        elif op.config_operation == DELETE:
            changes[op.name] = None
        elif op.name == "cleanup.policy" and op.config_operation in (APPEND, SUBTRACT):
            policies = set(config.cleanup_policy.split(","))
            given = {p.strip() for p in (op.value or "").split(",") if p.strip()}
            policies = policies | given if op.config_operation == APPEND else policies - given
            changes[op.name] = ",".join(sorted(policies))
        else:
            raise _Refused(InvalidRequestError.errno,
                           f"operation {op.config_operation} does not apply to {op.name!r}")
    return changes


async def _alter(broker: Broker, resource, changes_of, validate_only: bool, response_cls):
    result = response_cls.AlterConfigsResourceResponse(error_code=0, error_message=None,
                                                       resource_type=resource.resource_type,
                                                       resource_name=resource.resource_name)
    try:
        if resource.resource_type != TOPIC:
            raise _Refused(InvalidRequestError.errno, "only topic configs can be changed on this broker")
        config = broker.log.topic_config(resource.resource_name)
        new = topic_configs.apply(config, changes_of(config))
        if not validate_only and new != config:
            await asyncio.to_thread(broker.alter_topic, resource.resource_name, new)
    except _Refused as err:
        result.error_code, result.error_message = err.errno, str(err)
    except topic_configs.ConfigError as err:
        result.error_code, result.error_message = InvalidConfigurationError.errno, str(err)
    except UnknownTopicError:
        result.error_code = UnknownTopicOrPartitionError.errno
        result.error_message = f"unknown topic {resource.resource_name!r}"
    except (LogError, OSError) as err:
        result.error_code, result.error_message = KafkaStorageError.errno, str(err)
    return result
