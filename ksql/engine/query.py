"""Persistent queries: read a source topic in batches, run the compiled stage, append to the sink.

A query runs one task per input partition. Each poll reads a batch from the
committed offset, decodes it, runs the one generated function that filters and
projects the whole batch, encodes the results, appends them to the sink and
only then commits the input offset (at-least-once; the embedded log makes the
append durable before the commit).

Which partitions this server processes comes from the log's `join_group()`: all
of them on the embedded log; on Kafka the servers of a cluster split them.
There, an aggregation over a stream runs as two stages, as Kafka Streams does:
records are first re-routed by their group key to a repartition topic, so each
group's state lives in exactly one partition, then aggregated per partition
with a changelog partition each. Repartitioned records carry their origin
(source partition and offset), so records re-sent after a crash are recognised
and counted once. A stream grouped by exactly its key columns needs no such
stage (ksqlDB's groupByKey): each source partition is aggregated in place, with
its own changelog partition. Aggregations over a table run on one server at a
time (the owner of the source's partition 0), which moves when that server goes
away.

A poll is one round: a batch from each partition this server processes, the
output sent without waiting for each append, then one wait until the log holds
all of it and one commit of the round's input offsets (on Kafka, one producer
flush and one offset commit per round instead of one per batch).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any, Protocol

from ksql.engine.aggregate import AggregateProcessor, ChangelogError, changelog_config, changelog_topic
from ksql.engine.codec import RecordDecoder, RecordEncoder
from ksql.engine.log import Log, RebalanceError, RecordBatch, TopicConfig, murmur2
from ksql.engine.metastore import DataSource
from ksql.engine.metrics import QueryMetrics, batch_bytes
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.schema import ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.functions import FunctionRegistry
from ksql.parser import ast
from ksql.planner.aggregation import AggregateAnalyzer, AggregatePlan
from ksql.planner.analysis import (
    HIDDEN_WINDOW,
    RAW_HEADERS,
    RAW_NULL,
    Analyzer,
    ProjectionPlan,
    row_position_ref,
    walk,
)
from ksql.planner.expressions import Scope, compile_batch
from ksql.planner.expressions.options import ExpressionOptions, compiling_with, current_options

processing_log = logging.getLogger("ksql.processing")

RUNNING, PAUSED, TERMINATED, ERROR = "RUNNING", "PAUSED", "TERMINATED", "ERROR"
_VALUE_IS_NULL = itemgetter(-1)  # the last slot of a decoded row
MAX_QUERY_ERRORS = 10  # errors kept per query (ksqlDB's ksql.query.error.max.queue.size default)
ORIGIN_HEADER = "__ksql_origin"  # on repartitioned records: b"<source partition>:<source offset>"
_ORIGIN = re.compile(rb"(\d{1,10}):(\d{1,19})")


def repartition_topic(service_id: str, query_id: str, prefix: str = "query_") -> str:
    """ksqlDB's name for the topic a GROUP BY re-routes records through (`prefix`: ksql.persistent.prefix)."""
    return f"_confluent-ksql-{service_id}{prefix}{query_id}-Aggregate-GroupBy-repartition"


@dataclass(frozen=True)
class PlanInputs:
    """What planning a single-source persistent query took. A compiled plan holds generated
    functions and cannot be pickled; these inputs can, so a worker process compiles the same plan."""

    query: ast.Query
    source: DataSource
    sink_name: str
    aggregating: bool
    properties: dict[str, Any]

    def plan(self, registry: FunctionRegistry) -> ProjectionPlan | AggregatePlan:
        alias = self.query.from_.alias
        if self.aggregating:
            analyzer = AggregateAnalyzer(self.source, alias, registry, self.properties)
            return analyzer.analyze_aggregate(self.query, self.sink_name)
        new_planner = str(self.properties.get("ksql.new.query.planner.enabled", "false")).lower() == "true"
        return Analyzer(self.source, alias, registry, new_planner).analyze(self.query, self.sink_name)


class OffloadLost(RuntimeError):
    """The process computing a query's batches is gone (or was replaced): its state must be rebuilt."""


# What a query's batch turns into, as the log calls that write it: ("batch", topic, partition,
# RecordBatch) for append_batch (sink output, changelog records) and ("commit", group, -1,
# {(topic, partition): offset}) for commit.
Write = tuple[str, str, int, Any]


class Offload(Protocol):
    """Computes a query's batches in another process; the query keeps reading and writing the log."""

    def attach(self, query: PersistentQuery) -> None:
        """Start computing for `query` from its current (just restored) state."""

    def submit(self, query: PersistentQuery, partition: int, batch: Any) -> Any:
        """Hand over one input batch (a RecordBatch, or Log.read_undecoded's); returns a ticket for
        collect()."""

    def collect(self, ticket: Any) -> Sequence[Write]:
        """The writes of a submitted batch, in order; raises what computing it raised."""

    def detach(self, query: PersistentQuery) -> None:
        """Stop computing for `query` and drop what it submitted."""


@dataclass
class PersistentQuery:
    """A running CSAS / CTAS / INSERT INTO ... SELECT."""

    query_id: str
    sql: str
    plan: ProjectionPlan | AggregatePlan
    sink: DataSource
    log: Log
    earliest: bool = False  # auto.offset.reset: where a new query starts reading
    throw_on_invalid_timestamp: bool = False
    fail_on_deserialization_error: bool = False
    service_id: str = "default_"
    query_prefix: str = "query_"  # ksql.persistent.prefix: part of the group and internal topic names
    state: str = RUNNING
    processed: int = 0
    errors: int = 0
    error: str | None = None  # why the query stopped itself (state ERROR); RESUME retries
    query_errors: list[dict] = field(default_factory=list)  # recent failures (EXPLAIN's queryErrors)
    processing_log: ProcessingLog | None = None  # the engine's, where skipped records are reported
    plan_inputs: PlanInputs | None = None  # how `plan` was compiled (lets a worker process compile it)
    # what the statement's properties said about expressions: aggregation processors built later use it too
    expression_options: ExpressionOptions = field(default_factory=current_options)
    # an offloadable aggregation's state is restored by the worker process that takes it (see
    # Offload.attach), not first here to be shipped there; restore_here() if none does
    defer_restore: bool = False
    # A poll reads up to max_records per partition (one read, one append, one commit) but
    # decodes, runs and encodes them chunk_rows at a time: the rows of a chunk stay in the
    # CPU caches (5000 rows in flight measured ~20% slower than 1000-row chunks).
    chunk_rows = 1000

    def __post_init__(self) -> None:
        source = self.plan.source
        self.group = f"_confluent-ksql-{self.service_id}{self.query_prefix}{self.query_id}"
        self.source_topic = source.topic
        self.metrics = QueryMetrics()
        self.reporter = (self.processing_log or ProcessingLog()).scoped()  # counts this query's failures
        self.decoder = RecordDecoder(source, self.query_id, self.throw_on_invalid_timestamp, self.reporter,
                                     self.fail_on_deserialization_error)
        sink_partitions = self.log.topic_config(self.sink.topic).partitions
        aggregating = isinstance(self.plan, AggregatePlan)
        self.encoder = RecordEncoder(self.sink, sink_partitions, self.query_id,
                                     null_key_when_all_null=not aggregating and not self.plan.rekeyed,
                                     reporter=self.reporter)
        self.partitions = self.log.topic_config(self.source_topic).partitions
        self.processor: AggregateProcessor | None = None
        self.checkpoint: dict[int, int] | None = None  # input positions the restored state stands at
        self.awaiting_restore = False  # its state is to be restored by the worker process taking it
        # distributed aggregations: the repartition stage's topic and one processor per partition
        self.repartition: str | None = None
        self.in_place = False  # a stream grouped by its key: each source partition aggregated where it is
        self.processors: dict[int, AggregateProcessor] = {}
        self.single_owner = False  # runs every partition, on the server owning partition 0
        self.active = True
        self.changelog = changelog_topic(self.service_id, self.query_id, self.query_prefix)
        self.offload: Offload | None = None  # a worker process computes the batches (see offload_to)
        self._submitted: list[tuple[int, Any]] = []  # (records, ticket) handed to the offload
        if aggregating:
            self._init_aggregation()
        else:
            self._init_projection()
        self._fix_start_offsets()
        topics = [self.source_topic] + ([self.repartition] if self.repartition else [])
        self.ownership = self.log.join_group(self.group, topics)
        self._take_ownership()

    def _init_aggregation(self) -> None:
        if self.log.distributed and self.plan.groups_by_key:
            self.in_place = True
            if not self.log.topic_exists(self.changelog):
                self.log.create_topic(self.changelog, replace(changelog_config(), partitions=self.partitions))
            return
        if self.log.distributed and self.plan.source.kind == "STREAM":
            self.repartition = repartition_topic(self.service_id, self.query_id, self.query_prefix)
            for topic in (self.repartition, self.changelog):
                if not self.log.topic_exists(topic):
                    self.log.create_topic(topic, TopicConfig(partitions=self.partitions))
            offset = row_position_ref(self.plan.scope, ROWOFFSET)
            self.route = compile_batch(self.plan.where, [*self.plan.group_exprs, offset],
                                       self.plan.scope, self.plan.registry, self._on_error)
            return
        self.single_owner = self.log.distributed
        self.active = not self.single_owner
        if self.active and self.defer_restore and self.offloadable:
            processor = AggregateProcessor(self.plan, self._on_error, self.log, self.changelog, self.query_id,
                                           key_bytes=self.encoder.key_serde.serialize)
            # a changelog without a readable checkpoint may be unreadable: restored (or failed) here, at start
            self.awaiting_restore = not self.resumed or processor.has_checkpoint()
            if self.awaiting_restore:  # an empty processor until then: nothing is computed here meanwhile
                self.processor = processor
                if not self.log.topic_exists(self.changelog):  # where the worker's results are written
                    self.log.create_topic(self.changelog, changelog_config())
                return
        if self.active:
            self._restore_shared()

    def _restore_shared(self) -> None:
        """The one processor of a query that aggregates every partition in one place; it stays None
        (and the query in ERROR) while the changelog cannot be read."""
        with compiling_with(self.expression_options):
            processor = AggregateProcessor(self.plan, self._on_error, self.log, self.changelog, self.query_id,
                                           key_bytes=self.encoder.key_serde.serialize)
        try:
            positions = processor.restore(self.resumed)
        except ChangelogError as err:
            self._fail(str(err))
            return
        self.processor, self.error, self.awaiting_restore = processor, None, False
        self.checkpoint = positions
        if positions is not None:  # the changelog's checkpoint is where the state stands
            self._resume_at(self.source_topic, positions)

    @property
    def _aggregated_topic(self) -> str:
        """Where the per-partition processors read: the repartition topic, or the source in place."""
        return self.source_topic if self.in_place else self.repartition

    @property
    def resumed(self) -> bool:
        """Whether the query has consumed input (committed offsets): its changelog must then be readable."""
        return any(self.log.committed(self.group, self.source_topic, p) is not None for p in range(self.partitions))

    def restore_here(self) -> None:
        """Restore the state in this process after all (no worker process takes the query)."""
        if self.awaiting_restore:
            self._restore_shared()

    def stored_changelog(self) -> Any:
        """The changelog's records as stored (Log.read_undecoded: no per-record work), for the process
        that restores the state from them; None when there is no changelog yet."""
        if not self.log.topic_exists(self.changelog):
            return None
        start, end = self.log.start_offset(self.changelog, 0), self.log.end_offset(self.changelog, 0)
        return self.log.read_undecoded(self.changelog, 0, start, max(end - start, 1))

    def _start_aggregating(self, partition: int) -> None:
        """The processor of one partition (of the repartition topic, or of the source in place),
        restored from its changelog partition, and where it resumes reading; none (and the query
        in ERROR) while the changelog cannot be read."""
        with compiling_with(self.expression_options):
            processor = AggregateProcessor(self.plan, self._on_error, self.log, self.changelog, self.query_id,
                                           changelog_partition=partition,
                                           key_bytes=self.encoder.key_serde.serialize)
        topic = self._aggregated_topic
        try:
            positions = processor.restore(self.log.committed(self.group, topic, partition) is not None)
        except ChangelogError as err:
            self._fail(str(err))
            return
        self.error = None
        resume = None if positions is None else positions.get(partition)
        if resume is not None:
            self._resume_at(topic, {partition: resume})
        elif topic == self.repartition and self.log.committed(self.group, topic, partition) is None:
            self.log.commit(self.group, {(topic, partition): self.log.start_offset(topic, partition)})
        self.processors[partition] = processor

    def _fail(self, reason: str) -> None:
        self.state, self.error = ERROR, reason
        self.query_errors = with_query_error(self.query_errors, reason, "SYSTEM")
        processing_log.error("%s: %s", self.query_id, reason)

    def recover(self) -> None:
        """Rebuild the in-memory state from the log after a failed poll, as a restart would: the
        changelog holds exactly the state that matches the committed offsets (a stateless query
        has nothing to rebuild). An offloaded query's worker drops what it holds and starts over
        from the rebuilt state."""
        self._submitted = []
        if self.processor is not None:
            self._restore_shared()
        for partition in list(self.processors):
            self._start_aggregating(partition)
        if self.offload is not None:
            if self.error is None:
                self.offload.attach(self)
            else:  # the state could not be restored: nothing computes until it is (the next recover)
                self.offload.detach(self)

    @property
    def offloadable(self) -> bool:
        """Whether another process can compute this query: it was planned from one source, and all
        its partitions are processed here (no repartition stage, no single owner in a cluster)."""
        formats = [self.plan.source.formats.key, self.plan.source.formats.value, self.sink.formats.key,
                   self.sink.formats.value]
        return (self.plan_inputs is not None and self.repartition is None and not self.in_place
                and not self.single_owner
                and all(f.registry is None for f in formats))  # a schema registry lives in this process

    def offload_to(self, offload: Offload) -> None:
        """Have `offload` compute this query's batches from now on (it takes over the state)."""
        offload.attach(self)
        self._submitted = []
        self.offload = offload

    def _init_projection(self) -> None:
        plan = self.plan
        windowed = plan.source.window is not None
        hidden = [
            ast.ColumnRef(ROWTIME),
            ast.ColumnRef(RAW_HEADERS),
            ast.ColumnRef(WINDOWSTART if windowed else HIDDEN_WINDOW[0]),
            ast.ColumnRef(WINDOWEND if windowed else HIDDEN_WINDOW[1]),
            row_position_ref(plan.scope, ROWPARTITION),
            ast.ColumnRef(RAW_NULL),
        ]
        projections = list(plan.key_exprs) + list(plan.value_exprs) + hidden
        if plan.table_functions:
            self.stage = self._flat_map_stage(plan, projections)
            self.null_stage = None
        else:
            self.stage = compile_batch(plan.where, projections, plan.scope, plan.registry, self._on_error)
            self.null_stage = None if plan.where is not None else compile_batch(
                None, null_value_projections(plan) + hidden, plan.scope, plan.registry, self._on_error)

    def _flat_map_stage(self, plan: ProjectionPlan, projections: list[ast.Expr]):
        """Filter, evaluate the table functions' arguments, explode, then project (ksqlDB's flat-map).

        Several table functions zip: row i carries each function's i-th element, null
        where a function produced fewer.
        """
        width = plan.source_width
        base = Scope(plan.scope.columns[:width])
        args = [a for _, fn_args in plan.table_functions for a in fn_args]
        before = compile_batch(plan.where, [ast.ColumnRef(c.name) for c in base.columns] + args, base,
                               plan.registry, self._on_error)
        after = compile_batch(None, projections, plan.scope, plan.registry, self._on_error)
        calls = []
        at = width
        for fn, fn_args in plan.table_functions:
            calls.append((fn.impl, fn.null_on_null, at, at + len(fn_args)))
            at += len(fn_args)

        def explode(rows: list[tuple]) -> list[tuple]:
            out = []
            for r in before(rows):
                outputs = []
                for impl, null_on_null, lo, hi in calls:
                    values = r[lo:hi]
                    if null_on_null and any(v is None for v in values):
                        outputs.append(None)
                        continue
                    try:
                        outputs.append(impl(*values))
                    except Exception as err:  # a failing function call yields no rows, as in ksqlDB
                        self._on_error(f"table function failed: {err}")
                        outputs.append(None)
                n = max((len(o) for o in outputs if o), default=0)
                head = r[:width]
                for i in range(n):
                    out.append((*head, *[o[i] if o is not None and i < len(o) else None for o in outputs]))
            return after(out)

        return explode

    def _fix_start_offsets(self) -> None:
        """Commit where a new query starts reading, now: on Kafka its consumer gets its partitions
        seconds after the statement returns, and 'latest' taken then would skip the records written
        in between. A query resumed after a restart has its offsets committed already."""
        topic = self.source_topic
        start = {(topic, p): (self.log.start_offset(topic, p) if self.earliest else self.log.end_offset(topic, p))
                 for p in range(self.partitions) if self.log.committed(self.group, topic, p) is None}
        if start:
            self.log.commit(self.group, start)

    def _take_ownership(self) -> None:
        """Apply what the group gave and took since the last poll: state, start offsets, activity."""
        gained, lost = self.ownership.changes()
        aggregated = self._aggregated_topic
        for topic, partition in lost:
            if topic == aggregated:
                self.processors.pop(partition, None)
        starting = [(t, p) for t, p in gained if t == self.source_topic]
        if self.single_owner:
            if (self.source_topic, 0) in lost:
                self.active = False
                self.processor = None
            if (self.source_topic, 0) in gained:
                self._restore_shared()
                self.active = True
                starting = [(self.source_topic, p) for p in range(self.partitions)]
        for topic, partition in gained:
            if topic == aggregated:
                self._start_aggregating(partition)
        start = {(topic, partition): (self.log.start_offset(topic, partition) if self.earliest
                                      else self.log.end_offset(topic, partition))
                 for topic, partition in starting if self.log.committed(self.group, topic, partition) is None}
        if start:
            self.log.commit(self.group, start)

    def _resume_at(self, topic: str, positions: dict[int, int]) -> None:
        """Commit the input positions of a restored checkpoint, none past the end of its partition:
        an input that lost its tail to a crash (truncated when the log opened) would otherwise
        have the query skip as many of the records appended from now on. Only the embedded log
        loses a tail that way: a Kafka partition keeps what it acknowledged, and the end a broker
        reports for a partition this process has not fetched yet can lag (some name the last
        batch's base offset + 1), which would have the query count records twice."""
        offsets = {}
        for partition, offset in positions.items():
            end = self.log.end_offset(topic, partition)
            if offset > end and not self.log.distributed:
                processing_log.warning("%s: checkpoint at offset %d of %s-%d, past its end %d (the tail was "
                                       "lost): resuming at %d", self.query_id, offset, topic, partition, end, end)
                offset = end
            offsets[(topic, partition)] = offset
        self.log.commit(self.group, offsets)

    def _on_error(self, message: str) -> None:
        self.errors += 1
        self.reporter.record_processing_error(self.query_id, message)

    def poll(self, max_records: int = 5000) -> int:
        """Process at most one batch per owned input partition; return how many records were read."""
        if self.state != RUNNING:
            return 0
        self._take_ownership()
        if not self.active or (self.awaiting_restore and self.offload is None):
            return 0  # not ours, or its state is restored by the worker process about to take it
        if self.processor is None and self.repartition is None and isinstance(self.plan, AggregatePlan):
            self._restore_shared()  # RESUMEd after its changelog could not be read: try again
            if self.processor is None:
                return 0
        if self.offload is not None:
            return self._collect(max_records)
        owned = self.ownership.owned()
        total = 0
        started = time.perf_counter()
        done: dict[tuple[str, int], int] = {}  # the round's input positions, committed at its end
        try:
            for partition in range(self.partitions):
                if self.single_owner or (self.source_topic, partition) in owned:
                    if self.repartition is not None:
                        total += self._route_partition(partition, max_records, done)
                    elif not self.in_place or self._has_processor(partition):
                        total += self._poll_partition(partition, max_records, done)
                if self.repartition is not None and (self.repartition, partition) in owned:
                    if self._has_processor(partition):
                        total += self._aggregate_partition(partition, max_records, done)
            self._end_round(done)
        except RebalanceError as err:
            # the group moved partitions away mid-poll: their new owner processes what we did not commit
            processing_log.info("%s: %s", self.query_id, err)
        self.processed += total
        if total:
            self.metrics.polled(time.perf_counter() - started)
        return total

    def _has_processor(self, partition: int) -> bool:
        """Whether the partition's aggregation can run (restored again if RESUMEd after its changelog
        could not be read)."""
        if partition not in self.processors:
            self._start_aggregating(partition)
        return partition in self.processors

    def _end_round(self, done: dict[tuple[str, int], int]) -> None:
        """Close a round: the shared state's checkpoint, one wait until the log holds everything the
        round sent, then one commit of its input positions (at-least-once: never before the output)."""
        if not done:
            return
        if self.processor is not None:
            self.processor.commit({p: o for (_, p), o in done.items()})
        self.log.wait_for_sends()
        self.log.commit(self.group, done)

    def process_batch(self, partition: int, max_records: int) -> int:
        """One batch of one source partition as a round of its own (how a worker process computes)."""
        done: dict[tuple[str, int], int] = {}
        n = self._poll_partition(partition, max_records, done)
        self._end_round(done)
        return n

    def submit(self, max_records: int = 5000) -> None:
        """Offloaded: read one batch per partition and hand it to the worker, which computes it while
        this process writes other results; the next poll() collects and writes it. Reads start at
        the committed offsets, so a batch is never handed over twice."""
        if self.offload is None or self._submitted or self.state != RUNNING:
            return
        for partition in range(self.partitions):
            offset = self.log.committed(self.group, self.source_topic, partition) or 0
            batch = self.log.read_undecoded(self.source_topic, partition, offset, max_records)  # decoded there
            if len(batch):
                self._submitted.append((len(batch), self.offload.submit(self, partition, batch)))

    def _collect(self, max_records: int) -> int:
        """Write what the worker made of the submitted batches (output, changelog, offsets), in order."""
        if not self._submitted:
            self.submit(max_records)
        submitted, self._submitted = self._submitted, []
        log = self.log
        total = 0
        started = time.perf_counter()
        for n, ticket in submitted:
            for op, topic, partition, payload in self.offload.collect(ticket):
                if op == "batch":
                    log.append_batch(topic, partition, payload)
                else:
                    log.commit(topic, payload)  # `topic` is the group
            total += n
        self.processed += total
        if total:
            self.metrics.polled(time.perf_counter() - started)
        return total

    def _next_batch(self, topic: str, partition: int, max_records: int) -> RecordBatch:
        """The records of the partition after the group's committed offset."""
        offset = self.log.committed(self.group, topic, partition) or 0
        return self.log.read_batch(topic, partition, offset, max_records)

    def _poll_partition(self, partition: int, max_records: int, done: dict[tuple[str, int], int]) -> int:
        """Process a batch of a source partition and send its output; its next offset goes to `done`."""
        batch = self._next_batch(self.source_topic, partition, max_records)
        n = len(batch)
        if not n:
            return 0
        self.metrics.read(n, batch_bytes(batch.keys, batch.values))
        processor = self.processors[partition] if self.in_place else self.processor
        # stateless queries: chunk_rows at a time; an aggregation sees the whole batch
        step = self.chunk_rows if processor is None else n
        outputs: dict[int, list[RecordBatch]] = {}
        for start in range(0, n, step):
            rows = self.decoder.decode_batch(batch if n <= step else batch.slice(start, start + step))
            if rows:
                results = processor.process(rows) if processor is not None else self._process(rows)
                if results:
                    for out_partition, out in self.encoder.encode_batches(results).items():
                        outputs.setdefault(out_partition, []).append(out)
        for out_partition, outs in outputs.items():
            self._append_output(out_partition, RecordBatch.concat(outs))
        next_offset = batch.offsets[-1] + 1
        if self.in_place:  # its own changelog partition; the shared processor commits once per round
            processor.commit({partition: next_offset})
        done[(self.source_topic, partition)] = next_offset
        return n

    def _route_partition(self, partition: int, max_records: int, done: dict[tuple[str, int], int]) -> int:
        """Repartition stage: send each record that passes WHERE to the partition of its group key."""
        log = self.log
        batch = self._next_batch(self.source_topic, partition, max_records)
        n = len(batch)
        if not n:
            return 0
        self.metrics.read(n, batch_bytes(batch.keys, batch.values))
        index = {o: i for i, o in enumerate(batch.offsets)}
        targets = log.topic_config(self.repartition).partitions
        routed: dict[int, list[int]] = {}
        for row in self.route(self.decoder.decode_batch(batch)):
            target = murmur2(repr(row[:-1]).encode()) % targets
            routed.setdefault(target, []).append(index[row[-1]])
        for target, picks in routed.items():
            headers = [(*batch.headers[i], (ORIGIN_HEADER, b"%d:%d" % (partition, batch.offsets[i])))
                       for i in picks]
            log.send_batch(self.repartition, target, RecordBatch(
                [batch.keys[i] for i in picks], [batch.values[i] for i in picks],
                [batch.timestamps[i] for i in picks], headers))
        done[(self.source_topic, partition)] = batch.offsets[-1] + 1
        return n

    def _aggregate_partition(self, partition: int, max_records: int, done: dict[tuple[str, int], int]) -> int:
        """Aggregate stage: the repartitioned records of one partition, each origin counted once."""
        processor = self.processors[partition]
        batch = self._next_batch(self.repartition, partition, max_records)
        n = len(batch)
        if not n:
            return 0
        seen = processor.origins
        keep: list[int] = []
        headers: list[tuple] = []
        for i, record_headers in enumerate(batch.headers):
            try:
                origin = _origin(record_headers)
            except ValueError as err:  # not written by the repartition stage: refused, not counted
                processing_log.warning("%s: refused record %s/%d@%d: %s", self.query_id, self.repartition,
                                       partition, batch.offsets[i], err)
                continue
            if origin is not None:
                sp, so = origin
                if so <= seen.get(sp, -1):
                    continue  # re-sent after a crash of the repartition stage: already counted
                seen[sp] = so
            keep.append(i)
            headers.append(tuple(h for h in record_headers if h[0] != ORIGIN_HEADER))
        if keep:
            rows = self.decoder.decode_batch(RecordBatch(
                [batch.keys[i] for i in keep], [batch.values[i] for i in keep],
                [batch.timestamps[i] for i in keep], headers, [batch.offsets[i] for i in keep], partition))
            results = processor.process(rows) if rows else []
            if results:
                for out_partition, out in self.encoder.encode_batches(results).items():
                    self._append_output(out_partition, out)
        next_offset = batch.offsets[-1] + 1
        processor.commit({partition: next_offset})
        done[(self.repartition, partition)] = next_offset
        return n

    def _append_output(self, partition: int, batch: RecordBatch) -> None:
        """Send results to the sink (the round waits for them), counted in the query's metrics."""
        self.log.send_batch(self.sink.topic, partition, batch)
        self.metrics.wrote(len(batch), batch_bytes(batch.keys, batch.values))

    def terminate(self, drop_state: bool = True) -> None:
        """Stop for good: leave the group and, when dropping state, delete the internal topics."""
        self.state = TERMINATED
        if self.offload is not None:
            self.offload.detach(self)
            self.offload = None
        self.ownership.close()
        if not drop_state:
            return
        internal = [self.changelog] if isinstance(self.plan, AggregatePlan) else []
        internal += [self.repartition] if self.repartition is not None else []
        for topic in internal:
            if self.log.topic_exists(topic):
                self.log.delete_topic(topic)

    def _process(self, rows: list[tuple]) -> list[tuple]:
        """Run the stage; records with a null value (last row slot) take the null-value path."""
        source = self.plan.source
        if source.kind == "TABLE" and source.schema.key:  # a table row without a key is no row
            n = len(source.schema.key)
            rows = [r for r in rows if any(v is not None for v in r[:n])]
        if not any(map(_VALUE_IS_NULL, rows)):
            return self.stage(rows)
        results: list[tuple] = []
        run: list[tuple] = []
        run_is_null = False
        for row in rows:
            if row[-1] != run_is_null and run:
                results += self._run_stage(run, run_is_null)
                run = []
            run_is_null = row[-1]
            run.append(row)
        results += self._run_stage(run, run_is_null)
        return results

    def _run_stage(self, rows: list[tuple], is_null: bool) -> list[tuple]:
        if not is_null:
            return self.stage(rows)
        return self.null_stage(rows) if self.null_stage is not None else []

    def lag(self) -> int:
        """Records in the source not yet processed."""
        behind = 0
        for partition in range(self.partitions):
            committed = self.log.committed(self.group, self.source_topic, partition)
            start = self.log.start_offset(self.source_topic, partition)
            behind += self.log.end_offset(self.source_topic, partition) - max(committed or 0, start)
        return behind


def with_query_error(errors: list[dict], message: str, kind: str) -> list[dict]:
    """A query's recent errors (ksqlDB's QueryError entities, EXPLAIN's queryErrors) with one more,
    the oldest dropped past MAX_QUERY_ERRORS."""
    entry = {"timestamp": int(time.time() * 1000), "errorMessage": message, "type": kind}
    return [*errors[-(MAX_QUERY_ERRORS - 1):], entry]


def _origin(headers: tuple) -> tuple[int, int] | None:
    """(source partition, source offset) of a repartitioned record's origin header; ValueError if
    the header is there but malformed."""
    for name, value in headers:
        if name == ORIGIN_HEADER:
            match = _ORIGIN.fullmatch(value) if isinstance(value, bytes) else None
            if match is None:
                raise ValueError(f"malformed {ORIGIN_HEADER} header {value!r:.60}")
            return int(match[1]), int(match[2])
    return None


def null_value_projections(plan: ProjectionPlan) -> list[ast.Expr]:
    """Key and value expressions for a record whose value is null (a tombstone on a stream).

    As in ksqlDB, only key expressions that use nothing but key columns can be
    computed; everything else is null.
    """
    key_names = {c.name for c in plan.source.schema.key}

    def key_only(expr: ast.Expr) -> bool:
        refs = [e for e in walk(expr) if isinstance(e, ast.ColumnRef)]
        return all(r.name in key_names for r in refs)

    schema = plan.schema
    keys = [e if key_only(e) else ast.Cast(ast.NullLiteral(), c.type) for e, c in zip(plan.key_exprs, schema.key, strict=True)]
    return keys + [ast.Cast(ast.NullLiteral(), c.type) for c in schema.value]
