"""The log layer: topics of partitions of records, in memory, durable on local disk, or in Kafka
(`ksql.engine.log.kafka.KafkaLog`, imported on demand: it loads librdkafka)."""

from __future__ import annotations

from .base import (
    COMPACTED_SEGMENT_BYTES,
    NO_HEADERS,
    CorruptLogError,
    EncodedBatch,
    Header,
    InvalidTopicError,
    Log,
    LogClosedError,
    LogError,
    LogLockedError,
    PartitionOutOfRangeError,
    RebalanceError,
    Record,
    RecordBatch,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
)
from .embedded import FSYNC_POLICIES, EmbeddedLog, encode_batch
from .memory import MemoryLog
from .ownership import OwnAll, Ownership
from .partitioner import default_partition, murmur2


def open_log(path: str | None, fsync: str = "always", **options) -> Log:
    """A MemoryLog when `path` is None, else an EmbeddedLog rooted at `path` (created if needed).

    Extra keyword options go to EmbeddedLog (segment_bytes, fsync_interval_ms, ...)."""
    if path is None:
        return MemoryLog()
    return EmbeddedLog(path, fsync=fsync, **options)


__all__ = [
    "COMPACTED_SEGMENT_BYTES",
    "CorruptLogError",
    "EmbeddedLog",
    "EncodedBatch",
    "FSYNC_POLICIES",
    "Header",
    "InvalidTopicError",
    "Log",
    "LogClosedError",
    "LogError",
    "LogLockedError",
    "MemoryLog",
    "PartitionOutOfRangeError",
    "RebalanceError",
    "NO_HEADERS",
    "OwnAll",
    "Ownership",
    "Record",
    "RecordBatch",
    "TopicConfig",
    "TopicExistsError",
    "UnknownTopicError",
    "default_partition",
    "encode_batch",
    "murmur2",
    "open_log",
]
