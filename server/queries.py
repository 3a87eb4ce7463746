"""Queries over HTTP: POST /query (ksqlDB's chunked JSON), POST /query-stream (HTTP/1.1 and HTTP/2),
POST /close-query, and the shared machinery that streams a push query's rows to a client.

/query streams a JSON array: a header ({"queryId", "schema"}), then {"row": {"columns": [...]}}
per row ("tombstone": true for a table's deletions), then a {"finalMessage"} ("Limit
Reached", or "Query Completed" when the query was closed) or an {"errorMessage"}.
/query-stream answers `application/vnd.ksqlapi.delimited.v1` (a header object, then
one JSON array per row, one per line) or, when asked with Accept: application/json,
one JSON array of the same. A push query ends when its
LIMIT is reached, when the client goes away, or on /close-query; pull queries
answer what the materialized state holds and end.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ksql.engine.log import LogError
from ksql.engine.pull import PullPlan, PullResult
from ksql.engine.transient import LIMIT_REACHED, PushRow, TooManyPushQueries, TransientQuery
from ksql.errors import KsqlError, ParseError
from ksql.parser import ast
from server.core import KsqlServer
from server.errors import (
    QUERY_ENDPOINT,
    TOO_MANY_REQUESTS,
    ApiError,
    bad_request,
    bad_statement,
    generic_error,
    log_error_message,
)
from server.h2frames import BatchedStreamingResponse
from server.http import (
    check_fields,
    in_worker,
    parse_object,
    properties_of,
    read_body,
    refuse_unknown_properties,
    wants,
)
from server.printer import TopicPrinter
from server.pull_plans import CachedPull, plan_key
from server.rows import RowWriter, column_names, column_types, dumps, query_row
from server.statements import wait_for_command

QUERY_FIELDS = {"ksql": str, "streamsProperties": dict, "requestProperties": dict, "sessionVariables": dict,
                "commandSequenceNumber": int}
QUERY_STREAM_FIELDS = {"sql": str, "properties": dict, "requestProperties": dict, "sessionVariables": dict}
DELIMITED = "application/vnd.ksqlapi.delimited.v1"
PRINT_POLL_SECONDS = 0.2
INLINE_ROWS = 100  # a pull answer this small is rendered on the event loop (a thread hop costs more)
QUERY_COMPLETED = "Query Completed"


# --- planning ----------------------------------------------------------------------------------

async def parse_query(request: Request | None, server: KsqlServer, sql: str, variables: dict[str, Any] | None
                      ) -> ast.Statement:
    """Exactly one SELECT or PRINT statement (parsed in a worker thread)."""
    try:
        statements = await in_worker(request, server.prepare, sql, variables)
    except ParseError as err:
        raise bad_statement(_syntax_message(str(err), sql), sql) from None
    except KsqlError as err:
        raise bad_statement(str(err), sql) from None
    if len(statements) != 1:
        raise bad_statement(f"Expected exactly one statement, got {len(statements)}", sql)
    stmt = statements[0]
    if not isinstance(stmt, (ast.SelectStatement, ast.Print)):
        raise ApiError(400, QUERY_ENDPOINT, "The /query endpoint only runs queries (SELECT and PRINT): use "
                                            "/ksql for other statements.", sql)
    return stmt


def _syntax_message(message: str, sql: str) -> str:
    """ksqlDB's /query answer to a syntax error names the position, then the statement; our detail follows."""
    first, _, detail = message.partition("\n")
    if not first.endswith(": Syntax Error"):
        return message
    return f"{first}\n\nStatement: {sql}" + (f"\n\n{detail}" if detail else "")


async def start_push(request: Request | None, server: KsqlServer, stmt: ast.SelectStatement,
                     properties: dict[str, Any], resume: dict[int, int] | None = None) -> TransientQuery:
    try:
        return await in_worker(request, server.start_push_query, stmt, properties, resume)
    except TooManyPushQueries as err:
        raise ApiError(429, TOO_MANY_REQUESTS, str(err), stmt.text) from None
    except KsqlError as err:
        raise bad_statement(str(err), stmt.text) from None
    except LogError as err:
        raise bad_statement(log_error_message(err), stmt.text) from None


async def prepare_query(request: Request, server: KsqlServer, sql: str, variables: dict[str, Any] | None,
                        properties: dict[str, Any]) -> tuple[ast.Statement, PullPlan | None]:
    """The statement and, for a pull query, its plan. A pull query planned before at the engine's
    current generation comes from the plan cache: no parse, no planning, no lock."""
    engine = server.engine
    key = plan_key(sql, variables, properties)
    if engine is not None and key is not None:
        cached = server.pull_plans.get(key, engine.generation)
        if cached is not None:
            return cached.statement, cached.plan
    stmt = await parse_query(request, server, sql, variables)
    if not isinstance(stmt, ast.SelectStatement) or stmt.query.emit is not None:
        return stmt, None
    planned = await _plan(request, server, stmt, properties)
    if key is not None:
        server.pull_plans.put(key, planned)
    return stmt, planned.plan


async def _plan(request: Request | None, server: KsqlServer, stmt: ast.SelectStatement,
                properties: dict[str, Any]) -> CachedPull:
    try:
        return await in_worker(request, server.plan_pull, stmt, properties)
    except KsqlError as err:
        raise bad_statement(str(err), stmt.text) from None
    except LogError as err:
        raise bad_statement(log_error_message(err), stmt.text) from None


async def run_pull(request: Request | None, server: KsqlServer, stmt: ast.SelectStatement,
                   properties: dict[str, Any], plan: PullPlan | None = None) -> tuple[PullResult, str]:
    """(PullResult, final message or "") of a pull query (planned now unless `plan` is given). A key
    lookup in a view that is caught up is answered on the event loop (a few dict reads cost less than
    the hop to a worker thread); anything else in a worker thread."""
    started = time.perf_counter()
    if plan is None:
        plan = (await _plan(request, server, stmt, properties)).plan
    try:
        result = plan.run_quick() or await in_worker(request, plan.run)
    except KsqlError as err:
        raise bad_statement(str(err), stmt.text) from None
    except LogError as err:
        raise bad_statement(log_error_message(err), stmt.text) from None
    server.metrics.pull_latency.observe(time.perf_counter() - started)
    return result, pull_final_message(server, stmt, len(result.rows))


def pull_final_message(server: KsqlServer, stmt: ast.SelectStatement, rows: int) -> str:
    """Pull queries on streams end with a final message, as ksqlDB's stream scans do; on tables none."""
    relation = stmt.query.from_
    engine = server.engine
    source = engine.metastore.get(relation.name) if engine is not None and isinstance(relation, ast.Table) else None
    if source is None or source.kind != "STREAM":
        return ""
    limit = stmt.query.limit
    return LIMIT_REACHED if limit is not None and rows >= limit else QUERY_COMPLETED


class LoopWakeups:
    """Wakes push consumers on one event loop from the runner thread. A round delivers rows to every
    subscriber; waking each one with its own call_soon_threadsafe would write to the loop's self-pipe a
    hundred times a round for a hundred subscribers: the events set in one round are set by one callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._pending: list[asyncio.Event] = []
        self._lock = threading.Lock()

    def wake(self, event: asyncio.Event) -> None:
        """Set `event` on the loop soon; RuntimeError when the loop is closed."""
        with self._lock:
            first = not self._pending
            self._pending.append(event)
            if first:
                try:
                    self.loop.call_soon_threadsafe(self._set_pending)
                except RuntimeError:
                    self._pending.clear()
                    raise

    def _set_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for event in pending:
            event.set()


_wakeups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWakeups] = weakref.WeakKeyDictionary()


def loop_wakeups() -> LoopWakeups:
    """The running loop's LoopWakeups."""
    loop = asyncio.get_running_loop()
    wakeups = _wakeups.get(loop)
    if wakeups is None:
        wakeups = _wakeups[loop] = LoopWakeups(loop)
    return wakeups


async def push_rows(server: KsqlServer, query: TransientQuery, batch: int = 500) -> AsyncIterator[list[PushRow]]:
    """The query's rows as they arrive, in batches (what the runner's rounds buffered: one wakeup per
    round, not per row), until it ends; closes it however the consumer stops."""
    wakeups = loop_wakeups()
    ready = asyncio.Event()

    def notify() -> None:
        try:
            wakeups.wake(ready)
        except RuntimeError:  # the event loop is gone: the consumer is too
            query.close()

    query.listener = notify
    try:
        while True:
            rows = query.take(batch)
            if rows:
                if server.runner is not None:
                    server.runner.wake()  # room in the buffer again
                yield rows
                continue
            if query.done:
                return
            ready.clear()
            if query.buffer or query.done:
                continue
            await ready.wait()
    finally:
        query.listener = None
        server.push.close(query.query_id)


def end_of(query: TransientQuery) -> tuple[str | None, str | None]:
    """(final message, error message) of a finished push query."""
    if query.failed:
        return None, query.finished
    return query.finished, None


# --- POST /query -------------------------------------------------------------------------------

async def query_endpoint(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    doc = check_fields(parse_object(await read_body(request, max_bytes)), QUERY_FIELDS, ("ksql",),
                       "the /query request")
    properties = properties_of(doc, "streamsProperties", "requestProperties")
    refuse_unknown_properties(doc.get("streamsProperties"))
    if doc.get("commandSequenceNumber") is not None:
        await wait_for_command(server, doc["commandSequenceNumber"])
    stmt, plan = await prepare_query(request, server, doc["ksql"], doc.get("sessionVariables"), properties)
    media = "application/vnd.ksql.v1+json" if wants(request, "application/vnd.ksql.v1+json") \
        else "application/json"
    if isinstance(stmt, ast.Print):
        return await print_response(request, server, stmt)
    if plan is not None:
        result, final = await run_pull(request, server, stmt, properties, plan)
        parts = _query_parts(result, final) if len(result.rows) <= INLINE_ROWS \
            else await in_worker(None, _query_parts, result, final)

        # one chunk per message, as ksqlDB writes them (clients parse each chunk as it comes), in one send
        messages = [(b"[" if i == 0 else b"") + part + (b"]\n" if i == len(parts) - 1 else b",\n")
                    for i, part in enumerate(parts)]
        return BatchedStreamingResponse(_aiter([messages]), media_type=media, finite=True)
    query = await start_push(request, server, stmt, properties)
    writer = RowWriter([c.type for c in query.columns])

    async def body() -> AsyncIterator[list[bytes]]:
        # as ksqlDB writes it: each message followed by ",\n" as soon as it is known; the last one closes.
        # A round's rows go in one send, each its own chunk (see h2frames.BatchedStreamingResponse).
        yield [b"[" + dumps({"header": {"queryId": query.query_id, "schema": query.schema}}) + b",\n"]
        async for rows in push_rows(server, query):
            yield [query_row(writer.push_json(r), r.tombstone) + b",\n" for r in rows]
        final, error = end_of(query)
        if error is not None:
            yield [dumps({"errorMessage": generic_error(error)}) + b"]\n"]
        else:
            yield [dumps({"finalMessage": final or QUERY_COMPLETED}) + b"]\n"]

    return BatchedStreamingResponse(body(), media_type=media)


def _query_parts(result: Any, final: str) -> list[bytes]:
    """A pull query's /query messages (rendered in a worker thread: a big one takes a while)."""
    writer = RowWriter([c.type for c in result.columns])
    parts = [dumps({"header": {"queryId": result.query_id, "schema": result.schema}})]
    parts += [dumps({"row": {"columns": writer.values(r)}}) for r in result.rows]
    if final:
        parts.append(dumps({"finalMessage": final}))
    return parts


async def print_response(request: Request, server: KsqlServer, stmt: ast.Print) -> Response:
    """PRINT: text lines, following the topic until LIMIT or the client leaves."""
    engine = server.engine
    if engine is None or server.log is None:
        raise ApiError(503, 50300, "The server is shutting down")
    try:
        printer = await in_worker(request, TopicPrinter, server.log, stmt, list(engine.metastore.sources.values()))
    except KsqlError as err:
        raise bad_statement(str(err), stmt.text) from None
    except LogError as err:
        raise bad_statement(log_error_message(err), stmt.text) from None

    async def body() -> AsyncIterator[bytes]:
        while server.running:
            try:
                lines = await in_worker(None, printer.poll)
            except LogError:  # the topic was deleted under us
                return
            if lines:
                yield ("\n".join(lines) + "\n").encode()
            if printer.done:
                return
            if not lines:
                await asyncio.sleep(PRINT_POLL_SECONDS)

    return StreamingResponse(body(), media_type="text/plain")


# --- POST /query-stream ------------------------------------------------------------------------

async def query_stream_endpoint(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    doc = check_fields(parse_object(await read_body(request, max_bytes)), QUERY_STREAM_FIELDS, ("sql",),
                       "the /query-stream request")
    properties = properties_of(doc, "properties", "requestProperties")
    refuse_unknown_properties(doc.get("properties"))
    stmt, plan = await prepare_query(request, server, doc["sql"], doc.get("sessionVariables"), properties)
    if isinstance(stmt, ast.Print):
        raise bad_request("PRINT is not supported by /query-stream: use /query")
    as_json = wants(request, "application/json") and not wants(request, DELIMITED)
    media = "application/json" if as_json else DELIMITED

    if plan is not None:
        result, _ = await run_pull(request, server, stmt, properties, plan)
        writer = RowWriter([c.type for c in result.columns])
        header = {"queryId": result.query_id, "columnNames": column_names(result.columns),
                  "columnTypes": column_types(result.columns)}
        rows = [dumps(writer.values(r)) for r in result.rows] if len(result.rows) <= INLINE_ROWS \
            else await in_worker(None, lambda: [dumps(writer.values(r)) for r in result.rows])
        return BatchedStreamingResponse(_stream_messages(header, _aiter([rows]), None, as_json), media_type=media,
                                        finite=True)

    query = await start_push(request, server, stmt, properties)
    writer = RowWriter([c.type for c in query.columns])
    header = {"queryId": query.query_id, "columnNames": column_names(query.columns),
              "columnTypes": column_types(query.columns)}

    async def push_json() -> AsyncIterator[list[bytes]]:
        async for rows in push_rows(server, query):
            yield [writer.push_json(r) for r in rows]

    return BatchedStreamingResponse(_stream_messages(header, push_json(), query, as_json), media_type=media)


async def _aiter(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _stream_messages(header: dict[str, Any], batches: AsyncIterator[list[bytes]],
                           query: TransientQuery | None, as_json: bool) -> AsyncIterator[list[bytes]]:
    """/query-stream's body as ksqlDB writes it: the header alone in the first chunk, then one chunk
    per row (an HTTP/2 DATA frame each), sent as produced; a failed push query's error last. Rows come
    rendered (the JSON of their values), in batches (a push query's are those of one round), sent together, each row its own chunk still
    (see h2frames.BatchedStreamingResponse).

    Clients (the Node and Java ones among them) parse each chunk as one message: a chunk holding
    several would be misread."""
    if query is None:  # a pull query's answer: every message is known, all go in one send
        rows = [row async for batch in batches for row in batch]
        if as_json:
            yield [b"[" + dumps(header)] + [b"," + values for values in rows] + [b"]"]
        else:
            yield [dumps(header) + b"\n"] + [values + b"\n" for values in rows]
        return
    if as_json:
        yield [b"[" + dumps(header)]
        async for batch in batches:
            yield [b"," + values for values in batch]
        error = end_of(query)[1]
        yield [(b"," + dumps(generic_error(error)) if error is not None else b"") + b"]"]
        return
    yield [dumps(header) + b"\n"]
    async for batch in batches:
        yield [values + b"\n" for values in batch]
    error = end_of(query)[1]
    if error is not None:
        yield [dumps(generic_error(error)) + b"\n"]


# --- POST /close-query -------------------------------------------------------------------------

async def close_query_endpoint(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    doc = check_fields(parse_object(await read_body(request, max_bytes)), {"queryId": str}, ("queryId",),
                       "the /close-query request")
    query = server.push.find(doc["queryId"])
    if query is None or not server.push.close(query.query_id):
        raise ApiError(400, 40003, f"No query with id {doc['queryId']}")
    return Response(status_code=200)
