"""Kafka Connect's single message transforms and predicates, with Kafka's class names and properties."""

from __future__ import annotations

import datetime as dt

import pytest

from ksql.connect import data
from ksql.connect.api import SinkRecord as Rec
from ksql.connect.data import DataError
from ksql.connect.transforms import TRANSFORMS, ConfigError, TransformationChain

T = "org.apache.kafka.connect.transforms."


VALUE_SCHEMA = data.struct([("id", data.primitive("int32")), ("name", data.OPTIONAL_STRING),
                            ("ssn", data.OPTIONAL_STRING), ("amount", data.primitive("float64", True))],
                           name="order")
VALUE = {"id": 7, "name": "ann", "ssn": "123-45", "amount": 2.5}


def rec(**kw) -> Rec:
    base = dict(topic="orders", kafka_partition=0, key_schema=data.OPTIONAL_STRING, key="k7",
                value_schema=VALUE_SCHEMA, value=dict(VALUE), timestamp=1_700_000_000_123, kafka_offset=42)
    base.update(kw)
    return Rec(**base)


def schemaless(**kw) -> Rec:
    return rec(key_schema=None, value_schema=None, **kw)


def make(name: str, **props):
    return TRANSFORMS[T + name]({k.replace("_", "."): v for k, v in props.items()})


def test_insert_field_with_schema_adds_topic_partition_offset_timestamp_and_static():
    t = make("InsertField$Value", topic_field="t", partition_field="p", offset_field="o!",
             timestamp_field="ts", static_field="src", static_value="pg")
    out = t.apply(rec())
    assert out.value == {**VALUE, "t": "orders", "p": 0, "o": 42,
                         "ts": data.millis_to_timestamp(1_700_000_000_123), "src": "pg"}
    names = [(f.name, f.schema.optional) for f in out.value_schema.fields][-5:]
    assert names == [("t", True), ("p", True), ("o", False), ("ts", True), ("src", True)]
    assert out.value_schema.field("ts").schema.name == data.TIMESTAMP


def test_insert_field_schemaless_and_tombstone_and_key():
    t = make("InsertField$Value", topic_field="t")
    assert t.apply(schemaless()).value == {**VALUE, "t": "orders"}
    tomb = rec(value=None)
    assert t.apply(tomb) is tomb
    k = make("InsertField$Key", static_field="s", static_value="x").apply(schemaless(key={"a": 1}))
    assert k.key == {"a": 1, "s": "x"}
    with pytest.raises(DataError, match="Only Map objects"):
        t.apply(schemaless(value="plain"))
    with pytest.raises(ConfigError):
        make("InsertField$Value")


def test_replace_field_include_exclude_rename():
    out = make("ReplaceField$Value", exclude="ssn", renames="name:customer,amount:total").apply(rec())
    assert out.value == {"id": 7, "customer": "ann", "total": 2.5}
    assert [f.name for f in out.value_schema.fields] == ["id", "customer", "total"]
    out = make("ReplaceField$Value", include="id,name").apply(schemaless())
    assert out.value == {"id": 7, "name": "ann"}
    with pytest.raises(ConfigError, match="rename"):
        make("ReplaceField$Value", renames="nocolon")


def test_mask_field_empty_values_and_replacement():
    out = make("MaskField$Value", fields="ssn,amount,id").apply(rec())
    assert out.value == {"id": 0, "name": "ann", "ssn": "", "amount": 0.0}
    assert out.value_schema == VALUE_SCHEMA
    out = make("MaskField$Value", fields="ssn", replacement="***").apply(schemaless())
    assert out.value["ssn"] == "***"
    with pytest.raises(DataError, match="number"):
        make("MaskField$Value", fields="id", replacement="x").apply(rec())


def test_cast_fields_and_whole_value():
    out = make("Cast$Value", spec="id:string,amount:int32").apply(rec())
    assert out.value == {**VALUE, "id": "7", "amount": 2}
    assert out.value_schema.field("id").schema.type == "string"
    assert out.value_schema.field("amount").schema == data.primitive("int32", True)
    out = make("Cast$Key", spec="int64").apply(rec(key="12"))
    assert (out.key, out.key_schema.type) == (12, "int64")
    assert make("Cast$Value", spec="flag:boolean").apply(schemaless(value={"flag": "TRUE"})).value == {"flag": True}
    assert make("Cast$Value", spec="n:int8").apply(schemaless(value={"n": 300})).value == {"n": 44}
    with pytest.raises(DataError, match="Cannot cast"):
        make("Cast$Value", spec="name:int32").apply(rec())
    with pytest.raises(ConfigError, match="does not support casting to map"):
        make("Cast$Value", spec="id:map")


def test_value_to_key_then_extract_field():
    chain = TransformationChain.from_config({
        "transforms": "createKey,extractId",
        "transforms.createKey.type": T + "ValueToKey", "transforms.createKey.fields": "id",
        "transforms.extractId.type": T + "ExtractField$Key", "transforms.extractId.field": "id"})
    out = chain.apply(rec())
    assert (out.key, out.key_schema) == (7, data.primitive("int32"))
    out = chain.apply(schemaless())
    assert (out.key, out.key_schema) == (7, None)
    with pytest.raises(DataError, match="Field does not exist"):
        make("ValueToKey", fields="nope").apply(rec())


def test_extract_field_value_keeps_field_schema():
    out = make("ExtractField$Value", field="name").apply(rec())
    assert (out.value, out.value_schema) == ("ann", data.OPTIONAL_STRING)
    with pytest.raises(DataError, match="Unknown field"):
        make("ExtractField$Value", field="zzz").apply(rec())


def test_timestamp_converter_between_string_unix_and_timestamp():
    to_string = make("TimestampConverter$Value", field="ts", target_type="string", format="yyyy-MM-dd HH:mm:ss")
    schema = data.struct([("ts", data.timestamp())])
    moment = dt.datetime(2024, 3, 1, 12, 30, 5, tzinfo=dt.UTC)
    out = to_string.apply(rec(value_schema=schema, value={"ts": moment}))
    assert out.value == {"ts": "2024-03-01 12:30:05"}
    assert out.value_schema.field("ts").schema.type == "string"
    to_ts = make("TimestampConverter$Value", field="ts", target_type="Timestamp", format="yyyy-MM-dd HH:mm:ss")
    assert to_ts.apply(schemaless(value={"ts": "2024-03-01 12:30:05"})).value == {"ts": moment}
    to_unix = make("TimestampConverter$Value", target_type="unix", unix_precision="seconds")
    out = to_unix.apply(rec(value_schema=data.timestamp(), value=moment))
    assert (out.value, out.value_schema.type) == (int(moment.timestamp()), "int64")
    to_date = make("TimestampConverter$Value", target_type="Date")
    assert to_date.apply(schemaless(value=int(moment.timestamp() * 1000))).value == dt.date(2024, 3, 1)
    with pytest.raises(DataError, match="Could not parse"):
        to_ts.apply(schemaless(value={"ts": "March"}))
    with pytest.raises(ConfigError, match="format"):
        make("TimestampConverter$Value", target_type="string")


def test_regex_router_uses_java_group_references():
    t = make("RegexRouter", regex="(.*)-(?P<kind>raw)", replacement="$1_clean_${kind}\\$$2")
    assert t.apply(rec(topic="orders-raw")).topic == "orders_clean_raw$raw"
    assert t.apply(rec(topic="orders")).topic == "orders"  # no full match: unchanged


def test_filter_with_predicates_and_negate():
    config = {
        "transforms": "dropTombstones,onlyOrders",
        "transforms.dropTombstones.type": T + "Filter",
        "transforms.dropTombstones.predicate": "isTombstone",
        "transforms.onlyOrders.type": T + "Filter",
        "transforms.onlyOrders.predicate": "isOrders",
        "transforms.onlyOrders.negate": "true",
        "predicates": "isTombstone,isOrders,hasTrace",
        "predicates.isTombstone.type": T + "predicates.RecordIsTombstone",
        "predicates.isOrders.type": T + "predicates.TopicNameMatches",
        "predicates.isOrders.pattern": "orders.*",
        "predicates.hasTrace.type": T + "predicates.HasHeaderKey",
        "predicates.hasTrace.name": "trace",
    }
    chain = TransformationChain.from_config(config)
    assert chain.apply(rec(value=None)) is None
    assert chain.apply(rec(topic="users")) is None
    assert chain.apply(rec(topic="orders_eu")).topic == "orders_eu"
    header_pred = TRANSFORMS[T + "predicates.HasHeaderKey"]({"name": "trace"})
    assert header_pred.test(rec(headers=[("trace", b"1")])) and not header_pred.test(rec())


def test_chain_refuses_unknown_class_and_undeclared_predicate():
    with pytest.raises(ConfigError, match="could not be found"):
        TransformationChain.from_config({"transforms": "x", "transforms.x.type": T + "Nope"})
    with pytest.raises(ConfigError, match="not listed"):
        TransformationChain.from_config({"transforms": "x", "transforms.x.type": T + "Filter",
                                         "transforms.x.predicate": "p"})
