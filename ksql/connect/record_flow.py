"""How a record moves between the log and a connector's task, as Kafka Connect's workers move it.

Sink:   log record -> key converter -> value converter -> SinkRecord -> transforms -> task.put
Source: task.poll -> SourceRecord -> transforms -> key converter -> value converter -> log record

Each step runs under the connector's ErrorHandler, so a record that fails a step is
skipped (errors.tolerance=all) or fails the task (none); a sink's failed records go to the
dead letter queue as they were consumed, with the stage and class that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ksql.connect.api import SinkRecord, SourceRecord
from ksql.connect.converters import CONVERTERS, Converter
from ksql.connect.dead_letter import ErrorHandler, Failure, Stage
from ksql.connect.transforms import TransformationChain
from ksql.engine.log.base import Record


class SinkRecordFlow:
    """Consumed log records into the SinkRecords a sink task puts."""

    def __init__(self, key_converter: Converter, value_converter: Converter, chain: TransformationChain,
                 errors: ErrorHandler):
        self.key_converter = key_converter
        self.value_converter = value_converter
        self.chain = chain
        self.errors = errors

    def convert(self, topic: str, partition: int, raw: Record) -> SinkRecord | None:
        """The SinkRecord of a consumed record, or None when a transform drops it or a tolerated step fails."""
        def failure(stage: Stage, class_name: str) -> Callable[[BaseException], Failure]:
            return lambda err: Failure(stage, class_name, err, topic, partition, raw.offset, raw)

        ok, key = self.errors.execute(failure(Stage.KEY_CONVERTER, _class_name(self.key_converter)),
                                      lambda: self.key_converter.to_connect_data(topic, raw.key))
        if not ok:
            return None
        ok, value = self.errors.execute(failure(Stage.VALUE_CONVERTER, _class_name(self.value_converter)),
                                        lambda: self.value_converter.to_connect_data(topic, raw.value))
        if not ok:
            return None
        record = SinkRecord(topic=topic, kafka_partition=partition, key_schema=key[0], key=key[1],
                                  value_schema=value[0], value=value[1], timestamp=raw.timestamp,
                                  headers=list(raw.headers or ()), kafka_offset=raw.offset,
                                  original_topic=topic, original_kafka_partition=partition)
        for stage in self.chain.stages:
            current = record
            ok, record = self.errors.execute(failure(Stage.TRANSFORMATION, stage.class_name),
                                             lambda s=stage, r=current: s.apply(r))
            if not ok or record is None:
                return None
        return record

    def report_put_failure(self, record: SinkRecord, error: BaseException, raw_of: Mapping[tuple[str, int, int], Record],
                           task_class: str) -> None:
        """A record the task could not write (its errant-record reporter): dead letter queue or task failure.

        `raw_of` finds the consumed record by (topic, partition, offset)."""
        topic, partition, offset = record.consumed_at()
        self.errors.report(Failure(Stage.TASK_PUT, task_class, error, topic, partition, offset,
                                   raw_of.get((topic, partition, offset))))


class SourceRecordFlow:
    """A source task's SourceRecords into (topic, partition, log record) to append."""

    def __init__(self, key_converter: Converter, value_converter: Converter, chain: TransformationChain,
                 errors: ErrorHandler):
        self.key_converter = key_converter
        self.value_converter = value_converter
        self.chain = chain
        self.errors = errors

    def convert(self, record: SourceRecord) -> tuple[str, int | None, Record] | None:
        """What to append for a SourceRecord, or None when dropped (a transform, or a tolerated failure)."""
        def failure(stage: Stage, class_name: str) -> Callable[[BaseException], Failure]:
            return lambda err: Failure(stage, class_name, err)

        for stage in self.chain.stages:
            current = record
            ok, record = self.errors.execute(failure(Stage.TRANSFORMATION, stage.class_name),
                                             lambda s=stage, r=current: s.apply(r))
            if not ok or record is None:
                return None
        topic = record.topic
        ok, key = self.errors.execute(
            failure(Stage.KEY_CONVERTER, _class_name(self.key_converter)),
            lambda: self.key_converter.from_connect_data(topic, record.key_schema, record.key))
        if not ok:
            return None
        ok, value = self.errors.execute(
            failure(Stage.VALUE_CONVERTER, _class_name(self.value_converter)),
            lambda: self.value_converter.from_connect_data(topic, record.value_schema, record.value))
        if not ok:
            return None
        timestamp = record.timestamp if record.timestamp is not None else int(time.time() * 1000)
        return topic, record.kafka_partition, Record(key, value, timestamp, list(record.headers or ()))


def _class_name(converter: Converter) -> str:
    """The Kafka class name of a converter (what the error headers carry)."""
    for name, cls in CONVERTERS.items():
        if type(converter) is cls:
            return name
    return f"{type(converter).__module__}.{type(converter).__qualname__}"
