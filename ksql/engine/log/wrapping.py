"""A log around another log: topics are managed and read by the wrapped one, unchanged.

The exactly-once wrappers (the server's journaled TransactionalLog on the embedded log,
ExactlyOnceKafkaLog on Kafka) change how a poll's appends and commits are written, not how
topics are created or read; they subclass this and override only what they change.
"""

from __future__ import annotations

from typing import Any

from .base import Log, Record, RecordBatch, TopicConfig

_DEFAULT_TOPIC = TopicConfig()


class WrappingLog(Log):
    """Passes topic management and reads to `inner` (set by the subclass's constructor)."""

    inner: Log

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        return self.inner.read(topic, partition, offset, max_records)

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        return self.inner.read_batch(topic, partition, offset, max_records)

    def read_undecoded(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> Any:
        return self.inner.read_undecoded(topic, partition, offset, max_records)

    def create_topic(self, name: str, config: TopicConfig = _DEFAULT_TOPIC) -> None:
        self.inner.create_topic(name, config)

    def delete_topic(self, name: str) -> None:
        self.inner.delete_topic(name)

    def alter_topic(self, name: str, config: TopicConfig) -> None:
        self.inner.alter_topic(name, config)

    def topic_exists(self, name: str) -> bool:
        return self.inner.topic_exists(name)

    def topic_config(self, name: str) -> TopicConfig:
        return self.inner.topic_config(name)

    def list_topics(self) -> list[str]:
        return self.inner.list_topics()

    def start_offset(self, topic: str, partition: int) -> int:
        return self.inner.start_offset(topic, partition)

    def end_offset(self, topic: str, partition: int) -> int:
        return self.inner.end_offset(topic, partition)

    def partitions(self, topic: str) -> int:
        return self.inner.partitions(topic)

    def size_bytes(self, topic: str) -> int | None:
        return self.inner.size_bytes(topic)
