"""The properties a server, a SET or a request may name, as ksqlDB resolves them.

ksqlDB accepts a property when it is one of its own (`ksql.*`, with the defaults
below), a Kafka Streams, consumer, producer or admin client config (bare, under
`ksql.streams.`, or under a client prefix such as `consumer.`), or a free-form
`ksql.functions.*` UDF setting; anything else is refused with its message. The
defaults are what SHOW PROPERTIES lists for what was not configured.
"""

from __future__ import annotations

import re
from typing import Any

from ksql.errors import KsqlError
from ksql.planner.expressions.options import ExpressionOptions

STREAMS_PREFIX = "ksql.streams."
FUNCTIONS_PREFIX = "ksql.functions."
# the configs that change what a persistent query writes, named where the engine reads them
OUTPUT_TOPIC_PREFIX_CONFIG = "ksql.output.topic.name.prefix"
ACTIVE_QUERY_LIMIT_CONFIG = "ksql.query.persistent.active.limit"
FAIL_ON_DESERIALIZATION_ERROR_CONFIG = "ksql.fail.on.deserialization.error"
PERSISTENT_PREFIX_CONFIG = "ksql.persistent.prefix"
# deprecated in ksqlDB but still honoured: sink topic sizes when WITH gives none (no default, so not listed)
SINK_PARTITIONS_CONFIG = "ksql.sink.partitions"
SINK_REPLICAS_CONFIG = "ksql.sink.replicas"
LEGACY_CONFIGS = frozenset({SINK_PARTITIONS_CONFIG, SINK_REPLICAS_CONFIG})
# ksqlDB's feature flags: each turns a part of the language or the API on or off
HEADERS_COLUMNS_ENABLED_CONFIG = "ksql.headers.columns.enabled"
ROWPARTITION_ROWOFFSET_ENABLED_CONFIG = "ksql.rowpartition.rowoffset.enabled"
SUPPRESS_ENABLED_CONFIG = "ksql.suppress.enabled"
SUPPRESS_BUFFER_SIZE_BYTES_CONFIG = "ksql.suppress.buffer.size.bytes"
CAST_STRINGS_PRESERVE_NULLS_CONFIG = "ksql.cast.strings.preserve.nulls"
NESTED_ERROR_SET_NULL_CONFIG = "ksql.nested.error.set.null"
INSERT_INTO_VALUES_ENABLED_CONFIG = "ksql.insert.into.values.enabled"
CREATE_OR_REPLACE_ENABLED_CONFIG = "ksql.create.or.replace.enabled"
PULL_QUERIES_ENABLE_CONFIG = "ksql.pull.queries.enable"
PULL_STREAM_ENABLED_CONFIG = "ksql.query.pull.stream.enabled"
TRANSIENT_PREFIX_CONFIG = "ksql.transient.prefix"
SOURCE_TABLE_MATERIALIZATION_CONFIG = "ksql.source.table.materialization.enabled"
LAMBDAS_ENABLED_CONFIG = "ksql.lambdas.enabled"
HIDDEN_TOPICS_CONFIG = "ksql.hidden.topics"  # what SHOW TOPICS leaves out (SHOW ALL TOPICS lists them)
ASSERT_TOPIC_TIMEOUT_CONFIG = "ksql.assert.topic.default.timeout.ms"

# ksqlDB's own configs (io.confluent.ksql.util.KsqlConfig) and their defaults
KSQL_DEFAULTS: dict[str, str] = {
    "ksql.access.validator.enable": "auto",
    "ksql.assert.schema.default.timeout.ms": "1000",
    "ksql.assert.topic.default.timeout.ms": "1000",
    "ksql.authorization.cache.expiry.time.secs": "30",
    "ksql.authorization.cache.max.entries": "10000",
    "ksql.cast.strings.preserve.nulls": "true",
    "ksql.connect.url": "",
    "ksql.create.or.replace.enabled": "true",
    "ksql.error.classifier.regex": "",
    "ksql.extension.dir": "ext",
    "ksql.headers.columns.enabled": "true",
    "ksql.hidden.topics": "_confluent.*,__confluent.*,_schemas,__consumer_offsets,__transaction_state,"
                          "connect-configs,connect-offsets,connect-status,connect-statuses",
    "ksql.idle.connection.timeout.seconds": "600",
    "ksql.insert.into.values.enabled": "true",
    "ksql.internal.topic.min.insync.replicas": "1",
    "ksql.internal.topic.replicas": "1",
    "ksql.lambdas.enabled": "true",
    "ksql.logging.processing.rows.include": "false",
    "ksql.logging.processing.stream.auto.create": "false",
    "ksql.logging.processing.stream.name": "KSQL_PROCESSING_LOG",
    "ksql.logging.processing.topic.auto.create": "false",
    "ksql.logging.processing.topic.name": "",
    "ksql.logging.processing.topic.partitions": "1",
    "ksql.logging.processing.topic.replication.factor": "1",
    "ksql.max.push.queries": "100",
    "ksql.metastore.backup.location": "",
    "ksql.metrics.extension": "",
    "ksql.metrics.tags.custom": "",
    "ksql.nested.error.set.null": "true",
    "ksql.new.query.planner.enabled": "false",
    OUTPUT_TOPIC_PREFIX_CONFIG: "",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.default.format.value": "",
    "ksql.persistence.wrap.single.values": "",
    PERSISTENT_PREFIX_CONFIG: "query_",
    "ksql.properties.overrides.denylist": "",
    "ksql.pull.queries.enable": "true",
    "ksql.query.error.max.queue.size": "10",
    ACTIVE_QUERY_LIMIT_CONFIG: "2147483647",
    "ksql.query.persistent.max.bytes.buffering.total": "-1",
    "ksql.query.pull.enable.standby.reads": "false",
    "ksql.query.pull.interpreter.enabled": "true",
    "ksql.query.pull.limit.clause.enabled": "true",
    "ksql.query.pull.max.allowed.offset.lag": "9223372036854775807",
    "ksql.query.pull.max.concurrent.requests": "2147483647",
    "ksql.query.pull.max.qps": "2147483647",
    "ksql.query.pull.range.scan.enabled": "true",
    "ksql.query.pull.stream.enabled": "true",
    "ksql.query.pull.table.scan.enabled": "true",
    "ksql.query.pull.thread.pool.size": "50",
    "ksql.query.push.v2.enabled": "false",
    "ksql.query.push.v2.registry.installed": "false",
    # this server's own: worker processes computing persistent queries ("auto": one per core when
    # there are two or more, 0: all in the server process; see server.workers)
    "ksql.query.workers": "auto",
    "ksql.query.retry.backoff.initial.ms": "15000",
    "ksql.query.retry.backoff.max.ms": "900000",
    "ksql.query.status.running.threshold.seconds": "300",
    "ksql.query.transient.max.bytes.buffering.total": "-1",
    "ksql.queryanonymizer.cluster_namespace": "",
    "ksql.queryanonymizer.logs_enabled": "true",
    "ksql.readonly.topics": "_confluent.*,__confluent.*,_schemas,__consumer_offsets,__transaction_state,"
                            "connect-configs,connect-offsets,connect-status,connect-statuses",
    "ksql.rowpartition.rowoffset.enabled": "true",
    "ksql.schema.registry.url": "",
    "ksql.service.id": "default_",
    "ksql.shared.runtime.enabled": "false",
    "ksql.sink.window.change.log.additional.retention": "1000000",
    "ksql.source.table.materialization.enabled": "true",
    "ksql.streams.shutdown.timeout.ms": "300000",
    "ksql.suppress.buffer.size.bytes": "-1",
    "ksql.suppress.enabled": "true",
    "ksql.timestamp.throw.on.invalid": "false",
    "ksql.transient.prefix": "transient_",
    "ksql.udf.collect.metrics": "false",
    "ksql.udf.enable.security.manager": "true",
    "ksql.udfs.enabled": "true",
    "ksql.variable.substitution.enable": "true",
    "ksql.websocket.connection.max.timeout.ms": "3600000",
    FAIL_ON_DESERIALIZATION_ERROR_CONFIG: "false",
    "ksql.fail.on.production.error": "true",
    "ksql.string.case.config.toggle": "false",
    "ksql.json_sr.converter.deserializer.enabled": "true",
}

# the Kafka Streams configs ksqlDB sets itself (listed by SHOW PROPERTIES under ksql.streams.)
STREAMS_DEFAULTS: dict[str, str] = {
    "auto.offset.reset": "latest",
    "cache.max.bytes.buffering": "10000000",
    "commit.interval.ms": "2000",
    "num.stream.threads": "4",
    "producer.interceptor.classes": "",
    "consumer.interceptor.classes": "",
    "state.dir": "/var/lib/kafka-streams",
    "topology.optimization": "all",
}

# Kafka Streams, consumer, producer and admin client config names (bare)
CLIENT_CONFIGS = frozenset({
    # streams
    "acceptable.recovery.lag", "application.id", "application.server", "bootstrap.servers",
    "buffered.records.per.partition", "built.in.metrics.version", "cache.max.bytes.buffering", "client.id",
    "commit.interval.ms", "connections.max.idle.ms", "default.deserialization.exception.handler",
    "default.dsl.store", "default.key.serde", "default.production.exception.handler",
    "default.timestamp.extractor", "default.value.serde", "max.task.idle.ms", "max.warmup.replicas",
    "metadata.max.age.ms", "metric.reporters", "metrics.num.samples", "metrics.recording.level",
    "metrics.sample.window.ms", "num.standby.replicas", "num.stream.threads", "poll.ms",
    "probing.rebalance.interval.ms", "processing.guarantee", "rack.aware.assignment.tags",
    "receive.buffer.bytes", "reconnect.backoff.max.ms", "reconnect.backoff.ms", "replication.factor",
    "request.timeout.ms", "retries", "retry.backoff.ms", "rocksdb.config.setter", "security.protocol",
    "send.buffer.bytes", "state.cleanup.delay.ms", "state.dir", "statestore.cache.max.bytes",
    "task.timeout.ms", "topology.optimization", "upgrade.from", "window.size.ms",
    "windowstore.changelog.additional.retention.ms",
    # consumer
    "allow.auto.create.topics", "auto.commit.interval.ms", "auto.offset.reset", "check.crcs",
    "client.dns.lookup", "client.rack", "default.api.timeout.ms", "enable.auto.commit",
    "exclude.internal.topics", "fetch.max.bytes", "fetch.max.wait.ms", "fetch.min.bytes", "group.id",
    "group.instance.id", "heartbeat.interval.ms", "interceptor.classes", "isolation.level",
    "key.deserializer", "max.partition.fetch.bytes", "max.poll.interval.ms", "max.poll.records",
    "partition.assignment.strategy", "session.timeout.ms", "value.deserializer",
    # producer
    "acks", "batch.size", "buffer.memory", "compression.type", "delivery.timeout.ms",
    "enable.idempotence", "key.serializer", "linger.ms", "max.block.ms", "max.in.flight.requests.per.connection",
    "max.request.size", "partitioner.class", "transaction.timeout.ms", "transactional.id", "value.serializer",
    # security (every client)
    "sasl.jaas.config", "sasl.mechanism", "sasl.kerberos.service.name", "ssl.endpoint.identification.algorithm",
    "ssl.key.password", "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type",
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type",
})

CLIENT_PREFIXES = ("consumer.", "producer.", "admin.", "main.consumer.", "restore.consumer.",
                   "global.consumer.", "topic.")

# this server's own settings (not ksqlDB's, but valid in its properties file)
SERVER_PREFIXES = ("ksql.server.", "ksql.log.")


def resolve(name: str) -> str | None:
    """The config `name` stands for (streams configs without their `ksql.streams.` prefix), None if unknown."""
    if name in KSQL_DEFAULTS or name in LEGACY_CONFIGS or name.startswith((FUNCTIONS_PREFIX, *SERVER_PREFIXES)):
        return name
    key = name[len(STREAMS_PREFIX):] if name.startswith(STREAMS_PREFIX) else name
    if key.startswith("ksql."):
        return None
    for prefix in CLIENT_PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in CLIENT_CONFIGS:
            return key
    return key if key in CLIENT_CONFIGS else None


def check_property(name: str) -> None:
    """Refuse a property ksqlDB would not recognize, with ksqlDB's message."""
    if resolve(name) is None:
        raise KsqlError(f"Not recognizable as ksql, streams, consumer, or producer property: '{name}'")


def check_overrides(properties: dict[str, Any]) -> None:
    """A request's streamsProperties, refused as ksqlDB refuses them ("Failed to set ...")."""
    for name, value in properties.items():
        try:
            check_property(name)
        except KsqlError as err:
            raise KsqlError(f"Failed to set '{name}' to '{value}'\nCaused by: {err}") from None


def is_enabled(properties: dict[str, Any], name: str) -> bool:
    """A boolean ksql.* config as ksqlDB reads it: "true" in any case is true, anything else false;
    unset, its default."""
    return str(properties.get(name, KSQL_DEFAULTS[name])).strip().lower() == "true"


def long_property(properties: dict[str, Any], name: str) -> int:
    """A LONG ksql.* config (its default when unset), a bad value refused as ksqlDB refuses it."""
    value = properties.get(name, KSQL_DEFAULTS[name])
    try:
        return int(str(value).strip())
    except ValueError:
        raise KsqlError(f"Invalid value {value} for configuration {name}: Not a number of type LONG") from None


def hidden_topics(properties: dict[str, Any]) -> list[re.Pattern[str]]:
    """ksql.hidden.topics: a comma-separated list of regular expressions, each matching whole topic names."""
    patterns = []
    for text in str(properties.get(HIDDEN_TOPICS_CONFIG, KSQL_DEFAULTS[HIDDEN_TOPICS_CONFIG])).split(","):
        if text.strip():
            try:
                patterns.append(re.compile(text.strip()))
            except re.error as err:
                raise KsqlError(f"Invalid value {text.strip()} for configuration {HIDDEN_TOPICS_CONFIG}: not a "
                                f"regular expression ({err})") from None
    return patterns


def expression_options(properties: dict[str, Any]) -> ExpressionOptions:
    """What the configs that change compiled expressions say, in `properties`."""
    return ExpressionOptions(
        cast_strings_preserve_nulls=is_enabled(properties, CAST_STRINGS_PRESERVE_NULLS_CONFIG),
        nested_error_set_null=is_enabled(properties, NESTED_ERROR_SET_NULL_CONFIG),
        rowpartition_rowoffset=is_enabled(properties, ROWPARTITION_ROWOFFSET_ENABLED_CONFIG),
        lambdas=is_enabled(properties, LAMBDAS_ENABLED_CONFIG))


def defaults() -> dict[str, str]:
    """Every default SHOW PROPERTIES lists, streams configs under their `ksql.streams.` name."""
    return {**KSQL_DEFAULTS, **{STREAMS_PREFIX + k: v for k, v in STREAMS_DEFAULTS.items()}}
