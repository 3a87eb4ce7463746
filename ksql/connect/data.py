"""Kafka Connect's data model: schemas and the Python values they describe.

Connectors, converters and transforms exchange (schema, value) pairs, as in
Kafka Connect. A schema is a `Schema`; `None` means schemaless (a value parsed from
JSON without a schema, for instance). Values:

    int8/16/32/64 -> int      float32/64 -> float     boolean -> bool
    string -> str             bytes -> bytes           array -> list
    map -> dict               struct -> dict of field name -> value, in field order
    Decimal (bytes, parameter scale) -> decimal.Decimal
    Date (int32) -> datetime.date      Time (int32) -> datetime.time
    Timestamp (int64) -> datetime.datetime (aware, UTC)

Logical types are named schemas over a primitive, with Kafka's names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from ksql.engine.serde.javafmt import DECIMAL_CONTEXT
from ksql.errors import KsqlError

PRIMITIVE_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", "bytes")
TYPES = (*PRIMITIVE_TYPES, "array", "map", "struct")

DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
SCALE_PARAMETER = "scale"

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EPOCH_DATE = dt.date(1970, 1, 1)


class DataError(KsqlError):
    """A value that does not fit its schema, or a record a transform or converter cannot handle
    (Kafka's DataException)."""


@dataclass(frozen=True, eq=True)
class Field:
    name: str
    schema: Schema


@dataclass(frozen=True, eq=True)
class Schema:
    """A Connect schema. `fields` for structs, `key_schema`/`value_schema` for maps (and
    `value_schema` for the items of arrays), `parameters` for logical types (Decimal's scale)."""

    type: str
    optional: bool = False
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    default: Any = None
    parameters: dict[str, str] | None = dataclass_field(default=None, hash=False)
    fields: tuple[Field, ...] = ()
    key_schema: Schema | None = None
    value_schema: Schema | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise DataError(f"Unknown schema type: {self.type}")

    def field(self, name: str) -> Field | None:
        """The struct field called `name`, or None."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def as_optional(self) -> Schema:
        return self if self.optional else replace(self, optional=True)

    def as_required(self) -> Schema:
        return replace(self, optional=False) if self.optional else self

    @property
    def scale(self) -> int:
        """The scale of a Decimal schema."""
        return int((self.parameters or {}).get(SCALE_PARAMETER, 0))


def primitive(type_: str, optional: bool = False) -> Schema:
    return Schema(type_, optional=optional)


def struct(fields: list[tuple[str, Schema]], *, name: str | None = None, optional: bool = False) -> Schema:
    return Schema("struct", optional=optional, name=name, fields=tuple(Field(n, s) for n, s in fields))


def array(items: Schema, optional: bool = False) -> Schema:
    return Schema("array", optional=optional, value_schema=items)


def map_(keys: Schema, values: Schema, optional: bool = False) -> Schema:
    return Schema("map", optional=optional, key_schema=keys, value_schema=values)


def decimal(scale: int, optional: bool = False) -> Schema:
    return Schema("bytes", optional=optional, name=DECIMAL, version=1, parameters={SCALE_PARAMETER: str(scale)})


def date(optional: bool = False) -> Schema:
    return Schema("int32", optional=optional, name=DATE, version=1)


def time(optional: bool = False) -> Schema:
    return Schema("int32", optional=optional, name=TIME, version=1)


def timestamp(optional: bool = False) -> Schema:
    return Schema("int64", optional=optional, name=TIMESTAMP, version=1)


OPTIONAL_STRING = primitive("string", True)
OPTIONAL_INT32 = primitive("int32", True)


# --- logical values <-> their primitive representation -------------------------------------------

def date_to_days(value: dt.date) -> int:
    return (value - EPOCH_DATE).days


def days_to_date(days: int) -> dt.date:
    return EPOCH_DATE + dt.timedelta(days=days)


def time_to_millis(value: dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000


def millis_to_time(millis: int) -> dt.time:
    seconds, ms = divmod(millis, 1000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return dt.time(h % 24, m, s, ms * 1000)


def timestamp_to_millis(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def millis_to_timestamp(millis: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=millis)


def to_logical(schema: Schema, value: Any) -> Any:
    """A logical type's value from its primitive representation (ints, unscaled bytes), as read
    from JSON or Avro; other values unchanged."""
    if value is None or schema.name is None:
        return value
    if schema.name == DECIMAL:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, (bytes, bytearray)):
            return Decimal(int.from_bytes(value, "big", signed=True)).scaleb(-schema.scale, context=DECIMAL_CONTEXT)
        return Decimal(str(value))
    if schema.name == DATE and isinstance(value, int):
        return days_to_date(value)
    if schema.name == TIME and isinstance(value, int):
        return millis_to_time(value)
    if schema.name == TIMESTAMP and isinstance(value, int):
        return millis_to_timestamp(value)
    return value


def from_logical(schema: Schema, value: Any) -> Any:
    """The primitive representation of a logical type's value (Decimal stays a Decimal)."""
    if value is None or schema.name is None:
        return value
    if schema.name == DATE and isinstance(value, dt.date):
        return date_to_days(value)
    if schema.name == TIME and isinstance(value, dt.time):
        return time_to_millis(value)
    if schema.name == TIMESTAMP and isinstance(value, dt.datetime):
        return timestamp_to_millis(value)
    return value


# --- validation -------------------------------------------------------------------------------

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int8": (int,), "int16": (int,), "int32": (int,), "int64": (int,),
    "float32": (float, int), "float64": (float, int), "boolean": (bool,), "string": (str,),
    "bytes": (bytes, bytearray), "array": (list, tuple), "map": (dict,), "struct": (dict,),
}
_LOGICAL_TYPES: dict[str, type] = {DECIMAL: Decimal, DATE: dt.date, TIME: dt.time, TIMESTAMP: dt.datetime}
_INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def validate(schema: Schema, value: Any, where: str = "value") -> None:
    """DataError when `value` does not conform to `schema` (Kafka's ConnectSchema.validateValue)."""
    if value is None:
        if not schema.optional and schema.default is None:
            raise DataError(f"Invalid value: null used for required field: \"{where}\", schema type: "
                            f"{schema.type.upper()}")
        return
    logical = _LOGICAL_TYPES.get(schema.name or "")
    if logical is not None:
        if not isinstance(value, logical):
            raise DataError(f"Invalid Java object for logical type {schema.name}: {type(value).__name__} "
                            f"for field: \"{where}\"")
        return
    expected = _PYTHON_TYPES[schema.type]
    if not isinstance(value, expected) or (schema.type != "boolean" and isinstance(value, bool)):
        raise DataError(f"Invalid Java object for schema with type {schema.type.upper()}: "
                        f"{type(value).__name__} for field: \"{where}\"")
    bits = _INT_RANGES.get(schema.type)
    if bits and not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise DataError(f"Value {value} out of range for {schema.type.upper()} in field: \"{where}\"")
    if schema.type == "struct":
        for f in schema.fields:
            validate(f.schema, value.get(f.name), f.name)
    elif schema.type == "array":
        for item in value:
            validate(schema.value_schema, item, where)
    elif schema.type == "map":
        for k, v in value.items():
            validate(schema.key_schema, k, where)
            validate(schema.value_schema, v, where)


def infer_schema(value: Any) -> Schema | None:
    """A schema for a schemaless value (what a sink that needs one, like JDBC, assumes):
    None for null; maps of string keys become structs with optional fields."""
    if value is None:
        return None
    if isinstance(value, bool):
        return primitive("boolean", True)
    if isinstance(value, int):
        return primitive("int64", True)
    if isinstance(value, float):
        return primitive("float64", True)
    if isinstance(value, str):
        return OPTIONAL_STRING
    if isinstance(value, (bytes, bytearray)):
        return primitive("bytes", True)
    if isinstance(value, Decimal):
        return decimal(max(0, -value.as_tuple().exponent), True)
    if isinstance(value, dt.datetime):
        return timestamp(True)
    if isinstance(value, dt.date):
        return date(True)
    if isinstance(value, dt.time):
        return time(True)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        fields = []
        for k, v in value.items():
            s = infer_schema(v)
            fields.append((k, s if s is not None else OPTIONAL_STRING))
        return struct(fields, optional=True)
    raise DataError(f"Cannot infer a schema for a value of type {type(value).__name__}")
