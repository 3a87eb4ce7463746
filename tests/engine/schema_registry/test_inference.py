"""CREATE / CREATE ... AS with schema-registry formats: inference, schema ids, registration, refusals."""

from __future__ import annotations

import json

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog
from ksql.engine.schema_registry import Schema
from ksql.errors import KsqlError


@pytest.fixture
def engine():
    e = Engine(MemoryLog(), EngineConfig(properties={"auto.offset.reset": "earliest"}, create_missing_topics=True))
    yield e
    e.close()


def avro(fields: list, name: str = "R") -> Schema:
    return Schema(json.dumps({"type": "record", "name": name, "fields": fields}))


def schema_of(engine, name: str) -> str:
    return str(engine.metastore.get(name).schema)


def test_value_and_key_inference(engine):
    reg = engine.schema_registry
    reg.register("t-key", Schema('"long"'))
    reg.register("t-value", avro([{"name": "c1", "type": "int"},
                                  {"name": "rec", "type": {"type": "record", "name": "In",
                                                           "fields": [{"name": "f", "type": "string"}]}},
                                  {"name": "m", "type": {"type": "map", "values": ["null", "double"]}},
                                  {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal",
                                                           "precision": 4, "scale": 2}}]))
    engine.execute("CREATE STREAM S WITH (kafka_topic='t', format='AVRO');")
    assert schema_of(engine, "S") == ("`ROWKEY` BIGINT KEY, `C1` INTEGER, `REC` STRUCT<`F` STRING>, "
                                      "`M` MAP<STRING, DOUBLE>, `DEC` DECIMAL(4, 2)")
    # a schema id keeps the schema's own names
    schema_id = reg.latest("t-value").id
    engine.execute(f"CREATE STREAM S2 (ID INT KEY) WITH (kafka_topic='t', value_format='AVRO', "
                   f"value_schema_id={schema_id});")
    assert schema_of(engine, "S2").startswith("`ID` INTEGER KEY, `c1` INTEGER, `rec` STRUCT<`f` STRING>")
    assert engine.metastore.get("S2").formats.value.schema_id == schema_id
    # an unwrapped value is one anonymous column
    reg.register("u-value", Schema('"int"'))
    engine.execute("CREATE STREAM U WITH (kafka_topic='u', value_format='AVRO', wrap_single_value=false);")
    assert schema_of(engine, "U") == "`ROWVAL` INTEGER"


def test_protobuf_keys_are_messages_and_full_names_pick_one(engine):
    reg = engine.schema_registry
    reg.register("p-key", Schema('syntax = "proto3"; message K { int32 id = 1; }', "PROTOBUF"))
    reg.register("p-value", Schema('syntax = "proto3"; message A { string a = 1; } '
                                   'message B { uint32 b = 1; float f = 2; }', "PROTOBUF"))
    engine.execute("CREATE STREAM P WITH (kafka_topic='p', format='PROTOBUF', value_schema_full_name='B');")
    assert schema_of(engine, "P") == "`ID` INTEGER KEY, `B` BIGINT, `F` DOUBLE"
    with pytest.raises(KsqlError, match="does not contain a message named Nope"):
        engine.execute("CREATE STREAM P2 WITH (kafka_topic='p', format='PROTOBUF', value_schema_full_name='Nope');")


def test_inference_refusals(engine):
    with pytest.raises(KsqlError, match="^Schema for message values on topic 'none' does not exist in the "
                                        "Schema Registry.\nSubject: none-value"):
        engine.execute("CREATE STREAM N WITH (kafka_topic='none', value_format='AVRO');")
    with pytest.raises(KsqlError, match="^No columns supplied.$"):
        engine.execute("CREATE STREAM N WITH (kafka_topic='none', value_format='JSON');")
    engine.schema_registry.register("j-value", Schema('{"type": "object", "properties": {"a": {"type": "integer"}}}',
                                                      "JSON"))
    with pytest.raises(KsqlError, match="VALUE_FORMAT AVRO cannot read a JSON schema"):
        engine.execute("CREATE STREAM J WITH (kafka_topic='j', value_format='AVRO');")
    with pytest.raises(KsqlError, match=r"^fullSchemaName cannot be empty. Format configuration: \{fullSchemaName=\}$"):
        engine.execute("CREATE STREAM X (A INT) WITH (kafka_topic='x', value_format='AVRO', "
                       "VALUE_AVRO_SCHEMA_FULL_NAME=' ');")
    with pytest.raises(KsqlError, match=r"^JSON does not support the following configs: \[fullSchemaName\]$"):
        engine.execute("CREATE STREAM X (A INT) WITH (kafka_topic='x', value_format='JSON', "
                       "VALUE_SCHEMA_FULL_NAME='a.B');")
    with pytest.raises(KsqlError, match=r"^AVRO does not support the following configs: \[nullableRepresentation\]$"):
        engine.execute("CREATE STREAM X (A INT) WITH (kafka_topic='x', value_format='AVRO', "
                       "VALUE_PROTOBUF_NULLABLE_REPRESENTATION='OPTIONAL');")
    with pytest.raises(KsqlError, match="^'WRAP_SINGLE_VALUE' is only valid for single-field value schemas$"):
        engine.execute("CREATE STREAM X (A INT, B INT) WITH (kafka_topic='x', value_format='AVRO', "
                       "WRAP_SINGLE_VALUE=false);")


def test_declared_schemas_are_registered_once(engine):
    reg = engine.schema_registry
    engine.execute("CREATE STREAM S (K STRING KEY, A INT) WITH (kafka_topic='s', format='AVRO');")
    assert reg.subjects() == ["s-key", "s-value"]
    assert json.loads(reg.latest("s-key").schema.schema_str) == "string"
    # an existing subject is left alone by CREATE (its writers own it)
    reg.register("o-value", avro([{"name": "x", "type": "long"}]))
    engine.execute("CREATE STREAM O (A INT) WITH (kafka_topic='o', value_format='AVRO');")
    assert reg.versions("o-value") == [1]


def test_sinks_register_and_check_compatibility(engine):
    reg = engine.schema_registry
    engine.execute("CREATE STREAM S (K STRING KEY, A INT, B STRING) WITH (kafka_topic='s', format='AVRO');")
    engine.execute("CREATE STREAM OUT AS SELECT K, A FROM S;")
    value = json.loads(reg.latest("OUT-value").schema.schema_str)
    assert value["name"] == "KsqlDataSourceSchema" and [f["name"] for f in value["fields"]] == ["A"]
    # a sink subject holding an incompatible schema refuses (BACKWARD by default)
    reg.register("BAD-value", avro([{"name": "A", "type": "string"}]))
    with pytest.raises(KsqlError, match="^Could not register schema for topic: Schema being registered is "
                                        "incompatible"):
        engine.execute("CREATE STREAM BAD AS SELECT K, A FROM S;")


def test_sink_schema_ids(engine):
    reg = engine.schema_registry
    engine.execute("CREATE STREAM S (`id` INT KEY, `c1` INT) WITH (kafka_topic='s', value_format='AVRO');")
    reordered = reg.register("o1-value", avro([{"name": "c2", "type": "double"}, {"name": "c1", "type": "int"}]))
    with pytest.raises(KsqlError, match=r"^The following value columns are changed, missing or reordered: "
                                        r"\[`c1` INTEGER\]. Schema from schema registry is \[`c2` DOUBLE, `c1` INTEGER\]$"):
        engine.execute(f"CREATE STREAM O1 WITH (kafka_topic='o1', value_schema_id={reordered}) AS SELECT * FROM S;")
    required = reg.register("o2-value", avro([{"name": "c1", "type": "int"}, {"name": "c2", "type": "double"}]))
    with pytest.raises(KsqlError, match="the schema requires the field 'c2'"):
        engine.execute(f"CREATE STREAM O2 WITH (kafka_topic='o2', value_schema_id={required}) AS SELECT * FROM S;")
    fine = reg.register("o3-value", avro([{"name": "c1", "type": "int"},
                                          {"name": "c2", "type": "int", "default": 100}]))
    engine.execute(f"CREATE STREAM O3 WITH (kafka_topic='o3', value_schema_id={fine}) AS SELECT * FROM S;")
    assert reg.versions("o3-value") == [1]  # a schema id is used as it is, not registered again
    engine.execute("INSERT INTO S (`id`, `c1`) VALUES (1, 7);")
    engine.run_until_idle()
    record = engine.log.read("o3", 0, 0, 10)[0]
    assert record.value[1:5] == fine.to_bytes(4, "big")


def test_value_wrapping_from_config():
    e = Engine(MemoryLog(), EngineConfig(properties={"ksql.persistence.wrap.single.values": "false"},
                                         create_missing_topics=True))
    e.execute("CREATE STREAM S (K STRING KEY, A INT) WITH (kafka_topic='s', value_format='JSON');")
    assert e.metastore.get("S").formats.value.wrap_single_value is False
    e.execute("CREATE STREAM P (K STRING KEY, A INT) WITH (kafka_topic='p', value_format='PROTOBUF');")
    assert e.metastore.get("P").formats.value.wrap_single_value is None  # PROTOBUF cannot unwrap
    e.close()


def test_assert_schema(engine):
    engine.schema_registry.register("s-value", Schema('"int"'))
    entity = engine.execute("ASSERT SCHEMA SUBJECT 's-value' ID 1;")[0].entity
    assert entity == {"@type": "assert_schema", "statementText": "ASSERT SCHEMA SUBJECT 's-value' ID 1",
                      "subject": "s-value", "id": 1, "exists": True, "warnings": []}
    assert engine.execute("ASSERT NOT EXISTS SCHEMA ID 7 TIMEOUT 0 SECONDS;")[0].entity["exists"] is False
    with pytest.raises(KsqlError, match="^Schema with subject name x id 1 does not exist$"):
        engine.execute("ASSERT SCHEMA SUBJECT 'x' ID 1 TIMEOUT 0 SECONDS;")
    with pytest.raises(KsqlError, match="^Schema with subject name s-value exists$"):
        engine.execute("ASSERT NOT EXISTS SCHEMA SUBJECT 's-value' TIMEOUT 0 SECONDS;")
