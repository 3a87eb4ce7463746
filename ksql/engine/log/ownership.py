"""Which partitions of a query's input this server processes.

On the embedded log one server owns every partition. On Kafka, the servers of a
cluster (same ksql.service.id) join one consumer group per query and the group
coordinator splits the partitions between them, moving them when a server joins
or dies. A query asks its `Ownership` at each poll what it gained and lost since
the last poll, and restores or drops the state of those partitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

TopicPartition = tuple[str, int]


class Ownership(ABC):
    """The (topic, partition) pairs a query instance currently owns."""

    @abstractmethod
    def changes(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        """(gained, lost) since the last call; serves the group protocol when there is one."""

    @abstractmethod
    def owned(self) -> set[TopicPartition]: ...

    def close(self) -> None:  # noqa: B027 - only group memberships hold resources
        """Leave the group (the partitions move to the other members at once)."""


class OwnAll(Ownership):
    """Every partition of the given topics, from the first call on (a single server)."""

    def __init__(self, partitions: set[TopicPartition]):
        self._owned = set(partitions)
        self._pending = set(partitions)

    def changes(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        gained, self._pending = self._pending, set()
        return gained, set()

    def owned(self) -> set[TopicPartition]:
        return self._owned
