"""The connector API: what a connector (built in, or third party in Python) implements.

Modelled on Kafka Connect's `org.apache.kafka.connect.{connector,source,sink}` packages, so a
connector reads like its Java original:

    class MySource(SourceConnector):
        def start(self, config): self.config = config
        def task_class(self): return MySourceTask
        def task_configs(self, max_tasks): return [self.config]

    class MySourceTask(SourceTask):
        def start(self, config): self.position = (self.context.offset({"file": "x"}) or {}).get("line", 0)
        def poll(self): ...  # a list of SourceRecord (empty when there is nothing now)

The runtime (ksql.connect.runtime) owns the threads, the log, the converters and transforms, and
the offsets: a source task says where each record came from (`source_partition`, `source_offset`)
and the runtime stores the last offset per source partition in the offsets topic together with
the records, so a restarted task resumes from `context.offset(partition)`. A sink task gets
records with `put()` and must have written them durably when `flush()` returns; only then does
the runtime commit the consumer offsets.

Values are Connect data (see ksql.connect.data): a schema (`Schema`, or None for schemaless) and
a Python value; converters turn them into the bytes of the log and back.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ksql.connect.converters import Converter
from ksql.connect.data import Schema
from ksql.connect.transforms import Predicate, Transformation
from ksql.engine.log.base import Header

__all__ = [
    "ConfigDef", "ConfigKey", "Connector", "ConnectorContext", "Converter", "Predicate", "SinkConnector",
    "SinkRecord", "SinkTask", "SinkTaskContext", "SourceConnector", "SourceRecord", "SourceTask",
    "SourceTaskContext", "Task", "Transformation",
]


# --- records ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectRecord:
    """What every Connect record has (Kafka's ConnectRecord). Transforms return changed copies
    (`new_record`), never change a record in place.

    `kafka_partition` None lets the log's partitioner choose from the key; `timestamp` None means
    "now" (in epoch milliseconds) when a source record is written.
    """

    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: list[Header] = field(default_factory=list)

    def new_record(self, **changes: Any) -> ConnectRecord:
        """A copy with some fields changed (Kafka's newRecord)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SourceRecord(ConnectRecord):
    """A record a source task produced, with where it came from: `source_partition` names the
    stream of the outside system it was read from (a file, a table), `source_offset` the position
    just after it in that stream. Both are small JSON-serializable dicts."""

    source_partition: Mapping[str, Any] = field(default_factory=dict)
    source_offset: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SinkRecord(ConnectRecord):
    """A record given to a sink task, with its position in the log it was consumed from.

    A transform may route a record elsewhere (a new `topic` or `kafka_partition`); `original_topic`
    and `original_kafka_partition` keep where it was consumed (Kafka's originalTopic() and
    originalKafkaPartition()), which is what a sink that stores its own offsets records."""

    kafka_offset: int = -1
    original_topic: str | None = None
    original_kafka_partition: int | None = None

    def consumed_at(self) -> tuple[str, int | None, int]:
        """(topic, partition, offset) of the record in the log it was consumed from."""
        topic = self.original_topic if self.original_topic is not None else self.topic
        partition = self.original_kafka_partition if self.original_topic is not None else self.kafka_partition
        return topic, partition, self.kafka_offset


# --- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigKey:
    """One property a connector takes (Kafka's ConfigDef.ConfigKey): shown by /connector-plugins
    and DESCRIBE, and checked by `ConfigDef.validate`. `type` is Connect's: STRING, INT, LONG,
    DOUBLE, BOOLEAN, LIST, PASSWORD, CLASS."""

    name: str
    type: str = "STRING"
    default: Any = None
    required: bool = False
    documentation: str = ""
    importance: str = "MEDIUM"


class ConfigDef:
    """The properties of a connector; `validate` returns one error message per bad property."""

    def __init__(self, keys: Sequence[ConfigKey] = ()):
        self.keys = {k.name: k for k in keys}

    def define(self, name: str, type: str = "STRING", default: Any = None, *, required: bool = False,
               documentation: str = "", importance: str = "MEDIUM") -> ConfigDef:
        """Add a property; returns self so definitions chain as in Kafka."""
        self.keys[name] = ConfigKey(name, type, default, required, documentation, importance)
        return self

    def validate(self, config: Mapping[str, Any]) -> dict[str, list[str]]:
        """Errors by property name: missing required properties and values of the wrong type."""
        errors: dict[str, list[str]] = {}
        for key in self.keys.values():
            value = config.get(key.name)
            if value is None or value == "":
                if key.required:
                    errors.setdefault(key.name, []).append(
                        f'Missing required configuration "{key.name}" which has no default value.')
                continue
            problem = _type_problem(key, str(value))
            if problem:
                errors.setdefault(key.name, []).append(problem)
        return errors

    def get(self, config: Mapping[str, Any], name: str) -> Any:
        """The typed value of `name` in `config`, or its default."""
        key = self.keys[name]
        value = config.get(name)
        if value is None or value == "":
            return key.default
        text = str(value)
        if key.type in ("INT", "LONG"):
            return int(text)
        if key.type == "DOUBLE":
            return float(text)
        if key.type == "BOOLEAN":
            return text.strip().lower() == "true"
        if key.type == "LIST":
            return [x.strip() for x in text.split(",") if x.strip()]
        return text


def _type_problem(key: ConfigKey, text: str) -> str | None:
    expected = {"INT": "Expected value to be a 32-bit integer", "LONG": "Expected value to be a 64-bit integer",
                "DOUBLE": "Expected value to be a number", "BOOLEAN": "Expected value to be either true or false"}
    try:
        if key.type in ("INT", "LONG"):
            int(text.strip())
        elif key.type == "DOUBLE":
            float(text.strip())
        elif key.type == "BOOLEAN" and text.strip().lower() not in ("true", "false"):
            raise ValueError
    except ValueError:
        return f"Invalid value {text} for configuration {key.name}: {expected[key.type]}"
    return None


# --- connectors ------------------------------------------------------------------------------------

class ConnectorContext(ABC):
    """What the runtime offers a running connector."""

    @abstractmethod
    def request_task_reconfiguration(self) -> None:
        """Ask the runtime to call task_configs() again and restart the tasks (the source changed)."""

    @abstractmethod
    def raise_error(self, error: BaseException) -> None:
        """Fail the connector with `error` (its status becomes FAILED with the trace)."""


class Connector(ABC):
    """A connector: configuration and the split of work into task configs. It moves no data;
    its tasks do. The runtime calls start(config), then task_configs(max_tasks), then stop()."""

    #: Version shown by /connector-plugins.
    version: str = "1.0"

    def __init__(self) -> None:
        self.context: ConnectorContext | None = None

    def initialize(self, context: ConnectorContext) -> None:
        """Called once by the runtime before start()."""
        self.context = context

    def config(self) -> ConfigDef:
        """The properties this connector takes (for validation and /connector-plugins)."""
        return ConfigDef()

    def validate(self, config: Mapping[str, str]) -> dict[str, list[str]]:
        """Errors by property name; the runtime refuses the connector when there are any."""
        return self.config().validate(config)

    @abstractmethod
    def start(self, config: Mapping[str, str]) -> None:
        """Take the connector's properties (all strings, as in Connect)."""

    @abstractmethod
    def task_class(self) -> type[Task]:
        """The Task class this connector runs."""

    @abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """One config per task, at most `max_tasks` (the `tasks.max` property)."""

    def stop(self) -> None:  # noqa: B027 - most connectors hold nothing
        """Release what start() took."""


class SourceConnector(Connector):
    """A connector that reads from an outside system into topics."""

    #: Connect's connector type, as /connectors/{name} and SHOW CONNECTORS report it.
    type = "source"


class SinkConnector(Connector):
    """A connector that writes topics (the `topics` or `topics.regex` property) to an outside system."""

    type = "sink"


# --- tasks -----------------------------------------------------------------------------------------

class SourceTaskContext(ABC):
    """What the runtime offers a source task: the committed offsets of its source partitions."""

    @abstractmethod
    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        """The last committed offset of a source partition, or None when nothing was committed."""


class SinkTaskContext(ABC):
    """What the runtime offers a sink task."""

    @abstractmethod
    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this task consumes."""

    @abstractmethod
    def offset(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Rewind or skip: consume each (topic, partition) from the given offset next."""

    @abstractmethod
    def request_commit(self) -> None:
        """Ask for flush() and an offset commit soon rather than at the next interval."""

    @abstractmethod
    def report(self, record: SinkRecord, error: BaseException) -> None:
        """A record of the current put() the task could not write (Connect's errant record reporter):
        it goes to the dead letter queue with errors.tolerance=all, else the task fails (raises)."""


class Task(ABC):
    """One unit of a connector's work, run on a worker thread of its own."""

    version: str = "1.0"

    @abstractmethod
    def start(self, config: Mapping[str, str]) -> None:
        """Take the task's config (one of the connector's task_configs())."""

    @abstractmethod
    def stop(self) -> None:
        """Release what start() took. Called from the task's thread after its last poll/put."""


class SourceTask(Task):
    """Produces records: the runtime calls poll() in a loop, converts, transforms and appends what it
    returns, and commits the source offsets of the appended records with them."""

    def __init__(self) -> None:
        self.context: SourceTaskContext | None = None

    def initialize(self, context: SourceTaskContext) -> None:
        """Called once by the runtime before start()."""
        self.context = context

    @abstractmethod
    def poll(self) -> list[SourceRecord]:
        """Records read since the last call; an empty list (after a short wait, at most about a
        second, so stop() is honoured) when there are none. Raising fails the task."""

    def commit(self) -> None:  # noqa: B027 - most sources need no acknowledgement
        """Called after the offsets of everything poll() returned so far have been committed."""


class SinkTask(Task):
    """Consumes records: the runtime calls put() with each batch and flush() before it commits the
    consumer offsets, so a record is committed only once the task has written it."""

    def __init__(self) -> None:
        self.context: SinkTaskContext | None = None

    def initialize(self, context: SinkTaskContext) -> None:
        """Called once by the runtime before start()."""
        self.context = context

    @abstractmethod
    def put(self, records: list[SinkRecord]) -> None:
        """Write (or buffer) a batch of records. Raising fails the task."""

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:  # noqa: B027 - put() may write at once
        """Make everything put() so far durable; `offsets` are the next offsets to consume per
        (topic, partition), which the runtime commits when flush() returns."""
