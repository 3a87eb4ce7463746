"""Kafka Connect's error handling: errors.tolerance, the dead letter queue and the error log.

    errors.tolerance                               none (default): the first failure fails the task;
                                                   all: a failed record is skipped (and reported)
    errors.deadletterqueue.topic.name              sink connectors: the failed record, as consumed,
                                                   goes to this topic
    errors.deadletterqueue.context.headers.enable  ...with Connect's __connect.errors.* headers
    errors.log.enable, errors.log.include.messages log each failure (with the record's coordinates)

A task runs each stage of a record (converters, transforms, put) through
`ErrorHandler.execute`. A dead letter is handed to the `produce` callback the runtime
gives (ksql.connect.dead_letter_queue), which appends it before any offset past its record
is committed, and once across crashes.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ksql.connect.data import DataError
from ksql.engine.log.base import Header, Record
from ksql.errors import KsqlError

log = logging.getLogger("ksql.connect.errors")

HEADER_PREFIX = "__connect.errors."
ERROR_HEADER_ORIG_TOPIC = HEADER_PREFIX + "topic"
ERROR_HEADER_ORIG_PARTITION = HEADER_PREFIX + "partition"
ERROR_HEADER_ORIG_OFFSET = HEADER_PREFIX + "offset"
ERROR_HEADER_CONNECTOR_NAME = HEADER_PREFIX + "connector.name"
ERROR_HEADER_TASK_ID = HEADER_PREFIX + "task.id"
ERROR_HEADER_STAGE = HEADER_PREFIX + "stage"
ERROR_HEADER_EXECUTING_CLASS = HEADER_PREFIX + "class.name"
ERROR_HEADER_EXCEPTION = HEADER_PREFIX + "exception.class.name"
ERROR_HEADER_EXCEPTION_MESSAGE = HEADER_PREFIX + "exception.message"
ERROR_HEADER_EXCEPTION_STACK_TRACE = HEADER_PREFIX + "exception.stacktrace"

DATA_EXCEPTION = "org.apache.kafka.connect.errors.DataException"


class Stage(Enum):
    """Where in a task a record failed (Kafka's Stage names)."""

    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


class ToleranceExceeded(KsqlError):
    """A record failed and errors.tolerance=none: the task fails (Connect's message)."""


@dataclass(frozen=True)
class Failure:
    """One record that failed: where, in what, why, and the record as consumed (None for sources)."""

    stage: Stage
    executing_class: str
    error: BaseException
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    original: Record | None = None


def exception_class_name(error: BaseException) -> str:
    """The class name the error headers carry: Connect's DataException for a bad record."""
    if isinstance(error, DataError):
        return DATA_EXCEPTION
    return f"{type(error).__module__}.{type(error).__qualname__}"


def context_headers(failure: Failure, connector: str, task_id: int) -> list[Header]:
    """Connect's __connect.errors.* headers of a failure (every value a UTF-8 string)."""
    def text(value: Any) -> bytes:
        return str(value).encode()

    headers: list[Header] = []
    if failure.topic is not None:
        headers.append((ERROR_HEADER_ORIG_TOPIC, text(failure.topic)))
    if failure.partition is not None:
        headers.append((ERROR_HEADER_ORIG_PARTITION, text(failure.partition)))
    if failure.offset is not None:
        headers.append((ERROR_HEADER_ORIG_OFFSET, text(failure.offset)))
    headers += [
        (ERROR_HEADER_CONNECTOR_NAME, text(connector)),
        (ERROR_HEADER_TASK_ID, text(task_id)),
        (ERROR_HEADER_STAGE, text(failure.stage.value)),
        (ERROR_HEADER_EXECUTING_CLASS, text(failure.executing_class)),
        (ERROR_HEADER_EXCEPTION, text(exception_class_name(failure.error))),
    ]
    if str(failure.error):
        headers.append((ERROR_HEADER_EXCEPTION_MESSAGE, text(failure.error)))
    trace = "".join(traceback.format_exception(failure.error)).strip()
    headers.append((ERROR_HEADER_EXCEPTION_STACK_TRACE, text(trace)))
    return headers


def _flag(config: Mapping[str, Any], name: str) -> bool:
    value = str(config.get(name) or "false").strip().lower()
    if value not in ("true", "false"):
        raise KsqlError(f"Invalid value {config.get(name)} for configuration {name}: Expected value to be either "
                        "true or false")
    return value == "true"


Produce = Callable[[str, Record], None]


class ErrorHandler:
    """Runs a task's stages with the connector's error tolerance, dead letter queue and error log."""

    def __init__(self, config: Mapping[str, Any], *, connector: str, task_id: int = 0, is_sink: bool,
                 produce: Produce | None = None):
        tolerance = str(config.get("errors.tolerance") or "none").strip().lower()
        if tolerance not in ("none", "all"):
            raise KsqlError(f"Invalid value {config.get('errors.tolerance')} for configuration errors.tolerance: "
                            "must be one of none, all")
        self.tolerate_all = tolerance == "all"
        self.dlq_topic = str(config.get("errors.deadletterqueue.topic.name") or "").strip() or None
        if self.dlq_topic and not is_sink:
            raise KsqlError("errors.deadletterqueue.topic.name is only for sink connectors: a source connector's "
                            "records do not come from a topic")
        if self.dlq_topic and produce is None:
            raise KsqlError("A dead letter queue needs somewhere to produce to")
        self.context_headers = _flag(config, "errors.deadletterqueue.context.headers.enable")
        self.log_enabled = _flag(config, "errors.log.enable")
        self.log_messages = _flag(config, "errors.log.include.messages")
        self.connector = connector
        self.task_id = task_id
        self._produce = produce
        self.failed = 0

    def execute(self, failure_of: Callable[[BaseException], Failure], operation: Callable[[], Any]) -> tuple[
            bool, Any]:
        """(True, result) of `operation`, or (False, None) when it failed and the failure is tolerated.

        `failure_of(error)` describes the failure. Raises ToleranceExceeded with errors.tolerance=none."""
        try:
            return True, operation()
        except (KsqlError, ValueError, TypeError, ArithmeticError, LookupError) as error:
            self.report(failure_of(error))
            return False, None

    def report(self, failure: Failure) -> None:
        """Log the failure, send its record to the dead letter queue, and fail the task unless tolerated."""
        self.failed += 1
        if self.log_enabled or not self.tolerate_all:
            where = f"topic '{failure.topic}', partition {failure.partition}, offset {failure.offset}" \
                if failure.topic is not None else "a source record"
            detail = ""
            if self.log_messages and failure.original is not None:
                detail = f" (key={failure.original.key!r}, value={failure.original.value!r})"
            log.error("Error encountered in task %s-%d. Executing stage '%s' with class '%s', where consumed record "
                      "is {%s}%s: %s", self.connector, self.task_id, failure.stage.value, failure.executing_class,
                      where, detail, failure.error)
        if self.dlq_topic and failure.original is not None:
            self._produce(self.dlq_topic, self.dead_letter(failure))
        if not self.tolerate_all:
            raise ToleranceExceeded(f"Tolerance exceeded in error handler: {failure.stage.value} "
                                    f"({failure.executing_class}) failed: {failure.error}") from failure.error

    def dead_letter(self, failure: Failure) -> Record:
        """The record that goes to the dead letter queue: the consumed one, with the error headers."""
        original = failure.original
        headers = list(original.headers or ())
        if self.context_headers:
            headers += context_headers(failure, self.connector, self.task_id)
        return Record(original.key, original.value, original.timestamp, headers)
