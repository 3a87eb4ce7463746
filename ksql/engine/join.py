"""Joins at run time: a left-deep chain of join steps fed by every source's records in timestamp order.

A *fragment* is a list with one entry per source: its decoded row, or None where
that source has not joined (yet). Each step joins the fragment built so far
with one more source and passes results up the chain; the last step's results
are projected with the compiled select list. Semantics follow ksqlDB:
- stream-stream: records join when their timestamps lie WITHIN the window; an
  outer side without a match is emitted padded with nulls at once (no GRACE
  PERIOD) or when the window closes (with GRACE PERIOD);
- stream-table: a stream record joins the table row current at that moment;
  table updates emit nothing;
- table-table: every change of either side emits the joined row for its key,
  or a tombstone when the join no longer produces one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ksql.engine.aggregate import AggregateProcessor, changelog_topic
from ksql.engine.codec import RecordDecoder, RecordEncoder
from ksql.engine.log import Log
from ksql.engine.metastore import DataSource
from ksql.engine.metrics import QueryMetrics
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.schema import WINDOWEND, WINDOWSTART
from ksql.parser import ast
from ksql.planner.expressions import compile_batch, compile_projection
from ksql.planner.join import JOIN_HEADERS, JOIN_TIME, JOIN_WINDOW, JoinPlan, JoinStep
from ksql.types import hashable

RUNNING, PAUSED, TERMINATED = "RUNNING", "PAUSED", "TERMINATED"
DEFAULT_JOIN_GRACE_MS = 24 * 3600 * 1000


@dataclass
class _Result:
    ts: int
    frag: list | None  # None: a tombstone for `key`
    key: object
    headers: list = field(default_factory=list)
    key_frag: list | None = None  # for a tombstone: rows the output key columns come from


def _hashable_key(key: object) -> object:
    """hashable() of a join key; a windowed key or a primary key (tuples) element by element."""
    return tuple(hashable(v) for v in key) if isinstance(key, tuple) else hashable(key)


class _Step:
    """State and logic of one join step."""

    def __init__(self, step: JoinStep, index: int, left_key, right_key, on_error):
        self.step = step
        self.index = index  # the right source's position in the fragment
        self.left_key, self.right_key = left_key, right_key
        self.on_error = on_error
        self.left_buf: dict = defaultdict(list)  # stream-stream: key -> [(ts, frag, matched)]
        self.right_buf: dict = defaultdict(list)
        self.left_tab: dict = {}  # table sides: key -> (ts, frag)
        self.right_tab: dict = {}
        self.emitted: set = set()  # table-table: keys whose last output was a row
        self.stream_time = -(2**63)  # stream-stream: the highest timestamp of either side
        self.left_time = self.right_time = -(2**63)  # ... and of each side, which its buffer keeps up with

    # -- stream-stream -----------------------------------------------------------------------------

    def stream_stream_left(self, ts: int, frag: list, key, headers, out: list) -> None:
        st = self.step
        entry = [ts, frag, False]
        hk = _hashable_key(key)
        for rts, row, rentry, _ in self.right_buf.get(hk, ()):
            if ts - st.within_before <= rts <= ts + st.within_after:
                entry[2] = True
                rentry[2] = True
                out.append(_Result(max(ts, rts), _merge(frag, self.index, row), key, headers))
        self.left_buf[hk].append(entry + [key])
        if not entry[2] and st.kind in ("LEFT", "FULL") and st.grace is None:
            out.append(_Result(ts, _merge(frag, self.index, None), key, headers))
        self.left_time = max(self.left_time, ts)
        self._advance(ts, out)

    def stream_stream_right(self, ts: int, row: tuple, key, headers, out: list) -> None:
        st = self.step
        entry = [ts, row, False]
        hk = _hashable_key(key)
        for lentry in self.left_buf.get(hk, ()):
            lts, frag = lentry[0], lentry[1]
            if ts - st.within_after <= lts <= ts + st.within_before:
                entry[2] = True
                lentry[2] = True
                out.append(_Result(max(ts, lts), _merge(frag, self.index, row), key, headers))
        self.right_buf[hk].append([ts, row, entry, key])
        if not entry[2] and st.kind in ("RIGHT", "FULL") and st.grace is None:
            out.append(_Result(ts, _merge(None, self.index, row), key, headers))
        self.right_time = max(self.right_time, ts)
        self._advance(ts, out)

    def _advance(self, ts: int, out: list) -> None:
        """Move stream time; emit outer results of closed windows (GRACE), forget expired records.

        Each side keeps its records for WITHIN plus GRACE of its own stream time, as Kafka Streams'
        window store of that side does: a record too late for its side is not kept, yet it joins what
        the other side still keeps, and a kept record joins after its outer result was emitted."""
        st = self.step
        self.stream_time = max(self.stream_time, ts)
        grace = st.grace if st.grace is not None else DEFAULT_JOIN_GRACE_MS
        retention = st.within_before + st.within_after + grace
        left_horizon, right_horizon = self.left_time - retention, self.right_time - retention
        for hk in list(self.left_buf):
            keep = []
            for entry in self.left_buf[hk]:
                lts, frag, matched, key = entry
                closed = self.stream_time > lts + st.within_after + grace
                if st.grace is not None and closed and not matched and st.kind in ("LEFT", "FULL"):
                    out.append(_Result(lts, _merge(frag, self.index, None), key, []))
                    entry[2] = True
                if lts >= left_horizon:
                    keep.append(entry)
            self.left_buf[hk] = keep
        for hk in list(self.right_buf):
            keep = []
            for item in self.right_buf[hk]:
                rts, row, entry, key = item
                closed = self.stream_time > rts + st.within_before + grace
                if st.grace is not None and closed and not entry[2] and st.kind in ("RIGHT", "FULL"):
                    out.append(_Result(rts, _merge(None, self.index, row), key, []))
                    entry[2] = True
                if rts >= right_horizon:
                    keep.append(item)
            self.right_buf[hk] = keep

    # -- stream-table ------------------------------------------------------------------------------

    def stream_table_left(self, ts: int, frag: list, key, headers, out: list) -> None:
        row = self.right_tab.get(_hashable_key(key))
        if row is not None:
            out.append(_Result(ts, _merge(frag, self.index, row[1]), key, headers))
        elif self.step.kind == "LEFT":
            out.append(_Result(ts, _merge(frag, self.index, None), key, headers))

    def table_right(self, ts: int, row: tuple | None, key) -> None:
        hk = _hashable_key(key)
        if row is None:
            self.right_tab.pop(hk, None)
        else:
            self.right_tab[hk] = (ts, row)

    # -- table-table -------------------------------------------------------------------------------

    def table_table_left(self, ts: int, frag: list | None, key, out: list) -> None:
        hk = _hashable_key(key)
        if frag is None:
            self.left_tab.pop(hk, None)
        else:
            self.left_tab[hk] = (ts, frag)
        self._table_emit(key, ts, out)

    def table_table_right(self, ts: int, row: tuple | None, key, out: list) -> None:
        self.table_right(ts, row, key)
        self._table_emit(key, ts, out)

    def _table_emit(self, key, ts: int, out: list) -> None:
        kind = self.step.kind
        hk = _hashable_key(key)
        left, right = self.left_tab.get(hk), self.right_tab.get(hk)
        produce = (left and right) if kind == "INNER" else left if kind == "LEFT" else \
            right if kind == "RIGHT" else (left or right)
        if produce:
            frag = left[1] if left else None
            merged = _merge(frag, self.index, right[1] if right else None)
            out_ts = max(left[0] if left else ts, right[0] if right else ts) if (left and right) else ts
            out.append(_Result(out_ts, merged, key))
            self.emitted.add(hk)
        elif hk in self.emitted:
            self.emitted.discard(hk)
            out.append(_Result(ts, None, key))


class _ForeignKeyStep(_Step):
    """A foreign-key table-table join: left rows keyed by their primary key, matched on a column."""

    def __init__(self, *args):
        super().__init__(*args)
        self.left_rows: dict = {}  # left identity -> (ts, frag, fk, identity)
        self.by_fk: dict = defaultdict(set)

    def fk_left(self, ts: int, frag: list | None, identity, key_frag: list, out: list) -> None:
        hid = _hashable_key(identity)
        old = self.left_rows.pop(hid, None)
        if old is not None:
            self.by_fk[_hashable_key(old[2])].discard(hid)
        if frag is None:
            self.emitted.discard(hid)
            out.append(_Result(ts, None, identity, key_frag=key_frag))
            return
        fk = self.left_key(frag)
        self.left_rows[hid] = (ts, frag, fk, identity)
        if fk is not None:
            self.by_fk[_hashable_key(fk)].add(hid)
        self._emit_left(hid, ts, out)

    def fk_right(self, ts: int, row: tuple | None, key, out: list) -> None:
        self.table_right(ts, row, key)
        for hid in sorted(self.by_fk.get(_hashable_key(key), ()), key=repr):
            self._emit_left(hid, ts, out)

    def _emit_left(self, hid, ts: int, out: list) -> None:
        _, frag, fk, identity = self.left_rows[hid]
        right = self.right_tab.get(_hashable_key(fk)) if fk is not None else None
        if right is not None or self.step.kind == "LEFT":
            self.emitted.add(hid)
            out.append(_Result(ts, _merge(frag, self.index, right[1] if right else None), identity))
        elif hid in self.emitted:
            self.emitted.discard(hid)
            out.append(_Result(ts, None, identity, key_frag=frag))


def _merge(frag: list | None, index: int, row) -> list:
    """The fragment extended with the source at `index` (None where a side is missing)."""
    merged = list(frag) if frag is not None else [None] * index
    while len(merged) < index:
        merged.append(None)
    merged.append(row)
    return merged


@dataclass
class JoinQuery:
    """A persistent query whose FROM joins several sources."""

    query_id: str
    sql: str
    plan: JoinPlan
    sink: DataSource
    log: Log
    earliest: bool = False
    throw_on_invalid_timestamp: bool = False  # ksql.timestamp.throw.on.invalid
    fail_on_deserialization_error: bool = False  # ksql.fail.on.deserialization.error
    state: str = RUNNING
    processed: int = 0
    errors: int = 0
    # an aggregation over the join: its state, restored from its changelog (the join's own state is
    # rebuilt by replaying the input)
    processor: AggregateProcessor | None = None
    service_id: str = "default_"
    query_prefix: str = "query_"  # ksql.persistent.prefix: part of the group name
    query_errors: list[dict] = field(default_factory=list)  # recent failures (EXPLAIN's queryErrors)
    processing_log: ProcessingLog | None = None  # the engine's, where skipped records are reported

    def __post_init__(self) -> None:
        self.group = f"_confluent-ksql-{self.service_id}{self.query_prefix}{self.query_id}"
        self.changelog = changelog_topic(self.service_id, self.query_id, self.query_prefix)
        self.metrics = QueryMetrics()
        self.reporter = (self.processing_log or ProcessingLog()).scoped()  # counts this query's failures
        sink_partitions = self.log.topic_config(self.sink.topic).partitions
        self.encoder = RecordEncoder(self.sink, sink_partitions, self.query_id, reporter=self.reporter)
        self._build()  # an aggregation orders its EMIT FINAL windows by the encoder's key bytes
        self._restore()
        start = {}
        for leaf, _, partitions, group in self.inputs:
            for p in range(partitions):
                if self.log.committed(group, leaf.source.topic, p) is None:
                    start.setdefault(group, {})[(leaf.source.topic, p)] = (
                        self.log.start_offset(leaf.source.topic, p) if self.earliest
                        else self.log.end_offset(leaf.source.topic, p))
        for group, offsets in start.items():
            self.log.commit(group, offsets)

    def _build(self) -> None:
        """Decoders, join steps and compiled stages: everything but where input and output go."""
        plan = self.plan
        self.source_topic = plan.source.topic
        self.inputs = []
        for i, leaf in enumerate(plan.leaves):
            partitions = self.log.topic_config(leaf.source.topic).partitions
            decoder = RecordDecoder(leaf.source, self.query_id, self.throw_on_invalid_timestamp, self.reporter,
                                    self.fail_on_deserialization_error)
            self.inputs.append((leaf, decoder, partitions, f"{self.group}-{i}"))
        self.width = len(plan.scope.columns)
        self.null_rows = [(None,) * leaf.width for leaf in plan.leaves]
        self.window = plan.source.window  # the joined sources' windowing (their keys')
        # per source: where its decoded row holds WINDOWSTART and WINDOWEND (windowed joins)
        self.window_slots = [(plan.scope.resolve(ast.ColumnRef(WINDOWSTART, leaf.alias)).index - leaf.offset,
                              plan.scope.resolve(ast.ColumnRef(WINDOWEND, leaf.alias)).index - leaf.offset)
                             for leaf in plan.leaves] if self.window is not None else []
        self.steps = []
        for n, step in enumerate(plan.steps, start=1):
            left = self._key_function(step.left_key)
            right = self._key_function(step.right_key)
            cls = _ForeignKeyStep if step.shape == "fk" else _Step
            self.steps.append(cls(step, n, left, right, self._on_error))
        # every input partition's slot in an aggregation's checkpoint
        self.slots = [(group, leaf.source.topic, p) for leaf, _, partitions, group in self.inputs
                      for p in range(partitions)]
        if plan.aggregate is not None:
            self.processor = AggregateProcessor(plan.aggregate, self._on_error, self.log, self.changelog,
                                                self.query_id, key_bytes=self._sink_key_bytes())
            return
        hidden = [ast.ColumnRef(JOIN_TIME), ast.ColumnRef(JOIN_HEADERS),
                  ast.ColumnRef(JOIN_WINDOW[0]), ast.ColumnRef(JOIN_WINDOW[1])]
        self.stage = compile_batch(plan.where, list(plan.key_exprs) + list(plan.value_exprs) + hidden,
                                   plan.scope, plan.registry, self._on_error)
        self.key_stage = compile_batch(None, list(plan.key_exprs), plan.scope, plan.registry, self._on_error)
        self.nk, self.nv = len(plan.key_exprs), len(plan.value_exprs)

    def _restore(self) -> None:
        """A restarted join rebuilds its state by replaying what it had already consumed, silently; an
        aggregation over it restores its state from its changelog first, and the input positions that
        state stands at are where the join resumes."""
        if self.processor is not None:
            resumed = any(self.log.committed(*slot) is not None for slot in self.slots)
            positions = self.processor.restore(resumed)
            if positions is not None:
                offsets: dict[str, dict] = {}
                for slot, offset in positions.items():
                    group, topic, partition = self.slots[slot]
                    offsets.setdefault(group, {})[(topic, partition)] = min(offset,
                                                                            self.log.end_offset(topic, partition))
                for group, group_offsets in offsets.items():
                    self.log.commit(group, group_offsets)
        arrivals = []
        for index, (leaf, decoder, partitions, group) in enumerate(self.inputs):
            for p in range(partitions):
                end = self.log.committed(group, leaf.source.topic, p)
                offset = self.log.start_offset(leaf.source.topic, p)
                while end is not None and offset < end:
                    records = [r for r in self.log.read(leaf.source.topic, p, offset, 10_000) if r.offset < end]
                    if not records:
                        break
                    offset = records[-1].offset + 1
                    for row in decoder.decode(records):
                        arrivals.append((row[len(leaf.source.schema.columns)], index, row))
        arrivals.sort(key=lambda a: a[0])
        for ts, index, row in arrivals:
            self._arrive(index, ts, row, [])

    def _sink_key_bytes(self) -> Callable[[list], bytes | None] | None:
        """How the sink serializes a key (what EMIT FINAL orders closing windows by)."""
        return self.encoder.key_serde.serialize

    def _on_error(self, message: str) -> None:
        self.errors += 1
        self.reporter.record_processing_error(self.query_id, message)

    def recover(self) -> None:
        """Rebuild the join's state after a failed poll, as a restart does: fresh steps, then a
        silent replay of the input up to the committed offsets."""
        self._build()
        self._restore()

    def _flat(self, frag: list, key=None, ts=None, headers=None, deleted: bool = False) -> tuple:
        """The joined row of a fragment (nulls for missing sources), then key, timestamp, headers, window
        and whether it is a deletion."""
        out: list = []
        for i, nulls in enumerate(self.null_rows):
            row = frag[i] if i < len(frag) else None
            out.extend(row if row is not None else nulls)
        window = self._window_of(frag)
        if self.window is not None and key is not None:
            if window == (None, None):  # a deletion: no source row, the key's window
                window = self._key_window(key)
            key = key[0]  # (value, window start, session end)
        out.append(key)
        out.append(ts)
        out.append(headers)
        out.extend(window)
        out.append(deleted)
        return tuple(out)

    def _window_of(self, frag: list) -> tuple:
        """A windowed join's result lies in the window of its first source present (the key's window)."""
        for i, (start, end) in enumerate(self.window_slots):
            row = frag[i] if i < len(frag) else None
            if row is not None:
                return row[start], row[end]
        return None, None

    def _key_function(self, expr: ast.Expr):
        """frag -> key value: a direct slot read for a plain column, else the compiled expression.

        On windowed sources (joined on their key columns) the key is (value, window start, session
        end): time windows match on their start, session windows on both bounds, as ksqlDB's
        windowed key serdes compare them."""
        plan = self.plan
        if isinstance(expr, ast.ColumnRef):
            col = plan.scope.resolve(expr)
            for i, leaf in enumerate(plan.leaves):
                if leaf.offset <= col.index < leaf.offset + leaf.width:
                    leaf_index, slot = i, col.index - leaf.offset
                    if self.window is not None:
                        start, end = self.window_slots[i]
                        session = self.window.kind == "SESSION"

                        def read_windowed(frag, i=leaf_index, slot=slot, start=start, end=end, session=session):
                            row = frag[i] if i < len(frag) else None
                            if row is None or row[slot] is None:
                                return None
                            return row[slot], row[start], (row[end] if session else None)
                        return read_windowed

                    def read(frag, i=leaf_index, slot=slot):
                        row = frag[i] if i < len(frag) else None
                        return None if row is None else row[slot]
                    return read
        fn = compile_projection(None, [expr], plan.scope, plan.registry, self._on_error)

        def evaluate(frag):
            result = fn(self._flat(frag))
            return None if result is None else result[0]
        return evaluate

    @staticmethod
    def _key(fn, frag: list):
        return fn(frag)

    def poll(self, max_records: int = 5000) -> int:
        if self.state != RUNNING:
            return 0
        started = time.perf_counter()
        arrivals, commits = self._read(max_records)
        if not commits:
            return 0
        out_rows = self._join(arrivals)
        if out_rows:
            for partition, batch in self.encoder.encode(out_rows).items():
                self.log.append(self.sink.topic, partition, batch)
                self.metrics.wrote(len(batch), sum(len(r.key or b"") + len(r.value or b"") for r in batch))
        if self.processor is not None:  # the state and the positions it stands at, in one append
            read = {(group, topic, p): offset for group, offsets in commits for (topic, p), offset in offsets.items()}
            self.processor.commit({i: read.get(slot, self._position(*slot)) for i, slot in enumerate(self.slots)})
        for group, offsets in commits:
            self.log.commit(group, offsets)
        self.processed += len(arrivals)
        self.metrics.polled(time.perf_counter() - started)
        return len(arrivals)

    def _position(self, group: str, topic: str, partition: int) -> int:
        """Where `group` reads `topic`'s partition next."""
        return self.log.committed(group, topic, partition) or 0

    def _read(self, max_records: int) -> tuple[list[tuple], list[tuple[str, dict]]]:
        """Up to max_records per input partition, in timestamp order: (arrivals, offsets to commit)."""
        arrivals = []
        commits: list[tuple[str, dict]] = []
        for index, (leaf, decoder, partitions, group) in enumerate(self.inputs):
            offsets = {}
            for p in range(partitions):
                offset = self._position(group, leaf.source.topic, p)
                records = self.log.read(leaf.source.topic, p, offset, max_records)
                if not records:
                    continue
                self.metrics.read(len(records), sum(len(r.key or b"") + len(r.value or b"") for r in records))
                for row in decoder.decode(records):
                    arrivals.append((row[len(leaf.source.schema.columns)], index, row))
                offsets[(leaf.source.topic, p)] = records[-1].offset + 1
            if offsets:
                commits.append((group, offsets))
        arrivals.sort(key=lambda a: a[0])
        return arrivals, commits

    def _join(self, arrivals: list[tuple]) -> list[tuple]:
        """Run arrivals through the chain: result rows (keys, values, rowtime, headers, window start,
        window end, partition, value-is-null) in the order the join produced them."""
        results: list[_Result] = []
        for ts, index, row in arrivals:
            self._arrive(index, ts, row, results)
        if self.processor is not None:
            joined = [self._flat(res.frag if res.frag is not None else res.key_frag or [], res.key, res.ts,
                                 res.headers, res.frag is None) for res in results]
            return self.processor.process(joined) if joined else []
        out_rows = []
        rows: list[tuple] = []
        for res in results:
            if res.frag is None:
                if rows:
                    out_rows += [(*p, 0, False) for p in self.stage(rows)]
                    rows = []
                out_rows.append(self._tombstone(res))
            else:
                rows.append(self._flat(res.frag, res.key, res.ts, res.headers))
        if rows:
            out_rows += [(*p, 0, False) for p in self.stage(rows)]
        return out_rows

    def _tombstone(self, res: _Result) -> tuple:
        """The result row of a deletion: its key (and window, on windowed sources), null values."""
        keys = self.key_stage([self._flat(res.key_frag or [], res.key)])
        return (*keys[0], *([None] * self.nv), res.ts, [], *self._key_window(res.key), 0, True)

    def _key_window(self, key) -> tuple:
        """(start, end) of a windowed join key, (None, None) for an unwindowed one: a time window's end
        is its start plus the result's window size, a session key carries both bounds."""
        if self.window is None:
            return None, None
        _, start, session_end = key
        return start, session_end if self.window.kind == "SESSION" else start + self.window.size_ms

    def _arrive(self, index: int, ts: int, row: tuple, out: list) -> None:
        """One source record enters the chain."""
        leaf = self.plan.leaves[index]
        headers = row[-2]
        is_delete = row[-1]
        if index == 0:
            frag = [row]
            if self.plan.steps[0].shape == "fk":
                identity = tuple(row[:len(leaf.source.schema.key)])
                if all(v is None for v in identity):
                    return
                results: list[_Result] = []
                self.steps[0].fk_left(ts, None if is_delete else frag, identity, frag, results)
                self._propagate(1, results, out)
                return
            if leaf.source.kind == "TABLE":
                key = self._key(self.steps[0].left_key, frag)
                if key is not None:
                    self._table_left(0, ts, None if is_delete else frag, key, out)
            elif not is_delete:
                self._stream_left(0, ts, frag, headers, out)
            return
        step = self.steps[index - 1]
        key = self._key(step.right_key, [None] * index + [row])
        if key is None:
            return
        shape = step.step.shape
        results: list[_Result] = []
        if shape == "stream-stream":
            if not is_delete:
                step.stream_stream_right(ts, row, key, headers, results)
        elif shape == "stream-table":
            step.table_right(ts, None if is_delete else row, key)
        elif shape == "fk":
            step.fk_right(ts, None if is_delete else row, key, results)
        else:
            step.table_table_right(ts, None if is_delete else row, key, results)
        self._propagate(index, results, out)

    def _stream_left(self, step_pos: int, ts: int, frag: list, headers, out: list, key=None) -> None:
        """A stream record (or an earlier join's result, keyed `key` when the step joins on it) enters
        step `step_pos` as its left side."""
        step = self.steps[step_pos]
        if key is None:
            key = self._key(step.left_key, frag)
        if key is None:
            return
        results: list[_Result] = []
        if step.step.shape == "stream-stream":
            step.stream_stream_left(ts, frag, key, headers, results)
        else:
            step.stream_table_left(ts, frag, key, headers, results)
        self._propagate(step_pos + 1, results, out)

    def _table_left(self, step_pos: int, ts: int, frag: list | None, key, out: list) -> None:
        step = self.steps[step_pos]
        results: list[_Result] = []
        step.table_table_left(ts, frag, key, results)
        self._propagate(step_pos + 1, results, out)

    def _propagate(self, step_pos: int, results: list[_Result], out: list) -> None:
        """Feed a step's results to the next step (as its left side), or out of the chain."""
        for res in results:
            if step_pos == len(self.steps):
                out.append(res)
                continue
            on_result_key = self.steps[step_pos].step.on_result_key
            if self.steps[step_pos - 1].step.result_kind == "TABLE":
                basis = res.frag if res.frag is not None else res.key_frag
                key = self._key(self.steps[step_pos].left_key, basis) if basis and not on_result_key else res.key
                if key is not None:
                    self._table_left(step_pos, res.ts, res.frag, key, out)
            else:
                self._stream_left(step_pos, res.ts, res.frag, res.headers, out, res.key if on_result_key else None)

    def terminate(self, drop_state: bool = True) -> None:
        """Stop for good; when dropping state, an aggregation's changelog goes too."""
        self.state = TERMINATED
        if drop_state and self.processor is not None and self.log.topic_exists(self.changelog):
            self.log.delete_topic(self.changelog)

    def lag(self) -> int:
        behind = 0
        for leaf, _, partitions, group in self.inputs:
            for p in range(partitions):
                committed = self.log.committed(group, leaf.source.topic, p) or 0
                behind += self.log.end_offset(leaf.source.topic, p) - committed
        return behind



class TransientJoin(JoinQuery):
    """The join of a push query: JoinQuery's chain without a sink, returning its result rows.

    Its read positions and join state live in this object only: it commits no consumer-group
    offsets and creates no topic, so nothing is left behind when the push query ends. Rows are
    (select-list values..., rowtime, headers, window start, window end, partition, is-deletion).
    """

    def __init__(self, query_id: str, plan: JoinPlan, log: Log, earliest: bool) -> None:
        self.query_id, self.sql, self.plan, self.log, self.earliest = query_id, "", plan, log, earliest
        self.state, self.processed, self.errors = RUNNING, 0, 0
        self.group = query_id
        self.changelog = ""  # an aggregation over the join keeps its state in memory only
        self.processor = None
        self.metrics = QueryMetrics()
        self.reporter = ProcessingLog().scoped()
        self._build()
        self.tombstone_stage = compile_batch(None, list(plan.tombstone_exprs), plan.scope, plan.registry,
                                             self._on_error)
        self.positions: dict[tuple[str, str, int], int] = {}
        for leaf, _, partitions, group in self.inputs:
            topic = leaf.source.topic
            for p in range(partitions):
                self.positions[(group, topic, p)] = (log.start_offset(topic, p) if earliest
                                                     else log.end_offset(topic, p))

    def _sink_key_bytes(self) -> None:
        """No sink: EMIT FINAL orders the windows closing together by their latest record's time."""
        return None

    def _position(self, group: str, topic: str, partition: int) -> int:
        return self.positions[(group, topic, partition)]

    def poll_rows(self, max_records: int) -> tuple[int, list[tuple]]:
        """Read up to max_records per input partition: (records read, result rows)."""
        arrivals, reads = self._read(max_records)
        for group, offsets in reads:
            for (topic, partition), offset in offsets.items():
                self.positions[(group, topic, partition)] = offset
        self.processed += len(arrivals)
        return len(arrivals), self._join(arrivals)

    def _tombstone(self, res: _Result) -> tuple:
        values = self.tombstone_stage([self._flat(res.key_frag or [], res.key)])
        return (*values[0], res.ts, [], *self._key_window(res.key), 0, True)
