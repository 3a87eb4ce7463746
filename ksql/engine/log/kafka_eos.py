"""Exactly-once persistent queries on Kafka (`processing.guarantee=exactly_once_v2`).

`ExactlyOnceKafkaLog` wraps a KafkaLog. Inside `transactions()` (the runner thread,
while it polls persistent queries) appends and offset commits are held back;
`flush()`, called after each query's poll, writes what that poll held as one Kafka
transaction of the query's own transactional producer: its sink, repartition and
changelog records, then its consumed offsets (`send_offsets_to_transaction` with
the group's metadata), then the commit. A read_committed reader (KafkaLog's reader,
so also a changelog's restore) sees all of a poll's output or none of it, and the
offsets move only with it.

The transactional id is `<query's consumer group>-<instance>` (the group names the
service id and the query id; the instance is the server's advertised host): the
same after a restart, so the restarted server's producer, made as the query joins
its group, fences the one that died (`init_transactions` aborts the transaction it
left open and bumps the epoch), and
distinct per server of a cluster, which each process their own partitions of the
group; a server that lost partitions in a rebalance is fenced by the group
generation carried with the offsets it sends.

A failed transaction is aborted (a producer fenced or in a fatal state is dropped,
and the next flush starts a new one) and the error raised: the supervisor drops
what the poll held and rebuilds the query from the committed state, so its input
is processed again from the committed offsets and its output lands once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from .base import LogError, RebalanceError, Record, RecordBatch
from .kafka import KafkaLog
from .ownership import Ownership
from .wrapping import WrappingLog

log = logging.getLogger("ksql.log.kafka.eos")

_TIMEOUT = 30.0  # seconds a transaction's init, offsets or commit may take
_COMMIT_ATTEMPTS = 3  # a commit that fails with a retriable error is tried this often
# the group coordinator refusing the offsets: the group was rebalanced and the partitions may be another's
_REBALANCE = (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
              KafkaError.FENCED_INSTANCE_ID, KafkaError._ASSIGNMENT_LOST)


class _Held:
    """What one poll holds back: appends in order, and the offsets committed per group."""

    __slots__ = ("appends", "commits")

    def __init__(self) -> None:
        self.appends: list[tuple[str, int, RecordBatch]] = []
        self.commits: dict[str, dict[tuple[str, int], int]] = {}

    def clear(self) -> None:
        self.appends.clear()
        self.commits.clear()


class ExactlyOnceKafkaLog(WrappingLog):
    """A KafkaLog whose persistent queries write each poll as one Kafka transaction (module docstring)."""

    distributed = True

    def __init__(self, inner: KafkaLog, instance: str):
        self.inner = inner
        self.instance = instance
        self._local = threading.local()
        self._producers: dict[str, Producer] = {}  # consumer group -> its transactional producer

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transactions(self) -> Iterator[None]:
        """Hold this thread's appends and commits until flush() (and at the end of the block); after an
        exception what is held is dropped: its input was not committed and will be processed again."""
        self._local.held = _Held()
        try:
            yield
        except BaseException:
            self._local.held = None
            raise
        try:
            self.flush()
        finally:
            self._local.held = None

    def _held(self) -> _Held | None:
        return getattr(self._local, "held", None)

    def rollback(self) -> None:
        """Drop what this thread holds: its input was not committed and will be processed again."""
        held = self._held()
        if held is not None:
            held.clear()

    def finish(self) -> None:
        """Nothing to roll forward: a Kafka transaction is committed whole or aborted."""

    def flush(self) -> None:
        """Write what this thread holds as one transaction of the committing query's producer."""
        held = self._held()
        if held is None or not (held.appends or held.commits):
            return
        try:
            if not held.commits:  # output of no query's input (nothing consumed): written as it is
                for topic, partition, batch in held.appends:
                    self.inner.append_batch(topic, partition, batch)
                return
            self._commit_transaction(held)
        finally:
            held.clear()

    def _commit_transaction(self, held: _Held) -> None:
        group = next(iter(held.commits))
        producer = self._producer(group)
        try:
            producer.begin_transaction()
            for topic, partition, batch in held.appends:
                self._produce(producer, topic, partition, batch)
            for committing, offsets in held.commits.items():
                producer.send_offsets_to_transaction(
                    [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                    self.inner.group_metadata(committing), _TIMEOUT)
            self._commit(producer)
        except KafkaException as err:
            self._abort(group, producer, err)
            error = err.args[0] if err.args else err
            refused = RebalanceError if isinstance(error, KafkaError) and error.code() in _REBALANCE else LogError
            raise refused(f"transaction of group {group}: {error}") from None
        except BaseException:
            self._abort(group, producer, None)
            raise
        for committing, offsets in held.commits.items():
            self.inner.remember_committed(committing, offsets)

    def _producer(self, group: str) -> Producer:
        """The group's transactional producer, its transactions initialised (which fences an older one)."""
        producer = self._producers.get(group)
        if producer is None:
            producer = Producer({**self.inner.conf, "transactional.id": f"{group}-{self.instance}",
                                 "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                                 "batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000})
            try:
                producer.init_transactions(_TIMEOUT)
            except KafkaException as err:
                raise LogError(f"transactions of group {group}: {err.args[0] if err.args else err}") from None
            self._producers[group] = producer
        return producer

    @staticmethod
    def _produce(producer: Producer, topic: str, partition: int, batch: RecordBatch) -> None:
        for key, value, ts, headers in zip(batch.keys, batch.values, batch.timestamps, batch.headers, strict=True):
            while True:
                try:
                    producer.produce(topic, value=value, key=key, partition=partition, timestamp=max(0, ts),
                                     headers=list(headers) if headers else None)
                    break
                except BufferError:  # the producer's queue is full: let it send, then go on
                    producer.poll(0.05)

    @staticmethod
    def _commit(producer: Producer) -> None:
        """Commit the open transaction, retrying what the client says may be retried."""
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                producer.commit_transaction(_TIMEOUT)
                return
            except KafkaException as err:
                error = err.args[0] if err.args else None
                if attempt == _COMMIT_ATTEMPTS or not isinstance(error, KafkaError) or not error.retriable():
                    raise

    def _abort(self, group: str, producer: Producer, err: KafkaException | None) -> None:
        """Abort the open transaction; a producer that cannot go on (fenced, fatal) is dropped."""
        error = err.args[0] if err is not None and err.args else None
        if isinstance(error, KafkaError) and error.fatal():
            log.warning("transactional producer of group %s: %s: replaced", group, error)
            self._producers.pop(group, None)
            return
        try:
            producer.abort_transaction(_TIMEOUT)
        except KafkaException as again:
            log.warning("transactional producer of group %s cannot abort (%s): replaced", group, again)
            self._producers.pop(group, None)

    # -- writes: held inside transactions(), else the KafkaLog's ----------------------------------

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        held = self._held()
        if held is None:
            return self.inner.append(topic, partition, records)
        self._hold(held, topic, partition, RecordBatch.of(records))
        return []

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> Sequence[int]:
        held = self._held()
        if held is None:
            return self.inner.append_batch(topic, partition, batch)
        self._hold(held, topic, partition, batch)
        return []

    def _hold(self, held: _Held, topic: str, partition: int, batch: RecordBatch) -> None:
        """Keep the records for the transaction (their offsets are the broker's to give: none returned)."""
        self.inner.topic_config(topic)  # an unknown topic fails now, in the query that wrote to it
        if len(batch):
            held.appends.append((topic, partition, batch))

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        held = self._held()
        if held is None:
            self.inner.commit(group, offsets)
        else:  # past the markers of the transactions read, or a query of their output never ends its lag
            held.commits.setdefault(group, {}).update(
                {(t, p): self.inner.past_markers(t, p, o) for (t, p), o in offsets.items()})

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        held = self._held()
        if held is not None and (topic, partition) in held.commits.get(group, {}):
            return held.commits[group][(topic, partition)]  # this poll's own, not yet committed
        return self.inner.committed(group, topic, partition)

    # -- connector writes: the KafkaLog's own transactions ---------------------------------------

    def transaction(self, transactional_id: str) -> AbstractContextManager[None]:
        """A connector's write as one transaction of `transactional_id` (KafkaLog.transaction): its thread
        holds nothing for a query's poll, so its appends reach the KafkaLog, inside that transaction."""
        return self.inner.transaction(transactional_id)

    def restart_transactions(self, transactional_id: str) -> None:
        """Fence the id's previous producer (KafkaLog.restart_transactions)."""
        self.inner.restart_transactions(transactional_id)

    # -- the rest of the Log interface: the KafkaLog's -------------------------------------------

    def join_group(self, group: str, topics: Sequence[str]) -> Ownership:
        """Membership of the group, its producer's transactions initialised first: the transaction a
        dead predecessor left open is aborted before this server restores state or reads, instead of
        holding back read_committed readers until it times out. A failure here is retried at the
        first flush."""
        try:
            self._producer(group)
        except LogError as err:
            log.warning("%s", err)
        return self.inner.join_group(group, topics)

    def close(self) -> None:
        for group, producer in self._producers.items():
            if producer.flush(_TIMEOUT):
                log.warning("transactional producer of group %s: records not sent at close", group)
        self._producers.clear()
        self.inner.close()
