"""PROTOBUF (Confluent-framed, schema in the registry) and PROTOBUF_NOSR (bare messages) formats.

Writing: the columns are the fields of a proto3 message `ConnectDefault1` (or
the full name given), numbered from 1 in column order; structs are nested
messages, DECIMAL is confluent.type.Decimal with precision and scale in
(confluent.field_meta), DATE google.type.Date, TIME google.type.TimeOfDay,
TIMESTAMP google.protobuf.Timestamp, maps map<string, V>. Keys are messages too
(PROTOBUF never unwraps). Nulls depend on the nullable representation:
by default proto3 has no nulls, so a null scalar is written as its default (0,
"", false), a null array or map as empty, a null struct as absent (read back as
null); OPTIONAL makes scalars `optional`, WRAPPER uses google.protobuf wrappers,
and both then keep nulls.

Reading finds each column's field by name (exact, then case-insensitive) in the
message the record's message indexes point at, in the writer's schema.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from google.protobuf.message import DecodeError, EncodeError

from ksql.engine.schema_registry import Schema, SchemaRegistryClient
from ksql.engine.schema_registry.protobuf_schema import (
    CompiledProto,
    ProtoError,
    ProtoField,
    ProtoFile,
    ProtoMessage,
    print_proto,
)
from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.formats import FormatSpec
from ksql.engine.serde.sr_format import (
    SchemaRegistryFormat,
    WriterSchema,
    decimal_to_unscaled_bytes,
    decode_message_indexes,
    encode_message_indexes,
    fetch_schema,
    find_name,
    frame,
    spec_coercer,
    sql_coercer,
    to_java_string,
    unframe,
    unscaled_bytes_to_decimal,
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

DEFAULT_MESSAGE_NAME = "ConnectDefault1"
NULLABLE_REPRESENTATIONS = ("OPTIONAL", "WRAPPER")
DEFAULT_DECIMAL_PRECISION = 64

# FieldDescriptor.TYPE_* numbers
_DOUBLE, _FLOAT, _INT64, _UINT64, _INT32, _FIXED64, _FIXED32, _BOOL, _STRING = 1, 2, 3, 4, 5, 6, 7, 8, 9
_MESSAGE, _BYTES, _UINT32, _ENUM, _SFIXED32, _SFIXED64, _SINT32, _SINT64 = 11, 12, 13, 14, 15, 16, 17, 18
_SCALAR_SQL = {
    _DOUBLE: DOUBLE, _FLOAT: DOUBLE, _INT64: BIGINT, _UINT64: BIGINT, _INT32: INTEGER, _FIXED64: BIGINT,
    _FIXED32: BIGINT, _BOOL: BOOLEAN, _STRING: STRING, _BYTES: BYTES, _UINT32: BIGINT, _ENUM: STRING,
    _SFIXED32: INTEGER, _SFIXED64: BIGINT, _SINT32: INTEGER, _SINT64: BIGINT,
}
_INTEGRAL = {_INT64, _UINT64, _INT32, _FIXED64, _FIXED32, _UINT32, _SFIXED32, _SFIXED64, _SINT32, _SINT64}
_WRAPPERS = {
    "google.protobuf.BoolValue": BOOLEAN, "google.protobuf.Int32Value": INTEGER,
    "google.protobuf.Int64Value": BIGINT, "google.protobuf.UInt32Value": BIGINT,
    "google.protobuf.UInt64Value": BIGINT, "google.protobuf.FloatValue": DOUBLE,
    "google.protobuf.DoubleValue": DOUBLE, "google.protobuf.StringValue": STRING,
    "google.protobuf.BytesValue": BYTES,
}
_TIMESTAMP, _DATE, _TIME, _DECIMAL = ("google.protobuf.Timestamp", "google.type.Date", "google.type.TimeOfDay",
                                      "confluent.type.Decimal")
_EPOCH = datetime.date(1970, 1, 1).toordinal()


# --- generating the schema ksqlDB writes ---------------------------------------------------------

_SCALAR_NAMES = {"BOOLEAN": "bool", "INTEGER": "int32", "BIGINT": "int64", "DOUBLE": "double",
                 "STRING": "string", "BYTES": "bytes"}
_WRAPPER_NAMES = {"BOOLEAN": "google.protobuf.BoolValue", "INTEGER": "google.protobuf.Int32Value",
                  "BIGINT": "google.protobuf.Int64Value", "DOUBLE": "google.protobuf.DoubleValue",
                  "STRING": "google.protobuf.StringValue", "BYTES": "google.protobuf.BytesValue"}


def generate_proto(columns: list[Column], *, full_schema_name: str | None = None,
                   nullable_representation: str | None = None) -> ProtoFile:
    """The .proto model ksqlDB writes these columns with (one message, fields in column order)."""
    package, _, name = (full_schema_name or DEFAULT_MESSAGE_NAME).rpartition(".")
    nullable = (nullable_representation or "").upper() or None
    f = ProtoFile(syntax="proto3", package=package)
    counter = [1]

    def need(path: str) -> None:
        if path not in f.imports:
            f.imports.append(path)

    def type_name(t: SqlType, parent: ProtoMessage, wrap: bool) -> tuple[str, list]:
        if isinstance(t, StructType):
            counter[0] += 1
            nested = message(f"ConnectDefault{counter[0]}", [(x.name, x.type) for x in t.fields])
            parent.messages.append(nested)
            return nested.name, []
        if isinstance(t, DecimalType):
            need("confluent/meta.proto")
            need("confluent/type/decimal.proto")
            meta = {"params": [{"key": "precision", "value": str(t.precision)},
                               {"key": "scale", "value": str(t.scale)}]}
            return "confluent.type.Decimal", [("(confluent.field_meta)", meta)]
        if t.base == "DATE":
            need("google/type/date.proto")
            return "google.type.Date", []
        if t.base == "TIME":
            need("google/type/timeofday.proto")
            return "google.type.TimeOfDay", []
        if t.base == "TIMESTAMP":
            need("google/protobuf/timestamp.proto")
            return "google.protobuf.Timestamp", []
        if wrap and t.base in _WRAPPER_NAMES:
            need("google/protobuf/wrappers.proto")
            return _WRAPPER_NAMES[t.base], []
        if t.base in _SCALAR_NAMES:
            return _SCALAR_NAMES[t.base], []
        raise KsqlError(f"The PROTOBUF format does not support type {t}")

    def field_for(fname: str, t: SqlType, number: int, parent: ProtoMessage) -> ProtoField:
        if isinstance(t, ArrayType):
            if isinstance(t.item, (ArrayType, MapType)):
                raise KsqlError(f"The PROTOBUF format does not support nested collections: {t}")
            tn, opts = type_name(t.item, parent, False)
            return ProtoField(fname, number, tn, "repeated", None, opts)
        if isinstance(t, MapType):
            if isinstance(t.value, (ArrayType, MapType)):
                raise KsqlError(f"The PROTOBUF format does not support nested collections: {t}")
            tn, opts = type_name(t.value, parent, False)
            return ProtoField(fname, number, tn, "repeated", ("string", tn), opts)
        tn, opts = type_name(t, parent, nullable == "WRAPPER")
        label = "optional" if nullable == "OPTIONAL" and t.base in _SCALAR_NAMES else None
        return ProtoField(fname, number, tn, label, None, opts)

    def message(mname: str, fields: list[tuple[str, SqlType]]) -> ProtoMessage:
        m = ProtoMessage(mname)
        for i, (fname, t) in enumerate(fields, 1):
            m.fields.append(field_for(fname, t, i, m))
        return m

    f.messages.append(message(name, [(c.name, c.type) for c in columns]))
    return f


def generate_proto_text(columns: list[Column], **kwargs) -> str:
    return print_proto(generate_proto(columns, **kwargs))


# --- schema -> SQL types ----------------------------------------------------------------------

def _decimal_type(fd, compiled: CompiledProto) -> DecimalType:
    params = compiled.field_meta.get(fd.full_name, {})
    try:
        precision = int(params.get("precision", DEFAULT_DECIMAL_PRECISION))
        scale = int(params.get("scale", 0))
    except ValueError:
        raise KsqlError(f"Invalid decimal precision/scale on field {fd.full_name}: {params}") from None
    return DecimalType(precision, scale)


def field_sql_type(fd, compiled: CompiledProto, seen: frozenset = frozenset()) -> SqlType:
    """The SQL type Connect gives a Protobuf field."""
    if fd.is_repeated and fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        entry = fd.message_type
        key = field_sql_type(entry.fields_by_name["key"], compiled, seen)
        return MapType(key, field_sql_type(entry.fields_by_name["value"], compiled, seen))
    inner = _single_sql_type(fd, compiled, seen)
    return ArrayType(inner) if fd.is_repeated else inner


def _single_sql_type(fd, compiled: CompiledProto, seen: frozenset) -> SqlType:
    if fd.message_type is None:
        return _SCALAR_SQL[fd.type]
    name = fd.message_type.full_name
    if name in _WRAPPERS:
        return _WRAPPERS[name]
    if name == _TIMESTAMP:
        return TIMESTAMP
    if name == _DATE:
        return DATE
    if name == _TIME:
        return TIME
    if name == _DECIMAL:
        return _decimal_type(fd, compiled)
    return message_sql_type(fd.message_type, compiled, seen)


def message_sql_type(descriptor, compiled: CompiledProto, seen: frozenset = frozenset()) -> StructType:
    if descriptor.full_name in seen:
        raise KsqlError(f"Recursive Protobuf message {descriptor.full_name} cannot be a column type")
    seen = seen | {descriptor.full_name}
    return StructType(tuple(StructField(f.name, field_sql_type(f, compiled, seen)) for f in descriptor.fields))


# --- message -> plain values ----------------------------------------------------------------------

def _plain_value(fd, compiled: CompiledProto) -> Callable[[Any], Any] | None:
    """For a present singular value of this field: message/enum -> plain value; None = identity."""
    if fd.message_type is None:
        if fd.type == _ENUM:
            names = {v.number: v.name for v in fd.enum_type.values}
            return lambda v: names.get(v, str(v))
        return None
    return _plain_message(fd.message_type, compiled)


def _plain_message(descriptor, compiled: CompiledProto) -> Callable[[Any], Any]:
    name = descriptor.full_name
    if name in _WRAPPERS:
        return lambda m: m.value
    if name == _TIMESTAMP:
        return lambda m: m.seconds * 1000 + m.nanos // 1_000_000
    if name == _DATE:
        def date(m):
            try:
                return datetime.date(m.year, m.month, m.day).toordinal() - _EPOCH
            except ValueError:
                raise SerdeError(f"Invalid google.type.Date {m.year}-{m.month}-{m.day}") from None
        return date
    if name == _TIME:
        return lambda m: ((m.hours * 60 + m.minutes) * 60 + m.seconds) * 1000 + m.nanos // 1_000_000
    if name == _DECIMAL:
        return lambda m: unscaled_bytes_to_decimal(m.value, m.scale)
    getters: list[tuple[str, Callable]] = []

    def struct(m):
        return {n: g(m) for n, g in getters}
    # filled after creation, so a recursive message type terminates (values are finite)
    getters.extend((f.name, _plain_field(f, compiled)) for f in descriptor.fields)
    return struct


def _plain_field(fd, compiled: CompiledProto) -> Callable[[Any], Any]:
    """msg -> the field's plain value (None when absent and the field can tell)."""
    name = fd.name
    if fd.is_repeated:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            conv = _plain_value(fd.message_type.fields_by_name["value"], compiled)
            if conv is None:
                return lambda m: dict(getattr(m, name))
            return lambda m: {k: conv(v) for k, v in getattr(m, name).items()}
        conv = _plain_value(fd, compiled)
        if conv is None:
            return lambda m: list(getattr(m, name))
        return lambda m: [conv(v) for v in getattr(m, name)]
    conv = _plain_value(fd, compiled)
    if fd.has_presence:
        if conv is None:
            return lambda m: getattr(m, name) if m.HasField(name) else None
        return lambda m: conv(getattr(m, name)) if m.HasField(name) else None
    if fd.type == _BYTES:
        return lambda m: getattr(m, name) or None
    if conv is None:
        return lambda m: getattr(m, name)
    return lambda m: conv(getattr(m, name))


# --- runtime values -> message ---------------------------------------------------------------------

def _scalar_writer(fd, t: SqlType) -> Callable[[Any], Any]:
    kind = fd.type
    if kind in _INTEGRAL:
        def integral(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
                raise SerdeError(f"Cannot write {type(v).__name__} value to Protobuf field {fd.name}")
            return int(v)
        return integral
    if kind in (_DOUBLE, _FLOAT):
        return lambda v: v if v.__class__ is float else float(v)
    if kind == _BOOL:
        def boolean(v):
            if v is True or v is False:
                return v
            raise SerdeError(f"Cannot write {type(v).__name__} value to Protobuf field {fd.name}")
        return boolean
    if kind == _STRING:
        return lambda v: v if v.__class__ is str else to_java_string(v)
    if kind == _BYTES:
        def raw(v):
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            raise SerdeError(f"Cannot write {type(v).__name__} value to Protobuf field {fd.name}")
        return raw
    if kind == _ENUM:
        numbers = {v.name: v.number for v in fd.enum_type.values}

        def enum(v):
            if isinstance(v, str):
                if v not in numbers:
                    raise SerdeError(f"'{v}' is not a value of Protobuf enum {fd.enum_type.full_name}")
                return numbers[v]
            return int(v)
        return enum
    raise SerdeError(f"Cannot write Protobuf field {fd.name}")


def _message_filler(descriptor, t: SqlType, compiled: CompiledProto) -> Callable[[Any, Any], None]:
    """(message, non-null runtime value of t) -> fill the message."""
    name = descriptor.full_name
    if name in _WRAPPERS:
        inner = _scalar_writer(descriptor.fields_by_name["value"], t)

        def wrapper(m, v):
            m.value = inner(v)
        return wrapper
    if name == _TIMESTAMP:
        def timestamp(m, v):
            seconds, millis = divmod(int(v), 1000)
            m.seconds, m.nanos = seconds, millis * 1_000_000
        return timestamp
    if name == _DATE:
        def date(m, v):
            try:
                d = datetime.date.fromordinal(_EPOCH + int(v))
            except (ValueError, OverflowError):
                raise SerdeError(f"DATE value {v} is out of range") from None
            m.year, m.month, m.day = d.year, d.month, d.day
        return date
    if name == _TIME:
        def time_of_day(m, v):
            seconds, millis = divmod(int(v), 1000)
            minutes, m.seconds = divmod(seconds, 60)
            m.hours, m.minutes = divmod(minutes, 60)
            m.nanos = millis * 1_000_000
        return time_of_day
    if name == _DECIMAL:
        def dec(m, v):
            d = v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
            scale = max(0, -d.as_tuple().exponent)
            m.value = decimal_to_unscaled_bytes(d, scale)
            m.precision = max(len(d.as_tuple().digits), scale)
            m.scale = scale
        return dec
    logical = list(t.fields) if isinstance(t, StructType) else []
    names = [f.name for f in logical]
    plan = []
    for fd in descriptor.fields:
        i = find_name(names, fd.name)
        if i is not None:
            plan.append((names[i], _field_setter(fd, logical[i].type, compiled)))

    def struct(m, v):
        m.SetInParent()
        for src, setter in plan:
            x = v.get(src)
            if x is not None:
                setter(m, x)
    return struct


def _scalar_default(fd) -> Any:
    """proto3's default of a scalar type (what a null array element is written as)."""
    if fd.type in _INTEGRAL or fd.type == _ENUM:
        return 0
    return {_DOUBLE: 0.0, _FLOAT: 0.0, _BOOL: False, _STRING: "", _BYTES: b""}[fd.type]


def _field_setter(fd, t: SqlType, compiled: CompiledProto) -> Callable[[Any, Any], None]:
    """(message, non-null runtime value of t) -> set the field."""
    name = fd.name
    if fd.is_repeated:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            value_t = t.value if isinstance(t, MapType) else t
            if value_fd.message_type is not None:
                fill = _message_filler(value_fd.message_type, value_t, compiled)

                def message_map(m, v):
                    container = getattr(m, name)
                    for k, x in v.items():
                        entry = container[str(k)]
                        if x is not None:
                            fill(entry, x)
                return message_map
            write = _scalar_writer(value_fd, value_t)

            def scalar_map(m, v):
                container = getattr(m, name)
                for k, x in v.items():
                    if x is None:
                        container[str(k)]  # noqa: B018 - reading a missing key inserts the default
                    else:
                        container[str(k)] = write(x)
            return scalar_map
        item_t = t.item if isinstance(t, ArrayType) else t
        if fd.message_type is not None:
            fill = _message_filler(fd.message_type, item_t, compiled)

            def message_list(m, v):
                container = getattr(m, name)
                for x in v:
                    item = container.add()
                    if x is not None:
                        fill(item, x)
            return message_list
        write = _scalar_writer(fd, item_t)
        default = _scalar_default(fd)

        def scalar_list(m, v):
            getattr(m, name).extend([default if x is None else write(x) for x in v])
        return scalar_list
    if fd.message_type is not None:
        fill = _message_filler(fd.message_type, t, compiled)

        def message(m, v):
            sub = getattr(m, name)
            sub.SetInParent()
            fill(sub, v)
        return message
    write = _scalar_writer(fd, t)

    def scalar(m, v):
        setattr(m, name, write(v))
    return scalar


# --- the serdes ----------------------------------------------------------------------------------

def _parse(cls: type, payload: bytes, what: str):
    try:
        return cls.FromString(payload)
    except (DecodeError, ValueError, TypeError) as err:
        raise SerdeError(f"Error deserializing Protobuf {what}: {err}") from None


def _serialize(message) -> bytes:
    try:
        return message.SerializeToString()
    except (EncodeError, ValueError, TypeError) as err:
        raise SerdeError(f"Error serializing Protobuf message: {err}") from None


class _MessageCodec:
    """Rows of columns <-> messages of one descriptor."""

    def __init__(self, columns: list[Column], descriptor, compiled: CompiledProto):
        self.cls = compiled.message_class(descriptor)
        field_names = [f.name for f in descriptor.fields]
        self.setters = []
        self.getters = []
        for i, c in enumerate(columns):
            j = find_name(field_names, c.name)
            if j is None:
                self.getters.append(None)
                continue
            fd = descriptor.fields[j]
            self.setters.append((i, _field_setter(fd, c.type, compiled)))
            self.getters.append((_plain_field(fd, compiled), sql_coercer(c.type)))

    def encode(self, row: list) -> bytes:
        m = self.cls()
        try:
            for i, setter in self.setters:
                v = row[i]
                if v is not None:
                    setter(m, v)
        except (ValueError, TypeError, OverflowError) as err:
            raise SerdeError(f"Error serializing Protobuf message: {err}") from None
        return _serialize(m)

    def decode(self, payload: bytes, what: str) -> list:
        m = _parse(self.cls, payload, what)
        out = []
        for g in self.getters:
            if g is None:
                out.append(None)
            else:
                v = g[0](m)
                out.append(None if v is None else g[1](v))
        return out


class ProtobufSerde(Serde):
    """Columns <-> Confluent-framed Protobuf messages."""

    def __init__(self, columns: list[Column], *, is_key: bool, topic: str, registry: SchemaRegistryClient | None,
                 writer: WriterSchema, compiled: CompiledProto, descriptor):
        self._columns = columns
        self._is_key = is_key
        self._target = "key" if is_key else "value"
        self._topic = topic
        self._registry = registry
        self._writer_schema = writer
        self._codec = _MessageCodec(columns, descriptor, compiled)
        self._prefix = encode_message_indexes(compiled.message_indexes(descriptor))
        self._readers: dict[tuple[int, tuple[int, ...]], _MessageCodec] = {}
        self._compiled: dict[int, CompiledProto] = {}

    def serialize(self, row):
        if row is None:
            return None
        if self._is_key and all(v is None for v in row):
            return None  # a null key (the engine holds it as all-null columns) stays null
        return frame(self._writer_schema.id(), self._prefix + self._codec.encode(row))

    def deserialize(self, data):
        if data is None:
            return None
        schema_id, payload = unframe(data, self._target, self._topic)
        indexes, used = decode_message_indexes(payload)
        key = (schema_id, tuple(indexes))
        codec = self._readers.get(key)
        if codec is None:
            codec = self._readers[key] = self._reader(schema_id, indexes)
        return codec.decode(payload[used:], self._target)

    def _reader(self, schema_id: int, indexes: list[int]) -> _MessageCodec:
        compiled = writer_schema(self._registry, schema_id, "PROTOBUF", self._target, self._topic).obj
        try:
            descriptor = compiled.message_at(indexes)
        except KsqlError as err:
            raise SerdeError(f"Failed to deserialize {self._target} from topic: {self._topic}. "
                             f"Cannot read the writer's schema {schema_id}: {err}") from None
        return _MessageCodec(self._columns, descriptor, compiled)


class ProtobufNoSrSerde(Serde):
    """Columns <-> bare Protobuf messages of the schema the columns give."""

    def __init__(self, columns: list[Column], compiled: CompiledProto, target: str):
        self._codec = _MessageCodec(columns, compiled.message(), compiled)
        self._target = target

    def serialize(self, row):
        if row is None or (self._target == "key" and all(v is None for v in row)):
            return None
        return self._codec.encode(row)

    def deserialize(self, data):
        if data is None:
            return None
        return self._codec.decode(bytes(data), self._target)


def _map_key_problem(t: SqlType) -> str | None:
    if isinstance(t, MapType):
        if t.key.base != "STRING":
            return "PROTOBUF format only supports MAP types with STRING keys"
        return _map_key_problem(t.value)
    if isinstance(t, ArrayType):
        return _map_key_problem(t.item)
    if isinstance(t, StructType):
        for f in t.fields:
            p = _map_key_problem(f.type)
            if p:
                return p
    return None


def check_nullable_representation(value: str | None) -> str | None:
    if value is None:
        return None
    upper = str(value).strip().upper()
    if upper not in NULLABLE_REPRESENTATIONS:
        raise KsqlError(f"Invalid nullable representation '{value}'. Valid values are: "
                        + ", ".join(NULLABLE_REPRESENTATIONS))
    return upper


def compile_generated(columns: list[Column], *, full_schema_name: str | None = None,
                      nullable_representation: str | None = None) -> CompiledProto:
    try:
        return CompiledProto(generate_proto_text(columns, full_schema_name=full_schema_name,
                                                 nullable_representation=nullable_representation))
    except ProtoError as err:
        raise KsqlError(f"Schema is not compatible with Protobuf: {err}") from None


class ProtobufFormat(SchemaRegistryFormat):
    name = "PROTOBUF"
    schema_type = "PROTOBUF"
    wrap_values = frozenset({True})

    def schema_problem(self, columns, is_key):
        for c in columns:
            p = _map_key_problem(c.type)
            if p:
                return p
        return None

    def features(self, columns, is_key, wrap_single_value):
        return []

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic, registry=None, schema_id=None,
               full_schema_name=None, nullable_representation=None):
        nullable = check_nullable_representation(nullable_representation)
        if schema_id is not None:
            compiled = fetch_schema(registry, schema_id, self.name, self.schema_type).obj
            try:
                descriptor = compiled.message(full_schema_name)
            except ProtoError as err:
                raise KsqlError(str(err)) from None
            writer = WriterSchema(registry, topic, is_key, registry.schema_by_id(schema_id), schema_id, self.name)
        else:
            compiled = compile_generated(columns, full_schema_name=full_schema_name,
                                         nullable_representation=nullable)
            descriptor = compiled.message()
            writer = WriterSchema(registry, topic, is_key, Schema(compiled.canonical(), "PROTOBUF"), None, self.name)
        return ProtobufSerde(list(columns), is_key=is_key, topic=topic, registry=registry, writer=writer,
                             compiled=compiled, descriptor=descriptor)

    def schema_for(self, columns, *, is_key, unwrapped, full_schema_name=None, nullable_representation=None):
        text = generate_proto_text(columns, full_schema_name=full_schema_name,
                                   nullable_representation=check_nullable_representation(nullable_representation))
        return Schema(text, "PROTOBUF")

    def columns_for(self, parsed, *, is_key, unwrapped, full_schema_name=None, keep_names=False):
        compiled: CompiledProto = parsed.obj
        try:
            descriptor = compiled.message(full_schema_name)
        except ProtoError as err:
            raise KsqlError(str(err)) from None
        t = message_sql_type(descriptor, compiled)
        if not keep_names:
            t = upper_names(t)
        return [Column(f.name, f.type) for f in t.fields]

    def encode_value(self, value, parsed, schema_id, *, full_schema_name=None):
        if value is None:
            return None
        compiled: CompiledProto = parsed.obj
        descriptor = compiled.message(full_schema_name)
        return frame(schema_id, encode_message_indexes(compiled.message_indexes(descriptor))
                     + encode_message(value, compiled, descriptor))

    def decode_value(self, data, registry, *, topic="", is_key=False):
        if data is None:
            return None
        schema_id, payload = unframe(data, "key" if is_key else "value", topic)
        indexes, used = decode_message_indexes(payload)
        compiled: CompiledProto = writer_schema(registry, schema_id, "PROTOBUF", "key" if is_key else "value",
                                                topic).obj
        return decode_message(payload[used:], compiled, compiled.message_at(indexes))


def encode_message(value: Any, compiled: CompiledProto, descriptor) -> bytes:
    """A test file's JSON value as a message of `descriptor` (fields found by name, any case)."""
    t = message_sql_type(descriptor, compiled)
    coerced = spec_coercer(t)(value)
    m = compiled.message_class(descriptor)()
    _message_filler(descriptor, t, compiled)(m, coerced)
    return _serialize(m)


def decode_message(payload: bytes, compiled: CompiledProto, descriptor) -> dict:
    """A message as a dict of plain values, with the schema's field names."""
    m = _parse(compiled.message_class(descriptor), bytes(payload), "message")
    return _plain_message(descriptor, compiled)(m)


class ProtobufNoSrFormat(FormatSpec):
    """Protobuf without the registry: bare messages of the schema ksqlDB derives from the columns."""

    name = "PROTOBUF_NOSR"
    options = frozenset({"nullable_representation"})
    wrap_values = frozenset({True})  # like PROTOBUF: a single value is always a field of a message

    def schema_problem(self, columns, is_key):
        for c in columns:
            p = _map_key_problem(c.type)
            if p:
                return p
        return None

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic, nullable_representation=None):
        compiled = compile_generated(list(columns),
                                     nullable_representation=check_nullable_representation(nullable_representation))
        return ProtobufNoSrSerde(list(columns), compiled, "key" if is_key else "value")


__all__ = ["ProtobufFormat", "ProtobufNoSrFormat", "compile_generated", "decode_message", "encode_message",
           "generate_proto", "generate_proto_text"]
