"""Persistent queries: read a source topic in batches, run the compiled stage, append to the sink.

A query runs one task per input partition. Each poll reads a batch from the
committed offset, decodes it, runs the one generated function that filters and
projects the whole batch, encodes the results, appends them to the sink and
only then commits the input offset (at-least-once; the embedded log makes the
append durable before the commit).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from operator import itemgetter

from ksql.engine.aggregate import AggregateProcessor, changelog_topic
from ksql.engine.codec import RecordDecoder, RecordEncoder
from ksql.engine.log import Log, RecordBatch
from ksql.engine.metastore import DataSource
from ksql.engine.schema import ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.parser import ast
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.analysis import HIDDEN_WINDOW, RAW_HEADERS, RAW_NULL, ProjectionPlan, walk
from ksql.planner.expressions import Scope, compile_batch

processing_log = logging.getLogger("ksql.processing")

RUNNING, PAUSED, TERMINATED = "RUNNING", "PAUSED", "TERMINATED"
_VALUE_IS_NULL = itemgetter(-1)  # the last slot of a decoded row


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
    service_id: str = "default_"
    state: str = RUNNING
    processed: int = 0
    errors: int = 0
    # A poll reads up to max_records per partition (one read, one append, one commit) but
    # decodes, runs and encodes them chunk_rows at a time: the rows of a chunk stay in the
    # CPU caches (5000 rows in flight measured ~20% slower than 1000-row chunks).
    chunk_rows = 1000

    def __post_init__(self) -> None:
        source = self.plan.source
        self.group = f"_confluent-ksql-default_query_{self.query_id}"
        self.source_topic = source.topic
        self.decoder = RecordDecoder(source, self.query_id, self.throw_on_invalid_timestamp)
        sink_partitions = self.log.topic_config(self.sink.topic).partitions
        aggregating = isinstance(self.plan, AggregatePlan)
        self.encoder = RecordEncoder(self.sink, sink_partitions, self.query_id,
                                     null_key_when_all_null=not aggregating and not self.plan.rekeyed)
        self.partitions = self.log.topic_config(self.source_topic).partitions
        self.processor: AggregateProcessor | None = None
        if aggregating:
            self.processor = AggregateProcessor(self.plan, self._on_error, self.log,
                                                changelog_topic(self.service_id, self.query_id), self.query_id)
            positions = self.processor.restore()
            if positions is not None:  # the changelog's checkpoint is where the state stands
                self.log.commit(self.group, {(self.source_topic, p): o for p, o in positions.items()})
            self._commit_start_offsets()
            return
        plan = self.plan
        windowed = source.window is not None
        hidden = [
            ast.ColumnRef(ROWTIME),
            ast.ColumnRef(RAW_HEADERS),
            ast.ColumnRef(WINDOWSTART if windowed else HIDDEN_WINDOW[0]),
            ast.ColumnRef(WINDOWEND if windowed else HIDDEN_WINDOW[1]),
            ast.ColumnRef(ROWPARTITION),
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
        self._commit_start_offsets()

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

    def _commit_start_offsets(self) -> None:
        """A new query starts at the earliest or latest offset, as auto.offset.reset says."""
        start = {}
        for p in range(self.partitions):
            if self.log.committed(self.group, self.source_topic, p) is None:
                start[(self.source_topic, p)] = (self.log.start_offset(self.source_topic, p) if self.earliest
                                                 else self.log.end_offset(self.source_topic, p))
        if start:
            self.log.commit(self.group, start)

    def _on_error(self, message: str) -> None:
        self.errors += 1
        processing_log.warning("%s: %s", self.query_id, message)

    def poll(self, max_records: int = 5000) -> int:
        """Process at most one batch per input partition; return how many records were read."""
        if self.state != RUNNING:
            return 0
        total = 0
        log = self.log
        for partition in range(self.partitions):
            offset = log.committed(self.group, self.source_topic, partition) or 0
            batch = log.read_batch(self.source_topic, partition, offset, max_records)
            n = len(batch)
            if not n:
                continue
            # stateless queries: chunk_rows at a time; an aggregation sees the whole batch
            step = self.chunk_rows if self.processor is None else n
            outputs: dict[int, list[RecordBatch]] = {}
            for start in range(0, n, step):
                rows = self.decoder.decode_batch(batch if n <= step else batch.slice(start, start + step))
                if rows:
                    results = self.processor.process(rows) if self.processor is not None else self._process(rows)
                    if results:
                        for out_partition, out in self.encoder.encode_batches(results).items():
                            outputs.setdefault(out_partition, []).append(out)
            for out_partition, outs in outputs.items():
                log.append_batch(self.sink.topic, out_partition, RecordBatch.concat(outs))
            next_offset = batch.offsets[-1] + 1
            if self.processor is not None:
                self.processor.commit({partition: next_offset})
            log.commit(self.group, {(self.source_topic, partition): next_offset})
            total += len(batch)
        self.processed += total
        return total

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
