"""Server-Sent Events: push (and pull) queries for browsers' EventSource.

    GET  /query/sse?sql=SELECT+*+FROM+S+EMIT+CHANGES;&properties={"auto.offset.reset":"earliest"}
    POST /query/sse   {"sql": "...", "properties": {...}, "sessionVariables": {...}, "lastEventId": "0:12"}

Events:

    event: header     data: {"queryId": ..., "columnNames": [...], "columnTypes": [...]}
    (message)         id: 0:13     data: [column values...]        one per row
    event: tombstone  id: 0:14     data: [key columns, nulls...]   a table row's deletion
    event: end        data: {"finalMessage": "Limit Reached"}       the query ended by itself
    event: error      data: {"@type": "generic_error", ...}          the query failed, or was refused
    : ping                                                           heartbeat comment

A row's id names, per source partition, the offset to read next once that row
is consumed (`<partition>:<offset>,...`). EventSource sends the last id it saw
as `Last-Event-ID` when it reconnects (or pass `lastEventId`): the new query
reads from exactly there, so a client that lost its connection loses no row and
sees none twice. Close the EventSource on `end`, or it reconnects and resumes.

A request the server refuses (bad SQL, unknown source...) is answered to an
EventSource (Accept: text/event-stream) as one `error` event carrying ksqlDB's
error JSON, since a browser hides the body of a non-200 answer; close the
EventSource on an `error` event that has data (one without data is a lost connection).

Backpressure: each query holds at most ksql.server.push.buffer.rows rows for
its client and stops reading while they are not taken; a client whose socket
accepts nothing for ksql.server.sse.send.timeout.seconds is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from ksql.engine.transient import format_position, parse_position
from ksql.errors import KsqlError
from ksql.parser import ast
from server.core import KsqlServer
from server.errors import ApiError, bad_request, generic_error
from server.http import check_fields, parse_object, properties_of, read_body, refuse_unknown_properties, wants
from server.queries import QUERY_COMPLETED, end_of, parse_query, push_rows, run_pull, start_push
from server.rows import RowWriter, column_names, column_types, dumps

SSE_FIELDS = {"sql": str, "properties": dict, "sessionVariables": dict, "lastEventId": str}
RETRY_MS = 2000
EVENT_STREAM = "text/event-stream"


async def sse_endpoint(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    """The query's events; a refused request is answered as an `error` event to an EventSource (which
    cannot read the body of a non-200 answer), with its status and ksqlDB's error JSON to anyone else."""
    try:
        return await _query_events(request, server, max_bytes)
    except ApiError as err:
        if not wants(request, EVENT_STREAM):
            raise
        return EventSourceResponse(_error_event(err.entity()))


async def _error_event(error: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(dumps(error).decode(), event="error")


async def _query_events(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    if request.method == "POST":
        doc = check_fields(parse_object(await read_body(request, max_bytes)), SSE_FIELDS, ("sql",),
                           "the /query/sse request")
    else:
        doc = {"sql": request.query_params.get("sql")}
        for name in ("properties", "sessionVariables"):
            text = request.query_params.get(name)
            if text:
                try:
                    doc[name] = orjson.loads(text)
                except orjson.JSONDecodeError as err:
                    raise bad_request(f"Invalid JSON in the {name} parameter: {err}") from None
        if request.query_params.get("lastEventId"):
            doc["lastEventId"] = request.query_params["lastEventId"]
        unknown = set(request.query_params) - set(SSE_FIELDS)
        if unknown:
            raise bad_request(f"Unrecognized parameter \"{sorted(unknown)[0]}\": known parameters are "
                              f"{', '.join(sorted(SSE_FIELDS))}")
        check_fields(doc, SSE_FIELDS, ("sql",), "the /query/sse request")
    properties = properties_of(doc, "properties")
    refuse_unknown_properties(doc.get("properties"))
    stmt = await parse_query(request, server, doc["sql"], doc.get("sessionVariables"))
    if isinstance(stmt, ast.Print):
        raise bad_request("PRINT is not supported over Server-Sent Events: use /query")
    resume_text = request.headers.get("last-event-id") or doc.get("lastEventId")
    try:
        resume = parse_position(resume_text) if resume_text else None
    except KsqlError as err:
        raise bad_request(str(err)) from None
    ping = server.config.get_int("ksql.server.sse.ping.seconds", 15)
    send_timeout = server.config.get_int("ksql.server.sse.send.timeout.seconds", 30)
    if stmt.query.emit is None:
        events = await _pull_events(request, server, stmt, properties)
    else:
        events = await _push_events(request, server, stmt, properties, resume)
    return EventSourceResponse(events, ping=ping, send_timeout=send_timeout)


async def _pull_events(request: Request, server: KsqlServer, stmt: ast.SelectStatement,
                       properties: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
    result, final = await run_pull(request, server, stmt, properties)
    writer = RowWriter([c.type for c in result.columns])

    async def events() -> AsyncIterator[ServerSentEvent]:
        yield _header(result.query_id, result.columns)
        for row in result.rows:
            yield ServerSentEvent(dumps(writer.values(row)).decode())
        yield ServerSentEvent(dumps({"finalMessage": final or QUERY_COMPLETED}).decode(), event="end")

    return events()


async def _push_events(request: Request, server: KsqlServer, stmt: ast.SelectStatement,
                       properties: dict[str, Any], resume: dict[int, int] | None) -> AsyncIterator[ServerSentEvent]:
    query = await start_push(request, server, stmt, properties, resume)
    writer = RowWriter([c.type for c in query.columns])
    frontier = dict(query.start_positions)

    async def events() -> AsyncIterator[ServerSentEvent]:
        # the header names the start position too: a client that reconnects before any row resumes there
        yield _header(query.query_id, query.columns, format_position(frontier))
        async for rows in push_rows(server, query):
            for row in rows:
                if row.offset >= 0:  # an aggregation's rows have no single source offset
                    frontier[row.partition] = row.offset + 1
                yield ServerSentEvent(writer.push_json(row).decode(), id=format_position(frontier),
                                      event="tombstone" if row.tombstone else None)
        final, error = end_of(query)
        if error is not None:
            yield ServerSentEvent(dumps(generic_error(error)).decode(), event="error")
        elif final is not None:
            yield ServerSentEvent(dumps({"finalMessage": final}).decode(), event="end")

    return events()


def _header(query_id: str, columns, position: str | None = None) -> ServerSentEvent:
    header = {"queryId": query_id, "columnNames": column_names(columns), "columnTypes": column_types(columns)}
    return ServerSentEvent(dumps(header).decode(), event="header", id=position, retry=RETRY_MS)
