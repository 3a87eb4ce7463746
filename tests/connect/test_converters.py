"""Connect converters: JSON with and without schemas, String, ByteArray, and Avro/Protobuf/JSON Schema
through the schema registry (the engine's own serdes, so ksqlDB reads what they write)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from ksql.connect import data
from ksql.connect.converters import create_converter
from ksql.connect.data import DataError
from ksql.engine.schema_registry import EmbeddedSchemaRegistry
from ksql.engine.serde import Column, create_serde
from ksql.types import BIGINT, STRING

JSON = "org.apache.kafka.connect.json.JsonConverter"
SCHEMA = data.struct([
    ("id", data.primitive("int64")), ("name", data.OPTIONAL_STRING), ("price", data.decimal(2, True)),
    ("at", data.timestamp(True)), ("day", data.date(True)), ("raw", data.primitive("bytes", True)),
    ("tags", data.array(data.OPTIONAL_STRING, True)),
    ("attrs", data.map_(data.OPTIONAL_STRING, data.OPTIONAL_INT32, True)),
    ("inner", data.struct([("x", data.primitive("float64", True))], optional=True)),
], name="Order")
VALUE = {"id": 1, "name": "ann", "price": Decimal("12.50"), "at": dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC),
         "day": dt.date(2024, 5, 1), "raw": b"\x00\xff", "tags": ["a", None], "attrs": {"k": 3},
         "inner": {"x": 1.5}}


def test_json_with_schemas_round_trips_and_matches_kafka_envelope():
    conv = create_converter(JSON, {}, is_key=False)
    raw = conv.from_connect_data("t", SCHEMA, VALUE)
    doc = orjson.loads(raw)
    assert set(doc) == {"schema", "payload"}
    assert doc["schema"]["type"] == "struct" and doc["schema"]["name"] == "Order"
    assert doc["schema"]["fields"][0] == {"type": "int64", "optional": False, "field": "id"}
    assert doc["schema"]["fields"][2]["parameters"] == {"scale": "2"}
    assert doc["payload"]["price"] == "BOI="  # 1250 as two's-complement bytes, base64
    assert doc["payload"]["at"] == 1714550400000 and doc["payload"]["day"] == 19844
    assert doc["payload"]["raw"] == "AP8="
    assert conv.to_connect_data("t", raw) == (SCHEMA, VALUE)


def test_json_numeric_decimals_and_non_string_map_keys():
    conv = create_converter(JSON, {"decimal.format": "NUMERIC"}, is_key=False)
    schema = data.struct([("p", data.decimal(2)), ("m", data.map_(data.primitive("int32"), data.OPTIONAL_STRING))])
    value = {"p": Decimal("1.25"), "m": {1: "one"}}
    raw = conv.from_connect_data("t", schema, value)
    assert orjson.loads(raw)["payload"] == {"p": 1.25, "m": [[1, "one"]]}
    assert conv.to_connect_data("t", raw) == (schema, value)


def test_json_without_schemas_is_plain_json():
    conv = create_converter(JSON, {"schemas.enable": "false"}, is_key=False)
    assert conv.from_connect_data("t", None, {"a": 1, "b": [1.5]}) == b'{"a":1,"b":[1.5]}'
    assert conv.to_connect_data("t", b'{"a":1}') == (None, {"a": 1})
    assert conv.from_connect_data("t", None, None) is None and conv.to_connect_data("t", None) == (None, None)


def test_json_errors_say_what_is_wrong():
    conv = create_converter(JSON, {}, is_key=False)
    with pytest.raises(DataError, match="requires \"schema\" and \"payload\" fields"):
        conv.to_connect_data("t", b'{"a":1}')
    with pytest.raises(DataError, match="serialization error"):
        conv.to_connect_data("t", b"{not json")
    with pytest.raises(DataError, match="Invalid type for INT32"):
        conv.to_connect_data("t", b'{"schema":{"type":"int32"},"payload":"x"}')
    with pytest.raises(DataError, match="null used for required field"):
        conv.from_connect_data("t", SCHEMA, {**VALUE, "id": None})


def test_string_and_byte_array_converters():
    s = create_converter("org.apache.kafka.connect.storage.StringConverter", {}, is_key=True)
    assert s.from_connect_data("t", None, 12) == b"12" and s.from_connect_data("t", None, True) == b"true"
    assert s.to_connect_data("t", "é".encode()) == (data.OPTIONAL_STRING, "é")
    with pytest.raises(DataError, match="Failed to deserialize string"):
        s.to_connect_data("t", b"\xff")
    b = create_converter("org.apache.kafka.connect.converters.ByteArrayConverter", {}, is_key=False)
    assert b.from_connect_data("t", None, b"\x01") == b"\x01" and b.to_connect_data("t", b"\x02")[1] == b"\x02"
    with pytest.raises(DataError, match="not compatible"):
        b.from_connect_data("t", None, "text")


def test_unknown_converter_class():
    with pytest.raises(DataError, match="could not be found"):
        create_converter("com.example.Nope", {}, is_key=False)


SR_SCHEMA = data.struct([("ID", data.primitive("int64", True)), ("NAME", data.OPTIONAL_STRING),
                         ("PRICE", data.decimal(2, True)), ("AT", data.timestamp(True)),
                         ("TAGS", data.array(data.OPTIONAL_STRING, True))])
SR_VALUE = {"ID": 7, "NAME": "bob", "PRICE": Decimal("3.10"), "AT": dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
            "TAGS": ["x"]}


@pytest.mark.parametrize("class_name,fmt", [("io.confluent.connect.avro.AvroConverter", "AVRO"),
                                            ("io.confluent.connect.protobuf.ProtobufConverter", "PROTOBUF"),
                                            ("io.confluent.connect.json.JsonSchemaConverter", "JSON_SR")])
def test_schema_registry_converters_round_trip_and_ksql_reads_them(class_name, fmt):
    registry = EmbeddedSchemaRegistry()
    conv = create_converter(class_name, {}, is_key=False, registry=registry)
    raw = conv.from_connect_data("orders", SR_SCHEMA, SR_VALUE)
    assert raw[0] == 0 and registry.subjects() == ["orders-value"]
    schema, value = conv.to_connect_data("orders", raw)
    assert value == SR_VALUE
    assert [f.name for f in schema.fields] == ["ID", "NAME", "PRICE", "AT", "TAGS"]
    assert schema.field("AT").schema.name == data.TIMESTAMP
    # the engine's serde of the format (what a ksqlDB stream uses) reads the same bytes
    serde = create_serde(fmt, [Column("ID", BIGINT), Column("NAME", STRING)], is_key=False, topic="orders",
                         registry=registry)
    assert serde.deserialize(raw) == [7, "bob"]
    key_conv = create_converter(class_name, {}, is_key=True, registry=registry)
    key_raw = key_conv.from_connect_data("orders", data.primitive("string"), "k1")
    # Protobuf has no bare primitives: ksqlDB's PROTOBUF key is a message of one field, read as a struct
    assert key_conv.to_connect_data("orders", key_raw)[1] == ({"ROWKEY": "k1"} if fmt == "PROTOBUF" else "k1")


def test_schema_registry_converter_errors():
    conv = create_converter("io.confluent.connect.avro.AvroConverter", {}, is_key=False,
                            registry=EmbeddedSchemaRegistry())
    with pytest.raises(DataError, match="Unknown magic byte"):
        conv.to_connect_data("t", b"plain")
    with pytest.raises(DataError, match="schema id|99"):
        conv.to_connect_data("t", b"\x00\x00\x00\x00\x63\x00")
    with pytest.raises(DataError, match="needs a schema registry"):
        create_converter("io.confluent.connect.avro.AvroConverter", {}, is_key=False)
