"""What the schema-registry formats (AVRO, PROTOBUF, JSON_SR) share.

- Confluent's wire format: magic byte 0, the schema id as a 4-byte big-endian
  int, then the payload (Protobuf puts its message indexes first).
- `SchemaRegistryFormat`: the FormatSpec base. A format says how it generates
  a schema from columns (what a sink registers), how it reads columns out of a
  registered schema (schema inference, and the layout of a schema given by id),
  and how test-file values map to and from its bytes (for test drivers).
- `WriterSchema`: the schema a serializer writes with, registered under
  `<topic>-key` / `<topic>-value` the first time it is needed.
- `sql_coercer`: the last step of every deserializer, from the plain Python
  values a format decodes (ints, floats, str, bytes, Decimal, lists, dicts) to
  the runtime values of the declared column types, with the coercions ksqlDB's
  Connect translation makes (e.g. an int read into a STRING column is "10").
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ksql.engine.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError, subject_name
from ksql.engine.serde.base import Column
from ksql.engine.serde.formats import FormatSpec, single_value_features
from ksql.engine.serde.javafmt import DECIMAL_CONTEXT, fit_decimal, java_double_str
from ksql.engine.serde.json_serde import json_coercer
from ksql.errors import KsqlError, SerdeError
from ksql.types import ArrayType, DecimalType, MapType, SqlType, StructType

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")

# the options a schema-registry serde takes, as create_serde's keyword arguments
SR_OPTIONS = frozenset({"registry", "schema_id", "full_schema_name", "nullable_representation"})

AVRO_NAMESPACE = "io.confluent.ksql.avro_schemas"
DEFAULT_SCHEMA_NAME = "KsqlDataSourceSchema"
DEFAULT_FULL_SCHEMA_NAME = f"{AVRO_NAMESPACE}.{DEFAULT_SCHEMA_NAME}"


# --- wire format -------------------------------------------------------------------------------

def frame(schema_id: int, payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(data: bytes, target: str, topic: str) -> tuple[int, bytes]:
    """(schema id, payload) of Confluent-framed bytes; SerdeError when they are not framed."""
    if len(data) < 5 or data[0] != MAGIC_BYTE:
        raise SerdeError(f"Failed to deserialize {target} from topic: {topic}. Unknown magic byte!")
    return _HEADER.unpack_from(data)[1], data[5:]


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_message_indexes(indexes: list[int]) -> bytes:
    """Confluent's Protobuf message indexes; the first message ([0]) is the single byte 0."""
    if indexes == [0]:
        return b"\x00"
    return _zigzag(len(indexes)) + b"".join(_zigzag(i) for i in indexes)


def decode_message_indexes(data: bytes) -> tuple[list[int], int]:
    """(indexes, bytes consumed) at the start of a framed Protobuf payload."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data):
                raise SerdeError("Invalid message indexes: truncated varint")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift >= 70:  # a varint holds 64 bits in at most 10 bytes
                raise SerdeError("Invalid message indexes: varint longer than 10 bytes")

    count = varint()
    if count == 0:
        return [0], pos
    if count < 0 or count > 100:
        raise SerdeError(f"Invalid message indexes count: {count}")
    return [varint() for _ in range(count)], pos


# --- decimals as bytes (Avro's decimal logical type, Connect's Decimal, confluent.type.Decimal) --

def decimal_to_unscaled_bytes(value: Decimal, scale: int) -> bytes:
    """Big-endian two's-complement bytes of the unscaled value at `scale` (Java's BigInteger.toByteArray)."""
    exact = DECIMAL_CONTEXT  # the default context would round to 28 digits
    unscaled = int(value.scaleb(scale, context=exact).to_integral_value(context=exact))
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return unscaled.to_bytes(length, "big", signed=True)


def unscaled_bytes_to_decimal(data: bytes, scale: int) -> Decimal:
    """The decimal of big-endian two's-complement unscaled bytes at `scale`, every digit kept."""
    return Decimal(int.from_bytes(data, "big", signed=True)).scaleb(-scale, context=DECIMAL_CONTEXT)


# --- coercion of decoded values to column types --------------------------------------------------

def _type_error(v: Any, t: SqlType) -> SerdeError:
    return SerdeError(f"Cannot convert {type(v).__name__} value {v!r} to {t}")


def to_java_string(v: Any) -> str:
    """A decoded primitive as Connect's toString gives it (what a STRING column reads)."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, (int, Decimal, str)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join("null" if x is None else to_java_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={'null' if x is None else to_java_string(x)}" for k, x in v.items()) + "}"
    raise SerdeError(f"Cannot convert {type(v).__name__} value to STRING")


def find_name(names: list[str], name: str) -> int | None:
    """Index of `name` in `names`: exact match first, then case-insensitive (ksqlDB's field lookup)."""
    try:
        return names.index(name)
    except ValueError:
        upper = name.upper()
        for i, n in enumerate(names):
            if n.upper() == upper:
                return i
    return None


def sql_coercer(t: SqlType) -> Callable[[Any], Any]:
    """A function from a non-null decoded plain value to the runtime value of column type `t`."""
    base = t.base
    if base == "BOOLEAN":
        def boolean(v):
            if v is True or v is False:
                return v
            raise _type_error(v, t)
        return boolean
    if base in ("INTEGER", "BIGINT", "DATE", "TIME", "TIMESTAMP"):
        lo, hi = (-2**31, 2**31 - 1) if base == "INTEGER" else (-2**63, 2**63 - 1)

        def integral(v):
            if v.__class__ is int and lo <= v <= hi:
                return v
            if isinstance(v, int) and not isinstance(v, bool):
                return ((v - lo) % (hi - lo + 1)) + lo  # Java's narrowing
            raise _type_error(v, t)
        return integral
    if base == "DOUBLE":
        def double(v):
            if v.__class__ is float:
                return v
            if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                return float(v)
            raise _type_error(v, t)
        return double
    if base == "STRING":
        def string(v):
            if v.__class__ is str:
                return v
            return to_java_string(v)
        return string
    if base == "BYTES":
        def raw(v):
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            raise _type_error(v, t)
        return raw
    if isinstance(t, DecimalType):
        precision, scale = t.precision, t.scale

        def dec(v):
            if isinstance(v, bool) or not isinstance(v, (Decimal, int, float)):
                raise _type_error(v, t)
            d = v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
            try:
                return fit_decimal(d, precision, scale)
            except ValueError as err:
                raise SerdeError(str(err)) from None
        return dec
    if isinstance(t, ArrayType):
        item = sql_coercer(t.item)

        def array(v):
            if not isinstance(v, (list, tuple)):
                raise _type_error(v, t)
            return [None if x is None else item(x) for x in v]
        return array
    if isinstance(t, MapType):
        value = sql_coercer(t.value)

        def mapping(v):
            if not isinstance(v, dict):
                raise _type_error(v, t)
            return {k if k.__class__ is str else to_java_string(k): None if x is None else value(x)
                    for k, x in v.items()}
        return mapping
    if isinstance(t, StructType):
        fields = [(f.name, sql_coercer(f.type)) for f in t.fields]

        def struct_(v):
            if not isinstance(v, dict):
                raise _type_error(v, t)
            out = {}
            keys = None
            for name, c in fields:
                x = v.get(name)
                if x is None and name not in v:
                    if keys is None:
                        keys = list(v)
                    i = find_name(keys, name)
                    x = None if i is None else v[keys[i]]
                out[name] = None if x is None else c(x)
            return out
        return struct_
    raise SerdeError(f"Type is not supported: {t}")


def spec_coercer(t: SqlType) -> Callable[[Any], Any]:
    """A test file's JSON value -> runtime value of `t`: struct fields found by name in any case, then
    the JSON format's coercions (base64 strings for BYTES, numbers for DECIMAL, ...)."""
    coerce = json_coercer(t)
    return lambda v: None if v is None else coerce(_align_names(v, t))


def _align_names(v: Any, t: SqlType) -> Any:
    if isinstance(t, StructType) and isinstance(v, dict):
        keys = list(v)
        out = {}
        for f in t.fields:
            i = find_name(keys, f.name)
            if i is not None:
                out[f.name] = _align_names(v[keys[i]], f.type)
        return out
    if isinstance(t, ArrayType) and isinstance(v, list):
        return [_align_names(x, t.item) for x in v]
    if isinstance(t, MapType) and isinstance(v, dict):
        return {k: _align_names(x, t.value) for k, x in v.items()}
    return v


# --- the schema a serializer writes with ---------------------------------------------------------

class WriterSchema:
    """A schema to write with: given by id, or generated and registered under the subject on first use."""

    def __init__(self, registry: SchemaRegistryClient | None, topic: str, is_key: bool, schema: Schema,
                 schema_id: int | None, format_name: str):
        self.registry = registry
        self.subject = subject_name(topic, is_key)
        self.schema = schema
        self._id = schema_id
        self._format = format_name

    def id(self) -> int:
        if self._id is None:
            if self.registry is None:
                raise SerdeError(f"The {self._format} format needs a schema registry to serialize")
            try:
                self._id = self.registry.register(self.subject, self.schema)
            except SchemaRegistryError as err:
                raise SerdeError(f"Error serializing {self._format} message: could not register the schema "
                                 f"under subject {self.subject}: {err}") from None
        return self._id


def writer_schema(registry: SchemaRegistryClient | None, schema_id: int, schema_type: str, target: str,
                  topic: str):
    """The parsed schema a record was written with (its id from the wire header), for reading it.

    SerdeError when there is no registry, the id is unknown, or it is not a `schema_type` schema."""
    where = f"Failed to deserialize {target} from topic: {topic}."
    if registry is None:
        raise SerdeError(f"{where} A schema registry is needed to read schema id {schema_id}")
    try:
        parsed = registry.parsed(schema_id)
    except SchemaRegistryError as err:
        raise SerdeError(f"{where} Cannot read the writer's schema {schema_id}: {err}") from None
    if parsed.schema_type != schema_type:
        raise SerdeError(f"{where} The writer's schema {schema_id} is {parsed.schema_type}, not {schema_type}")
    return parsed


def fetch_schema(registry: SchemaRegistryClient | None, schema_id: int, format_name: str, schema_type: str):
    """The parsed schema with id `schema_id` (a format option); KsqlError when it is unknown or of another type."""
    if registry is None:
        raise KsqlError(f"The {format_name} format needs a schema registry to use a schema id")
    try:
        parsed = registry.parsed(schema_id)
    except SchemaRegistryError as err:
        raise KsqlError(f"Schema with id {schema_id} could not be read from the schema registry: {err}") from None
    if parsed.schema_type != schema_type:
        raise KsqlError(f"Schema with id {schema_id} is a {parsed.schema_type} schema, which the {format_name} "
                        "format cannot use")
    return parsed


class SchemaRegistryFormat(FormatSpec):
    """Base of AVRO, PROTOBUF and JSON_SR (PROTOBUF_NOSR shares the Protobuf one)."""

    needs_schema_registry = True
    options = SR_OPTIONS
    schema_type = ""  # the registry's schema type: AVRO, PROTOBUF or JSON

    def features(self, columns, is_key, wrap_single_value):
        return single_value_features(columns, is_key, wrap_single_value)

    @staticmethod
    def unwrapped(columns: list[Column], is_key: bool, wrap_single_value: bool | None) -> bool:
        """Whether a single column is written bare (keys; values with WRAP_SINGLE_VALUE=false)."""
        return len(columns) == 1 and (is_key or wrap_single_value is False)

    # -- what each format provides --

    def schema_for(self, columns: list[Column], *, is_key: bool, unwrapped: bool,
                   full_schema_name: str | None = None, nullable_representation: str | None = None) -> Schema:
        """The schema ksqlDB registers for these columns."""
        raise NotImplementedError

    def columns_for(self, parsed, *, is_key: bool, unwrapped: bool, full_schema_name: str | None = None,
                    keep_names: bool = False) -> list[Column]:
        """The columns a registered schema holds: one per field, or one anonymous column when unwrapped.

        Names are upper-cased (at every depth) unless `keep_names` (a schema given by id)."""
        raise NotImplementedError

    def schema_id_problem(self, parsed, columns: list[Column], *, is_key: bool, unwrapped: bool) -> str | None:
        """Why no row of these columns can be written with a registered schema (None when rows can be)."""
        return None

    def encode_value(self, value: Any, parsed, schema_id: int, *, full_schema_name: str | None = None) -> bytes:
        """A test file's JSON value written with a registered schema (base64 strings for bytes)."""
        raise NotImplementedError

    def decode_value(self, data: bytes, registry: SchemaRegistryClient, *, topic: str = "",
                     is_key: bool = False) -> Any:
        """Bytes as JSON-like values, with the writer schema's own field names (structs as dicts,
        DECIMAL as Decimal, BYTES as bytes, DATE/TIME/TIMESTAMP as ints)."""
        raise NotImplementedError


def anonymous_name(is_key: bool) -> str:
    """The column an unwrapped (anonymous) schema infers to: ROWKEY or ROWVAL."""
    return "ROWKEY" if is_key else "ROWVAL"


def upper_names(t: SqlType) -> SqlType:
    """The type with every struct field name upper-cased, as inference without a schema id names them."""
    if isinstance(t, StructType):
        from ksql.types import StructField

        return StructType(tuple(StructField(f.name.upper(), upper_names(f.type)) for f in t.fields))
    if isinstance(t, ArrayType):
        return ArrayType(upper_names(t.item))
    if isinstance(t, MapType):
        return MapType(t.key, upper_names(t.value))
    return t
