"""The processing log: every record a query skips, on the `ksql.processing` logger and, as in ksqlDB,
as a record of the `KSQL_PROCESSING_LOG` stream's topic (`<service id>ksql_processing_log`).

ksqlDB's properties decide what exists: `ksql.logging.processing.topic.auto.create` creates the
topic, `ksql.logging.processing.stream.auto.create` the stream over it (the topic must exist), and
`ksql.logging.processing.rows.include` whether an entry carries the record's bytes (base64) or row.
Entries are queued by the thread that found the problem (a persistent query's poll, a push query's
reader) and appended by `flush()`, which the engine calls between rounds of query polls, so a push
query never writes to the log and a failed poll's entries are still reported.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson

from ksql.engine.log import Log, Record, TopicConfig
from ksql.parser.limits import positive_property

if TYPE_CHECKING:
    from ksql.engine.engine import Engine

python_log = logging.getLogger("ksql.processing")

TOPIC_AUTO_CREATE = "ksql.logging.processing.topic.auto.create"
TOPIC_NAME = "ksql.logging.processing.topic.name"
TOPIC_PARTITIONS = "ksql.logging.processing.topic.partitions"
TOPIC_REPLICATION = "ksql.logging.processing.topic.replication.factor"
STREAM_AUTO_CREATE = "ksql.logging.processing.stream.auto.create"
STREAM_NAME = "ksql.logging.processing.stream.name"
ROWS_INCLUDE = "ksql.logging.processing.rows.include"

DEFAULTS = {TOPIC_AUTO_CREATE: "false", TOPIC_NAME: "", TOPIC_PARTITIONS: "1", TOPIC_REPLICATION: "1",
            STREAM_AUTO_CREATE: "false", STREAM_NAME: "KSQL_PROCESSING_LOG", ROWS_INCLUDE: "false"}

# ksqlDB 0.29's ProcessingLogMessageSchema: MESSAGE.TYPE says which one of the structs is set
DESERIALIZATION_ERROR, RECORD_PROCESSING_ERROR, PRODUCTION_ERROR, SERIALIZATION_ERROR = 0, 1, 2, 3
KAFKA_STREAMS_THREAD_ERROR = 4
MESSAGE_SCHEMA = (
    "STRUCT<TYPE INT, "
    "DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, CAUSE ARRAY<STRING>, "
    "`TOPIC` STRING>, "
    "RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, "
    "PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, "
    "SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>, "
    "`TOPIC` STRING>, "
    "KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE STRING, THREADNAME STRING, CAUSE ARRAY<STRING>>>")
_MESSAGE_FIELDS = ("DESERIALIZATIONERROR", "RECORDPROCESSINGERROR", "PRODUCTIONERROR", "SERIALIZATIONERROR",
                   "KAFKASTREAMSTHREADERROR")
MAX_PENDING = 10_000  # entries queued between flushes; past that the oldest are only in the Python log


def default_topic(service_id: str) -> str:
    """ksqlDB's default processing-log topic name: the service id, then `ksql_processing_log`."""
    return f"{service_id}ksql_processing_log"


def _flag(properties: dict[str, Any], name: str) -> bool:
    return str(properties.get(name, DEFAULTS[name])).strip().lower() == "true"


class _Queue:
    """Entries waiting for the next flush, shared by an engine's ProcessingLog and its queries' scopes."""

    def __init__(self) -> None:
        self.pending: list[Record] = []
        self.lock = threading.Lock()


class ProcessingLog:
    """Where queries report the records they skip. An engine has one; each query reports through its
    own `scoped()` copy, which counts that query's failures (its metrics' processing errors)."""

    def __init__(self, topic: str | None = None, include_rows: bool = False, queue: _Queue | None = None):
        self.topic = topic  # None: the Python logger only
        self.include_rows = include_rows
        self.failures = 0
        self.last_failure_ms: int | None = None
        self._queue = queue or _Queue()

    @classmethod
    def for_engine(cls, properties: dict[str, Any], service_id: str) -> ProcessingLog:
        return cls(str(properties.get(TOPIC_NAME) or default_topic(service_id)), _flag(properties, ROWS_INCLUDE))

    def scoped(self) -> ProcessingLog:
        """A reporter for one query: the same topic and queue, its own failure count."""
        return ProcessingLog(self.topic, self.include_rows, self._queue)

    # -- reporting ------------------------------------------------------------------------------

    def deserialization_error(self, query_id: str, topic: str, partition: int, offset: int, target: str,
                              reason: str, data: bytes | None) -> None:
        """A record a query could not read (its key or value bytes, `target`)."""
        python_log.warning("%s: skipped record at %s/%d offset %d: %s", query_id, topic, partition, offset, reason)
        prefix = f"Failed to deserialize {target} from topic: {topic}."
        message = reason if reason.startswith(prefix) else f"{prefix} {reason}"
        self._entry(f"processing.{query_id}.KsqlTopic.Source.deserializer", DESERIALIZATION_ERROR, {
            "TARGET": target, "ERRORMESSAGE": message, "RECORDB64": _b64(data) if self.include_rows else None,
            "CAUSE": [] if message == reason else [reason], "TOPIC": topic})

    def record_processing_error(self, query_id: str, message: str, row: Any = None) -> None:
        """A record whose processing failed (an expression, a timestamp): it produces no result."""
        python_log.warning("%s: %s", query_id, message)
        self._entry(f"processing.{query_id}", RECORD_PROCESSING_ERROR, {
            "ERRORMESSAGE": message, "RECORD": _text(row) if self.include_rows and row is not None else None,
            "CAUSE": []})

    def serialization_error(self, query_id: str, topic: str, reason: str, row: Any = None) -> None:
        """A result no serde could write: it is dropped."""
        python_log.warning("%s: could not serialize a result: %s", query_id, reason)
        self._entry(f"processing.{query_id}.KsqlTopic.Sink.serializer", SERIALIZATION_ERROR, {
            "TARGET": "value", "ERRORMESSAGE": f"Error serializing message to topic: {topic}. {reason}",
            "RECORD": _text(row) if self.include_rows and row is not None else None, "CAUSE": [reason],
            "TOPIC": topic})

    def _entry(self, logger: str, kind: int, detail: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        self.failures += 1
        self.last_failure_ms = now
        if self.topic is None:
            return
        message: dict[str, Any] = {"TYPE": kind, **dict.fromkeys(_MESSAGE_FIELDS)}
        message[_MESSAGE_FIELDS[kind]] = detail
        value = orjson.dumps({"LOGGER": logger, "LEVEL": "ERROR", "TIME": now, "MESSAGE": message})
        queue = self._queue
        with queue.lock:
            if len(queue.pending) >= MAX_PENDING:
                del queue.pending[0]
            queue.pending.append(Record(None, value, now))

    # -- a query computed in another process -----------------------------------------------------

    def hand_over(self) -> tuple[int, int | None, list[Record]]:
        """What this reporter saw since the last hand-over (its failures, the last one's time, the
        queued entries), for the server's reporter of the same query to take_in(): a query computed
        in a worker process reports through the server's processing log."""
        queue = self._queue
        with queue.lock:
            pending, queue.pending = queue.pending, []
        failures, self.failures = self.failures, 0
        return failures, self.last_failure_ms, pending

    def take_in(self, failures: int, last_failure_ms: int | None, entries: list[Record]) -> None:
        """Count and queue what another process's reporter handed over (see hand_over)."""
        if failures:
            self.failures += failures
            self.last_failure_ms = last_failure_ms
        if entries:
            queue = self._queue
            with queue.lock:
                queue.pending.extend(entries)
                del queue.pending[:-MAX_PENDING]

    # -- writing --------------------------------------------------------------------------------

    def flush(self, log: Log) -> int:
        """Append the queued entries to the topic, if it exists; return how many were written."""
        queue = self._queue
        with queue.lock:
            pending, queue.pending = queue.pending, []
        if not pending or self.topic is None or not log.topic_exists(self.topic):
            return 0
        log.append(self.topic, 0, pending)
        return len(pending)


def setup(engine: Engine) -> None:
    """Create the processing log's topic and stream as ksqlDB's properties ask (at engine start)."""
    properties = engine.config.properties
    topic = engine.processing_log.topic
    assert topic is not None
    if _flag(properties, TOPIC_AUTO_CREATE) and not engine.log.topic_exists(topic):
        engine.log.create_topic(topic, TopicConfig(partitions=positive_property(properties, TOPIC_PARTITIONS, 1),
                                                   replicas=positive_property(properties, TOPIC_REPLICATION, 1)))
    if not _flag(properties, STREAM_AUTO_CREATE):
        return
    name = str(properties.get(STREAM_NAME, DEFAULTS[STREAM_NAME]))
    if not engine.log.topic_exists(topic):
        python_log.warning("%s is not created: its topic %s does not exist (set %s=true)", name, topic,
                           TOPIC_AUTO_CREATE)
        return
    if engine.metastore.get(name.upper()) is None:
        engine.create_internal_source(
            f"CREATE STREAM {name} (LOGGER STRING, LEVEL STRING, `TIME` BIGINT, MESSAGE {MESSAGE_SCHEMA}) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _text(row: Any) -> str:
    try:
        return orjson.dumps(row, default=str).decode()
    except TypeError:
        return repr(row)
