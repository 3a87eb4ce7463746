"""The /ws/query WebSocket endpoint, as ksqlDB serves it to Control Center and other UIs.

    ws://host:8088/ws/query?request={"ksql": "SELECT * FROM S EMIT CHANGES;", "streamsProperties": {}}

The server sends the result schema first (a JSON array of fields, as DESCRIBE
shows them), then one {"row": {"columns": [...]}} message per row, and closes
with code 1000 when the query ends (the reason says why) or 1011/1008 on errors.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ksql.engine.describe import _field
from ksql.parser import ast
from server.core import KsqlServer
from server.errors import ApiError, bad_request
from server.http import check_fields, properties_of
from server.queries import QUERY_COMPLETED, QUERY_FIELDS, end_of, parse_query, push_rows, run_pull, start_push
from server.rows import RowWriter, dumps, query_row

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


async def ws_query_endpoint(websocket: WebSocket, server: KsqlServer) -> None:
    await websocket.accept()
    try:
        await _serve(websocket, server)
    except ApiError as err:
        await websocket.send_text(dumps(err.entity()).decode())
        await websocket.close(POLICY_VIOLATION, err.message[:120])
    except WebSocketDisconnect:
        return


async def _serve(websocket: WebSocket, server: KsqlServer) -> None:
    text = websocket.query_params.get("request")
    if not text:
        raise bad_request("Missing the request parameter: ?request={\"ksql\": \"SELECT ...\"}")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise bad_request(f"Invalid JSON in the request parameter: {err}") from None
    if not isinstance(doc, dict):
        raise bad_request("Invalid request parameter: a JSON object is expected")
    check_fields(doc, QUERY_FIELDS, ("ksql",), "the /ws/query request")
    properties = properties_of(doc, "streamsProperties", "requestProperties")
    stmt = await parse_query(None, server, doc["ksql"], doc.get("sessionVariables"))
    if isinstance(stmt, ast.Print):
        raise bad_request("PRINT is not supported over /ws/query: use /query")
    if stmt.query.emit is None:
        result, final = await run_pull(None, server, stmt, properties)
        writer = RowWriter([c.type for c in result.columns])
        await websocket.send_text(dumps([_field(c) for c in result.columns]).decode())
        for row in result.rows:
            await websocket.send_text(dumps({"row": {"columns": writer.values(row)}}).decode())
        await websocket.close(1000, final or QUERY_COMPLETED)
        return
    query = await start_push(None, server, stmt, properties)
    writer = RowWriter([c.type for c in query.columns])

    async def watch() -> None:  # the client leaving ends the query
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            server.push.close(query.query_id)

    watcher = asyncio.create_task(watch())
    try:
        await websocket.send_text(dumps([_field(c) for c in query.columns]).decode())
        async for rows in push_rows(server, query):
            for row in rows:
                await websocket.send_text(query_row(writer.push_json(row), row.tombstone).decode())
    finally:
        watcher.cancel()
    if query.closed and not query.finished:
        return  # closed by the client (or /close-query)
    final, error = end_of(query)
    if error is not None:
        await websocket.close(INTERNAL_ERROR, error[:120])
    else:
        await websocket.close(1000, final or "Query closed")
