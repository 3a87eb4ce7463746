"""The Log interface: what every log implementation (embedded, in-memory, Kafka) provides.

The engine sees topics of numbered partitions holding records at consecutive
offsets, and consumer-group offsets committed per (group, topic, partition).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

Header = tuple[str, bytes | None]


@dataclass(slots=True)
class Record:
    """One record as stored: bytes in, bytes out. `offset` and `partition` are set on read."""

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: list[Header] = field(default_factory=list)
    offset: int = -1
    partition: int = -1


@dataclass(frozen=True)
class TopicConfig:
    """A topic's settings. retention_ms / retention_bytes of -1 mean unlimited."""

    partitions: int = 1
    replicas: int = 1
    retention_ms: int = -1
    retention_bytes: int = -1
    cleanup_policy: str = "delete"  # delete | compact


class TopicExistsError(Exception):
    pass


class UnknownTopicError(Exception):
    pass


class Log(ABC):
    """Topics of partitions of records; durable in the embedded and Kafka implementations."""

    @abstractmethod
    def create_topic(self, name: str, config: TopicConfig = TopicConfig()) -> None:
        """Create a topic; raises TopicExistsError if it exists."""

    @abstractmethod
    def delete_topic(self, name: str) -> None:
        """Delete a topic and its data; raises UnknownTopicError if absent."""

    @abstractmethod
    def topic_exists(self, name: str) -> bool: ...

    @abstractmethod
    def topic_config(self, name: str) -> TopicConfig:
        """Raises UnknownTopicError if absent."""

    @abstractmethod
    def list_topics(self) -> list[str]: ...

    @abstractmethod
    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        """Append records to one partition and return their offsets.

        When this returns, the records are acknowledged: they survive a crash of
        the process (kill -9) in durable implementations.
        """

    @abstractmethod
    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        """Records at offsets >= `offset`, in order, at most `max_records`.

        Offsets removed by retention are skipped: reading from below the start
        offset begins at the start offset.
        """

    @abstractmethod
    def start_offset(self, topic: str, partition: int) -> int:
        """The lowest offset still held (retention moves it forward)."""

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record will get."""

    @abstractmethod
    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Durably record, for a consumer group, the next offset to read per (topic, partition)."""

    @abstractmethod
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The offset last committed for the group, or None."""

    @abstractmethod
    def close(self) -> None: ...
