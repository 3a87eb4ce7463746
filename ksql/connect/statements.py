"""ksqlDB's connector statements over a ConnectClient, answered with ksqlDB's REST entities.

    CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...)   connector_info (warning_entity if it exists)
    DROP CONNECTOR [IF EXISTS] name                                drop_connector (warning_entity if absent)
    DESCRIBE CONNECTOR name                                        connector_description
    SHOW|LIST [SOURCE|SINK] CONNECTORS                             connector_list

A refusal of the Connect cluster keeps its HTTP status (ConnectError) with ksqlDB's message prefix
("Failed to create connector: ...").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ksql.connect.client import ConnectClient, ConnectError
from ksql.parser import ast

if TYPE_CHECKING:
    from ksql.engine.engine import Engine


def connector_config(properties: dict[str, Any]) -> dict[str, str]:
    """WITH properties as Connect's string config (true/false for booleans, numbers as written)."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return {str(name): text(value) for name, value in properties.items()}


def _failed(action: str, err: ConnectError) -> ConnectError:
    return ConnectError(err.status, f"Failed to {action}: {err.message}", err.detail)


def create_connector(client: ConnectClient, stmt: ast.CreateConnector) -> dict[str, Any]:
    if stmt.if_not_exists and stmt.name in _names(client, "create connector"):
        return {"@type": "warning_entity", "statementText": stmt.text,
                "message": f"Connector {stmt.name} already exists", "warnings": []}
    try:
        info = client.create(stmt.name, connector_config(stmt.properties))
    except ConnectError as err:
        raise _failed("create connector", err) from None
    return {"@type": "connector_info", "statementText": stmt.text, "info": info, "warnings": []}


def drop_connector(client: ConnectClient, stmt: ast.DropConnector) -> dict[str, Any]:
    try:
        client.delete(stmt.name)
    except ConnectError as err:
        if stmt.if_exists and err.status == 404:
            return {"@type": "warning_entity", "statementText": stmt.text,
                    "message": f"Connector '{stmt.name}' does not exist.", "warnings": []}
        raise _failed("drop connector", err) from None
    return {"@type": "drop_connector", "statementText": stmt.text, "connectorName": stmt.name, "warnings": []}


def describe_connector(engine: Engine, client: ConnectClient, stmt: ast.DescribeConnector) -> dict[str, Any]:
    from ksql.engine.describe import source_description

    try:
        info = client.info(stmt.name)
        status = client.status(stmt.name)
    except ConnectError as err:
        raise _failed("describe connector", err) from None
    warnings: list[dict[str, str]] = []
    try:
        topics = list(client.topics(stmt.name).get(stmt.name, {}).get("topics", []))
    except ConnectError as err:
        topics = []
        warnings.append({"message": f"Could not list related topics due to error: {err.message}"})
    sources = [source_description(engine, source, False)
               for source in sorted(engine.metastore.sources.values(), key=lambda s: s.name)
               if source.topic in topics]
    return {"@type": "connector_description", "statementText": stmt.text,
            "connectorClass": info.get("config", {}).get("connector.class", ""), "status": status,
            "sources": sources, "topics": topics, "warnings": warnings}


def list_connectors(client: ConnectClient, stmt: ast.Show) -> dict[str, Any]:
    wanted = (stmt.connector_kind or "").lower() or None
    connectors = []
    warnings: list[dict[str, str]] = []
    for name in _names(client, "list connectors"):
        try:
            info = client.info(name)
            status = client.status(name)
        except ConnectError as err:  # dropped meanwhile, or the cluster failed: listed without details
            warnings.append({"message": f"Could not describe connector {name}: {err.message}"})
            continue
        kind = info.get("type") or status.get("type") or "unknown"
        if wanted is not None and kind != wanted:
            continue
        connectors.append({"name": name, "type": kind,
                           "className": info.get("config", {}).get("connector.class", ""),
                           "state": summarize(status)})
    return {"@type": "connector_list", "statementText": stmt.text, "warnings": warnings,
            "connectors": connectors}


def summarize(status: dict[str, Any]) -> str:
    """ksqlDB's one-line state of a connector: `RUNNING (1/2 tasks RUNNING, 1 FAILED)`."""
    tasks = status.get("tasks", [])
    running = sum(1 for t in tasks if t.get("state") == "RUNNING")
    failed = sum(1 for t in tasks if t.get("state") == "FAILED")
    state = status.get("connector", {}).get("state", "UNKNOWN")
    return f"{state} ({running}/{len(tasks)} tasks RUNNING{f', {failed} FAILED' if failed else ''})"


def _names(client: ConnectClient, action: str) -> list[str]:
    try:
        return client.connector_names()
    except ConnectError as err:
        raise _failed(action, err) from None
