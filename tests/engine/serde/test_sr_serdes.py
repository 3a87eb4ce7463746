"""AVRO, PROTOBUF, PROTOBUF_NOSR and JSON_SR serdes: wire format, ksqlDB's schemas, coercion, nulls."""

from __future__ import annotations

import io
import json
import struct
from decimal import Decimal

import fastavro
import pytest

from ksql.engine.schema_registry import EmbeddedSchemaRegistry, Schema
from ksql.engine.serde import Column, create_serde
from ksql.engine.serde.avro import generate_avro_schema
from ksql.engine.serde.protobuf import generate_proto_text
from ksql.engine.serde.sr_format import decode_message_indexes, encode_message_indexes, frame, unframe
from ksql.errors import KsqlError, SerdeError
from ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)

ALL = [Column("I", INTEGER), Column("L", BIGINT), Column("D", DOUBLE), Column("B", BOOLEAN), Column("S", STRING),
       Column("BY", BYTES), Column("DEC", DecimalType(6, 2)), Column("DT", DATE), Column("TM", TIME),
       Column("TS", TIMESTAMP), Column("A", ArrayType(STRING)), Column("M", MapType(STRING, BIGINT)),
       Column("ST", StructType((StructField("X", INTEGER), StructField("Y", ArrayType(DOUBLE)))))]
ROW = [1, 2**40, 1.5, True, "s", b"\x00\xff", Decimal("-12.50"), 19000, 3_600_000, 1_700_000_000_123,
       ["a", None], {"k": 7, "n": None}, {"X": 3, "Y": [0.5]}]


@pytest.fixture
def registry():
    return EmbeddedSchemaRegistry()


def _serde(fmt, columns, registry, **kw):
    return create_serde(fmt, columns, is_key=kw.pop("is_key", False), topic=kw.pop("topic", "t"),
                        registry=registry, **kw)


def test_wire_format_helpers():
    assert frame(258, b"x") == b"\x00\x00\x00\x01\x02x"
    assert unframe(b"\x00\x00\x00\x00\x07abc", "value", "t") == (7, b"abc")
    with pytest.raises(SerdeError, match="Unknown magic byte"):
        unframe(b"\x01\x00\x00\x00\x07", "value", "t")
    for indexes in ([0], [1], [0, 2], [3, 1, 4]):
        encoded = encode_message_indexes(indexes)
        assert decode_message_indexes(encoded + b"rest") == (indexes, len(encoded))
    assert encode_message_indexes([0]) == b"\x00"
    for runaway in (b"\xff" * 100_000, b"\x02" + b"\x80" * 11):  # a varint is at most 10 bytes
        with pytest.raises(SerdeError, match="varint longer than 10 bytes"):
            decode_message_indexes(runaway)


@pytest.mark.parametrize("fmt", ["AVRO", "PROTOBUF", "JSON_SR"])
def test_round_trip_and_registration(fmt, registry):
    serde = _serde(fmt, ALL, registry)
    data = serde.serialize(ROW)
    schema_id, _ = unframe(data, "value", "t")
    assert registry.latest("t-value").id == schema_id
    expected = list(ROW)
    if fmt == "PROTOBUF":  # proto3 has no null inside a repeated field or a map
        expected[10], expected[11] = ["a", ""], {"k": 7, "n": 0}
    assert serde.deserialize(data) == expected
    assert serde.serialize(None) is None and serde.deserialize(None) is None


def test_avro_schema_is_ksqldbs():
    schema = generate_avro_schema(ALL, is_key=False, unwrapped=False)
    assert schema["type"] == "record" and schema["name"] == "KsqlDataSourceSchema"
    assert schema["namespace"] == "io.confluent.ksql.avro_schemas"
    assert schema["connect.name"] == "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["I"] == {"name": "I", "type": ["null", "int"], "default": None}
    assert fields["DEC"]["type"][1] == {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}
    assert fields["DT"]["type"][1] == {"type": "int", "logicalType": "date"}
    assert fields["TS"]["type"][1] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["M"]["type"][1] == {"type": "map", "values": ["null", "long"]}
    assert fields["ST"]["type"][1]["name"] == "KsqlDataSourceSchema_ST"
    assert generate_avro_schema([Column("K", INTEGER)], is_key=True, unwrapped=True) == "int"
    assert generate_avro_schema([Column("V", STRING)], is_key=False, unwrapped=True) == ["null", "string"]
    named = generate_avro_schema([Column("A", INTEGER)], is_key=False, unwrapped=False, full_schema_name="x.y.Z")
    assert (named["namespace"], named["name"]) == ("x.y", "Z")


def test_avro_bytes_are_standard_avro(registry):
    serde = _serde("AVRO", ALL, registry)
    schema_id, payload = unframe(serde.serialize(ROW), "value", "t")
    writer = fastavro.parse_schema(json.loads(registry.schema_by_id(schema_id).schema_str))
    record = fastavro.schemaless_reader(io.BytesIO(payload), writer, None)
    assert record["DEC"] == Decimal("-12.50") and record["DT"].isoformat() == "2022-01-08"
    assert record["ST"] == {"X": 3, "Y": [0.5]}


def test_avro_reads_other_writers_schemas(registry):
    writer = Schema(json.dumps({"type": "record", "name": "W", "fields": [
        {"name": "count", "type": "int"}, {"name": "ratio", "type": "float"},
        {"name": "suit", "type": {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS"]}},
        {"name": "extra", "type": "string"}]}))
    schema_id = registry.register("w-value", writer)
    payload = io.BytesIO()
    fastavro.schemaless_writer(payload, fastavro.parse_schema(json.loads(writer.schema_str)),
                               {"count": 10, "ratio": 0.25, "suit": "HEARTS", "extra": "x"})
    data = frame(schema_id, payload.getvalue())
    columns = [Column("COUNT", STRING), Column("RATIO", DOUBLE), Column("SUIT", STRING), Column("MISSING", INTEGER)]
    assert _serde("AVRO", columns, registry, topic="w").deserialize(data) == ["10", 0.25, "HEARTS", None]
    with pytest.raises(SerdeError, match="Cannot convert"):
        _serde("AVRO", [Column("SUIT", INTEGER)], registry, topic="w").deserialize(data)
    with pytest.raises(SerdeError, match="Unknown magic byte"):
        _serde("AVRO", columns, registry, topic="w").deserialize(b'{"json": 1}')


def test_avro_with_schema_id_fills_defaults(registry):
    schema_id = registry.register("o-value", Schema(json.dumps({"type": "record", "name": "O", "fields": [
        {"name": "c1", "type": "int", "default": 0}, {"name": "c2", "type": ["null", "int"], "default": None},
        {"name": "c3", "type": "string", "default": "foo"}]})))
    serde = _serde("AVRO", [Column("c1", INTEGER)], registry, topic="o", schema_id=schema_id)
    data = serde.serialize([None])
    assert unframe(data, "value", "o")[0] == schema_id
    reader = _serde("AVRO", [Column("c1", INTEGER), Column("c2", INTEGER), Column("c3", STRING)], registry, topic="o")
    assert reader.deserialize(data) == [0, None, "foo"]
    strict = registry.register("p-value", Schema(json.dumps({"type": "record", "name": "P", "fields": [
        {"name": "c1", "type": "int"}]})))
    with pytest.raises(SerdeError, match="'c1' of record P is required"):
        _serde("AVRO", [Column("c1", INTEGER)], registry, topic="p", schema_id=strict).serialize([None])


def test_avro_refusals():
    with pytest.raises(KsqlError, match="^Schema is not compatible with Avro: Illegal initial character: 1x$"):
        create_serde("AVRO", [Column("1x", INTEGER)], is_key=False)
    with pytest.raises(KsqlError, match="Avro only supports MAPs with STRING keys"):
        create_serde("AVRO", [Column("M", MapType(INTEGER, INTEGER))], is_key=False)
    with pytest.raises(KsqlError, match=r"AVRO does not support the following configs: \[nullableRepresentation\]"):
        create_serde("AVRO", [Column("A", INTEGER)], is_key=False, nullable_representation="OPTIONAL")


def test_unwrapped_keys_and_values(registry):
    key = _serde("AVRO", [Column("K", BIGINT)], registry, is_key=True)
    data = key.serialize([5])
    assert key.deserialize(data) == [5] and key.serialize([None]) is None
    assert json.loads(registry.latest("t-key").schema.schema_str) == "long"
    value = _serde("JSON_SR", [Column("V", STRING)], registry, wrap_single_value=False)
    assert value.serialize(["x"])[5:] == b'"x"'
    assert value.deserialize(value.serialize(["x"])) == ["x"]


def test_protobuf_schema_and_nulls(registry):
    text = generate_proto_text([Column("I", INTEGER), Column("S", StructType((StructField("A", STRING),))),
                                Column("DEC", DecimalType(4, 2))])
    assert "message ConnectDefault1 {" in text and "ConnectDefault2 S = 2;" in text
    assert 'import "confluent/type/decimal.proto";' in text and 'value: "4"' in text
    cols = [Column("I", INTEGER), Column("S", STRING), Column("ST", StructType((StructField("A", INTEGER),)))]
    plain = _serde("PROTOBUF", cols, registry)
    assert plain.deserialize(plain.serialize([None, None, None])) == [0, "", None]
    assert plain.deserialize(plain.serialize([None, None, {"A": None}])) == [0, "", {"A": 0}]
    for rep, topic in (("OPTIONAL", "o"), ("WRAPPER", "w")):
        keeps = _serde("PROTOBUF", cols, registry, topic=topic, nullable_representation=rep)
        assert keeps.deserialize(keeps.serialize([None, None, {"A": None}])) == [None, None, {"A": None}]
    assert "optional int32 I = 1;" in registry.latest("o-value").schema.schema_str
    assert "google.protobuf.Int32Value I = 1;" in registry.latest("w-value").schema.schema_str
    key = _serde("PROTOBUF", [Column("K", INTEGER)], registry, is_key=True)
    assert key.serialize([None]) is None  # a null key stays null
    assert key.deserialize(key.serialize([3])) == [3]


def test_protobuf_reads_the_message_the_indexes_name(registry):
    text = 'syntax = "proto3"; message First { string a = 1; } message Second { uint32 c1 = 1; float f = 2; }'
    schema_id = registry.register("m-value", Schema(text, "PROTOBUF"))
    writer = _serde("PROTOBUF", [Column("C1", BIGINT), Column("F", DOUBLE)], registry, topic="m",
                    schema_id=schema_id, full_schema_name="Second")
    data = writer.serialize([100, 1.1234])
    assert data[5:6] == encode_message_indexes([1])[:1]
    reader = _serde("PROTOBUF", [Column("C1", BIGINT), Column("F", DOUBLE)], registry, topic="m")
    assert reader.deserialize(data) == [100, pytest.approx(1.1234, rel=1e-6)]


def test_protobuf_refusals():
    with pytest.raises(KsqlError, match="PROTOBUF format only supports MAP types with STRING keys"):
        create_serde("PROTOBUF", [Column("M", MapType(INTEGER, INTEGER))], is_key=False)
    with pytest.raises(KsqlError, match="Format 'PROTOBUF' does not support 'WRAP_SINGLE_VALUE' set to 'false'"):
        create_serde("PROTOBUF", [Column("A", INTEGER)], is_key=False, wrap_single_value=False)
    with pytest.raises(KsqlError, match="Invalid nullable representation 'SOMETIMES'"):
        create_serde("PROTOBUF_NOSR", [Column("A", INTEGER)], is_key=False, nullable_representation="SOMETIMES")


def test_protobuf_nosr_is_bare():
    serde = create_serde("PROTOBUF_NOSR", [Column("A", INTEGER), Column("B", STRING)], is_key=False)
    assert serde.serialize([150, "x"]) == b"\x08\x96\x01\x12\x01x"
    assert serde.deserialize(b"\x08\x96\x01\x12\x01x") == [150, "x"]
    with pytest.raises(SerdeError, match="Error deserializing Protobuf"):
        serde.deserialize(b"\xff\xff\xff")


def test_json_sr_schema_and_schema_id(registry):
    serde = _serde("JSON_SR", [Column("A", INTEGER), Column("B", DecimalType(4, 2))], registry)
    data = serde.serialize([1, Decimal("1.50")])
    assert data[:1] == b"\x00" and data[5:] == b'{"A":1,"B":1.50}'
    schema = json.loads(registry.latest("t-value").schema.schema_str)
    assert schema["properties"]["A"] == {"connect.index": 0, "oneOf": [
        {"type": "null"}, {"type": "integer", "connect.type": "int32"}]}
    assert schema["properties"]["B"]["oneOf"][1]["title"] == "org.apache.kafka.connect.data.Decimal"
    schema_id = registry.register("j-value", Schema(json.dumps({"type": "object", "properties": {
        "c2": {"type": "string"}, "c1": {"type": "integer"}}}), "JSON"))
    by_id = _serde("JSON_SR", [Column("c1", BIGINT)], registry, topic="j", schema_id=schema_id)
    data = by_id.serialize([4])
    assert struct.unpack(">bI", data[:5]) == (0, schema_id) and json.loads(data[5:]) == {"c2": None, "c1": 4}
    assert by_id.deserialize(data) == [4]
    with pytest.raises(KsqlError, match="JSON only supports MAP types with STRING keys"):
        create_serde("JSON_SR", [Column("M", MapType(INTEGER, INTEGER))], is_key=False)


def test_schema_id_must_exist_and_match_the_format(registry):
    with pytest.raises(KsqlError, match="Schema with id 9 could not be read"):
        _serde("AVRO", [Column("A", INTEGER)], registry, schema_id=9)
    proto = registry.register("x-value", Schema('syntax = "proto3"; message M { int32 a = 1; }', "PROTOBUF"))
    with pytest.raises(KsqlError, match="is a PROTOBUF schema, which the AVRO format cannot use"):
        _serde("AVRO", [Column("A", INTEGER)], registry, schema_id=proto)


def test_reading_a_record_of_another_format_is_a_clear_error(registry):
    avro_id = registry.register("a-value", Schema('{"type": "record", "name": "R", "fields": []}'))
    proto = _serde("PROTOBUF", [Column("A", INTEGER)], registry, topic="a")
    with pytest.raises(SerdeError, match=f"The writer's schema {avro_id} is AVRO, not PROTOBUF"):
        proto.deserialize(frame(avro_id, b"\x00"))
    with pytest.raises(SerdeError, match="Cannot read the writer's schema 77"):
        _serde("AVRO", [Column("A", INTEGER)], registry, topic="a").deserialize(frame(77, b""))
