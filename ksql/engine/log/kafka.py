"""KafkaLog: the Log interface over a Kafka cluster, through confluent-kafka.

- Writes go through one idempotent producer; `append()` returns once the
  broker acknowledged every record (acks=all), so appended means durable.
  Inside `transaction(id)` a thread's appends go into one Kafka transaction
  instead: read_committed readers (every reader here) see all of them or none.
- Reads at arbitrary (topic, partition, offset) go through one consumer with
  manually assigned partitions and a small buffer per partition: sequential
  reads (what queries, views and replays do) stream from the buffer, a read
  elsewhere re-positions that partition. A read returns nothing only when the
  partition holds nothing more (as far as the broker's high watermark says), so
  "read until empty" loops (command-topic replay, changelog restore) see all.
- Consumer-group offsets are committed through the group's member consumer when
  this process is a member (queries that split partitions across servers), else
  through a consumer of that group outside any generation.
- `join_group()` makes this process a member of a query's consumer group:
  partitions are assigned by the group coordinator and move between servers.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from .base import (
    NO_HEADERS,
    Log,
    LogClosedError,
    LogError,
    PartitionOutOfRangeError,
    RebalanceError,
    Record,
    RecordBatch,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
    validate_topic,
)
from .ownership import Ownership

log = logging.getLogger("ksql.log.kafka")

_TIMEOUT = 30.0  # seconds an admin or commit request may take
_BUFFER_HIGH = 20_000  # records buffered per partition before its fetching pauses
_CATCH_UP_WAIT = 5.0  # seconds a read waits for records the broker says exist
_INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")
# a transaction is one write of records; one a dead process left open blocks read_committed readers until
# the broker aborts it after this long (or the next producer of its id starts)
_TRANSACTION_TIMEOUT_MS = 10_000
_DEFAULT_CONFIG = TopicConfig()


def _raise(err: KafkaError | KafkaException, what: str) -> NoReturn:
    """The LogError subclass that says what failed."""
    error = err.args[0] if isinstance(err, KafkaException) and err.args else err
    code = error.code() if isinstance(error, KafkaError) else None
    if code == KafkaError.TOPIC_ALREADY_EXISTS:
        raise TopicExistsError(what) from None
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
        raise UnknownTopicError(what) from None
    if code in (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
                KafkaError._ASSIGNMENT_LOST, KafkaError.FENCED_INSTANCE_ID):
        raise RebalanceError(f"{what}: {error}") from None
    raise LogError(f"{what}: {error}") from None


class _Partition:
    """What the reader holds for one assigned partition."""

    __slots__ = ("buffer", "next_read", "paused", "stuck_at")

    def __init__(self, offset: int) -> None:
        self.buffer: deque = deque()  # fetched messages not yet returned, in offset order
        self.next_read = offset  # the offset a sequential read asks for next
        self.paused = False
        self.stuck_at = -1  # an offset we waited at in vain (e.g. only a transaction marker follows)


class _Reader:
    """One consumer reading any partition from any offset (no group: manual assignment)."""

    def __init__(self, conf: dict, appended_end: dict[tuple[str, int], int]):
        self.consumer = Consumer({
            **conf,
            "group.id": f"_ksql-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 20,
            "isolation.level": "read_committed",
        })
        self.parts: dict[tuple[str, int], _Partition] = {}
        self.appended_end = appended_end
        self.lock = threading.Lock()

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list:
        with self.lock:
            part = self._position(topic, partition, offset)
            if len(part.buffer) < max_records:  # only as needed: a sequential reader's partition never fills
                self._drain(0)                  # its buffer, so it is never paused (no prefetch lost)
            if not part.buffer and self._behind(topic, partition, part):
                deadline = time.monotonic() + _CATCH_UP_WAIT
                while not part.buffer and time.monotonic() < deadline:
                    self._drain(0.05)
                if not part.buffer:
                    part.stuck_at = part.next_read
            buffer = part.buffer
            take = buffer.popleft
            out = [take() for _ in range(min(len(buffer), max_records))]
            if out:
                part.next_read = out[-1].offset() + 1
            if part.paused and len(buffer) < _BUFFER_HIGH // 2:
                self.consumer.resume([TopicPartition(topic, partition)])
                part.paused = False
            return out

    def _position(self, topic: str, partition: int, offset: int) -> _Partition:
        """The partition's state, re-positioned when `offset` is not where reading left off."""
        key = (topic, partition)
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = _Partition(offset)
            self.consumer.incremental_assign([TopicPartition(topic, partition, offset)])
            return part
        if offset == part.next_read:
            return part
        buffer = part.buffer
        if buffer and buffer[0].offset() <= offset <= buffer[-1].offset():
            while buffer[0].offset() < offset:
                buffer.popleft()
            part.next_read = offset
            return part
        tp = TopicPartition(topic, partition)
        self.consumer.incremental_unassign([tp])
        self.consumer.incremental_assign([TopicPartition(topic, partition, offset)])
        part.buffer.clear()
        part.next_read = offset
        part.paused = False
        return part

    def _drain(self, timeout: float) -> None:
        """Move what the consumer fetched into the partitions' buffers (waiting up to `timeout` for
        the first message), a partition's run of messages at a time: per-message Python work is
        what a fast reader cannot afford."""
        messages = self.consumer.consume(num_messages=10_000, timeout=0)
        if not messages and timeout:  # wait for the first message only: consume() would wait for 10,000
            first = self.consumer.poll(timeout)
            if first is None:
                return
            messages = [first, *self.consumer.consume(num_messages=9_999, timeout=0)]
        if not messages:
            return
        if any(map(Message.error, messages)):
            for msg in messages:
                error = msg.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reading %s-%s: %s", msg.topic(), msg.partition(), error)
            messages = [m for m in messages if m.error() is None]
            if not messages:
                return
        topics = list(map(Message.topic, messages))
        partitions = list(map(Message.partition, messages))
        n = len(messages)
        if topics.count(topics[0]) == n and partitions.count(partitions[0]) == n:  # the usual case
            self._take(topics[0], partitions[0], messages)
            return
        start = 0
        while start < n:
            topic, partition = topics[start], partitions[start]
            end = start + 1
            while end < n and partitions[end] == partition and topics[end] == topic:
                end += 1
            self._take(topic, partition, messages[start:end])
            start = end

    def _take(self, topic: str, partition: int, run: list[Message]) -> None:
        """Buffer a run of fetched messages of one partition (in offset order)."""
        part = self.parts.get((topic, partition))
        if part is None:
            return
        last = part.buffer[-1].offset() if part.buffer else part.next_read - 1
        if run[0].offset() <= last:  # fetched before a re-positioning
            run = [m for m in run if m.offset() > last]
        part.buffer.extend(run)
        if len(part.buffer) >= _BUFFER_HIGH and not part.paused:
            self.consumer.pause([TopicPartition(topic, partition)])
            part.paused = True

    def _behind(self, topic: str, partition: int, part: _Partition) -> bool:
        """Does the partition hold records at or after next_read that we have not fetched yet?

        A transaction's marker is an offset below the high watermark that no reader gets as a record:
        the consumer steps over it (its position passes it), and that is not waited for."""
        if part.stuck_at == part.next_read:
            return False
        at = max(part.next_read, self.consumer.position([TopicPartition(topic, partition)])[0].offset)
        return at < self.high_watermark(topic, partition)

    def past_markers(self, topic: str, partition: int, offset: int) -> int:
        """`offset`, or where reading continues when the read that ended there stepped over transaction
        markers after it (the offset a Kafka consumer's position, and so its commit, would be)."""
        with self.lock:
            part = self.parts.get((topic, partition))
            if part is None or part.next_read != offset:
                return offset
            if part.buffer:
                part.next_read = part.buffer[0].offset()
            else:
                part.next_read = max(offset, self.consumer.position([TopicPartition(topic, partition)])[0].offset)
            return part.next_read

    def high_watermark(self, topic: str, partition: int) -> int:
        """The offset after the partition's last record, as best known.

        The latest fetch response's watermark when there is one; a ListOffsets answer can
        lag it (some brokers answer the last batch's base offset + 1), so the highest of
        the two and of what this process appended itself is taken.
        """
        tp = TopicPartition(topic, partition)
        high = -1
        if (topic, partition) in self.parts:
            high = self.consumer.get_watermark_offsets(tp, cached=True)[1]
        if high is None or high < 0:
            high = self.consumer.get_watermark_offsets(tp, timeout=_TIMEOUT)[1]
        return max(high, self.appended_end.get((topic, partition), 0))

    def forget(self, topic: str) -> None:
        with self.lock:
            gone = [k for k in self.parts if k[0] == topic]
            if gone:
                self.consumer.incremental_unassign([TopicPartition(t, p) for t, p in gone])
            for k in gone:
                del self.parts[k]

    def close(self) -> None:
        with self.lock:
            self.consumer.close()


class GroupMembership(Ownership):
    """This process as one member of a consumer group; the coordinator assigns the partitions.

    The member never fetches (its partitions are paused as they arrive): reading goes
    through the log's reader at the offsets the query asks for. It is polled by
    `changes()`, which serves heartbeats' rebalance callbacks.
    """

    def __init__(self, conf: dict, group: str, topics: Sequence[str]):
        self.group = group
        self.consumer = Consumer({
            **conf,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(conf.get("session.timeout.ms", 6000)),
            "heartbeat.interval.ms": int(conf.get("heartbeat.interval.ms", 1000)),
            "partition.assignment.strategy": "range",
        })
        self._owned: set[tuple[str, int]] = set()
        self._gained: set[tuple[str, int]] = set()
        self._lost: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        consumer.pause(partitions)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._owned.add(key)
            self._gained.add(key)
            self._lost.discard(key)
        log.info("%s: assigned %s", self.group, sorted((tp.topic, tp.partition) for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._owned.discard(key)
            if key in self._gained:
                self._gained.discard(key)
            else:
                self._lost.add(key)
        log.info("%s: revoked %s", self.group, sorted((tp.topic, tp.partition) for tp in partitions))

    def changes(self) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        with self.lock:
            msg = self.consumer.poll(0)
            if msg is not None and msg.error() is not None:
                log.warning("%s: %s", self.group, msg.error())
            gained, lost = self._gained, self._lost
            self._gained, self._lost = set(), set()
            return gained, lost

    def owned(self) -> set[tuple[str, int]]:
        return set(self._owned)

    def commit(self, offsets: list[TopicPartition]) -> None:
        with self.lock:
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def committed(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        with self.lock:
            return self.consumer.committed(partitions, timeout=_TIMEOUT)

    def close(self) -> None:
        with self.lock:
            self.consumer.close()


class KafkaLog(Log):
    """Topics, records and consumer-group offsets kept in a Kafka cluster."""

    distributed = True

    def __init__(self, bootstrap_servers: str, config: dict[str, str] | None = None):
        self.bootstrap_servers = bootstrap_servers
        self.conf = {"bootstrap.servers": bootstrap_servers, **(config or {})}
        self.admin = AdminClient(self.conf)
        self.producer = Producer({**self.conf, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                                  "batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000})
        self._appended_end: dict[tuple[str, int], int] = {}
        self._sends = threading.local()  # per thread: the failures of its send_batch() calls
        self.reader = _Reader(self.conf, self._appended_end)
        self._topics: dict[str, TopicConfig] = {}
        self._members: dict[str, GroupMembership] = {}
        self._committers: dict[str, Consumer] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._transactional: dict[str, Producer] = {}
        self._in_transaction = threading.local()  # .producer: the transactional producer of this thread's appends
        self._lock = threading.RLock()
        self._closed = False
        self._check_reachable()

    def _check_reachable(self) -> None:
        try:
            self.admin.list_topics(timeout=10)
        except KafkaException as err:
            raise LogError(f"Cannot reach the Kafka cluster at {self.bootstrap_servers}: {err}") from None

    # -- topics ----------------------------------------------------------------------------------

    def create_topic(self, name: str, config: TopicConfig = _DEFAULT_CONFIG) -> None:
        validate_topic(name, config)
        self._check_open()
        topic_config = {"cleanup.policy": config.cleanup_policy}
        if config.retention_ms != -1:
            topic_config["retention.ms"] = str(config.retention_ms)
        if config.retention_bytes != -1:
            topic_config["retention.bytes"] = str(config.retention_bytes)
        if config.segment_bytes != -1:
            topic_config["segment.bytes"] = str(config.segment_bytes)
        if config.compacted and config.delete_retention_ms != _DEFAULT_CONFIG.delete_retention_ms:
            topic_config["delete.retention.ms"] = str(config.delete_retention_ms)
        future = self.admin.create_topics([NewTopic(name, num_partitions=config.partitions,
                                                    replication_factor=max(1, config.replicas),
                                                    config=topic_config)])[name]
        try:
            future.result(_TIMEOUT)
        except KafkaException as err:
            _raise(err, f"create topic {name}")
        self._wait_for_metadata(name)
        self._topics[name] = config

    def _wait_for_metadata(self, name: str) -> None:
        deadline = time.monotonic() + _TIMEOUT
        while time.monotonic() < deadline:
            topic = self.admin.list_topics(timeout=_TIMEOUT).topics.get(name)
            if topic is not None and topic.error is None and topic.partitions:
                return
            time.sleep(0.05)
        raise LogError(f"topic {name} was created but does not show in the cluster's metadata")

    def delete_topic(self, name: str) -> None:
        self._check_open()
        if not self.topic_exists(name):
            raise UnknownTopicError(name)
        try:
            self.admin.delete_topics([name])[name].result(_TIMEOUT)
        except KafkaException as err:
            _raise(err, f"delete topic {name}")
        self._topics.pop(name, None)
        self.reader.forget(name)
        with self._lock:
            for key in [k for k in self._committed if k[1] == name]:
                del self._committed[key]
            for key in [k for k in self._appended_end if k[0] == name]:
                del self._appended_end[key]

    def topic_exists(self, name: str) -> bool:
        if name in self._topics:
            return True
        try:
            self.topic_config(name)
            return True
        except UnknownTopicError:
            return False

    def topic_config(self, name: str) -> TopicConfig:
        cached = self._topics.get(name)
        if cached is not None:
            return cached
        self._check_open()
        try:  # all topics: a metadata request naming a missing topic may create it (auto-create)
            topic = self.admin.list_topics(timeout=_TIMEOUT).topics.get(name)
        except KafkaException as err:
            _raise(err, f"describe topic {name}")
        if topic is None or topic.error is not None or not topic.partitions:
            raise UnknownTopicError(name)
        replicas = max((len(p.replicas) for p in topic.partitions.values()), default=1)
        config = TopicConfig(partitions=len(topic.partitions), replicas=max(1, replicas),
                             cleanup_policy=self._cleanup_policy(name))
        self._topics[name] = config
        return config

    def _cleanup_policy(self, name: str) -> str:
        try:
            resource = ConfigResource(ConfigResource.Type.TOPIC, name)
            configs = self.admin.describe_configs([resource])[resource].result(_TIMEOUT)
            entry = configs.get("cleanup.policy")
            return entry.value if entry is not None and entry.value else "delete"
        except KafkaException:
            return "delete"

    def list_topics(self) -> list[str]:
        self._check_open()
        try:
            topics = self.admin.list_topics(timeout=_TIMEOUT).topics
        except KafkaException as err:
            _raise(err, "list topics")
        return sorted(t for t in topics if t not in _INTERNAL_TOPICS)

    # -- records ---------------------------------------------------------------------------------

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        return list(self.append_batch(topic, partition, RecordBatch.of(records)))

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> Sequence[int]:
        """Produce the records, then wait until the broker acknowledged every one of them."""
        self._check_partition(topic, partition)
        offsets: list[int] = []  # one partition, idempotent producer: delivered in produce order
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, msg) -> None:
            if err is not None:
                errors.append(err)
            else:
                offsets.append(msg.offset())

        self._produce(topic, partition, batch, delivered)
        self._flush(f"append to {topic}-{partition}")
        if errors:
            _raise(errors[0], f"append to {topic}-{partition}")
        if offsets:
            self._appended(topic, partition, offsets[-1] + 1)
        return offsets

    def send_batch(self, topic: str, partition: int, batch: RecordBatch) -> None:
        """Produce the records; the producer sends them while the caller goes on (wait_for_sends())."""
        self._check_partition(topic, partition)
        if not len(batch):
            return
        failed = self._send_failures()

        def delivered(err: KafkaError | None, msg) -> None:
            if err is not None:
                failed.append((f"append to {topic}-{partition}", err))

        def last_delivered(err: KafkaError | None, msg) -> None:  # records of a partition arrive in order
            delivered(err, msg)
            if err is None:
                self._appended(topic, partition, msg.offset() + 1)

        self._produce(topic, partition, batch, delivered, last_delivered)

    def wait_for_sends(self) -> None:
        """One flush for every batch sent: the broker acknowledged them all, or LogError says which failed."""
        self._flush("send")
        failed = self._send_failures()
        if failed:
            what, err = failed[0]
            failed.clear()
            _raise(err, what)

    def _send_failures(self) -> list[tuple[str, KafkaError]]:
        """The failed deliveries of this thread's sends (whichever thread's flush reports them): a
        query waits for its own round's."""
        failures = getattr(self._sends, "failures", None)
        if failures is None:
            failures = self._sends.failures = []
        return failures

    def _produce(self, topic: str, partition: int, batch: RecordBatch, on_delivery, on_last=None) -> None:
        """Hand the batch's records to the producer (on_last, if given, is the last record's callback)."""
        producer = self._current_producer()
        produce = producer.produce
        last = len(batch) - 1
        for i, (key, value, ts, headers) in enumerate(zip(batch.keys, batch.values, batch.timestamps,
                                                          batch.headers, strict=True)):
            callback = on_last if on_last is not None and i == last else on_delivery
            while True:
                try:
                    produce(topic, value=value, key=key, partition=partition, timestamp=max(0, ts),
                            headers=list(headers) if headers else None, on_delivery=callback)
                    break
                except BufferError:  # the producer's queue is full: let it send, then go on
                    producer.poll(0.05)

    def _current_producer(self) -> Producer:
        """This thread's transactional producer inside transaction(), else the shared one."""
        return getattr(self._in_transaction, "producer", None) or self.producer

    def _flush(self, what: str) -> None:
        remaining = self._current_producer().flush(_TIMEOUT)
        if remaining:
            raise LogError(f"{what}: {remaining} records not acknowledged in time")

    def _appended(self, topic: str, partition: int, end: int) -> None:
        key = (topic, partition)
        with self._lock:
            self._appended_end[key] = max(self._appended_end.get(key, 0), end)

    @contextmanager
    def transaction(self, transactional_id: str) -> Iterator[None]:
        """The appends of this thread inside go into one Kafka transaction of `transactional_id`, committed at
        the end (aborted when the block raises): readers see all of them or none. A process that dies inside
        leaves the transaction open until the next producer of the same id starts (init_transactions), which
        aborts it and fences the dead one; so one id must have one writer at a time."""
        self._check_open()
        producer = self._transactional_producer(transactional_id)
        producer.begin_transaction()
        self._in_transaction.producer = producer
        try:
            yield
        except BaseException:
            self._in_transaction.producer = None
            self._end_transaction(transactional_id, producer, commit=False)
            raise
        self._in_transaction.producer = None
        self._end_transaction(transactional_id, producer, commit=True)

    def restart_transactions(self, transactional_id: str) -> None:
        """Start a new producer of `transactional_id` for this process's transactions: its init aborts what
        the id's last producer left open and fences it. A writer that takes the id over from another process
        calls this before it reads what that one wrote, and so does one that gets the id back (its old
        producer was fenced meanwhile)."""
        with self._lock:
            self._transactional.pop(transactional_id, None)
        self._transactional_producer(transactional_id)

    def _transactional_producer(self, transactional_id: str) -> Producer:
        with self._lock:
            producer = self._transactional.get(transactional_id)
            if producer is None:
                producer = Producer({**self.conf, "transactional.id": transactional_id, "acks": "all",
                                     "linger.ms": 2, "transaction.timeout.ms": _TRANSACTION_TIMEOUT_MS})
                try:
                    producer.init_transactions(_TIMEOUT)
                except KafkaException as err:
                    _raise(err.args[0], f"start the transactions of {transactional_id}")
                self._transactional[transactional_id] = producer
            return producer

    def _end_transaction(self, transactional_id: str, producer: Producer, *, commit: bool) -> None:
        """Commit or abort. After a failure the producer is dropped: the next one of the id aborts whatever this
        one left open (init_transactions), as after a crash."""
        try:
            if commit:
                producer.commit_transaction(_TIMEOUT)
            else:
                producer.abort_transaction(_TIMEOUT)
        except KafkaException as err:
            with self._lock:
                self._transactional.pop(transactional_id, None)
            if commit:
                _raise(err, f"commit the transaction of {transactional_id}")
            log.warning("aborting the transaction of %s failed: %s", transactional_id, err)

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        return self.read_batch(topic, partition, offset, max_records).records()

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        self._check_partition(topic, partition)
        messages = self.reader.read(topic, partition, max(0, offset), max_records)
        headers = list(map(Message.headers, messages))  # None for a record without headers
        headers = [tuple(h) if h else NO_HEADERS for h in headers] if any(headers) else [NO_HEADERS] * len(headers)
        return RecordBatch(list(map(Message.key, messages)), list(map(Message.value, messages)),
                           [ts for _, ts in map(Message.timestamp, messages)], headers,
                           list(map(Message.offset, messages)), partition)

    def _check_partition(self, topic: str, partition: int) -> None:
        self._check_open()
        partitions = self.topic_config(topic).partitions
        if not isinstance(partition, int) or not 0 <= partition < partitions:
            raise PartitionOutOfRangeError(f"{topic} has {partitions} partitions, not {partition}")

    def start_offset(self, topic: str, partition: int) -> int:
        self._check_partition(topic, partition)
        with self.reader.lock:
            try:
                return self.reader.consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                  timeout=_TIMEOUT)[0]
            except KafkaException as err:
                _raise(err, f"offsets of {topic}-{partition}")

    def end_offset(self, topic: str, partition: int) -> int:
        self._check_partition(topic, partition)
        with self.reader.lock:
            try:
                return self.reader.high_watermark(topic, partition)
            except KafkaException as err:
                _raise(err, f"offsets of {topic}-{partition}")

    # -- consumer groups -------------------------------------------------------------------------

    def join_group(self, group: str, topics: Sequence[str]) -> Ownership:
        member = GroupMembership(self.conf, group, topics)
        with self._lock:
            self._members[group] = member
            for key in [k for k in self._committed if k[0] == group]:
                del self._committed[key]
        return _Member(self, member)

    def leave_group(self, member: GroupMembership) -> None:
        with self._lock:
            if self._members.get(member.group) is member:
                del self._members[member.group]
            for key in [k for k in self._committed if k[0] == member.group]:
                del self._committed[key]
        member.close()

    def forget_committed(self, group: str, partitions: set[tuple[str, int]]) -> None:
        """Another server may have committed these partitions since we cached their offsets."""
        with self._lock:
            for t, p in partitions:
                self._committed.pop((group, t, p), None)

    def _committer(self, group: str) -> Consumer:
        consumer = self._committers.get(group)
        if consumer is None:
            consumer = self._committers[group] = Consumer({
                **self.conf, "group.id": group, "enable.auto.commit": False,
                "enable.auto.offset.store": False})
        return consumer

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        self._check_open()
        if not offsets:
            return
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        with self._lock:
            member = self._members.get(group)
        try:
            if member is not None:
                member.commit(tps)
            else:
                with self._lock:
                    self._committer(group).commit(offsets=tps, asynchronous=False)
        except KafkaException as err:
            _raise(err, f"commit offsets of group {group}")
        with self._lock:
            for (t, p), o in offsets.items():
                self._committed[(group, t, p)] = o

    def group_metadata(self, group: str) -> object:
        """The consumer-group metadata a transactional producer sends with the group's offsets: the
        member's (its generation fences a server that lost the partitions), else a consumer's of the
        group outside any generation."""
        with self._lock:
            member = self._members.get(group)
            if member is None:
                return self._committer(group).consumer_group_metadata()
        with member.lock:
            return member.consumer.consumer_group_metadata()

    def past_markers(self, topic: str, partition: int, offset: int) -> int:
        """The offset to commit for a read that ended at `offset`: past the transaction markers after it."""
        return self.reader.past_markers(topic, partition, offset)

    def remember_committed(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Offsets committed for the group by other means (a producer's transaction)."""
        with self._lock:
            for (t, p), o in offsets.items():
                self._committed[(group, t, p)] = o

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        key = (group, topic, partition)
        with self._lock:
            if key in self._committed:
                return self._committed[key]
            member = self._members.get(group)
        tp = [TopicPartition(topic, partition)]
        try:
            if member is not None:
                [result] = member.committed(tp)
            else:
                with self._lock:
                    [result] = self._committer(group).committed(tp, timeout=_TIMEOUT)
        except KafkaException as err:
            _raise(err, f"committed offsets of group {group}")
        offset = result.offset if result.offset >= 0 else None
        if offset is not None:
            with self._lock:
                self._committed[key] = offset
        return offset

    # -- life cycle ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("the Kafka log is closed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for member in list(self._members.values()):
            member.close()
        self._members.clear()
        for consumer in self._committers.values():
            consumer.close()
        self._committers.clear()
        for producer in self._transactional.values():
            producer.flush(_TIMEOUT)
        self._transactional.clear()
        self.producer.flush(_TIMEOUT)
        self.reader.close()


class _Member(Ownership):
    """A query's view of its group membership: changes also refresh the log's offset cache."""

    def __init__(self, log_: KafkaLog, member: GroupMembership):
        self.log = log_
        self.member = member

    def changes(self) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        gained, lost = self.member.changes()
        if gained:
            self.log.forget_committed(self.member.group, gained)
        return gained, lost

    def owned(self) -> set[tuple[str, int]]:
        return self.member.owned()

    def close(self) -> None:
        self.log.leave_group(self.member)
