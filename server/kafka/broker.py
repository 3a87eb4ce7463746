"""The broker's view of the server: one node serving every partition of the server's log.

Handlers reach the log, the engine lock and the query runner only through this object,
so a produce takes the same path as a REST insert (serialized with the engine's other
writers, then the runner is woken) and a fetch can wait for new data.
"""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaStorageError,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
)
from kafka.protocol.consumer import FetchResponse

from ksql.engine.log import Log, LogError, TopicConfig, UnknownTopicError
from server.kafka.groups import GroupCoordinator
from server.kafka.producers import ProducerIds, ProducerSequences, SequenceError
from server.kafka.records import (
    CONTROL,
    TRANSACTIONAL,
    CorruptBatchError,
    ProducedBatch,
    UnsupportedFormatError,
    encode_batch,
    split_batches,
)
from server.kafka.sasl import SaslPlain
from server.kafka.transactions import TransactionCoordinator

if TYPE_CHECKING:
    from server.core import KsqlServer

NODE_ID = 0
READ_COMMITTED = 1  # Fetch's isolation level
AbortedTransaction = FetchResponse.FetchableTopicResponse.PartitionData.AbortedTransaction
_CONTROL_KEY = struct.Struct(">hh")  # a marker's key: version, type (0 abort, 1 commit)
_CONTROL_VALUE = struct.Struct(">hi")  # version, coordinator epoch


@dataclass
class Appended:
    """What became of one partition's records of a Produce request."""

    error_code: int = 0
    base_offset: int = -1
    log_start_offset: int = -1
    message: str | None = None


class Broker:
    """Node NODE_ID at host:port, over `server`'s log."""

    def __init__(self, server: KsqlServer, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.node_id = NODE_ID
        self.cluster_id = server.cluster_id
        self.producer_ids = ProducerIds()
        self.sequences = ProducerSequences()
        # Fetches waiting for data wait on this; set by every append made through the broker
        self.appended: asyncio.Event | None = None
        self.sasl = SaslPlain.from_config(server.config)  # None: clients need not authenticate
        self.groups = GroupCoordinator()
        self.transactions = TransactionCoordinator(self)

    @property
    def log(self) -> Log:
        log = self.server.log
        if log is None:
            raise LogError("the server is shutting down")
        return log

    def topic_id(self, topic: str) -> uuid.UUID:
        """A stable id per topic name (Metadata v10+ and Fetch v13+ name topics by id too)."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.cluster_id}/{topic}")

    # -- writes: blocking (they take the engine lock), call them from a worker thread -----------------

    def create_topic(self, name: str, config: TopicConfig) -> None:
        """Create a topic in the log (raises TopicExistsError, InvalidTopicError)."""
        with self.server.writing() as engine:
            engine.log.create_topic(name, config)

    def delete_topic(self, name: str) -> None:
        with self.server.writing() as engine:
            engine.log.delete_topic(name)
            self.sequences.forget_topic(name)

    def alter_topic(self, name: str, config: TopicConfig) -> None:
        with self.server.writing() as engine:
            engine.log.alter_topic(name, config)

    def produce(self, topic: str, partition: int, records: bytes) -> Appended:
        """Append a Produce request's batches for one partition, each stored as the producer sent it,
        under the engine lock (which serializes them with every other writer and the producers'
        sequence checks); the query runner is woken afterwards, as for a REST insert."""
        try:
            batches = split_batches(records)
        except UnsupportedFormatError as err:
            return Appended(UnsupportedForMessageFormatError.errno, message=str(err))
        except CorruptBatchError as err:
            return Appended(CorruptRecordError.errno, message=f"{topic}-{partition}: {err}")
        try:
            with self.server.writing() as engine:
                return self._append(engine.log, topic, partition, batches)
        except UnknownTopicError as err:
            return Appended(UnknownTopicOrPartitionError.errno, message=str(err))
        except (LogError, OSError) as err:
            return Appended(KafkaStorageError.errno, message=f"{topic}-{partition}: {err}")

    def _append(self, log: Log, topic: str, partition: int, batches: list[ProducedBatch]) -> Appended:
        if not 0 <= partition < log.partitions(topic):
            return Appended(UnknownTopicOrPartitionError.errno,
                            message=f"topic {topic!r} has no partition {partition}")
        first_offset = -1
        for b in batches:
            if b.control:  # markers are the transaction coordinator's to write
                return Appended(InvalidRecordError.errno, first_offset,
                                message=f"{topic}-{partition}: producers may not write control batches")
            if b.transactional:
                error = self.transactions.produce_error(b.producer_id, b.producer_epoch, topic, partition)
                if error:
                    return Appended(error, first_offset, message=f"{topic}-{partition}: producer {b.producer_id} "
                                    f"epoch {b.producer_epoch} has no open transaction with this partition")
            idempotent = b.producer_id >= 0 and b.base_sequence >= 0
            if idempotent:
                try:
                    duplicate = self.sequences.check(topic, partition, b.producer_id, b.producer_epoch,
                                                     b.base_sequence, b.last_sequence)
                except SequenceError as err:
                    return Appended(err.errno, first_offset, message=str(err))
                if duplicate is not None:  # a retry of a batch already appended: acknowledged again
                    first_offset = duplicate if first_offset < 0 else first_offset
                    continue
            if not b.count:
                continue
            base = log.append_kafka_batch(topic, partition, b.raw, b.count, b.max_timestamp)[0]
            if idempotent:
                self.sequences.appended(topic, partition, b.producer_id, b.producer_epoch, b.base_sequence,
                                        b.last_sequence, base)
            first_offset = base if first_offset < 0 else first_offset
        return Appended(0, first_offset, log.start_offset(topic, partition))

    # -- transactions plug in here ----------------------------------------------------------------------

    def last_stable_offset(self, topic: str, partition: int, end: int, isolation_level: int) -> int:
        """Where read_committed consumers stop: below the first offset of a transaction still open on
        the partition (read_uncommitted ones read on to the end)."""
        if isolation_level != READ_COMMITTED:
            return end
        return self.log.txn_index.stable_end(topic, partition, end)

    def aborted_transactions(self, topic: str, partition: int, start: int, stable: int,
                             isolation_level: int) -> list | None:
        """Fetch's AbortedTransaction entries (producer id, first offset) in [start, stable) that a
        read_committed consumer must drop."""
        if isolation_level != READ_COMMITTED:
            return None
        return [AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
                for t in self.log.txn_index.aborted(topic, partition, start, stable)]

    def append_marker(self, topic: str, partition: int, producer_id: int, producer_epoch: int,
                      commit: bool) -> int:
        """Write the commit or abort marker of producer_id's transaction into a partition: a control
        batch, as Kafka's coordinator writes it (blocking)."""
        raw = encode_batch(0, [0], [_CONTROL_KEY.pack(0, 1 if commit else 0)], [_CONTROL_VALUE.pack(0, 0)],
                           [int(time.time() * 1000)], [()], TRANSACTIONAL | CONTROL, producer_id, producer_epoch)
        with self.server.writing() as engine:
            return engine.log.append_kafka_batch(topic, partition, raw, 1, int(time.time() * 1000))[0]

    # -- on the listener's event loop ---------------------------------------------------------------

    def notify_appended(self) -> None:
        """Wake the fetches waiting for data."""
        if self.appended is not None:
            self.appended.set()
            self.appended = asyncio.Event()
