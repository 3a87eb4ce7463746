"""JSON_SR format: JSON behind Confluent's wire header, with a JSON Schema in the registry.

The JSON itself is what the JSON format writes and reads (ksqlDB reads JSON_SR
with its JSON deserializer after the 5-byte header), so the serdes here wrap the
JSON ones. Schemas are generated as Connect's JsonSchemaData does: optional
values as {"oneOf": [{"type": "null"}, T]}, "connect.type" for int32/int64/
float64/bytes/map, "connect.index" for field order, Connect's logical-type titles
for DECIMAL/DATE/TIME/TIMESTAMP. With a schema id the registered schema's
properties are written (missing columns as null).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from ksql.engine.schema_registry import Schema, SchemaRegistryClient
from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.formats import map_key_problem
from ksql.engine.serde.json_serde import JsonFormat, loads_exact
from ksql.engine.serde.sr_format import (
    SchemaRegistryFormat,
    WriterSchema,
    anonymous_name,
    fetch_schema,
    find_name,
    frame,
    spec_coercer,
    unframe,
    upper_names,
    writer_schema,
)
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
    SqlType,
    StructField,
    StructType,
)

_CONNECT = "org.apache.kafka.connect.data."
_JSON = JsonFormat()


# --- generating the schema ksqlDB writes ---------------------------------------------------------

def _json_type(t: SqlType) -> dict:
    base = t.base
    if isinstance(t, StructType):
        return {"type": "object", "properties": {
            f.name: {"connect.index": i, **_optional(_json_type(f.type))} for i, f in enumerate(t.fields)}}
    if isinstance(t, ArrayType):
        return {"type": "array", "items": _optional(_json_type(t.item))}
    if isinstance(t, MapType):
        return {"type": "object", "additionalProperties": _optional(_json_type(t.value)), "connect.type": "map"}
    if isinstance(t, DecimalType):
        return {"type": "number", "title": _CONNECT + "Decimal", "connect.version": 1, "connect.type": "bytes",
                "connect.parameters": {"scale": str(t.scale), "connect.decimal.precision": str(t.precision)}}
    simple = {
        "BOOLEAN": {"type": "boolean"},
        "INTEGER": {"type": "integer", "connect.type": "int32"},
        "BIGINT": {"type": "integer", "connect.type": "int64"},
        "DOUBLE": {"type": "number", "connect.type": "float64"},
        "STRING": {"type": "string"},
        "BYTES": {"type": "string", "connect.type": "bytes"},
        "DATE": {"type": "integer", "title": _CONNECT + "Date", "connect.version": 1, "connect.type": "int32"},
        "TIME": {"type": "integer", "title": _CONNECT + "Time", "connect.version": 1, "connect.type": "int32"},
        "TIMESTAMP": {"type": "integer", "title": _CONNECT + "Timestamp", "connect.version": 1,
                      "connect.type": "int64"},
    }.get(base)
    if simple is None:
        raise KsqlError(f"The JSON_SR format does not support type {t}")
    return dict(simple)


def _optional(schema: dict) -> dict:
    return {"oneOf": [{"type": "null"}, schema]}


def generate_json_schema(columns: list[Column], *, is_key: bool, unwrapped: bool) -> dict:
    """The JSON Schema ksqlDB registers for these columns."""
    if unwrapped:
        return _optional(_json_type(columns[0].type))
    return _json_type(StructType(tuple(StructField(c.name, c.type) for c in columns)))


# --- schema -> SQL types -----------------------------------------------------------------------------

class _Resolver:
    """Internal `$ref`s ("#/definitions/X", "#/$defs/X") of one document."""

    def __init__(self, root: Any):
        self.root = root

    def resolve(self, s: Any, depth: int = 0) -> Any:
        while isinstance(s, dict) and isinstance(s.get("$ref"), str):
            ref = s["$ref"]
            if not ref.startswith("#") or depth > 50:
                raise KsqlError(f"JSON schema reference {ref} cannot be resolved")
            target: Any = self.root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise KsqlError(f"JSON schema reference {ref} cannot be resolved")
                target = target[part]
            s = target
            depth += 1
        return s


def _non_null(s: dict, r: _Resolver) -> Any:
    """The schema without its null alternative ({"oneOf": [null, X]}, "type": ["null", X])."""
    s = r.resolve(s)
    if not isinstance(s, dict):
        return s
    for key in ("oneOf", "anyOf"):
        branches = s.get(key)
        if isinstance(branches, list):
            rest = [b for b in branches if r.resolve(b) != {"type": "null"}]
            if len(rest) == 1:
                merged = {k: v for k, v in s.items() if k != key}
                return {**merged, **_non_null(rest[0], r)}
    t = s.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        if len(rest) == 1:
            return {**s, "type": rest[0]}
    return s


def json_sql_type(s: Any, r: _Resolver, depth: int = 0) -> SqlType:
    """The SQL type Connect (and so ksqlDB) gives a JSON Schema."""
    if depth > 64:
        raise KsqlError("JSON schema is too deeply nested (recursive?)")
    s = _non_null(s, r)
    if not isinstance(s, dict):
        raise KsqlError(f"JSON schema {s!r} cannot be a column type")
    t = s.get("type")
    title = s.get("title")
    connect = s.get("connect.type")
    if t is None and ("properties" in s or "additionalProperties" in s):
        t = "object"
    if t == "integer":
        if title == _CONNECT + "Date":
            return DATE
        if title == _CONNECT + "Time":
            return TIME
        if title == _CONNECT + "Timestamp":
            return TIMESTAMP
        return INTEGER if connect in ("int8", "int16", "int32") else BIGINT
    if t == "number":
        if title == _CONNECT + "Decimal":
            params = s.get("connect.parameters") or {}
            try:
                return DecimalType(int(params.get("connect.decimal.precision", 64)), int(params.get("scale", 0)))
            except (TypeError, ValueError):
                raise KsqlError(f"Invalid decimal parameters in JSON schema: {params}") from None
        if connect in ("int8", "int16", "int32"):
            return INTEGER
        if connect == "int64":
            return BIGINT
        return DOUBLE
    if t == "string":
        return BYTES if connect == "bytes" else STRING
    if t == "boolean":
        return BOOLEAN
    if t == "array":
        items = s.get("items")
        if not isinstance(items, dict):
            raise KsqlError("JSON schema arrays need an 'items' schema to be a column type")
        return ArrayType(json_sql_type(items, r, depth + 1))
    if t == "object":
        props = s.get("properties")
        extra = s.get("additionalProperties")
        if connect == "map" or (not props and isinstance(extra, dict)):
            if not isinstance(extra, dict):
                raise KsqlError("JSON schema maps need an 'additionalProperties' schema")
            return MapType(STRING, json_sql_type(extra, r, depth + 1))
        items = list((props or {}).items())
        items.sort(key=lambda kv: (r.resolve(kv[1]).get("connect.index", 1 << 30)
                                   if isinstance(r.resolve(kv[1]), dict) else 1 << 30))
        return StructType(tuple(StructField(name, json_sql_type(p, r, depth + 1)) for name, p in items))
    raise KsqlError(f"JSON schema type {t!r} cannot be a column type")


def _numbers_as_typed(v: Any, s: Any, r: _Resolver) -> Any:
    """A value parsed with exact decimals, with numbers as the schema types them: DECIMAL stays a
    Decimal (keeping its scale), other non-integral numbers become floats."""
    if v is None:
        return None
    s = _non_null(s, r) if isinstance(s, dict) else {}
    if isinstance(v, Decimal):
        return v if s.get("title") == _CONNECT + "Decimal" else float(v)
    if isinstance(v, list):
        items = s.get("items") if isinstance(s.get("items"), dict) else {}
        return [_numbers_as_typed(x, items, r) for x in v]
    if isinstance(v, dict):
        props = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        extra = s.get("additionalProperties") if isinstance(s.get("additionalProperties"), dict) else {}
        return {k: _numbers_as_typed(x, props.get(k, extra), r) for k, x in v.items()}
    return v


# --- the serde -----------------------------------------------------------------------------------

class JsonSrSerde(Serde):
    """JSON serde of the format's columns, behind Confluent's header."""

    def __init__(self, inner: Serde, writer: WriterSchema, *, target: str, topic: str,
                 layout: list[int | None] | None = None):
        self._inner = inner
        self._writer_schema = writer
        self._target = target
        self._topic = topic
        self._layout = layout  # physical column i <- row[layout[i]] (None: null), for a schema id

    def serialize(self, row):
        if row is None:
            return None
        if self._layout is not None:
            row = [None if i is None else row[i] for i in self._layout]
        data = self._inner.serialize(row)
        if data is None:
            return None
        return frame(self._writer_schema.id(), data)

    def deserialize(self, data):
        if data is None:
            return None
        _, payload = unframe(data, self._target, self._topic)
        return self._inner.deserialize(payload)


class JsonSrFormat(SchemaRegistryFormat):
    name = "JSON_SR"
    schema_type = "JSON"
    wrap_values = frozenset({True, False})
    options = frozenset({"registry", "schema_id"})

    def schema_problem(self, columns, is_key):
        for c in columns:
            p = map_key_problem("JSON", c.type)
            if p:
                return p
        return None

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic, registry=None, schema_id=None,
               full_schema_name=None, nullable_representation=None):
        columns = list(columns)
        target = "key" if is_key else "value"
        unwrapped = self.unwrapped(columns, is_key, wrap_single_value)
        if schema_id is None:
            obj = generate_json_schema(columns, is_key=is_key, unwrapped=unwrapped)
            writer = WriterSchema(registry, topic, is_key, Schema(json.dumps(obj), "JSON"), None, self.name)
            inner = _JSON.create(columns, is_key=is_key, wrap_single_value=wrap_single_value, delimiter=None,
                                 topic=topic)
            return JsonSrSerde(inner, writer, target=target, topic=topic)
        parsed = fetch_schema(registry, schema_id, self.name, self.schema_type)
        if unwrapped:
            layout: list[int | None] = [0]
            inner = _JSON.create(columns[:1], is_key=True, wrap_single_value=None, delimiter=None, topic=topic)
        else:
            physical = self.columns_for(parsed, is_key=is_key, unwrapped=False, keep_names=True)
            names = [c.name for c in columns]
            layout = [find_name(names, p.name) for p in physical]
            # each property holds the value of its column, so it is written with that column's type
            typed = [p if i is None else Column(p.name, columns[i].type)
                     for p, i in zip(physical, layout, strict=True)]
            inner = _JSON.create(typed, is_key=False, wrap_single_value=True if len(typed) == 1 else None,
                                 delimiter=None, topic=topic)
        writer = WriterSchema(registry, topic, is_key, registry.schema_by_id(schema_id), schema_id, self.name)
        reader = _JSON.create(columns, is_key=is_key, wrap_single_value=wrap_single_value, delimiter=None,
                              topic=topic)
        return _SchemaIdJsonSrSerde(inner, reader, writer, target=target, topic=topic, layout=layout)

    def schema_for(self, columns, *, is_key, unwrapped, full_schema_name=None, nullable_representation=None):
        return Schema(json.dumps(generate_json_schema(columns, is_key=is_key, unwrapped=unwrapped)), "JSON")

    def columns_for(self, parsed, *, is_key, unwrapped, full_schema_name=None, keep_names=False):
        r = _Resolver(parsed.obj)
        t = json_sql_type(parsed.obj, r)
        if not keep_names:
            t = upper_names(t)
        if unwrapped:
            return [Column(anonymous_name(is_key), t)]
        if not isinstance(t, StructType):
            raise KsqlError(f"The {'key' if is_key else 'value'} schema is not an object, so it cannot be read as "
                            "columns. Use WRAP_SINGLE_VALUE=false to read it as one anonymous column.")
        return [Column(f.name, f.type) for f in t.fields]

    def encode_value(self, value, parsed, schema_id, *, full_schema_name=None):
        if value is None:
            return None
        r = _Resolver(parsed.obj)
        try:
            t = json_sql_type(parsed.obj, r)
        except KsqlError:
            return frame(schema_id, orjson.dumps(value))  # a schema without a column type: write as is
        coerced = spec_coercer(t)(value)
        serde = _JSON.create([Column("V", t)], is_key=True, wrap_single_value=None, delimiter=None, topic="")
        return frame(schema_id, serde.serialize([coerced]))

    def decode_value(self, data, registry: SchemaRegistryClient, *, topic="", is_key=False):
        if data is None:
            return None
        schema_id, payload = unframe(data, "key" if is_key else "value", topic)
        try:
            value = loads_exact(payload)
        except ValueError as err:
            raise SerdeError(f"Invalid JSON_SR payload: {err}") from None
        schema = writer_schema(registry, schema_id, "JSON", "key" if is_key else "value", topic).obj
        return _numbers_as_typed(value, schema, _Resolver(schema))


class _SchemaIdJsonSrSerde(JsonSrSerde):
    """Writes the registered schema's properties (by name from the row); reads like any JSON_SR serde."""

    def __init__(self, inner: Serde, reader: Serde, writer: WriterSchema, *, target: str, topic: str,
                 layout: list[int | None]):
        super().__init__(inner, writer, target=target, topic=topic, layout=layout)
        self._reader = reader

    def deserialize(self, data):
        if data is None:
            return None
        _, payload = unframe(data, self._target, self._topic)
        return self._reader.deserialize(payload)


__all__ = ["JsonSrFormat", "generate_json_schema", "json_sql_type"]
