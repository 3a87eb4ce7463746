"""Schema registry: what the AVRO, PROTOBUF and JSON_SR formats keep their schemas in.

    registry = create_registry(properties, log)   # embedded, or remote when ksql.schema.registry.url is set
    schema_id = registry.register("orders-value", Schema(avro_json, "AVRO"))
    registry.latest("orders-value").schema.schema_str

The embedded registry (store.py) is the default and lives in the engine's log;
`ksql.schema.registry.url` points the engine at an external Confluent Schema
Registry instead (remote.py). rest.py serves Confluent's REST API over either.
"""

from __future__ import annotations

from typing import Any

from ksql.engine.schema_registry.client import (
    COMPATIBILITY_LEVELS,
    DEFAULT_COMPATIBILITY,
    SCHEMA_TYPES,
    RegisteredSchema,
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from ksql.engine.schema_registry.store import SCHEMAS_TOPIC, EmbeddedSchemaRegistry

REGISTRY_URL_CONFIG = "ksql.schema.registry.url"
BASIC_AUTH_CONFIG = "ksql.schema.registry.basic.auth.user.info"


def create_registry(properties: dict[str, Any] | None, log=None) -> SchemaRegistryClient:
    """The registry an engine uses: remote when `ksql.schema.registry.url` is set, else embedded in `log`."""
    props = properties or {}
    url = props.get(REGISTRY_URL_CONFIG)
    if url:
        from ksql.engine.schema_registry.remote import RemoteSchemaRegistry

        return RemoteSchemaRegistry(str(url), basic_auth=props.get(BASIC_AUTH_CONFIG))
    return EmbeddedSchemaRegistry(log)


def subject_name(topic: str, is_key: bool) -> str:
    """Confluent's TopicNameStrategy: `<topic>-key` / `<topic>-value`."""
    return f"{topic}-{'key' if is_key else 'value'}"


__all__ = [
    "COMPATIBILITY_LEVELS",
    "DEFAULT_COMPATIBILITY",
    "REGISTRY_URL_CONFIG",
    "SCHEMAS_TOPIC",
    "SCHEMA_TYPES",
    "EmbeddedSchemaRegistry",
    "RegisteredSchema",
    "Schema",
    "SchemaReference",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "create_registry",
    "subject_name",
]
