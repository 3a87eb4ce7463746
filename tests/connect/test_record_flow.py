"""Records between the log and a task: converters, transforms and error handling in Connect's order,
failed records to the dead letter queue with the stage and class that failed."""

from __future__ import annotations

import orjson
import pytest

from ksql.connect import data
from ksql.connect.api import SourceRecord
from ksql.connect.converters import create_converter
from ksql.connect.dead_letter import ErrorHandler, ToleranceExceeded
from ksql.connect.record_flow import SinkRecordFlow, SourceRecordFlow
from ksql.connect.transforms import TransformationChain
from ksql.engine.log.base import Record

T = "org.apache.kafka.connect.transforms."
JSON = "org.apache.kafka.connect.json.JsonConverter"
STRING = "org.apache.kafka.connect.storage.StringConverter"


def sink_flow(dead: list, tolerance: str = "all") -> SinkRecordFlow:
    chain = TransformationChain.from_config({
        "transforms": "cast,drop", "transforms.cast.type": T + "Cast$Value", "transforms.cast.spec": "n:int32",
        "transforms.drop.type": T + "Filter", "transforms.drop.predicate": "tomb",
        "predicates": "tomb", "predicates.tomb.type": T + "predicates.RecordIsTombstone"})
    errors = ErrorHandler({"errors.tolerance": tolerance, "errors.deadletterqueue.topic.name": "dlq",
                           "errors.deadletterqueue.context.headers.enable": "true"},
                          connector="sink", is_sink=True, produce=lambda t, r: dead.append(r))
    return SinkRecordFlow(create_converter(STRING, {}, is_key=True),
                          create_converter(JSON, {"schemas.enable": "false"}, is_key=False), chain, errors)


def test_sink_flow_converts_transforms_and_routes_failures_by_stage():
    dead: list = []
    flow = sink_flow(dead)
    good = flow.convert("orders", 0, Record(b"k", b'{"n":"12"}', 7, [], offset=1))
    assert (good.key, good.value, good.kafka_offset, good.timestamp) == ("k", {"n": 12}, 1, 7)
    assert good.key_schema == data.OPTIONAL_STRING
    assert flow.convert("orders", 0, Record(b"k", None, 7, [], offset=2)) is None  # filtered: no dead letter
    assert flow.convert("orders", 0, Record(b"k", b"{bad", 7, [], offset=3)) is None
    assert flow.convert("orders", 0, Record(b"k", b'{"n":"twelve"}', 7, [], offset=4)) is None
    stages = [(dict(r.headers)["__connect.errors.stage"], dict(r.headers)["__connect.errors.class.name"],
               dict(r.headers)["__connect.errors.offset"]) for r in dead]
    assert stages == [(b"VALUE_CONVERTER", JSON.encode(), b"3"),
                      (b"TRANSFORMATION", (T + "Cast$Value").encode(), b"4")]
    assert [r.value for r in dead] == [b"{bad", b'{"n":"twelve"}']


def test_sink_flow_put_failures_reach_the_dlq_as_consumed():
    dead: list = []
    flow = sink_flow(dead)
    raw = Record(b"k", b'{"n":1}', 7, [], offset=5)
    record = flow.convert("orders", 0, raw)
    flow.report_put_failure(record, ValueError("refused"), {("orders", 0, 5): raw}, "JdbcSinkTask")
    headers = dict(dead[0].headers)
    assert headers["__connect.errors.stage"] == b"TASK_PUT" and headers["__connect.errors.exception.message"] == \
        b"refused"
    assert dead[0].value == b'{"n":1}'


def test_sink_flow_without_tolerance_fails():
    with pytest.raises(ToleranceExceeded):
        sink_flow([], "none").convert("orders", 0, Record(b"k", b"{bad", 7, [], offset=3))


def test_source_flow_transforms_then_converts():
    chain = TransformationChain.from_config({
        "transforms": "route", "transforms.route.type": T + "RegexRouter",
        "transforms.route.regex": "pg-(.*)", "transforms.route.replacement": "$1"})
    flow = SourceRecordFlow(create_converter(STRING, {}, is_key=True),
                            create_converter(JSON, {"schemas.enable": "false"}, is_key=False), chain,
                            ErrorHandler({"errors.tolerance": "all"}, connector="src", is_sink=False))
    schema = data.struct([("id", data.primitive("int64"))])
    topic, partition, out = flow.convert(SourceRecord("pg-users", None, None, None, schema, {"id": 3}, 11))
    assert (topic, partition, out.key, orjson.loads(out.value), out.timestamp) == ("users", None, None, {"id": 3}, 11)
    bad = SourceRecord("pg-users", None, None, None, schema, {"id": "x"}, 11)
    assert flow.convert(bad) is None  # tolerated: skipped
