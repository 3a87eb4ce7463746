"""Transient queries: push queries (SELECT ... EMIT CHANGES) streaming rows to one client.

A push query reads its source topic from the latest (or earliest, or a resume
position) offsets, runs the same kind of compiled filter + projection stage as a
persistent query, and hands rows to its consumer through a bounded buffer. Push
queries over the same source share one reader and decoder (ksql.engine.push_reader):
each record is read and decoded once for all of them. Push queries with the same statement
(and properties) share one compiled filter + projection too (SharedProjection): it
evaluates each batch once for all of them and hands every one the same row objects,
so the server renders each row for the wire once (PushRow.json). A push
query over a join runs the persistent join's chain (TransientJoin) with its state
and read positions in memory, so nothing outlives the query. Some
thread (the server's runner) calls `poll()`; when the buffer is full the query
reads nothing more until its consumer catches up, so a slow client never blocks
the thread that polls, nor any other query.

Positions: every row carries the source partition and offset it came from, so a
consumer can name "everything up to here" and resume a later query from it
(`format_position` / `parse_position`). Rows of aggregations and joins have no
single source offset (-1); a join ignores resume positions.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import threading
import uuid
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ksql.engine.join import TransientJoin
from ksql.engine.log import LogError
from ksql.engine.metastore import DataSource
from ksql.engine.properties import KSQL_DEFAULTS, TRANSIENT_PREFIX_CONFIG, expression_options
from ksql.engine.push_reader import DecodedBatch, SharedReader
from ksql.engine.schema import ROWOFFSET, ROWPARTITION, WINDOWEND, WINDOWSTART, SchemaColumn
from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.parser.limits import refusing_deep_nesting
from ksql.planner.analysis import Analyzer, rewrite_magic_timestamps, row_position_ref
from ksql.planner.expressions import compile_batch
from ksql.planner.expressions.options import compiling_with
from ksql.planner.join import JoinAnalyzer, JoinPlan

if TYPE_CHECKING:
    from ksql.engine.engine import Engine

processing_log = logging.getLogger("ksql.processing")

LIMIT_REACHED = "Limit Reached"
SCALABLE_PREFIX = "SCALABLE_PUSH_QUERY_"
DEFAULT_MAX_PUSH_QUERIES = 100  # ksql.max.push.queries
DEFAULT_BUFFER_ROWS = 1000  # rows a push query holds for a client that is not reading


class TooManyPushQueries(KsqlError):
    """ksql.max.push.queries push queries are already running."""


class PushRow:
    """One row of a push query: column values (runtime representation) and where it came from.

    Push queries with the same statement share their row objects, so `json` (the column values as
    JSON, set by the first consumer that renders the row: every consumer of a shared row renders it
    alike) spares the others rendering it again: a row goes to a hundred subscribers, rendered once."""

    __slots__ = ("columns", "partition", "offset", "tombstone", "json")

    def __init__(self, columns: list[Any], partition: int, offset: int, tombstone: bool = False):
        self.columns = columns
        self.partition = partition
        self.offset = offset
        self.tombstone = tombstone
        self.json: bytes | None = None

    def __repr__(self) -> str:
        return f"PushRow({self.columns!r}, {self.partition}, {self.offset}, {self.tombstone})"


def format_position(positions: dict[int, int]) -> str:
    """'0:15,1:7': per source partition, the offset to read next."""
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def parse_position(text: str) -> dict[int, int]:
    """The inverse of format_position; a clear KsqlError for anything else."""
    positions: dict[int, int] = {}
    for part in filter(None, (t.strip() for t in text.split(","))):
        p, sep, o = part.partition(":")
        if not sep or not p.isdigit() or not o.isdigit():
            raise KsqlError(f"Invalid resume position '{text}': expected <partition>:<offset>[,...]")
        positions[int(p)] = int(o)
    return positions


class TransientQuery:
    """A running push query over one stream or table, or over a join (`source` is then its first)."""

    def __init__(self, query_id: str, engine: Engine, source: DataSource, query: ast.Query,
                 properties: dict[str, Any], resume: dict[int, int] | None = None,
                 capacity: int = DEFAULT_BUFFER_ROWS, skip_null_keys: bool = False, sql: str = "",
                 reader: SharedReader | None = None, projection: SharedProjection | None = None):
        self.query_id = query_id
        self.sql = sql
        self.sql_source = source
        self.log = engine.log
        self.limit = query.limit
        self.capacity = max(1, capacity)
        self.emitted = 0
        self.errors = 0
        self.buffer: deque[PushRow] = deque()
        self.finished: str | None = None  # why the query ended: LIMIT_REACHED or an error message
        self.failed = False
        self.closed = False
        self.listener: Callable[[], None] | None = None  # called (from the polling thread) on new rows/end
        self._lock = threading.Lock()  # one poll of a join at a time (a SharedReader has its own)
        self._buffer_lock = threading.Lock()  # the polling thread fills the buffer, the consumer empties it
        earliest = _offset_reset(engine, properties) == "earliest"
        self.positions: dict[int, int] = {}
        self.join: TransientJoin | None = None
        self.reader: SharedReader | None = None
        if isinstance(query.from_, ast.Join):
            self.join = TransientJoin(query_id, _plan_join(engine, query), self.log, earliest)
            self.columns = list(self.join.plan.schema.columns)
            self.partitions = 0
        else:
            if is_aggregation(engine, query):
                self.pipeline: SharedProjection | _Aggregation = _Aggregation(engine, source, query,
                                                                              self._on_error)
            else:
                self.pipeline = projection if projection is not None else \
                    SharedProjection(engine, source, query, skip_null_keys)
            self.columns = self.pipeline.columns
            self.reader = reader if reader is not None else SharedReader(self.log, source, query_id,
                                                                         engine.processing_log)
            self.topic = source.topic
            self.partitions = self.log.topic_config(self.topic).partitions
        for p in range(self.partitions):
            if resume is not None and p in resume:
                self.positions[p] = max(resume[p], self.log.start_offset(self.topic, p))
            elif earliest:
                self.positions[p] = self.log.start_offset(self.topic, p)
            else:
                self.positions[p] = self.log.end_offset(self.topic, p)
        self.start_positions = dict(self.positions)
        if self.limit is not None and self.limit <= 0:
            self.finished = LIMIT_REACHED

    @property
    def schema(self) -> str:
        """ksqlDB's header schema: `NAME` TYPE, ... in select order."""
        return ", ".join(c.sql() for c in self.columns)

    @property
    def done(self) -> bool:
        return self.finished is not None or self.closed

    def close(self) -> None:
        self.closed = True
        if self.listener is not None:
            self.listener()  # wake a consumer waiting for rows

    def take(self, max_rows: int = 1000) -> list[PushRow]:
        """Rows ready for the consumer (thread-safe against poll)."""
        buffer = self.buffer
        with self._buffer_lock:
            if len(buffer) <= max_rows:
                out = list(buffer)
                buffer.clear()
                return out
            return [buffer.popleft() for _ in range(max_rows)]

    def poll(self, max_records: int = 1000) -> int:
        """Read and process what fits in the buffer; return how many records were read."""
        if self.done:
            return 0
        if self.reader is not None:
            return self.reader.poll([self], max_records)
        with self._lock:
            room = self.capacity - len(self.buffer)
            if room <= 0:
                return 0  # the client is behind: pause reading, never block
            try:
                consumed = self._poll(min(room, max_records))
            except (LogError, KsqlError) as err:
                self.fail(f"stopped: {err}")
                consumed = 0
        if (consumed or self.done) and self.listener is not None:
            self.listener()
        return consumed

    def _poll(self, room: int) -> int:
        assert self.join is not None
        consumed, rows = self.join.poll_rows(room)
        n = len(self.columns)
        self._emit([PushRow(list(r[:n]), r[-2], -1, r[-1]) for r in rows])
        return consumed

    # -- as a SharedReader's subscriber ----------------------------------------------------------

    def room(self) -> int:
        return self.capacity - len(self.buffer)

    def deliver(self, partition: int, next_offset: int, batch: DecodedBatch, start: int, stop: int) -> None:
        """Filter and project (or aggregate) this query's slice of a shared decoded batch."""
        self.positions[partition] = next_offset
        if self.finished is not None:
            return
        try:
            self._emit(self.pipeline.process_slice(batch, start, stop))
        except KsqlError as err:
            self.fail(f"stopped: {err}")

    def fail(self, message: str) -> None:
        self.failed = True
        self.finished = f"Query {self.query_id} {message}"

    def notify(self) -> None:
        if self.listener is not None:
            self.listener()

    def _emit(self, rows: list[PushRow]) -> None:
        """Buffer rows for the consumer until LIMIT is reached."""
        if self.limit is not None and self.emitted + len(rows) >= self.limit:
            rows = rows[:self.limit - self.emitted]
            self.finished = LIMIT_REACHED
        with self._buffer_lock:
            self.buffer.extend(rows)
        self.emitted += len(rows)

    def _on_error(self, message: str) -> None:
        self.errors += 1
        processing_log.warning("%s: %s", self.query_id, message)


def is_aggregation(engine: Engine, query: ast.Query) -> bool:
    return bool(query.group_by) or query.window is not None or _has_aggregates(engine, query)


def _plan_join(engine: Engine, query: ast.Query) -> JoinPlan:
    """A push query's join plan, refused as the persistent join would be (keys, co-partitioning);
    aggregates without GROUP BY aggregate every joined row as one group."""
    if not query.group_by and query.window is None and _has_aggregates(engine, query):
        query = dataclasses.replace(query, group_by=(ast.StringLiteral(_ALL_ROWS),))
    plan = JoinAnalyzer(engine.metastore, engine.registry, engine.all_properties()).analyze(
        query, "", transient=True)
    engine._check_copartitioned(plan)
    return plan


def _offset_reset(engine: Engine, properties: dict[str, Any]) -> str:
    for name in ("auto.offset.reset", "ksql.streams.auto.offset.reset"):
        if name in properties:
            return str(properties[name]).lower()
    return str(engine.property("auto.offset.reset",
                               engine.property("ksql.streams.auto.offset.reset", "latest"))).lower()


class _Evaluated:
    """What a SharedProjection made of a batch's rows[:upto]: result rows and their source offsets."""

    __slots__ = ("rows", "offsets", "upto")

    def __init__(self) -> None:
        self.rows: list[PushRow] = []
        self.offsets: list[int] = []
        self.upto = 0


class SharedProjection:
    """Filter and project each source row (the stateless push query), for every push query with the same
    statement: each decoded batch is evaluated once, and each query takes the result rows of its slice.

    The reader hands every query the same DecodedBatch with the bounds of its slice; the batch's rows
    are evaluated from its start as far as the queries have asked so far, the result kept on the batch,
    and every query (in this round or a later one) takes its slice of that result by source offset. So
    a hundred subscribers of one statement cost one evaluation and share the rows, and a batch read
    for one query far behind the others is evaluated no further than that query takes.
    """

    def __init__(self, engine: Engine, source: DataSource, query: ast.Query, skip_null_keys: bool,
                 sql: str = ""):
        from ksql.engine.pull import _projection  # the select list of one-shot queries: push shares it

        self.sql = sql
        self.is_table = source.kind == "TABLE"
        self.n_keys = len(source.schema.key)
        self.skip_null_keys = skip_null_keys and self.n_keys > 0
        analyzer = Analyzer(source, query.from_.alias, engine.registry)
        where = None
        if query.where is not None:
            where = rewrite_magic_timestamps(analyzer.normalize(query.where, "WHERE"))
            analyzer.typer.check_predicate(where, "WHERE")
        items = _projection(analyzer, query, source)
        self.columns = [SchemaColumn(name, t) for _, name, (t, _) in items]
        tail = [row_position_ref(analyzer.scope, ROWPARTITION), row_position_ref(analyzer.scope, ROWOFFSET)]
        exprs = [e for e, _, _ in items]
        self.stage = compile_batch(where, exprs + tail, analyzer.scope, engine.registry, self._on_error)
        key_names = {c.name for c in source.schema.key}
        if source.window is not None:
            key_names |= {WINDOWSTART, WINDOWEND}
        tombstone_exprs = [e if _only_columns(e, key_names) else ast.Cast(ast.NullLiteral(), c.type)
                           for e, c in zip(exprs, self.columns, strict=True)]
        self.tombstone_stage = compile_batch(None, tombstone_exprs + tail, analyzer.scope, engine.registry,
                                             self._on_error)

    def process_slice(self, batch: DecodedBatch, start: int, stop: int) -> list[PushRow]:
        """The result rows of batch.rows[start:stop], evaluated once per batch for every query sharing
        this projection."""
        if start >= stop:
            return []
        evaluated = batch.evaluated.get(self)
        if evaluated is None:
            evaluated = batch.evaluated[self] = _Evaluated()
        if evaluated.upto < stop:
            more = self.process(batch.rows[evaluated.upto:stop])
            evaluated.rows += more
            evaluated.offsets += [r.offset for r in more]
            evaluated.upto = stop
        row_offsets, offsets = batch.row_offsets, evaluated.offsets
        return evaluated.rows[bisect_left(offsets, row_offsets[start]):bisect_left(offsets, row_offsets[stop - 1] + 1)]

    def _on_error(self, message: str) -> None:
        processing_log.warning("push query %s: %s", self.sql, message)

    def process(self, rows: list[tuple]) -> list[PushRow]:
        """Source rows -> result rows; null values are tombstones on tables and skipped on streams."""
        n_keys = self.n_keys
        live = []
        out: list[PushRow] = []
        for row in rows:
            if row[-1]:  # the value was null
                if not self.is_table:
                    continue
                if live:
                    out += self._rows(self.stage(live), False)
                    live = []
                if any(v is None for v in row[:n_keys]):
                    continue
                out += self._rows(self.tombstone_stage([row]), True)
            elif (self.is_table or self.skip_null_keys) and n_keys and all(v is None for v in row[:n_keys]):
                continue  # a table row needs a key (and scalable push queries skip keyless rows)
            else:
                live.append(row)
        if live:
            out += self._rows(self.stage(live), False)
        return out

    @staticmethod
    def _rows(results: list[tuple], tombstone: bool) -> list[PushRow]:
        return [PushRow(list(r[:-2]), r[-2], r[-1], tombstone) for r in results]


class _Aggregation:
    """GROUP BY (or a bare aggregate) in a push query: the engine's aggregation, its state in memory."""

    def __init__(self, engine: Engine, source: DataSource, query: ast.Query, on_error: Callable[[str], None]):
        from ksql.engine.aggregate import AggregateProcessor
        from ksql.planner.aggregation import AggregateAnalyzer

        class TransientAnalyzer(AggregateAnalyzer):
            """No sink: the select list in its own order, no rule about keys in the projection."""

            def _output(self, rewritten, group_exprs, agg_scope, sink_name):
                return self.transient_output(rewritten, agg_scope)

        if not query.group_by:  # aggregates over the whole stream: one group
            query = dataclasses.replace(query, group_by=(ast.StringLiteral(_ALL_ROWS),))
        analyzer = TransientAnalyzer(source, query.from_.alias, engine.registry, engine.all_properties())
        plan = analyzer.analyze_aggregate(query, "")
        self.columns = list(plan.schema.columns)
        self.processor = AggregateProcessor(plan, on_error, engine.log, "", "transient")

    def process_slice(self, batch: DecodedBatch, start: int, stop: int) -> list[PushRow]:
        n = len(self.columns)
        return [PushRow(list(r[:n]), r[-2], -1, r[-1]) for r in self.processor.process(batch.rows[start:stop])]


_ALL_ROWS = "\x00all rows"


def _has_aggregates(engine: Engine, query: ast.Query) -> bool:
    exprs = [i.expr for i in query.select if isinstance(i, ast.SelectItem)]
    exprs += [query.having] if query.having is not None else []
    return any(isinstance(e, ast.FunctionCall) and engine.registry.is_aggregate(e.name) for x in exprs for e in _walk(x))


def _walk(expr: ast.Expr):
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        for name in getattr(e, "__dataclass_fields__", ()):
            value = getattr(e, name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, ast.WhenClause):
                    stack += [item.condition, item.result]
                elif isinstance(item, ast.Expr):
                    stack.append(item)


def _only_columns(expr: ast.Expr, names: set[str]) -> bool:
    """True when every column `expr` reads is in `names` (so a tombstone's key can compute it)."""
    return all(e.name in names for e in _walk(expr) if isinstance(e, ast.ColumnRef))


# --- the registry of running push queries ----------------------------------------------------

_ids = itertools.count()


class TransientQueries:
    """The push queries a server runs, bounded by ksql.max.push.queries; those over the same source
    share its SharedReader, and those with the same statement its SharedProjection."""

    def __init__(self, max_queries: int = DEFAULT_MAX_PUSH_QUERIES):
        self.max_queries = max_queries
        self._queries: dict[str, TransientQuery] = {}
        self._readers: dict[tuple, SharedReader] = {}
        self._projections: dict[tuple, SharedProjection] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._queries)

    def get(self, query_id: str) -> TransientQuery | None:
        return self._queries.get(query_id)

    def find(self, name: str) -> TransientQuery | None:
        """The query `name` refers to: its id, or the id spelled in another case (SQL upper-cases names)."""
        query = self._queries.get(name)
        if query is None:
            query = next((q for q in list(self._queries.values()) if q.query_id.upper() == name.upper()), None)
        return query

    def running(self) -> list[TransientQuery]:
        return [q for q in list(self._queries.values()) if not q.done]

    def start(self, engine: Engine, stmt: ast.SelectStatement, properties: dict[str, Any],
              resume: dict[int, int] | None = None, capacity: int = DEFAULT_BUFFER_ROWS) -> TransientQuery:
        """Plan and register a push query (call with the engine's state stable, e.g. under its lock)."""
        query = stmt.query
        if query.emit != "CHANGES":
            raise KsqlError("Not a push query: add EMIT CHANGES to stream the query's changes.")
        relation = query.from_
        while isinstance(relation, ast.Join):  # a join is named after its first source
            relation = relation.left
        if query.partition_by is not None and not isinstance(query.from_, ast.Join):
            raise KsqlError("PARTITION BY is not supported in push queries.")
        if query.limit is not None and query.limit < 0:  # the grammar takes a sign for pull queries' message
            raise KsqlError("Push queries don't support negative integers in the LIMIT clause.")
        source = engine.metastore.get(relation.name)
        if source is None:
            raise KsqlError(f"{relation.name} does not exist." + engine.metastore.case_hint(relation.name))
        with self._lock:
            if len(self._queries) >= self.max_queries:
                raise TooManyPushQueries(
                    "Not executing statement(s) as it would cause the number of active, push queries to "
                    "exceed the configured limit. Terminate existing PUSH queries, or increase the "
                    "'ksql.max.push.queries' setting via the 'ksql-server.properties' file. Current push "
                    f"query count: {len(self._queries)}. Configured limit: {self.max_queries}.")
            query_id = _query_id(engine, source, query, properties)
            key = _reader_key(engine, source)
            reader = self._readers.get(key)
            if reader is None and not isinstance(query.from_, ast.Join):
                reader = self._readers[key] = SharedReader(engine.log, source, f"push queries over {source.name}",
                                                                engine.processing_log)
            skip_null_keys = query_id.startswith(SCALABLE_PREFIX)
            projection_key = _projection_key(key, query, properties, skip_null_keys)
            with refusing_deep_nesting(), compiling_with(expression_options(engine.all_properties(properties))):
                projection = self._projections.get(projection_key) if projection_key is not None else None
                if projection is None and projection_key is not None and not is_aggregation(engine, query):
                    projection = self._projections[projection_key] = SharedProjection(
                        engine, source, query, skip_null_keys, stmt.text)
                running = TransientQuery(query_id, engine, source, query, properties, resume, capacity,
                                         skip_null_keys=skip_null_keys, sql=stmt.text, reader=reader,
                                         projection=projection)
            self._queries[query_id] = running
        return running

    def close(self, query_id: str) -> bool:
        with self._lock:
            query = self._queries.pop(query_id, None)
            if query is not None and query.reader is not None and \
                    not any(q.reader is query.reader for q in self._queries.values()):
                self._readers = {k: r for k, r in self._readers.items() if r is not query.reader}
            if query is not None and query.reader is not None and \
                    not any(q.pipeline is query.pipeline for q in self._queries.values()):
                self._projections = {k: p for k, p in self._projections.items() if p is not query.pipeline}
        if query is None:
            return False
        query.close()
        return True

    def poll_all(self) -> int:
        """One round: each shared reader polls for all its queries, each join polls itself; closed
        queries are dropped."""
        total = 0
        by_reader: dict[int, tuple[SharedReader, list[TransientQuery]]] = {}
        for query in list(self._queries.values()):
            if query.closed:
                self.close(query.query_id)
            elif query.reader is not None:
                by_reader.setdefault(id(query.reader), (query.reader, []))[1].append(query)
            else:
                total += query.poll()
        for reader, queries in by_reader.values():
            total += reader.poll(queries)
        return total

    def close_all(self) -> None:
        for query_id in list(self._queries):
            self.close(query_id)


def _projection_key(reader_key: tuple, query: ast.Query, properties: dict[str, Any],
                    skip_null_keys: bool) -> tuple | None:
    """Queries with this key evaluate alike (same source, same query but for its LIMIT, same properties
    but for where they start reading): they share a SharedProjection. None for a join."""
    if isinstance(query.from_, ast.Join):
        return None
    evaluated = {k: repr(v) for k, v in properties.items()
                 if k not in ("auto.offset.reset", "ksql.streams.auto.offset.reset")}
    return reader_key, dataclasses.replace(query, limit=None), tuple(sorted(evaluated.items())), skip_null_keys


def _reader_key(engine: Engine, source: DataSource) -> tuple:
    """Queries over sources that decode alike (same log, topic, schema, formats, time) share a reader."""
    return (id(engine.log), source.name, source.topic, source.schema, source.formats, source.window,
            source.timestamp_column, source.timestamp_format)


def _query_id(engine: Engine, source: DataSource, query: ast.Query, properties: dict[str, Any]) -> str:
    """ksqlDB's ids: SCALABLE_PUSH_QUERY_... when push v2 would serve it, else <ksql.transient.prefix><SOURCE>_<n>.

    ksqlDB serves a push query with push v2 (ksql.query.push.v2.enabled) when it reads,
    from the latest offsets, the output of a persistent query with a plain projection (no join).
    """
    v2 = properties.get("ksql.query.push.v2.enabled", engine.property("ksql.query.push.v2.enabled", False))
    simple = not query.group_by and query.window is None and not _has_aggregates(engine, query) and \
        not isinstance(query.from_, ast.Join)
    if str(v2).lower() == "true" and simple and source.writer_query_ids and \
            _offset_reset(engine, properties) == "latest":
        return f"{SCALABLE_PREFIX}{uuid.uuid4()}"
    prefix = engine.all_properties(properties).get(TRANSIENT_PREFIX_CONFIG, KSQL_DEFAULTS[TRANSIENT_PREFIX_CONFIG])
    return f"{prefix}{source.name}_{random.getrandbits(62)}{next(_ids)}"


__all__ = [
    "LIMIT_REACHED", "PushRow", "TooManyPushQueries", "TransientQueries", "TransientQuery",
    "format_position", "parse_position",
]
