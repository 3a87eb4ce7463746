"""Kafka Connect converters: Connect data (schema, value) <-> the bytes of a record's key or value.

By Kafka's and Confluent's class names (`key.converter` / `value.converter` of a connector):

    org.apache.kafka.connect.json.JsonConverter        schemas.enable (default true), decimal.format
    org.apache.kafka.connect.storage.StringConverter
    org.apache.kafka.connect.converters.ByteArrayConverter
    io.confluent.connect.avro.AvroConverter            \\
    io.confluent.connect.protobuf.ProtobufConverter     > through the schema registry
    io.confluent.connect.json.JsonSchemaConverter      /

The schema-registry converters reuse the engine's serdes (ksql.engine.serde): a Connect
schema becomes columns of SQL types, written with the AVRO, PROTOBUF or JSON_SR format
under the subject `<topic>-key|value`; reading finds the columns in the writer's
registered schema. So ksqlDB streams read what these converters write, and back.
"""

from __future__ import annotations

import base64
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from ksql.connect import data
from ksql.connect.data import DataError, Schema
from ksql.engine.serde.javafmt import DECIMAL_CONTEXT
from ksql.engine.serde.sr_format import decimal_to_unscaled_bytes
from ksql.errors import KsqlError
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


class Converter(ABC):
    """Converts one side (key or value) of records between Connect data and bytes."""

    def __init__(self, config: Mapping[str, Any] | None = None, *, is_key: bool = False):
        self.is_key = is_key
        self.configure({k: "" if v is None else str(v) for k, v in (config or {}).items()})

    def configure(self, config: dict[str, str]) -> None:  # noqa: B027 - most converters take no options
        """Read the converter's properties (without the key.converter./value.converter. prefix)."""

    @abstractmethod
    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None: ...

    @abstractmethod
    def to_connect_data(self, topic: str, value: bytes | None) -> tuple[Schema | None, Any]: ...


def _flag(config: Mapping[str, str], name: str, default: bool) -> bool:
    value = config.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("true", "false"):
        raise DataError(f"Invalid value {config[name]} for configuration {name}: Expected value to be either "
                        "true or false")
    return value == "true"


# --- String and ByteArray --------------------------------------------------------------------------

class StringConverter(Converter):
    """Values as their text (UTF-8 by default); reads give an optional string."""

    def configure(self, config: dict[str, str]) -> None:
        self.encoding = config.get("converter.encoding") or config.get("encoding") or "UTF-8"
        try:
            "".encode(self.encoding)
        except LookupError:
            raise DataError(f"Unknown encoding for StringConverter: {self.encoding}") from None

    def from_connect_data(self, topic, schema, value):
        if value is None:
            return None
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return text.encode(self.encoding)

    def to_connect_data(self, topic, value):
        if value is None:
            return data.OPTIONAL_STRING, None
        try:
            return data.OPTIONAL_STRING, value.decode(self.encoding)
        except UnicodeDecodeError as err:
            raise DataError(f"Failed to deserialize string: {err}") from None


class ByteArrayConverter(Converter):
    """Bytes through unchanged."""

    def from_connect_data(self, topic, schema, value):
        if schema is not None and schema.type != "bytes":
            raise DataError(f"Invalid schema type for ByteArrayConverter: {schema.type.upper()}")
        if value is not None and not isinstance(value, (bytes, bytearray)):
            raise DataError(f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}")
        return None if value is None else bytes(value)

    def to_connect_data(self, topic, value):
        return data.primitive("bytes", True), value


# --- JSON ---------------------------------------------------------------------------------------

def schema_to_json(schema: Schema) -> dict:
    """A Connect schema in JsonConverter's envelope form."""
    out: dict[str, Any] = {"type": schema.type}
    if schema.type == "struct":
        out["fields"] = [{**schema_to_json(f.schema), "field": f.name} for f in schema.fields]
    elif schema.type == "array":
        out["items"] = schema_to_json(schema.value_schema)
    elif schema.type == "map":
        out["keys"] = schema_to_json(schema.key_schema)
        out["values"] = schema_to_json(schema.value_schema)
    out["optional"] = schema.optional
    if schema.name is not None:
        out["name"] = schema.name
    if schema.version is not None:
        out["version"] = schema.version
    if schema.doc is not None:
        out["doc"] = schema.doc
    if schema.parameters:
        out["parameters"] = dict(schema.parameters)
    if schema.default is not None:
        out["default"] = _json_value(schema, schema.default, "BASE64")
    return out


def schema_from_json(obj: Any) -> Schema:
    """A Connect schema from JsonConverter's envelope form; DataError when it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise DataError(f"Schema must contain 'type' field: {obj!r}")
    type_ = obj["type"]
    if type_ not in data.TYPES:
        raise DataError(f"Unknown schema type: {type_}")
    kwargs: dict[str, Any] = {"optional": bool(obj.get("optional", False)), "name": obj.get("name"),
                              "version": obj.get("version"), "doc": obj.get("doc"),
                              "parameters": obj.get("parameters")}
    if type_ == "struct":
        fields = obj.get("fields")
        if not isinstance(fields, list):
            raise DataError("Struct schema's \"fields\" argument is not an array.")
        parsed = []
        for f in fields:
            if not isinstance(f, dict) or not isinstance(f.get("field"), str):
                raise DataError("Struct schema's field name not specified properly")
            parsed.append(data.Field(f["field"], schema_from_json(f)))
        kwargs["fields"] = tuple(parsed)
    elif type_ == "array":
        kwargs["value_schema"] = schema_from_json(obj.get("items"))
    elif type_ == "map":
        kwargs["key_schema"] = schema_from_json(obj.get("keys"))
        kwargs["value_schema"] = schema_from_json(obj.get("values"))
    schema = Schema(type_, **kwargs)
    if obj.get("default") is not None:
        schema = Schema(type_, **{**kwargs, "default": _connect_value(schema, obj["default"], "default")})
    return schema


def _json_value(schema: Schema | None, value: Any, decimal_format: str) -> Any:
    """A Connect value as JSON (bytes base64, Decimal base64 or a number, logical types as ints)."""
    if value is None:
        return None
    if schema is None:
        return _schemaless_json(value, decimal_format)
    if schema.name == data.DECIMAL:
        if decimal_format == "NUMERIC":
            return value
        return base64.b64encode(decimal_to_unscaled_bytes(value, schema.scale)).decode()
    if schema.name in (data.DATE, data.TIME, data.TIMESTAMP):
        return data.from_logical(schema, value)
    if schema.type == "bytes":
        return base64.b64encode(value).decode()
    if schema.type == "struct":
        return {f.name: _json_value(f.schema, value.get(f.name), decimal_format) for f in schema.fields}
    if schema.type == "array":
        return [_json_value(schema.value_schema, v, decimal_format) for v in value]
    if schema.type == "map":
        if schema.key_schema.type == "string":
            return {k: _json_value(schema.value_schema, v, decimal_format) for k, v in value.items()}
        return [[_json_value(schema.key_schema, k, decimal_format), _json_value(schema.value_schema, v,
                                                                                 decimal_format)]
                for k, v in value.items()]
    return value


def _schemaless_json(value: Any, decimal_format: str) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _schemaless_json(v, decimal_format) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_schemaless_json(v, decimal_format) for v in value]
    if isinstance(value, Decimal):
        return value
    inferred = data.infer_schema(value)
    return data.from_logical(inferred, value) if inferred is not None else value


def _connect_value(schema: Schema, value: Any, where: str) -> Any:
    """A JSON value read with `schema` as a Connect value (Kafka's JsonConverter.convertToConnect)."""
    if value is None:
        if schema.optional:
            return schema.default
        if schema.default is not None:
            return schema.default
        raise DataError(f"Invalid null value for required {schema.type.upper()} field")
    t = schema.type
    try:
        if schema.name == data.DECIMAL:
            if isinstance(value, str):
                return data.to_logical(schema, base64.b64decode(value, validate=True))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return Decimal(str(value)).quantize(Decimal(1).scaleb(-schema.scale), context=DECIMAL_CONTEXT)
            raise DataError(f"Invalid type for Decimal, underlying representation should be numeric or bytes but "
                            f"was {type(value).__name__}")
        if t in ("int8", "int16", "int32", "int64"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataError(f"Invalid type for {t.upper()}: {type(value).__name__}")
            return data.to_logical(schema, value)
        if t in ("float32", "float64"):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DataError(f"Invalid type for {t.upper()}: {type(value).__name__}")
            return float(value)
        if t == "boolean":
            if not isinstance(value, bool):
                raise DataError(f"Invalid type for BOOLEAN: {type(value).__name__}")
            return value
        if t == "string":
            if not isinstance(value, str):
                raise DataError(f"Invalid type for STRING: {type(value).__name__}")
            return value
        if t == "bytes":
            if not isinstance(value, str):
                raise DataError(f"Invalid type for BYTES: {type(value).__name__}")
            return base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as err:
        raise DataError(f"Invalid {t.upper()} value in field {where}: {err}") from None
    if t == "array":
        if not isinstance(value, list):
            raise DataError(f"Invalid type for ARRAY: {type(value).__name__}")
        return [_connect_value(schema.value_schema, v, where) for v in value]
    if t == "map":
        if schema.key_schema.type == "string":
            if not isinstance(value, dict):
                raise DataError(f"Invalid type for MAP: {type(value).__name__}")
            return {k: _connect_value(schema.value_schema, v, where) for k, v in value.items()}
        if not isinstance(value, list) or any(not isinstance(p, list) or len(p) != 2 for p in value):
            raise DataError("Found invalid map entry instead of array tuple")
        return {_connect_value(schema.key_schema, k, where): _connect_value(schema.value_schema, v, where)
                for k, v in value}
    if not isinstance(value, dict):
        raise DataError(f"Invalid type for STRUCT: {type(value).__name__}")
    return {f.name: _connect_value(f.schema, value.get(f.name), f.name) for f in schema.fields}


class JsonConverter(Converter):
    """Kafka's JsonConverter: with schemas.enable, {"schema": ..., "payload": ...}; without, plain JSON."""

    def configure(self, config: dict[str, str]) -> None:
        self.schemas_enable = _flag(config, "schemas.enable", True)
        fmt = (config.get("decimal.format") or "BASE64").upper()
        if fmt not in ("BASE64", "NUMERIC"):
            raise DataError(f"Invalid value {config['decimal.format']} for configuration decimal.format: must be "
                            "one of BASE64, NUMERIC")
        self.decimal_format = fmt

    def from_connect_data(self, topic, schema, value):
        if schema is not None:
            data.validate(schema, value)
        payload = _json_value(schema, value, self.decimal_format)
        if self.schemas_enable:
            doc = {"schema": None if schema is None else schema_to_json(schema), "payload": payload}
        elif value is None:
            return None
        else:
            doc = payload
        return orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_DATETIME, default=_json_default)

    def to_connect_data(self, topic, value):
        if value is None:
            return None, None
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError as err:
            raise DataError(f"Converting byte[] to Kafka Connect data failed due to serialization error: {err}") \
                from None
        if not self.schemas_enable:
            return None, doc
        if not isinstance(doc, dict) or set(doc) != {"schema", "payload"}:
            raise DataError("JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may "
                            "not contain additional fields. If you are trying to deserialize plain JSON data, set "
                            "schemas.enable=false in your converter configuration.")
        if doc["schema"] is None:
            return None, doc["payload"]
        schema = schema_from_json(doc["schema"])
        return schema, _connect_value(schema, doc["payload"], "payload")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


# --- through the schema registry --------------------------------------------------------------------

_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_DECIMAL_PRECISION = 38
_PRECISION_PARAMETER = "connect.decimal.precision"


def sql_type(schema: Schema) -> SqlType:
    """The SQL type of a Connect schema (what the engine's serdes write)."""
    if schema.name == data.DECIMAL:
        precision = int((schema.parameters or {}).get(_PRECISION_PARAMETER, _MAX_DECIMAL_PRECISION))
        return DecimalType(precision, schema.scale)
    if schema.name == data.DATE:
        return DATE
    if schema.name == data.TIME:
        return TIME
    if schema.name == data.TIMESTAMP:
        return TIMESTAMP
    simple = {"int8": INTEGER, "int16": INTEGER, "int32": INTEGER, "int64": BIGINT, "float32": DOUBLE,
              "float64": DOUBLE, "boolean": BOOLEAN, "string": STRING, "bytes": BYTES}.get(schema.type)
    if simple is not None:
        return simple
    if schema.type == "array":
        return ArrayType(sql_type(schema.value_schema))
    if schema.type == "map":
        return MapType(sql_type(schema.key_schema), sql_type(schema.value_schema))
    return StructType(tuple(StructField(f.name, sql_type(f.schema)) for f in schema.fields))


def connect_schema(t: SqlType) -> Schema:
    """The Connect schema of an SQL type (every part optional, as ksqlDB's columns are)."""
    if isinstance(t, DecimalType):
        s = data.decimal(t.scale, True)
        return Schema(s.type, optional=True, name=s.name, version=1,
                      parameters={**s.parameters, _PRECISION_PARAMETER: str(t.precision)})
    if isinstance(t, ArrayType):
        return data.array(connect_schema(t.item), True)
    if isinstance(t, MapType):
        return data.map_(connect_schema(t.key), connect_schema(t.value), True)
    if isinstance(t, StructType):
        return data.struct([(f.name, connect_schema(f.type)) for f in t.fields], optional=True)
    logical = {"DATE": data.date, "TIME": data.time, "TIMESTAMP": data.timestamp}.get(t.base)
    if logical is not None:
        return logical(True)
    return data.primitive({"BOOLEAN": "boolean", "INTEGER": "int32", "BIGINT": "int64", "DOUBLE": "float64",
                           "STRING": "string", "BYTES": "bytes"}[t.base], True)


def _to_runtime(schema: Schema, value: Any) -> Any:
    """A Connect value as the engine's runtime value of sql_type(schema)."""
    if value is None:
        return None
    if schema.name in (data.DATE, data.TIME, data.TIMESTAMP):
        return data.from_logical(schema, value)
    if schema.type in ("float32", "float64"):
        return float(value)
    if schema.type == "struct":
        return {f.name: _to_runtime(f.schema, value.get(f.name)) for f in schema.fields}
    if schema.type == "array":
        return [_to_runtime(schema.value_schema, v) for v in value]
    if schema.type == "map":
        return {k: _to_runtime(schema.value_schema, v) for k, v in value.items()}
    return value


def _from_runtime(schema: Schema, value: Any) -> Any:
    if value is None:
        return None
    if schema.name in (data.DATE, data.TIME, data.TIMESTAMP):
        return data.to_logical(schema, value)
    if schema.type == "struct":
        return {f.name: _from_runtime(f.schema, value.get(f.name)) for f in schema.fields}
    if schema.type == "array":
        return [_from_runtime(schema.value_schema, v) for v in value]
    if schema.type == "map":
        return {k: _from_runtime(schema.value_schema, v) for k, v in value.items()}
    return value


class SchemaRegistryConverter(Converter):
    """Base of the Avro, Protobuf and JSON Schema converters: the engine's serde of `FORMAT`.

    `registry` is the engine's schema registry client; `schema.registry.url` in the
    converter's config points at another registry instead."""

    FORMAT = ""

    def __init__(self, config: Mapping[str, Any] | None = None, *, is_key: bool = False, registry=None):
        self._registry = registry
        self._writers: dict[tuple[str, str], tuple[Callable[[Any], Any], Any]] = {}
        self._readers: dict[tuple[str, int], tuple[Schema, Any, bool]] = {}
        super().__init__(config, is_key=is_key)

    def configure(self, config: dict[str, str]) -> None:
        from ksql.engine.schema_registry import create_registry

        url = config.get("schema.registry.url")
        if url:
            self._registry = create_registry({"ksql.schema.registry.url": url.split(",")[0].strip(),
                                              "ksql.schema.registry.basic.auth.user.info":
                                                  config.get("schema.registry.basic.auth.user.info") or None})
        if self._registry is None:
            raise DataError(f"{type(self).__name__} needs a schema registry: set schema.registry.url")

    def _writer(self, topic: str, schema: Schema) -> tuple[Callable[[Any], Any], Any]:
        cache_key = (topic, repr(schema))
        found = self._writers.get(cache_key)
        if found is not None:
            return found
        from ksql.engine.serde import Column, create_serde, get_format

        wrapped = schema.type == "struct"
        if wrapped:
            columns = [Column(f.name, sql_type(f.schema)) for f in schema.fields]
        else:
            columns = [Column("ROWKEY" if self.is_key else "ROWVAL", sql_type(schema))]
        options: dict[str, Any] = {}
        if wrapped and schema.name and _VALID_NAME.fullmatch(schema.name) and \
                "full_schema_name" in get_format(self.FORMAT).options:
            options["full_schema_name"] = schema.name
        try:
            serde = create_serde(self.FORMAT, columns, is_key=self.is_key,
                                 wrap_single_value=None if self.is_key or len(columns) != 1 else wrapped,
                                 topic=topic, registry=self._registry, **options)
        except KsqlError as err:
            raise DataError(f"{type(self).__name__} cannot write schema {schema_to_json(schema)}: {err}") from None
        if wrapped:
            def row(value: dict) -> list:
                return [_to_runtime(f.schema, value.get(f.name)) for f in schema.fields]
        else:
            def row(value: Any) -> list:
                return [_to_runtime(schema, value)]
        self._writers[cache_key] = found = (row, serde)
        return found

    def from_connect_data(self, topic, schema, value):
        if value is None:
            return None
        if schema is None:
            schema = data.infer_schema(value)
        data.validate(schema, value)
        row, serde = self._writer(topic, schema)
        try:
            return serde.serialize(row(value))
        except KsqlError as err:
            raise DataError(f"Failed to serialize {type(self).__name__} data for topic {topic}: {err}") from None

    def _reader(self, topic: str, schema_id: int) -> tuple[Schema, Any, bool]:
        found = self._readers.get((topic, schema_id))
        if found is not None:
            return found
        from ksql.engine.serde import create_serde, get_format
        from ksql.engine.serde.sr_format import writer_schema

        spec = get_format(self.FORMAT)
        side = "key" if self.is_key else "value"
        try:
            parsed = writer_schema(self._registry, schema_id, spec.schema_type, side, topic)
            try:
                columns = spec.columns_for(parsed, is_key=self.is_key, unwrapped=False, keep_names=True)
                wrapped = True
            except KsqlError:
                columns = spec.columns_for(parsed, is_key=self.is_key, unwrapped=True, keep_names=True)
                wrapped = False
            serde = create_serde(self.FORMAT, columns, is_key=self.is_key,
                                 wrap_single_value=None if self.is_key or len(columns) != 1 else wrapped,
                                 topic=topic, registry=self._registry, schema_id=schema_id)
        except KsqlError as err:
            raise DataError(f"Failed to deserialize data for topic {topic} to {self.FORMAT}: {err}") from None
        if wrapped:
            schema = data.struct([(c.name, connect_schema(c.type)) for c in columns], optional=True)
        else:
            schema = connect_schema(columns[0].type)
        self._readers[(topic, schema_id)] = found = (schema, serde, wrapped)
        return found

    def to_connect_data(self, topic, value):
        if value is None:
            return None, None
        if len(value) < 5 or value[0] != 0:
            raise DataError(f"Failed to deserialize data for topic {topic} to {self.FORMAT}: Unknown magic byte!")
        schema, serde, wrapped = self._reader(topic, int.from_bytes(value[1:5], "big"))
        try:
            row = serde.deserialize(value)
        except KsqlError as err:
            raise DataError(f"Failed to deserialize data for topic {topic} to {self.FORMAT}: {err}") from None
        if row is None:
            return schema, None
        if wrapped:
            return schema, {f.name: _from_runtime(f.schema, v) for f, v in zip(schema.fields, row, strict=True)}
        return schema, _from_runtime(schema, row[0])


class AvroConverter(SchemaRegistryConverter):
    FORMAT = "AVRO"


class ProtobufConverter(SchemaRegistryConverter):
    FORMAT = "PROTOBUF"


class JsonSchemaConverter(SchemaRegistryConverter):
    FORMAT = "JSON_SR"


CONVERTERS: dict[str, type[Converter]] = {
    "org.apache.kafka.connect.json.JsonConverter": JsonConverter,
    "org.apache.kafka.connect.storage.StringConverter": StringConverter,
    "org.apache.kafka.connect.converters.ByteArrayConverter": ByteArrayConverter,
    "io.confluent.connect.avro.AvroConverter": AvroConverter,
    "io.confluent.connect.protobuf.ProtobufConverter": ProtobufConverter,
    "io.confluent.connect.json.JsonSchemaConverter": JsonSchemaConverter,
}


def create_converter(class_name: str, config: Mapping[str, Any] | None = None, *, is_key: bool,
                     registry=None) -> Converter:
    """The converter called `class_name`, configured; `registry` serves the schema-registry ones."""
    cls = CONVERTERS.get(class_name.strip())
    if cls is None:
        raise DataError(f"Invalid value {class_name} for configuration {'key' if is_key else 'value'}.converter: "
                        f"Class {class_name} could not be found. Known: {', '.join(sorted(CONVERTERS))}")
    if issubclass(cls, SchemaRegistryConverter):
        return cls(config, is_key=is_key, registry=registry)
    return cls(config, is_key=is_key)
