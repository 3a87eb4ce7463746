"""The broker's view of the server: one node serving every partition of the server's log.

Handlers reach the log, the engine lock and the query runner only through this object,
so a produce takes the same path as a REST insert (serialized with the engine's other
writers, then the runner is woken) and a fetch can wait for new data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ksql.engine.log import Log, RecordBatch, TopicConfig
from server.kafka.groups import GroupCoordinator
from server.kafka.transactions import TransactionCoordinator

if TYPE_CHECKING:
    from server.core import KsqlServer

NODE_ID = 0


class Broker:
    """Node NODE_ID at host:port, over `server`'s log."""

    def __init__(self, server: KsqlServer, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.node_id = NODE_ID
        self.cluster_id = server.cluster_id
        # Fetches waiting for data wait on this; set by every append made through the broker
        self.appended: asyncio.Event | None = None
        self.groups = GroupCoordinator()
        self.transactions = TransactionCoordinator(self)

    @property
    def log(self) -> Log:
        log = self.server.log
        if log is None:
            raise RuntimeError("the server is shutting down")
        return log

    def topic_id(self, topic: str) -> uuid.UUID:
        """A stable id per topic name (Metadata v10+ and Fetch v13+ name topics by id too)."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.cluster_id}/{topic}")

    def append(self, topic: str, partition: int, batch: RecordBatch) -> Sequence[int]:
        """Append as the engine's other writers do: under the engine lock, then wake the query runner.
        Blocking: call it from a worker thread."""
        with self.server.writing() as engine:
            return engine.log.append_batch(topic, partition, batch)

    def append_transactional(self, topic: str, partition: int, batch: RecordBatch,
                             producer_id: int) -> Sequence[int]:
        """append() of records in producer_id's open Kafka transaction (see server.kafka.transactions).
        Blocking: call it from a worker thread."""
        with self.server.writing() as engine:
            return engine.log.append_transactional(topic, partition, batch, producer_id)

    def append_marker(self, topic: str, partition: int, producer_id: int, producer_epoch: int,
                      commit: bool) -> int:
        """Write the commit or abort marker of producer_id's transaction into a partition. Blocking."""
        with self.server.writing() as engine:
            return engine.log.append_marker(topic, partition, producer_id, producer_epoch, commit)

    def notify_appended(self) -> None:
        """Wake the fetches waiting for data (call on the listener's event loop)."""
        if self.appended is not None:
            self.appended.set()
            self.appended = asyncio.Event()

    def create_topic(self, name: str, config: TopicConfig) -> None:
        """Create a topic in the log (raises TopicExistsError, InvalidTopicError). Blocking."""
        with self.server.writing() as engine:
            engine.log.create_topic(name, config)
