"""The schema-registry side of CREATE and CREATE ... AS SELECT, as ksqlDB's statement injectors do it.

- `source_schema` (CREATE STREAM/TABLE): reads the WITH clause's schema-registry
  options (KEY_/VALUE_SCHEMA_ID, KEY_/VALUE_SCHEMA_FULL_NAME,
  KEY_/VALUE_PROTOBUF_NULLABLE_REPRESENTATION), infers the columns the statement
  leaves out from the registry (the latest schema of `<topic>-key` /
  `<topic>-value`, or the schema with the given id), and registers the schema of
  the sides whose columns are declared when their subject does not exist yet.
- `sink_formats` (CREATE ... AS SELECT): the same options for the sink, a check
  that a schema given by id can hold the query's columns, and registration of
  the sink's schemas under its topic's subjects.

Inferred names are upper-cased (at every depth) unless the schema came by id,
whose names are kept so rows can be written back with that exact schema.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ksql.engine.formats import (
    WRAP_SINGLE_VALUES_CONFIG,
    FormatInfo,
    SourceFormats,
    parse_bool,
    with_key_columns,
)
from ksql.engine.schema import HEADER, HEADERS, KEY, VALUE, LogicalSchema, SchemaColumn
from ksql.engine.schema_registry import SchemaRegistryClient, SchemaRegistryError, subject_name
from ksql.engine.serde import Column, SchemaRegistryFormat, create_serde
from ksql.engine.serde.formats import get_format
from ksql.errors import KsqlError
from ksql.types import format_identifier

# formats whose schemas the registry holds (and so can be inferred)
INFERABLE_FORMATS = frozenset({"AVRO", "PROTOBUF", "JSON_SR"})


def _side_options(props: dict, fmt: FormatInfo, side: str, registry: SchemaRegistryClient | None) -> FormatInfo:
    """One side's format with its WITH-clause options, refused as ksqlDB refuses them."""
    spec = get_format(fmt.name)
    schema_id = None
    if f"{side}_SCHEMA_ID" in props:
        raw = props[f"{side}_SCHEMA_ID"]
        try:
            schema_id = int(str(raw))
        except ValueError:
            raise KsqlError(f"Invalid value for {side}_SCHEMA_ID: {raw}. It must be an integer.") from None
    full_name = props.get(f"{side}_SCHEMA_FULL_NAME")
    if full_name is None and side == "VALUE":
        full_name = props.get("VALUE_AVRO_SCHEMA_FULL_NAME")
    if full_name is not None:
        full_name = str(full_name).strip()
        if "full_schema_name" not in spec.options:
            raise KsqlError(f"{spec.name} does not support the following configs: [fullSchemaName]")
        if not full_name:
            raise KsqlError("fullSchemaName cannot be empty. Format configuration: {fullSchemaName=}")
    nullable = props.get(f"{side}_PROTOBUF_NULLABLE_REPRESENTATION")
    if nullable is not None:
        if "nullable_representation" not in spec.options:
            raise KsqlError(f"{spec.name} does not support the following configs: [nullableRepresentation]")
        nullable = str(nullable).strip().upper()
        if nullable not in ("OPTIONAL", "WRAPPER"):
            raise KsqlError(f"Invalid value for {side}_PROTOBUF_NULLABLE_REPRESENTATION: {nullable}. "
                            "Valid values are: OPTIONAL, WRAPPER")
    return replace(fmt, schema_id=schema_id, full_schema_name=full_name or None,
                   nullable_representation=nullable, registry=registry if spec.needs_schema_registry else None)


def format_options(props: dict, formats: SourceFormats, registry: SchemaRegistryClient | None) -> SourceFormats:
    """The formats with their schema-registry options and the registry their serdes use."""
    key = _side_options(props, formats.declared_key, "KEY", registry)
    value = _side_options(props, formats.value, "VALUE", registry)
    return SourceFormats(key=key if formats.key.name != "NONE" else formats.key, value=value, declared_key=key)


def _config_wrap(props: dict, fmt: FormatInfo, config: dict) -> bool | None:
    """WRAP_SINGLE_VALUE as the statement gives it, else as `ksql.persistence.wrap.single.values` does
    (when the format can do it)."""
    if "WRAP_SINGLE_VALUE" in props or config.get(WRAP_SINGLE_VALUES_CONFIG) is None:
        return fmt.wrap_single_value
    wrap = parse_bool(config[WRAP_SINGLE_VALUES_CONFIG], WRAP_SINGLE_VALUES_CONFIG)
    return wrap if wrap in get_format(fmt.name).wrap_values else None


def _with_wrapping(props: dict, formats: SourceFormats, value_columns: list, config: dict) -> SourceFormats:
    """The value format's wrapping once the value columns are known; ksqlDB's refusal of an explicit
    WRAP_SINGLE_VALUE on several columns."""
    if "WRAP_SINGLE_VALUE" in props:
        if len(value_columns) != 1:
            raise KsqlError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
        return formats
    wrap = _config_wrap(props, formats.value, config) if len(value_columns) == 1 else None
    if wrap == formats.value.wrap_single_value:
        return formats
    return replace(formats, value=replace(formats.value, wrap_single_value=wrap))


def _missing_schema(topic: str, is_key: bool) -> KsqlError:
    subject = subject_name(topic, is_key)
    return KsqlError(
        f"Schema for message {'keys' if is_key else 'values'} on topic '{topic}' does not exist in the "
        f"Schema Registry.\nSubject: {subject}\n\n"
        "Possible causes include:\n"
        "- The topic itself does not exist\n\t-> Use SHOW TOPICS; to check\n"
        "- Messages on the topic are not serialized using a format Schema Registry supports\n"
        f"\t-> Use PRINT '{topic}' FROM BEGINNING; to verify\n"
        "- Messages on the topic have not been serialized using a Confluent Schema Registry supported "
        "serializer\n\t-> See https://docs.confluent.io/current/schema-registry/docs/serializer-formatter.html\n"
        "- The schema is registered on a different instance of the Schema Registry\n"
        "\t-> Use the REST API to list available subjects\t"
        "https://docs.confluent.io/current/schema-registry/docs/api.html#get--subjects\n"
        "- You do not have permissions to access the Schema Registry.\n"
        "\t-> See https://docs.confluent.io/current/schema-registry/docs/security.html")


def _registered(registry: SchemaRegistryClient, fmt: FormatInfo, topic: str, is_key: bool) -> tuple[Any, bool]:
    """(parsed schema, given by id) for one side: by its schema id, else the subject's latest."""
    spec = get_format(fmt.name)
    assert isinstance(spec, SchemaRegistryFormat)
    side = "KEY" if is_key else "VALUE"
    try:
        if fmt.schema_id is not None:
            parsed, by_id = registry.parsed(fmt.schema_id), True
        else:
            try:
                latest = registry.latest(subject_name(topic, is_key))
            except SchemaRegistryError as err:
                if err.error_code in (40401, 40402):
                    raise _missing_schema(topic, is_key) from None
                raise
            parsed, by_id = registry.parsed(latest.id), False
    except SchemaRegistryError as err:
        what = f"schema id {fmt.schema_id}" if fmt.schema_id is not None else subject_name(topic, is_key)
        raise KsqlError(f"Failed to read the {side.lower()} schema ({what}) from the schema registry: "
                        f"{err}") from None
    if parsed.schema_type != spec.schema_type:
        raise KsqlError(f"{side}_FORMAT {fmt.name} cannot read a {parsed.schema_type} schema "
                        f"({'id ' + str(fmt.schema_id) if by_id else subject_name(topic, is_key)})")
    return parsed, by_id


def _key_unwrapped(fmt: FormatInfo) -> bool:
    return fmt.name != "PROTOBUF"  # Protobuf keys are messages; other formats infer one anonymous key


def _infer(registry: SchemaRegistryClient, fmt: FormatInfo, topic: str, is_key: bool,
           wrap: bool | None = None) -> list[Column]:
    parsed, by_id = _registered(registry, fmt, topic, is_key)
    spec = get_format(fmt.name)
    unwrapped = _key_unwrapped(fmt) if is_key else wrap is False
    return spec.columns_for(parsed, is_key=is_key, unwrapped=unwrapped, full_schema_name=fmt.full_schema_name,
                            keep_names=by_id)


def _serde_columns(columns: list[SchemaColumn]) -> list[Column]:
    return [Column(c.name, c.type) for c in columns]


def _register(registry: SchemaRegistryClient, fmt: FormatInfo, columns: list[Column], topic: str, is_key: bool,
              *, only_if_new: bool) -> None:
    """Register the schema ksqlDB generates for one side (validating the serde first)."""
    spec = get_format(fmt.name)
    assert isinstance(spec, SchemaRegistryFormat)
    create_serde(fmt.name, columns, is_key=is_key, wrap_single_value=fmt.wrap_single_value, topic=topic,
                 full_schema_name=fmt.full_schema_name, nullable_representation=fmt.nullable_representation)
    subject = subject_name(topic, is_key)
    try:
        if only_if_new and registry.subject_exists(subject):
            return
        schema = spec.schema_for(columns, is_key=is_key,
                                 unwrapped=spec.unwrapped(columns, is_key, fmt.wrap_single_value),
                                 full_schema_name=fmt.full_schema_name,
                                 nullable_representation=fmt.nullable_representation)
        registry.register(subject, schema)
    except SchemaRegistryError as err:
        raise KsqlError(f"Could not register schema for topic: {err}") from None


def source_schema(engine, stmt, schema: LogicalSchema, formats: SourceFormats,
                  config: dict) -> tuple[LogicalSchema, SourceFormats]:
    """CREATE STREAM/TABLE: options, inferred columns, value wrapping, registration of declared schemas.

    `config` holds the engine's and the request's properties."""
    props = stmt.properties
    registry = engine.schema_registry
    formats = format_options(props, formats, registry)
    key_fmt, value_fmt = formats.declared_key, formats.value
    declared_values = [c for c in schema.columns if c.namespace == VALUE]
    infer_key = not schema.key and key_fmt.name in INFERABLE_FORMATS
    infer_value = not declared_values and value_fmt.name in INFERABLE_FORMATS
    if not stmt.elements and value_fmt.name not in INFERABLE_FORMATS:
        raise KsqlError("No columns supplied.")
    topic = props.get("KAFKA_TOPIC")
    if topic is None:
        if infer_key or infer_value:
            raise KsqlError(f"Missing required property \"KAFKA_TOPIC\" for CREATE {stmt.kind}")
        return schema, formats
    topic = str(topic)
    columns = list(schema.columns)
    if infer_key:
        keys = [SchemaColumn(c.name, c.type, KEY) for c in _infer(registry, key_fmt, topic, True)]
        columns = keys + columns
    if infer_value:
        wrap = _config_wrap(props, value_fmt, config)
        values = [SchemaColumn(c.name, c.type, VALUE) for c in _infer(registry, value_fmt, topic, False, wrap)]
        headers = [c for c in columns if c.namespace in (HEADER, HEADERS)]
        columns = [c for c in columns if c.namespace == KEY] + values + headers
    if infer_key or infer_value:
        seen: set[str] = set()
        for c in columns:
            if c.name in seen:
                raise KsqlError(f"Duplicate column names: {c.name}")
            seen.add(c.name)
        schema = LogicalSchema(tuple(columns)).with_key_first()
        formats = with_key_columns(formats, bool(schema.key))
    formats = _with_wrapping(props, formats, schema.serialized_value, config)
    key_fmt, value_fmt = formats.declared_key, formats.value
    if registry is not None:
        if not infer_key and schema.key and key_fmt.name in INFERABLE_FORMATS and key_fmt.schema_id is None:
            _register(registry, key_fmt, _serde_columns(schema.key), topic, True, only_if_new=True)
        if not infer_value and value_fmt.name in INFERABLE_FORMATS and value_fmt.schema_id is None:
            _register(registry, value_fmt, _serde_columns(schema.serialized_value), topic, False, only_if_new=True)
    return schema, formats


def _columns_text(columns: list[Column]) -> str:
    return "[" + ", ".join(f"{format_identifier(c.name)} {c.type}" for c in columns) + "]"


def _check_schema_id_columns(side: str, logical: list[Column], physical: list[Column], unwrapped: bool) -> None:
    """ksqlDB's check that a sink schema given by id holds the query's columns, in order."""
    if unwrapped:
        bad = [c for c, p in zip(logical, physical, strict=False) if c.type != p.type]
    else:
        bad = [c for i, c in enumerate(logical)
               if i >= len(physical) or physical[i].name != c.name or physical[i].type != c.type]
    if bad:
        raise KsqlError(f"The following {side} columns are changed, missing or reordered: {_columns_text(bad)}. "
                        f"Schema from schema registry is {_columns_text(physical)}")


def sink_formats(engine, props: dict, schema: LogicalSchema, formats: SourceFormats, topic: str,
                 config: dict) -> SourceFormats:
    """CREATE ... AS SELECT: the sink's options and value wrapping; schema-id checks; registration of the
    sink's schemas. `config` holds the engine's and the request's properties."""
    registry = engine.schema_registry
    formats = _with_wrapping(props, format_options(props, formats, registry), schema.serialized_value, config)
    for is_key, fmt, cols in ((True, formats.key, schema.key), (False, formats.value, schema.serialized_value)):
        if fmt.name not in INFERABLE_FORMATS or not cols or registry is None:
            continue
        columns = _serde_columns(cols)
        spec = get_format(fmt.name)
        assert isinstance(spec, SchemaRegistryFormat)
        unwrapped = spec.unwrapped(columns, is_key, fmt.wrap_single_value)
        if fmt.schema_id is not None:
            parsed, _ = _registered(registry, fmt, topic, is_key)
            physical = spec.columns_for(parsed, is_key=is_key, unwrapped=unwrapped,
                                        full_schema_name=fmt.full_schema_name, keep_names=True)
            side = "key" if is_key else "value"
            _check_schema_id_columns(side, columns, physical, unwrapped)
            problem = spec.schema_id_problem(parsed, columns, is_key=is_key, unwrapped=unwrapped)
            if problem:  # ksqlDB would accept the statement, then fail on the first row
                raise KsqlError(f"Rows cannot be serialized with the {side} schema {fmt.schema_id}: {problem}")
        else:
            _register(registry, fmt, columns, topic, is_key, only_if_new=False)
    return formats


def assert_schema(engine, stmt) -> dict:
    """ASSERT [NOT EXISTS] SCHEMA [SUBJECT s] [ID n] [TIMEOUT t]: wait (until the timeout) for the schema
    to exist (or not), as ksqlDB does; the entity is ksqlDB's assert_schema one."""
    registry = engine.schema_registry

    def exists() -> bool:
        try:
            if stmt.subject is None:
                registry.schema_by_id(stmt.schema_id)
                return True
            if stmt.schema_id is None:
                return registry.subject_exists(stmt.subject)
            return any(s == stmt.subject for s, _ in registry.subjects_for_id(stmt.schema_id))
        except SchemaRegistryError as err:
            if err.error_code in (40401, 40402, 40403):
                return False
            raise KsqlError(f"Cannot check the schema registry: {err}") from None

    timeout_ms = stmt.timeout.millis if stmt.timeout else int(engine.property(
        "ksql.assert.schema.default.timeout.ms", 1000))
    deadline = time.monotonic() + timeout_ms / 1000
    while exists() != stmt.exists:
        if time.monotonic() >= deadline:
            what = " ".join(part for part in (
                f"subject name {stmt.subject}" if stmt.subject is not None else "",
                f"id {stmt.schema_id}" if stmt.schema_id is not None else "") if part)
            raise KsqlError(f"Schema with {what} {'does not exist' if stmt.exists else 'exists'}")
        time.sleep(0.05)
    return {"@type": "assert_schema", "statementText": stmt.text, "subject": stmt.subject,
            "id": stmt.schema_id, "exists": stmt.exists, "warnings": []}
