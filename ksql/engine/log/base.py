"""The Log interface: what every log implementation (embedded, in-memory, Kafka) provides.

The engine sees topics of numbered partitions holding records at consecutive
offsets, and consumer-group offsets committed per (group, topic, partition).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .ownership import OwnAll, Ownership

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


NO_HEADERS: tuple = ()  # the headers of a RecordBatch entry without headers (shared, immutable)


class RecordBatch:
    """Consecutive records of one partition as parallel columns (no per-record objects).

    What `Log.read_batch` returns and `Log.append_batch` takes. `headers[i]` is a
    sequence of (name, value) pairs: NO_HEADERS (the empty tuple) for a record
    without headers. `offsets` and `partition` are only meaningful for batches read
    from a log (a range of offsets, or a list in general).
    """

    __slots__ = ("keys", "values", "timestamps", "headers", "offsets", "partition")

    def __init__(self, keys: Sequence[bytes | None], values: Sequence[bytes | None],
                 timestamps: Sequence[int], headers: Sequence[Sequence[Header]],
                 offsets: Sequence[int] = (), partition: int = -1) -> None:
        self.keys = keys
        self.values = values
        self.timestamps = timestamps
        self.headers = headers
        self.offsets = offsets
        self.partition = partition

    def __len__(self) -> int:
        return len(self.keys)

    def decoded(self) -> RecordBatch:
        """This batch (see Log.read_undecoded)."""
        return self

    @classmethod
    def of(cls, records: Sequence[Record]) -> RecordBatch:
        """The columns of `records` (their offsets and partition as read, if set)."""
        return cls([r.key for r in records], [r.value for r in records], [r.timestamp for r in records],
                   [r.headers or NO_HEADERS for r in records], [r.offset for r in records],
                   records[0].partition if records else -1)

    def slice(self, start: int, stop: int) -> RecordBatch:
        """The records [start:stop] of this batch, as a batch."""
        return RecordBatch(self.keys[start:stop], self.values[start:stop], self.timestamps[start:stop],
                           self.headers[start:stop], self.offsets[start:stop], self.partition)

    @classmethod
    def concat(cls, batches: Sequence[RecordBatch]) -> RecordBatch:
        """One batch of the records of `batches`, in order (offsets and partition not kept)."""
        if len(batches) == 1:
            return batches[0]
        keys: list = []
        values: list = []
        timestamps: list = []
        headers: list = []
        for b in batches:
            keys += b.keys
            values += b.values
            timestamps += b.timestamps
            headers += b.headers
        return cls(keys, values, timestamps, headers)

    def records(self) -> list[Record]:
        """Fresh Record objects (offsets and partition set when the batch was read)."""
        offsets = self.offsets if len(self.offsets) == len(self.keys) else [-1] * len(self.keys)
        p = self.partition
        return [Record(k, v, ts, list(h), o, p)
                for k, v, ts, h, o in zip(self.keys, self.values, self.timestamps, self.headers, offsets,
                                          strict=True)]


class EncodedBatch(RecordBatch):
    """A RecordBatch that also carries its records in the embedded log's record encoding, made where
    the batch was made (a worker process): the embedded log and the transaction journal write
    `payload` as it is instead of encoding every record again in the server process."""

    __slots__ = ("payload", "max_timestamp")

    def __init__(self, batch: RecordBatch, payload: bytes, max_timestamp: int) -> None:
        super().__init__(batch.keys, batch.values, batch.timestamps, batch.headers, batch.offsets,
                         batch.partition)
        self.payload = payload
        self.max_timestamp = max_timestamp


# The segment size the engine gives the compacted topics it creates on the embedded log (tables'
# topics, state changelogs): the cleaner never touches the active segment, and on restart what
# it has not compacted yet is read in full, so that part is kept small.
COMPACTED_SEGMENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TopicConfig:
    """A topic's settings, named as Kafka's topic configs are. retention_ms / retention_bytes of -1 mean
    unlimited; segment_bytes of -1 means the log's default segment size. With a cleanup_policy that
    includes compact, the log keeps the latest record of each key, and a tombstone (null value) for
    delete_retention_ms after the segment holding it was written."""

    partitions: int = 1
    replicas: int = 1
    retention_ms: int = -1
    retention_bytes: int = -1
    cleanup_policy: str = "delete"  # delete | compact | compact,delete
    segment_bytes: int = -1
    delete_retention_ms: int = 86_400_000

    @property
    def compacted(self) -> bool:
        return "compact" in self.cleanup_policy


class LogError(Exception):
    """Base class of every error raised by a Log implementation."""


class TopicExistsError(LogError):
    """create_topic() of a topic that already exists."""


class UnknownTopicError(LogError):
    """An operation named a topic that does not exist."""


class PartitionOutOfRangeError(LogError):
    """A partition number outside [0, partitions) of the topic (or not an int)."""


class InvalidTopicError(LogError, ValueError):
    """A topic name that is not a legal Kafka topic name, or an invalid TopicConfig."""


class RebalanceError(LogError):
    """A commit for a group whose partitions were just reassigned: the new owner reprocesses."""


class LogClosedError(LogError):
    """The log was closed."""


class LogLockedError(LogError):
    """Another EmbeddedLog (possibly in another process) holds the data directory."""


class CorruptLogError(LogError):
    """On-disk data is damaged somewhere recovery does not repair (not the tail)."""


_LEGAL_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def validate_topic(name: str, config: TopicConfig | None = None) -> None:
    """Kafka's rules: 1..249 chars of [a-zA-Z0-9._-], not '.' or '..'; config sanity."""
    if not isinstance(name, str) or not name or len(name) > 249 or name in (".", ".."):
        raise InvalidTopicError(f"invalid topic name {name!r}")
    if not _LEGAL_TOPIC_CHARS.issuperset(name):
        raise InvalidTopicError(f"invalid topic name {name!r}: only [a-zA-Z0-9._-] allowed")
    if config is not None:
        if not isinstance(config.partitions, int) or config.partitions < 1:
            raise InvalidTopicError(f"topic {name!r}: partitions must be >= 1, got {config.partitions!r}")
        if config.cleanup_policy not in ("delete", "compact", "compact,delete", "delete,compact"):
            raise InvalidTopicError(f"topic {name!r}: unknown cleanup_policy {config.cleanup_policy!r}")
        if not isinstance(config.segment_bytes, int) or (config.segment_bytes < 1 and config.segment_bytes != -1):
            raise InvalidTopicError(f"topic {name!r}: segment_bytes must be >= 1 (or -1 for the log's default), "
                                    f"got {config.segment_bytes!r}")
        if not isinstance(config.delete_retention_ms, int) or config.delete_retention_ms < 0:
            raise InvalidTopicError(f"topic {name!r}: delete_retention_ms must be >= 0, got "
                                    f"{config.delete_retention_ms!r}")


class Log(ABC):
    """Topics of partitions of records; durable in the embedded and Kafka implementations.

    read_batch() / append_batch() are columnar versions of read() / append() for the
    engine's hot path. A subclass that overrides read() or append() without also
    overriding the batch version gets the base one, which goes through its method.
    """

    # True when several servers share these topics (Kafka): queries then split partitions
    # through join_group() and keep state per partition.
    distributed: bool = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for single, batch in (("read", "read_batch"), ("append", "append_batch")):
            if single in cls.__dict__ and batch not in cls.__dict__:
                setattr(cls, batch, getattr(Log, batch))

    @abstractmethod
    def create_topic(self, name: str, config: TopicConfig = TopicConfig()) -> None:
        """Create a topic; raises TopicExistsError if it exists."""

    @abstractmethod
    def delete_topic(self, name: str) -> None:
        """Delete a topic and its data; raises UnknownTopicError if absent."""

    def alter_topic(self, name: str, config: TopicConfig) -> None:
        """Change a topic's retention / cleanup policy, or add partitions (implementations that can)."""
        raise LogError(f"{type(self).__name__} cannot change the settings of topic {name!r}")

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

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        """read() as columns; implementations override it to skip building Record objects."""
        records = self.read(topic, partition, offset, max_records)
        batch = RecordBatch.of(records)
        batch.partition = partition
        return batch

    def read_undecoded(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> Any:
        """read_batch(), or where a log can hand its records over as they are stored (the embedded
        log's UndecodedBatch), those: for a reader that decodes them in another process. Either
        has len() and decoded() (the RecordBatch)."""
        return self.read_batch(topic, partition, offset, max_records)

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> Sequence[int]:
        """append() of the batch's records (its offsets and partition are ignored)."""
        return self.append(topic, partition, [
            Record(k, v, ts, list(h))
            for k, v, ts, h in zip(batch.keys, batch.values, batch.timestamps, batch.headers, strict=True)])

    def send_batch(self, topic: str, partition: int, batch: RecordBatch) -> None:
        """Append the batch without waiting until it is acknowledged; `wait_for_sends()` waits for every
        batch sent so far. A query sends all the output of a round and waits once, before it commits the
        round's input offsets. Logs whose appends are cheap to wait for append at once (this default)."""
        self.append_batch(topic, partition, batch)

    def wait_for_sends(self) -> None:  # noqa: B027 - nothing to wait for where send_batch() appends at once
        """Wait until every batch sent so far is acknowledged; LogError if one of them failed."""

    def append_kafka_batch(self, topic: str, partition: int, raw: bytes | memoryview, count: int,
                           max_timestamp: int) -> Sequence[int]:
        """Append a Kafka v2 record batch of `count` records (checked by the caller with
        kafka_batch.check_records). The embedded log stores it as it is; this default appends its
        records."""
        from .kafka_batch import batch_records

        return self.append_batch(topic, partition, batch_records(raw))

    def read_raw(self, topic: str, partition: int, offset: int, max_bytes: int
                 ) -> list[tuple[int, bytes | RecordBatch]]:
        """Batches from the one holding `offset` on, about max_bytes of them (at least one): (base
        offset, the Kafka batch) where the log keeps Kafka batches as they came, else (first offset,
        records from `offset` on). This default reads records."""
        batch = self.read_batch(topic, partition, offset, max(1, max_bytes // 100))
        return [(batch.offsets[0], batch)] if len(batch) else []

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

    # ---- concrete conveniences (implementations may override) ----

    def visible_end_offsets(self, topic: str) -> list[int]:
        """Per partition, the end of what a reader of the whole topic may take together: no write
        (a transaction over several partitions) is seen in part below these offsets."""
        return [self.end_offset(topic, p) for p in range(self.partitions(topic))]

    def partitions(self, topic: str) -> int:
        """Number of partitions of `topic`; raises UnknownTopicError if absent."""
        return self.topic_config(topic).partitions

    def join_group(self, group: str, topics: Sequence[str]) -> Ownership:
        """Membership of `group` over `topics`; alone on this log, a server owns every partition."""
        return OwnAll({(t, p) for t in topics for p in range(self.partitions(t))})

    def size_bytes(self, topic: str) -> int | None:
        """The bytes `topic` takes in the log (for metrics), None where the log cannot tell."""
        return None

    def enforce_retention(self, now_ms: int | None = None) -> None:  # noqa: B027 - optional hook
        """Apply retention_ms / retention_bytes now (no-op unless implemented)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
