"""Record serialization formats (serdes), compatible with ksqlDB's.

    serde = create_serde("JSON", [Column("ID", INTEGER), Column("NAME", STRING)], is_key=False)
    data = serde.serialize([1, "a"])         # b'{"ID":1,"NAME":"a"}'
    row = serde.deserialize(data)            # [1, 'a']

Statement-time checks (what ksqlDB refuses in CREATE / CREATE ... AS):

    validate_format(fmt, columns, is_key=..., wrap_single_value=..., delimiter=...)

Formats are registered FormatSpecs (see formats.py); AVRO, PROTOBUF,
PROTOBUF_NOSR and JSON_SR are registered as placeholders that refuse with a
clear message until their modules replace them via `register_format`.
"""

from __future__ import annotations

from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.delimited import DelimitedFormat
from ksql.engine.serde.formats import (
    FormatSpec,
    SchemaRegistryFormat,
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
from ksql.engine.serde.kafka import EmptySerde, KafkaFormat, NoneFormat

register_format(KafkaFormat())
register_format(JsonFormat())
register_format(DelimitedFormat())
register_format(NoneFormat())
for _name in ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"):
    register_format(SchemaRegistryFormat(_name))


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
                 topic: str = "") -> Serde:
    """A serde for one side (key or value) of a source's records.

    `wrap_single_value` matters only for a single value column (None = format
    default: wrapped where the format can wrap); it is ignored for keys, where a
    single column is never wrapped. `delimiter` is the resolved delimiter
    character for DELIMITED (default ','). `topic` is only used in error messages.
    Raises KsqlError when the format cannot hold these columns."""
    spec = get_format(format)
    wrap = None if is_key or len(columns) != 1 else wrap_single_value
    if wrap is not None and wrap not in spec.wrap_values:
        check_wrapping(spec, columns, wrap)
    check_schema(spec, columns, is_key, wrap)
    if is_key and not columns and not spec.needs_schema_registry:
        return EmptySerde()
    return spec.create(list(columns), is_key=is_key, wrap_single_value=wrap,
                       delimiter=delimiter, topic=topic)


__all__ = [
    "Column",
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
