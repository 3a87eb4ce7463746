"""The format registry and ksqlDB's format/schema validation messages.

A format is a `FormatSpec` registered under its upper-case name. Adding a format
is a matter of writing a module with a FormatSpec subclass and calling
`register_format(...)` from ksql/engine/serde/__init__.py.
"""

from __future__ import annotations

from ksql.engine.serde.base import Column, Serde
from ksql.errors import KsqlError
from ksql.types import ArrayType, MapType, SqlType, StructType, contains_map, format_identifier


class FormatSpec:
    """What a format supports, how it validates a schema, and how it builds serdes."""

    name: str = ""
    # Values WRAP_SINGLE_VALUE may be explicitly set to for this format.
    wrap_values: frozenset[bool] = frozenset()
    # Whether the format honours a DELIMITER (VALUE_DELIMITER / KEY_DELIMITER).
    supports_delimiter: bool = False
    # Whether the format needs a schema registry (schema inference, schema ids).
    needs_schema_registry: bool = False
    # Keyword options create() takes beyond the common ones (registry, schema_id, ...).
    options: frozenset[str] = frozenset()

    def schema_problem(self, columns: list[Column], is_key: bool) -> str | None:
        """The reason the format cannot hold these columns, or None when it can."""
        return None

    def features(self, columns: list[Column], is_key: bool, wrap_single_value: bool | None) -> list[str]:
        """Serde features as ksqlDB prints them in 'Persistence{..., features=[...]}'."""
        return []

    def create(self, columns: list[Column], *, is_key: bool, wrap_single_value: bool | None,
               delimiter: str | None, topic: str, **options) -> Serde:
        """A serde for these columns; `options` holds only names listed in `self.options`."""
        raise NotImplementedError


def single_value_features(columns: list[Column], is_key: bool, wrap_single_value: bool | None) -> list[str]:
    """The features of formats that can wrap a single column (JSON and the schema-registry ones):
    a key is always unwrapped; a value as WRAP_SINGLE_VALUE says, when it says."""
    if len(columns) != 1:
        return []
    if is_key:
        return ["UNWRAP_SINGLES"]
    if wrap_single_value is None:
        return []
    return ["WRAP_SINGLES"] if wrap_single_value else ["UNWRAP_SINGLES"]


_REGISTRY: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec) -> None:
    """Register (or replace) the format called spec.name."""
    _REGISTRY[spec.name.upper()] = spec


def get_format(name: str) -> FormatSpec:
    """The format called `name` (any case); KsqlError 'Unknown format: X' otherwise."""
    spec = _REGISTRY.get(name.upper()) if isinstance(name, str) else None
    if spec is None:
        raise KsqlError(f"Unknown format: {name}")
    return spec


def known_formats() -> list[str]:
    return sorted(_REGISTRY)


# --- messages -------------------------------------------------------------------


def column_str(col: Column, is_key: bool) -> str:
    """A column as ksqlDB prints it in schemas: `NAME` TYPE [KEY]."""
    return f"{format_identifier(col.name)} {col.type}" + (" KEY" if is_key else "")


def columns_str(columns: list[Column], is_key: bool) -> str:
    return "[" + ", ".join(column_str(c, is_key) for c in columns) + "]"


def validate_key_columns(columns: list[Column]) -> None:
    """ksqlDB refuses key columns whose type is or contains a MAP, whatever the format."""
    for c in columns:
        if contains_map(c.type):
            raise KsqlError(
                "Map keys, including types that contain maps, are not supported as they may lead to "
                "unexpected behavior due to inconsistent serialization. "
                f"Key column name: {format_identifier(c.name)}. Column type: {c.type}. "
                "See https://github.com/confluentinc/ksql/issues/6621 for more.")


def map_key_problem(format_name: str, t: SqlType) -> str | None:
    """'<FORMAT> only supports MAP types with STRING keys' for any nested non-STRING map key."""
    if isinstance(t, MapType):
        if t.key.base != "STRING":
            return f"{format_name} only supports MAP types with STRING keys"
        return map_key_problem(format_name, t.value)
    if isinstance(t, ArrayType):
        return map_key_problem(format_name, t.item)
    if isinstance(t, StructType):
        for f in t.fields:
            p = map_key_problem(format_name, f.type)
            if p:
                return p
    return None


def schema_error(spec: FormatSpec, columns: list[Column], is_key: bool,
                 wrap_single_value: bool | None, reason: str) -> KsqlError:
    side = "Key" if is_key else "Value"
    feats = ", ".join(spec.features(columns, is_key, wrap_single_value))
    return KsqlError(
        f"{side} format does not support schema.\n"
        f"format: {spec.name}\n"
        f"schema: Persistence{{columns={columns_str(columns, is_key)}, features=[{feats}]}}\n"
        f"reason: {reason}")


def check_schema(spec: FormatSpec, columns: list[Column], is_key: bool,
                 wrap_single_value: bool | None) -> None:
    reason = spec.schema_problem(columns, is_key)
    if reason:
        raise schema_error(spec, columns, is_key, wrap_single_value, reason)


def check_wrapping(spec: FormatSpec, columns: list[Column], wrap_single_value: bool | None) -> None:
    """Checks on an explicit WRAP_SINGLE_VALUE of a value schema."""
    if wrap_single_value is None:
        return
    if len(columns) != 1:
        raise KsqlError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
    if wrap_single_value not in spec.wrap_values:
        raise KsqlError(
            f"Format '{spec.name}' does not support 'WRAP_SINGLE_VALUE' set to "
            f"'{'true' if wrap_single_value else 'false'}'.")


def check_delimiter(spec: FormatSpec, delimiter: str | None) -> None:
    if delimiter is not None and not spec.supports_delimiter:
        raise KsqlError(f"{spec.name} does not support the following configs: [delimiter]")


def parse_delimiter(value: str, property_name: str = "VALUE_DELIMITER") -> str:
    """Resolve a VALUE_DELIMITER/KEY_DELIMITER property: one character, or TAB / SPACE."""
    def invalid(msg: str) -> KsqlError:
        return KsqlError(f"Configuration {property_name} is invalid: {msg}\nExample valid value: ';'")

    if value is None or value.strip() == "":
        raise invalid("Delimiter cannot be empty, if you meant to have a tab or space for delimiter, "
                      "please use the special values 'TAB' or 'SPACE'")
    named = {"TAB": "\t", "SPACE": " "}.get(value.upper())
    if named is not None:
        return named
    if len(value) != 1:
        raise invalid(f"Invalid delimiter value: '{value}'. Delimiter must be a single character or TAB,SPACE")
    return value
