"""Test-file values <-> schema-registry format bytes, for test drivers (ksqlDB's ValueSpec serdes).

A test file describes records as JSON values and topics with the schemas other
producers registered ("keySchema", "valueSchema", their ids and references).
`register_topic_schemas` puts those schemas in a registry (staged: they get ids
in order of first use, as ksqlDB's test runner assigns them); `encode` writes a
JSON value with the topic's schema as another producer would; `decode` reads
bytes back as JSON-like values with the writer schema's own field names
(structs as dicts, DECIMAL as Decimal, BYTES as bytes, DATE/TIME/TIMESTAMP as ints).
"""

from __future__ import annotations

import json
from typing import Any

from ksql.engine.schema_registry import (
    EmbeddedSchemaRegistry,
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    subject_name,
)
from ksql.engine.serde.base import Column
from ksql.engine.serde.formats import get_format
from ksql.engine.serde.protobuf import compile_generated, decode_message, encode_message
from ksql.engine.serde.sr_format import SchemaRegistryFormat

SR_FORMATS = frozenset({"AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"})
_SCHEMA_TYPES = {"AVRO": "AVRO", "PROTOBUF": "PROTOBUF", "PROTOBUF_NOSR": "PROTOBUF", "JSON": "JSON",
                 "JSON_SR": "JSON"}


def _schema_type(fmt: str | None, schema: Any) -> str:
    """The registry schema type of a test file's schema: from its format, else from its shape."""
    if fmt and str(fmt).upper() in _SCHEMA_TYPES:
        return _SCHEMA_TYPES[str(fmt).upper()]
    if isinstance(schema, str) and ("syntax" in schema or "message " in schema):
        return "PROTOBUF"
    if isinstance(schema, dict) and ("properties" in schema or "oneOf" in schema or "$schema" in schema):
        return "JSON"
    return "AVRO"


def _schema_text(schema: Any, schema_type: str) -> str:
    if schema_type == "PROTOBUF" and isinstance(schema, str):
        return schema
    return json.dumps(schema)


def _references(registry: SchemaRegistryClient, refs: list[dict] | None,
                entries: list) -> tuple[SchemaReference, ...]:
    """References to a test file's referenced schemas, which go (under their own names) into `entries`."""
    out = []
    for ref in refs or []:
        name = str(ref["name"])
        schema_type = _schema_type(ref.get("format"), ref.get("schema"))
        schema = Schema(_schema_text(ref.get("schema"), schema_type), schema_type,
                        _references(registry, ref.get("references"), entries))
        entries.append((name, schema, None))
        out.append(SchemaReference(name, name, _version(registry, name, schema)))
    return tuple(out)


def _version(registry: SchemaRegistryClient, subject: str, schema: Schema) -> int:
    if isinstance(registry, EmbeddedSchemaRegistry):
        return registry.expected_version(subject, schema)
    return registry.lookup(subject, schema).version


def register_topic_schemas(registry: SchemaRegistryClient, spec: dict) -> None:
    """Register a test topic's keySchema/valueSchema (with keySchemaId/valueSchemaId and references)."""
    entries: list = []
    references: list = []
    for side in ("key", "value"):
        schema = spec.get(f"{side}Schema")
        if schema is None:
            continue
        schema_type = _schema_type(spec.get(f"{side}Format"), schema)
        refs = _references(registry, spec.get(f"{side}SchemaReferences"), references)
        schema_id = spec.get(f"{side}SchemaId")
        entries.append((subject_name(spec["name"], side == "key"), Schema(_schema_text(schema, schema_type),
                                                                          schema_type, refs),
                        None if schema_id is None else int(schema_id)))
    if not entries:
        return
    entries += [(s, schema, i) for s, schema, i in references]  # ids after the topic's own, as ksqlDB's runner
    if isinstance(registry, EmbeddedSchemaRegistry):
        registry.stage(entries)
    else:
        for subject, schema, schema_id in reversed(entries):  # references first
            registry.register(subject, schema, schema_id=schema_id)


def encode_side(registry: SchemaRegistryClient, fmt: Any, value: Any, *, topic: str, is_key: bool,
                columns: list) -> bytes | None:
    """A JSON value as a producer writes it to one side of a source's topic in format `fmt` (a FormatInfo):
    with the source's schema id, else the subject's latest schema, else (no schema yet) the one ksqlDB
    would register for `columns` (which it then registers)."""
    if value is None:
        return None
    cols = [Column(c.name, c.type) for c in columns]
    if fmt.name == "PROTOBUF_NOSR":
        compiled = compile_generated(cols, nullable_representation=fmt.nullable_representation)
        return encode_message(value, compiled, compiled.message())
    spec = get_format(fmt.name)
    assert isinstance(spec, SchemaRegistryFormat)
    subject = subject_name(topic, is_key)
    schema_id = fmt.schema_id
    if schema_id is None:
        if registry.subject_exists(subject):
            schema_id = registry.latest(subject).id
        else:
            unwrapped = spec.unwrapped(cols, is_key, fmt.wrap_single_value) if fmt.name != "PROTOBUF" else False
            schema_id = registry.register(subject, spec.schema_for(
                cols, is_key=is_key, unwrapped=unwrapped, full_schema_name=fmt.full_schema_name,
                nullable_representation=fmt.nullable_representation))
    return spec.encode_value(value, registry.parsed(schema_id), schema_id, full_schema_name=fmt.full_schema_name)


def decode_side(fmt: Any, data: bytes | None, *, topic: str, is_key: bool, columns: list) -> Any:
    """Bytes of one side of a source's topic (format `fmt`, a FormatInfo with its registry) as JSON-like
    values, with the writer schema's field names."""
    if data is None:
        return None
    if fmt.name == "PROTOBUF_NOSR":
        compiled = compile_generated([Column(c.name, c.type) for c in columns],
                                     nullable_representation=fmt.nullable_representation)
        return decode_message(data, compiled, compiled.message())
    spec = get_format(fmt.name)
    assert isinstance(spec, SchemaRegistryFormat)
    return spec.decode_value(data, fmt.registry, topic=topic, is_key=is_key)
