"""POST /ksql: run a script of statements and answer ksqlDB's list of entities.

Statements run one by one, in order; the first refusal stops the script and is
answered as a `statement_error` carrying the entities of the statements that ran
before it. Queries (SELECT, PRINT) belong to /query and are refused here as
ksqlDB refuses them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from ksql.connect.client import ConnectError
from ksql.engine import properties as properties_catalogue
from ksql.errors import KsqlError
from ksql.parser import ast, split_statements
from server.core import KsqlServer
from server.engine_lock import RequestCancelled
from server.errors import (
    COMMAND_QUEUE_CATCHUP_TIMEOUT,
    QUERY_ENDPOINT,
    SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    ApiError,
    bad_request,
    bad_statement,
    storage_error,
)
from server.guard import INTERNAL_ERROR_MESSAGE

log = logging.getLogger("ksql.server")

QUERY_ENDPOINT_MESSAGE = ("The following statement types should be issued to the websocket endpoint '/query':\n"
                          "\t* PRINT\n\t* SELECT")


def run_script(server: KsqlServer, sql: str, properties: dict[str, Any],
               variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Entities of every statement of `sql` (INSERT VALUES has none, as in ksqlDB)."""
    entities: list[dict[str, Any]] = []
    for stmt in _statements(server, sql, variables, entities):
        text = getattr(stmt, "text", sql)
        if isinstance(stmt, (ast.SelectStatement, ast.Print)):
            raise ApiError(400, QUERY_ENDPOINT, QUERY_ENDPOINT_MESSAGE, text, entities)
        push = server.push.find(stmt.query_id) if isinstance(stmt, ast.Terminate) and stmt.query_id else None
        if push is not None:  # a push query: not the engine's, not a command to log
            server.push.close(push.query_id)
            entities.append({"@type": "terminate_query", "statementText": text, "queryId": push.query_id,
                             "wasTerminated": True, "warnings": []})
            continue
        if isinstance(stmt, ast.SetProperty) and properties_catalogue.resolve(stmt.name) is None:
            raise bad_statement(unknown_property_message(stmt.name), text, entities)
        try:
            if isinstance(stmt, ast.InsertValues):  # appended with other writers' rows: no entity
                server.insert_values(stmt, properties)
                continue
            result = server.execute(stmt, properties)
        except ConnectError as err:  # the Connect cluster's refusal keeps its status, as in ksqlDB
            status = err.status if err.status < 500 else 503
            raise ApiError(status, status * 100, err.message) from None
        except KsqlError as err:
            raise bad_statement(str(err), text, entities) from None
        except RequestCancelled:
            raise  # the client left: the rest of the script does not run
        except OSError as err:
            log.error("statement not applied, the disk refused a write: %s: %s", text, err)
            raise storage_error(err, "the statement was not applied.", text, entities) from None
        except Exception:  # noqa: BLE001 - an engine bug must not become a stack trace
            log.exception("statement failed unexpectedly: %s", text)
            raise ApiError(500, SERVER_ERROR, INTERNAL_ERROR_MESSAGE, text, entities) from None
        if isinstance(stmt, ast.Show) and stmt.what.upper() == "QUERIES":
            if stmt.extended:
                for description in result.entity["queryDescriptions"]:
                    description["ksqlHostQueryStatus"] = {server.host: description["state"]}
            else:
                result.entity["queries"] = result.entity["queries"] + _push_queries(server)
        entities.append(result.entity)
    return entities


def unknown_property_message(name: str) -> str:
    """ksqlDB's refusal of a SET of a property it does not know."""
    if name.startswith("ksql."):
        return f"Unknown property: {name}"
    return f"Not recognizable as ksql, streams, consumer, or producer property: '{name}'"


def _statements(server: KsqlServer, sql: str, variables: dict[str, Any] | None,
                entities: list[dict[str, Any]]) -> Iterator[ast.Statement]:
    """The script's statements, each parsed when its turn comes (so a DEFINE applies to what follows)."""
    try:
        pieces = split_statements(sql)
    except KsqlError as err:
        raise bad_statement(str(err), sql, entities) from None
    for piece in pieces:
        try:
            statements = server.prepare(piece, variables)
        except KsqlError as err:
            raise bad_statement(str(err), piece.strip().rstrip(";"), entities) from None
        yield from statements


def _push_queries(server: KsqlServer) -> list[dict[str, Any]]:
    """Running push queries as SHOW QUERIES lists them in ksqlDB (queryType PUSH)."""
    return [{"queryString": q.sql, "sinks": [], "sinkKafkaTopics": [], "id": q.query_id,
             "statusCount": {"RUNNING": 1}, "queryType": "PUSH", "state": "RUNNING"}
            for q in server.push.running()]


COMMAND_TIMEOUT_PROPERTY = "ksql.server.command.response.timeout.ms"
COMMAND_POLL_SECONDS = 0.05


async def wait_for_command(server: KsqlServer, sequence: int) -> None:
    """Hold a request naming a commandSequenceNumber until this server ran that command, as ksqlDB does
    (so a client that sent a statement to one server sees its effect on another); 503 after the timeout."""
    timeout = server.config.get_int(COMMAND_TIMEOUT_PROPERTY, 5000) / 1000
    deadline = time.monotonic() + timeout
    while not await run_in_threadpool(server.has_run_command, sequence):
        if time.monotonic() >= deadline:
            raise ApiError(503, COMMAND_QUEUE_CATCHUP_TIMEOUT, "Timed out while waiting for a previous command to "
                                                               f"execute. command sequence number: {sequence}")
        await asyncio.sleep(COMMAND_POLL_SECONDS)


def terminate_cluster(server: KsqlServer, delete_topic_patterns: list[str]) -> list[dict[str, Any]]:
    """POST /ksql/terminate: end every persistent query and drop every stream and table, deleting the
    topics whose names match one of the patterns (regular expressions, case-insensitive, as ksqlDB's)."""
    try:
        patterns = [re.compile(p, re.IGNORECASE) for p in delete_topic_patterns]
    except re.error as err:
        raise bad_request(f"Invalid pattern in deleteTopicList: {err}") from None
    engine = server.engine
    if engine is None:
        raise ApiError(503, SERVICE_UNAVAILABLE, "The server is shutting down")
    server.push.close_all()
    script = ["TERMINATE ALL;"] if engine.queries else []
    for source in sorted(engine.metastore.sources.values(), key=lambda s: s.name):
        delete = not source.is_source and any(p.fullmatch(source.topic) for p in patterns)
        script.append(f"DROP {source.kind} `{source.name}`{' DELETE TOPIC' if delete else ''};")
    run_script(server, "\n".join(script), {})
    return [{"@type": "currentStatus", "statementText": "TERMINATE CLUSTER;", "commandId": "cluster/terminate",
             "commandStatus": {"status": "SUCCESS", "message": "The cluster's queries, streams and tables are gone"},
             "commandSequenceNumber": engine.sequence, "warnings": []}]
