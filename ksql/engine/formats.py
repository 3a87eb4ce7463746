"""Resolving a statement's WITH clause into topic, formats and serde options.

The rules mirror ksqlDB's: FORMAT sets both key and value formats and may not
be combined with KEY_FORMAT/VALUE_FORMAT; missing formats fall back to the
`ksql.persistence.default.format.*` configs; a source without key columns has
key format NONE.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ksql.engine.serde import parse_delimiter as serde_parse_delimiter
from ksql.errors import KsqlError

KNOWN_FORMATS = {"KAFKA", "JSON", "DELIMITED", "NONE", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"}

# Every property a CREATE statement's WITH clause may carry.
SOURCE_PROPERTIES = {
    "KAFKA_TOPIC", "VALUE_FORMAT", "KEY_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS",
    "TIMESTAMP", "TIMESTAMP_FORMAT", "WRAP_SINGLE_VALUE", "VALUE_DELIMITER", "KEY_DELIMITER",
    "WINDOW_TYPE", "WINDOW_SIZE", "KEY_SCHEMA_ID", "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME", "VALUE_AVRO_SCHEMA_FULL_NAME", "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION", "RETENTION_MS", "CLEANUP_POLICY", "SOURCE_CONNECTOR",
}
DEFAULT_KEY_FORMAT_CONFIG = "ksql.persistence.default.format.key"
DEFAULT_VALUE_FORMAT_CONFIG = "ksql.persistence.default.format.value"
WRAP_SINGLE_VALUES_CONFIG = "ksql.persistence.wrap.single.values"


@dataclass(frozen=True)
class FormatInfo:
    """A format name with its options (delimiter, wrapping, schema-registry options)."""

    name: str
    delimiter: str | None = None
    wrap_single_value: bool | None = None
    # ksqlDB's schemaId / fullSchemaName / nullableRepresentation format properties (see schema_inference)
    schema_id: int | None = None
    full_schema_name: str | None = None
    nullable_representation: str | None = None
    # the schema registry AVRO/PROTOBUF/JSON_SR serdes use; not part of the format's identity
    registry: Any = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.name

    def serde_options(self) -> dict[str, Any]:
        """create_serde's keyword arguments for the options that are set."""
        return {k: v for k, v in (("registry", self.registry), ("schema_id", self.schema_id),
                                  ("full_schema_name", self.full_schema_name),
                                  ("nullable_representation", self.nullable_representation)) if v is not None}


def check_properties(props: dict, allowed: set[str] = SOURCE_PROPERTIES) -> None:
    unknown = sorted(k for k in props if k not in allowed)
    if unknown:
        raise KsqlError("Invalid config variable(s) in the WITH clause: " + ",".join(unknown))


def format_name(value: object, prop: str) -> str:
    name = str(value).strip().upper()
    if name not in KNOWN_FORMATS:
        raise KsqlError(f"Unknown format: {name}")
    return name


def parse_delimiter(value: object, prop: str) -> str:
    """VALUE_DELIMITER / KEY_DELIMITER: one character, or the words TAB / SPACE."""
    try:
        return serde_parse_delimiter(str(value), prop)
    except KsqlError as err:
        raise KsqlError(f"Failed to prepare statement: {err}") from None


def parse_bool(value: object, prop: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise KsqlError(f"Property {prop} must be a boolean, got: {value}")


@dataclass(frozen=True)
class SourceFormats:
    """Key and value formats of a source as its WITH clause and the configs decide them.

    `declared_key` is what the user asked for (or the default) even when the source
    has no key columns and so uses NONE: a query that adds a key uses it.
    """

    key: FormatInfo
    value: FormatInfo
    declared_key: FormatInfo


def resolve_formats(props: dict, config: dict, *, has_key_columns: bool,
                    inherit: SourceFormats | None = None) -> SourceFormats:
    """Key and value formats from WITH properties, falling back to `inherit` (for C*AS) or configs."""
    if "FORMAT" in props:
        for other in ("KEY_FORMAT", "VALUE_FORMAT"):
            if other in props:
                raise KsqlError(
                    f"Cannot supply both '{other}' and 'FORMAT' properties, as 'FORMAT' sets both key "
                    "and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'.")
    key_name = value_name = None
    if "FORMAT" in props:
        key_name = value_name = format_name(props["FORMAT"], "FORMAT")
    if "KEY_FORMAT" in props:
        key_name = format_name(props["KEY_FORMAT"], "KEY_FORMAT")
    if "VALUE_FORMAT" in props:
        value_name = format_name(props["VALUE_FORMAT"], "VALUE_FORMAT")

    if value_name is None:
        if inherit is not None:
            value_name = inherit.value.name
        elif config.get(DEFAULT_VALUE_FORMAT_CONFIG):
            value_name = format_name(config[DEFAULT_VALUE_FORMAT_CONFIG], DEFAULT_VALUE_FORMAT_CONFIG)
        else:
            raise KsqlError(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide "
                "one or set a default via the 'ksql.persistence.default.format.value' config.")
    explicit_key = key_name is not None
    if key_name is None:
        if inherit is not None:
            key_name = inherit.declared_key.name
            if key_name == "NONE" and has_key_columns:
                # a query that adds a key to a keyless source uses the default key format; a NONE the
                # statement asks for itself stays NONE, and the serde check refuses it with key columns
                key_name = format_name(config.get(DEFAULT_KEY_FORMAT_CONFIG) or "KAFKA",
                                       DEFAULT_KEY_FORMAT_CONFIG)
        else:
            key_name = format_name(config.get(DEFAULT_KEY_FORMAT_CONFIG) or "KAFKA", DEFAULT_KEY_FORMAT_CONFIG)

    value_delim = key_delim = None
    if "VALUE_DELIMITER" in props:
        value_delim = parse_delimiter(props["VALUE_DELIMITER"], "VALUE_DELIMITER")
        if value_name != "DELIMITED":
            raise KsqlError(f"{value_name} does not support the following configs: [delimiter]")
    elif inherit is not None and inherit.value.name == value_name:
        value_delim = inherit.value.delimiter
    if "KEY_DELIMITER" in props:
        key_delim = parse_delimiter(props["KEY_DELIMITER"], "KEY_DELIMITER")
        if key_name != "DELIMITED":
            raise KsqlError(f"{key_name} does not support the following configs: [delimiter]")
    elif inherit is not None and inherit.declared_key.name == key_name:
        key_delim = inherit.declared_key.delimiter

    wrap = None
    if "WRAP_SINGLE_VALUE" in props:
        wrap = parse_bool(props["WRAP_SINGLE_VALUE"], "WRAP_SINGLE_VALUE")
        if value_name in ("KAFKA", "DELIMITED", "NONE"):
            if wrap:
                raise KsqlError(
                    f"Format '{value_name}' does not support 'WRAP_SINGLE_VALUE' set to '{str(wrap).lower()}'.")

    declared_key = FormatInfo(key_name, key_delim)
    key = declared_key if has_key_columns else FormatInfo("NONE")
    if not has_key_columns and explicit_key and inherit is not None and key_name != "NONE":
        raise KsqlError("Key format specified for stream without key columns.")
    return SourceFormats(key=key, value=FormatInfo(value_name, value_delim, wrap), declared_key=declared_key)


def with_key_columns(formats: SourceFormats, has_key_columns: bool) -> SourceFormats:
    """The same formats for a schema whose key columns changed (PARTITION BY)."""
    key = formats.declared_key if has_key_columns else FormatInfo("NONE")
    return replace(formats, key=key)
