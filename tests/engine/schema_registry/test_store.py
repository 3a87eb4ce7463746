"""The embedded registry: subjects, versions, global ids, compatibility, config, persistence, staging."""

from __future__ import annotations

import json

import pytest

from ksql.engine.log import MemoryLog
from ksql.engine.schema_registry import (
    SCHEMAS_TOPIC,
    EmbeddedSchemaRegistry,
    Schema,
    SchemaReference,
    SchemaRegistryError,
    create_registry,
    subject_name,
)


def avro(*fields: tuple) -> Schema:
    return Schema(json.dumps({"type": "record", "name": "R", "fields": [
        {"name": n, "type": t, **({"default": d[0]} if d else {})} for n, t, *d in fields]}))


def error_code(fn) -> int:
    with pytest.raises(SchemaRegistryError) as err:
        fn()
    return err.value.error_code


def test_ids_versions_and_dedupe():
    r = EmbeddedSchemaRegistry()
    a = avro(("a", "int"))
    assert r.register("t-value", a) == 1
    # the same schema, however written, is the same version and id
    assert r.register("t-value", Schema(' {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}')) == 1
    assert r.versions("t-value") == [1]
    # another subject reuses the global id
    assert r.register("u-value", a) == 1
    b = avro(("a", "int"), ("b", ["null", "string"], None))
    assert r.register("t-value", b) == 2
    assert r.versions("t-value") == [1, 2]
    assert r.latest("t-value").id == 2 and r.version("t-value", 1).id == 1
    assert r.lookup("t-value", a).version == 1
    assert r.subjects() == ["t-value", "u-value"]
    assert r.subjects_for_id(1) == [("t-value", 1), ("u-value", 1)]
    assert r.schema_by_id(2) == b
    assert subject_name("t", True) == "t-key"


def test_errors_carry_confluent_codes():
    r = EmbeddedSchemaRegistry()
    r.register("s", avro(("a", "int")))
    assert error_code(lambda: r.versions("nope")) == 40401
    assert error_code(lambda: r.version("s", 7)) == 40402
    assert error_code(lambda: r.schema_by_id(99)) == 40403
    assert error_code(lambda: r.lookup("s", avro(("z", "int")))) == 40403
    assert error_code(lambda: r.version("s", "x")) == 42202
    assert error_code(lambda: r.register("s", Schema('{"type": "nope"}'))) == 42201
    assert error_code(lambda: r.register("s", Schema("syntax = 'proto3'; message {", "PROTOBUF"))) == 42201
    assert error_code(lambda: r.register("s", Schema('{"type": 5}', "JSON"))) == 42201
    assert error_code(lambda: r.set_compatibility("SOMETIMES")) == 42203
    assert error_code(lambda: r.get_compatibility("s", default_to_global=False)) == 40408
    assert error_code(lambda: r.register("s", avro(("q", "int")), schema_id=1)) == 42205


def test_compatibility_levels():
    r = EmbeddedSchemaRegistry()
    r.register("s", avro(("a", "int")))
    # BACKWARD (default): the new schema must read old data
    with pytest.raises(SchemaRegistryError, match="READER_FIELD_MISSING_DEFAULT_VALUE") as err:
        r.register("s", avro(("a", "int"), ("b", "int")))
    assert err.value.status == 409 and err.value.error_code == 409
    assert r.register("s", avro(("a", "long"), ("b", "int", 0))) == 2  # promotion + default
    assert r.compatibility_problems("s", avro(("a", "string")))
    # FORWARD per subject: old readers read new data; removing a field without default breaks them
    r.set_compatibility("FORWARD", "s")
    assert r.get_compatibility("s") == "FORWARD" and r.get_compatibility() == "BACKWARD"
    assert r.compatibility_problems("s", avro(("b", "int", 0)))
    r.delete_compatibility("s")
    r.set_compatibility("NONE")
    assert r.register("s", avro(("z", "string"))) == 3
    r.set_compatibility("BACKWARD_TRANSITIVE")
    # checked against every version: 'z' is fine for v3 but v1/v2 lack it
    assert r.compatibility_problems("s", avro(("z", "string"), ("y", "int")))
    # Protobuf: changing a field's kind breaks; adding fields does not
    p = EmbeddedSchemaRegistry()
    p.register("p", Schema('syntax = "proto3"; message M { int32 a = 1; }', "PROTOBUF"))
    assert p.register("p", Schema('syntax = "proto3"; message M { int64 a = 1; string b = 2; }', "PROTOBUF")) == 2
    assert p.compatibility_problems("p", Schema('syntax = "proto3"; message M { string a = 1; }', "PROTOBUF"))
    # JSON: a property's type may widen (integer -> number) but not change
    j = EmbeddedSchemaRegistry()
    j.register("j", Schema('{"type":"object","properties":{"a":{"type":"integer"}}}', "JSON"))
    assert not j.compatibility_problems("j", Schema('{"type":"object","properties":{"a":{"type":"number"}}}', "JSON"))
    assert j.compatibility_problems("j", Schema('{"type":"object","properties":{"a":{"type":"string"}}}', "JSON"))


def test_deletes():
    r = EmbeddedSchemaRegistry()
    r.register("s", avro(("a", "int")))
    r.register("s", avro(("a", "int"), ("b", "int", 1)))
    assert error_code(lambda: r.delete_subject("s", permanent=True)) == 40405
    assert r.delete_version("s", 2) == 2
    assert r.versions("s") == [1] and r.versions("s", deleted=True) == [1, 2]
    assert r.delete_subject("s") == [1]
    assert not r.subject_exists("s")
    assert r.subjects(deleted=True) == ["s"]
    assert r.delete_subject("s", permanent=True) == [1, 2]
    assert r.subjects(deleted=True) == []
    assert r.schema_by_id(1)  # ids stay resolvable, as in Confluent's registry


def test_references():
    r = EmbeddedSchemaRegistry()
    r.register("event.proto", Schema('syntax = "proto3"; message Event { int64 ts = 1; }', "PROTOBUF"))
    main = Schema('syntax = "proto3"; import "event.proto"; message L { Event event = 1; }', "PROTOBUF",
                  (SchemaReference("event.proto", "event.proto", 1),))
    schema_id = r.register("l-value", main)
    assert r.resolve_references(main)["event.proto"].schema_str.startswith("syntax")
    assert r.parsed(schema_id).obj.message().fields[0].message_type.full_name == "Event"
    assert error_code(lambda: r.delete_subject("event.proto")) == 42206
    missing = Schema(main.schema_str, "PROTOBUF", (SchemaReference("event.proto", "nope", 1),))
    assert error_code(lambda: r.register("x", missing)) == 42201


def test_persisted_in_the_log_and_replayed():
    log = MemoryLog()
    r = EmbeddedSchemaRegistry(log)
    assert not log.topic_exists(SCHEMAS_TOPIC)  # nothing written until the first change
    r.register("s", avro(("a", "int")))
    r.register("s", avro(("a", "int"), ("b", "int", 1)), schema_id=42)
    r.set_compatibility("FULL", "s")
    r.delete_version("s", 1)
    assert log.topic_config(SCHEMAS_TOPIC).cleanup_policy == "compact"
    again = EmbeddedSchemaRegistry(log)
    assert again.versions("s") == [2]
    assert again.latest("s").id == 42
    assert again.get_compatibility("s") == "FULL"
    assert again.register("t", avro(("z", "int"))) == 43  # ids continue after the highest


def test_staged_registrations_take_ids_in_order_of_first_use():
    r = EmbeddedSchemaRegistry()
    r.stage([("out-value", avro(("a", "int")), None)])
    r.stage([("in-key", Schema('"int"'), 100), ("in-value", avro(("b", "int")), None)])
    assert r.register("first-value", avro(("c", "string"))) == 1  # before any staged one is used
    assert r.latest("out-value").id == 2  # reading a subject registers its group
    assert r.schema_by_id(100) == Schema('"int"')  # an unknown id registers every staged group
    assert r.latest("in-value").id == 101  # after the highest id, as Confluent's registry counts
    # a schema staged with what it references: ids in listed order, registration references first
    s = EmbeddedSchemaRegistry()
    main = Schema('syntax = "proto3"; import "e.proto"; message L { E e = 1; }', "PROTOBUF",
                  (SchemaReference("e.proto", "e.proto", s.expected_version("e.proto", Schema("x")),),))
    s.stage([("l-value", main, None), ("e.proto", Schema('syntax = "proto3"; message E {}', "PROTOBUF"), None)])
    assert s.latest("l-value").id == 1 and s.latest("e.proto").id == 2


def test_create_registry_picks_embedded_or_remote():
    assert isinstance(create_registry({}, MemoryLog()), EmbeddedSchemaRegistry)
    remote = create_registry({"ksql.schema.registry.url": "http://127.0.0.1:1"})
    assert type(remote).__name__ == "RemoteSchemaRegistry"
    with pytest.raises(SchemaRegistryError, match="not reachable") as err:
        remote.subjects()
    assert err.value.status == 503
    remote.close()


def test_survives_a_restart_on_the_embedded_log(tmp_path):
    from ksql.engine.log import EmbeddedLog

    log = EmbeddedLog(str(tmp_path), fsync="never")
    r = EmbeddedSchemaRegistry(log)
    first = r.register("orders-value", avro(("id", "long")))
    r.set_compatibility("NONE")
    log.close()
    log = EmbeddedLog(str(tmp_path), fsync="never")
    try:
        again = EmbeddedSchemaRegistry(log)
        assert again.latest("orders-value").id == first
        assert again.get_compatibility() == "NONE"
        assert again.register("orders-value", avro(("other", "string"))) == first + 1
    finally:
        log.close()
