"""errors.tolerance, the dead letter queue with Connect's error context headers, and the error log."""

from __future__ import annotations

import logging

import pytest

from ksql.connect.converters import create_converter
from ksql.connect.dead_letter import ErrorHandler, Failure, Stage, ToleranceExceeded
from ksql.engine.log.base import Record
from ksql.errors import KsqlError

JSON = "org.apache.kafka.connect.json.JsonConverter"


def handler(produced: list, **props) -> ErrorHandler:
    config = {k.replace("_", "."): v for k, v in props.items()}
    return ErrorHandler(config, connector="pg-sink", task_id=0, is_sink=True,
                        produce=lambda topic, record: produced.append((topic, record)))


def convert(h: ErrorHandler, record: Record):
    converter = create_converter(JSON, {"schemas.enable": "false"}, is_key=False)
    return h.execute(lambda err: Failure(Stage.VALUE_CONVERTER, JSON, err, "orders", 0, record.offset, record),
                     lambda: converter.to_connect_data("orders", record.value))


def test_tolerance_all_sends_bad_records_to_the_dlq_with_context_headers():
    produced: list = []
    h = handler(produced, errors_tolerance="all", errors_deadletterqueue_topic_name="dlq",
                errors_deadletterqueue_context_headers_enable="true")
    good = Record(b"k1", b'{"a":1}', 5, [("trace", b"t1")], offset=3)
    bad = Record(b"k2", b"{oops", 6, [("trace", b"t2")], offset=4)
    assert convert(h, good) == (True, (None, {"a": 1}))
    assert convert(h, bad) == (False, None)
    assert len(produced) == 1 and h.failed == 1
    topic, dead = produced[0]
    assert (topic, dead.key, dead.value, dead.timestamp) == ("dlq", b"k2", b"{oops", 6)
    headers = dict(dead.headers)
    assert headers["trace"] == b"t2"
    assert headers["__connect.errors.topic"] == b"orders"
    assert headers["__connect.errors.partition"] == b"0"
    assert headers["__connect.errors.offset"] == b"4"
    assert headers["__connect.errors.connector.name"] == b"pg-sink"
    assert headers["__connect.errors.task.id"] == b"0"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == JSON.encode()
    assert headers["__connect.errors.exception.class.name"] == b"org.apache.kafka.connect.errors.DataException"
    assert b"serialization error" in headers["__connect.errors.exception.message"]
    assert b"Traceback" in headers["__connect.errors.exception.stacktrace"]


def test_without_context_headers_the_dead_letter_is_the_record_as_consumed():
    produced: list = []
    h = handler(produced, errors_tolerance="all", errors_deadletterqueue_topic_name="dlq")
    convert(h, Record(None, b"nope", 1, [], offset=0))
    assert produced[0][1].headers == [] and produced[0][1].value == b"nope"


def test_tolerance_none_fails_the_task_and_logs(caplog):
    produced: list = []
    h = handler(produced, errors_deadletterqueue_topic_name="dlq")
    with caplog.at_level(logging.ERROR, "ksql.connect.errors"), pytest.raises(ToleranceExceeded,
                                                                              match="Tolerance exceeded"):
        convert(h, Record(None, b"{", 1, [], offset=9))
    assert "offset 9" in caplog.text and "VALUE_CONVERTER" in caplog.text
    assert len(produced) == 1  # the record still reaches the dead letter queue


def test_errors_log_enable_logs_tolerated_failures(caplog):
    h = handler([], errors_tolerance="all", errors_log_enable="true", errors_log_include_messages="true")
    with caplog.at_level(logging.ERROR, "ksql.connect.errors"):
        convert(h, Record(b"key", b"{", 1, [], offset=2))
    assert "value=b'{'" in caplog.text
    quiet = handler([], errors_tolerance="all")
    caplog.clear()
    convert(quiet, Record(b"key", b"{", 1, [], offset=2))
    assert caplog.text == ""


def test_configuration_is_checked():
    with pytest.raises(KsqlError, match="errors.tolerance"):
        handler([], errors_tolerance="some")
    with pytest.raises(KsqlError, match="only for sink connectors"):
        ErrorHandler({"errors.deadletterqueue.topic.name": "d"}, connector="c", is_sink=False, produce=print)
