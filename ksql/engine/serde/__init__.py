"""Record serialization formats (serdes), compatible with ksqlDB's.

    serde = create_serde("JSON", [Column("ID", INTEGER), Column("NAME", STRING)], is_key=False)
    data = serde.serialize([1, "a"])         # b'{"ID":1,"NAME":"a"}'
    row = serde.deserialize(data)            # [1, 'a']

Statement-time checks (what ksqlDB refuses in CREATE / CREATE ... AS):

    validate_format(fmt, columns, is_key=..., wrap_single_value=..., delimiter=...)

Formats are registered FormatSpecs (see formats.py). AVRO, PROTOBUF and JSON_SR
keep their schemas in a schema registry (ksql.engine.schema_registry): their
serdes take the registry, and optionally a schema id, a full schema name and
(Protobuf) a nullable representation, as keyword arguments of create_serde.
PROTOBUF_NOSR writes bare Protobuf messages of the schema the columns give.
"""

from __future__ import annotations

from ksql.engine.serde.avro import AvroFormat
from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.delimited import DelimitedFormat
from ksql.engine.serde.formats import (
    FormatSpec,
    check_delimiter,
    check_schema,
    check_wrapping,
    get_format,
    known_formats,
    parse_delimiter,
    register_format,
    validate_key_columns,
)
from ksql.engine.serde.javafmt import java_double_str
from ksql.engine.serde.json_serde import JsonFormat, json_coercer
from ksql.engine.serde.json_sr import JsonSrFormat
from ksql.engine.serde.kafka import EmptySerde, KafkaFormat, NoneFormat
from ksql.engine.serde.protobuf import ProtobufFormat, ProtobufNoSrFormat
from ksql.engine.serde.sr_format import SchemaRegistryFormat
from ksql.errors import KsqlError

register_format(KafkaFormat())
register_format(JsonFormat())
register_format(DelimitedFormat())
register_format(NoneFormat())
register_format(AvroFormat())
register_format(ProtobufFormat())
register_format(ProtobufNoSrFormat())
register_format(JsonSrFormat())

# create_serde's keyword option -> the name ksqlDB gives it in messages ("... does not support ...")
_OPTION_NAMES = {"schema_id": "schemaId", "full_schema_name": "fullSchemaName",
                 "nullable_representation": "nullableRepresentation"}


def normalize_format(fmt: str) -> str:
    """The canonical (upper-case) name of a known format; KsqlError 'Unknown format: X' otherwise."""
    return get_format(fmt).name


def format_supports_wrapping(fmt: str) -> bool:
    """Whether WRAP_SINGLE_VALUE=true is possible: single values can be wrapped in an object/record."""
    return True in get_format(fmt).wrap_values


def format_supports_unwrapping(fmt: str) -> bool:
    """Whether WRAP_SINGLE_VALUE=false may be given for the format."""
    return False in get_format(fmt).wrap_values


def format_supports_delimiter(fmt: str) -> bool:
    return get_format(fmt).supports_delimiter


def format_needs_schema_registry(fmt: str) -> bool:
    return get_format(fmt).needs_schema_registry


def is_value_wrapped(fmt: str, columns: list[Column], *, is_key: bool,
                     wrap_single_value: bool | None = None) -> bool:
    """Whether the serde writes the columns inside an object/record (vs. a bare single value).

    Keys: a single key column is never wrapped. Values: a single column is
    wrapped unless WRAP_SINGLE_VALUE=false, when the format can wrap at all."""
    spec = get_format(fmt)
    if True not in spec.wrap_values:
        return False
    if len(columns) != 1:
        return True
    if is_key:
        return False
    return wrap_single_value is not False


def validate_format(fmt: str, columns: list[Column], *, is_key: bool,
                    wrap_single_value: bool | None = None, delimiter: str | None = None) -> str:
    """Statement-level checks of a format for one side of a source, as ksqlDB makes them.

    `wrap_single_value` is the WRAP_SINGLE_VALUE given explicitly in the statement
    (None when absent); `delimiter` the KEY_/VALUE_DELIMITER given (None when absent).
    Returns the canonical format name; raises KsqlError with ksqlDB's message."""
    spec = get_format(fmt)
    if is_key:
        validate_key_columns(columns)
    else:
        check_wrapping(spec, columns, wrap_single_value)
    check_delimiter(spec, delimiter)
    check_schema(spec, columns, is_key, None if is_key else wrap_single_value)
    return spec.name


def create_serde(format: str, columns: list[Column], *, is_key: bool,
                 wrap_single_value: bool | None = None, delimiter: str | None = None,
                 topic: str = "", registry=None, schema_id: int | None = None,
                 full_schema_name: str | None = None, nullable_representation: str | None = None) -> Serde:
    """A serde for one side (key or value) of a source's records.

    `wrap_single_value` matters only for a single value column (None = format
    default: wrapped where the format can wrap); it is ignored for keys, where a
    single column is never wrapped. `delimiter` is the resolved delimiter
    character for DELIMITED (default ','). `topic` names the registry subjects of
    the schema-registry formats (`<topic>-key` / `<topic>-value`) and appears in
    error messages. `registry` is the SchemaRegistryClient of AVRO, PROTOBUF and
    JSON_SR; `schema_id` makes them write that registered schema; `full_schema_name`
    names the generated schema (Avro record / Protobuf message) or picks the message
    of a Protobuf schema; `nullable_representation` (OPTIONAL / WRAPPER) is Protobuf's.
    Raises KsqlError when the format cannot hold these columns or take these options."""
    spec = get_format(format)
    wrap = None if is_key or len(columns) != 1 else wrap_single_value
    if wrap is not None and wrap not in spec.wrap_values:
        check_wrapping(spec, columns, wrap)
    check_schema(spec, columns, is_key, wrap)
    options = {k: v for k, v in (("registry", registry), ("schema_id", schema_id),
                                 ("full_schema_name", full_schema_name),
                                 ("nullable_representation", nullable_representation)) if v is not None}
    unsupported = [_OPTION_NAMES[k] for k in options if k not in spec.options and k != "registry"]
    if unsupported:
        raise KsqlError(f"{spec.name} does not support the following configs: [{', '.join(unsupported)}]")
    if is_key and not columns and not spec.needs_schema_registry:
        return EmptySerde()
    options = {k: v for k, v in options.items() if k in spec.options}
    return spec.create(list(columns), is_key=is_key, wrap_single_value=wrap,
                       delimiter=delimiter, topic=topic, **options)


__all__ = [
    "Column",
    "SchemaRegistryFormat",
    "EmptySerde",
    "FormatSpec",
    "Serde",
    "create_serde",
    "format_needs_schema_registry",
    "format_supports_delimiter",
    "format_supports_unwrapping",
    "format_supports_wrapping",
    "is_value_wrapped",
    "java_double_str",
    "json_coercer",
    "known_formats",
    "normalize_format",
    "parse_delimiter",
    "register_format",
    "validate_format",
    "validate_key_columns",
]
