"""Aggregation at run time: grouping, windows, aggregate state, HAVING, and its changelog.

An `AggregateProcessor` takes decoded source rows and returns result rows for the
sink (the encoder's layout). State lives in a dict keyed by (group key, window
start, window end); every commit appends the changed entries plus the input
positions to the query's changelog topic in ONE append, so a restarted query
rebuilds exactly the state that matches the offsets it resumes from: no input is
lost or counted twice.

Semantics follow ksqlDB on Kafka Streams with caching off: every input record
emits the updated row of each window it lands in; a table source emits an undo
for the old row's group and then an add for the new one; HAVING turning false
emits a tombstone if the previous row passed; records later than the grace
period are dropped; EMIT FINAL emits each window once, when stream time closes it.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable

from ksql.engine.log import Log, Record, TopicConfig
from ksql.engine.schema import ROWPARTITION, ROWTIME
from ksql.parser import ast
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.analysis import RAW_HEADERS, RAW_NULL
from ksql.planner.expressions import compile_batch, compile_projection
from ksql.types import BOOLEAN

log = logging.getLogger("ksql.processing")

_CHECKPOINT = pickle.dumps(("C",))


def changelog_topic(service_id: str, query_id: str) -> str:
    """ksqlDB's name for an aggregation's state-store changelog topic."""
    return f"_confluent-ksql-{service_id}query_{query_id}-Aggregate-Aggregate-Materialize-changelog"


class AggregateProcessor:
    """Runs an AggregatePlan over batches of source rows."""

    def __init__(self, plan: AggregatePlan, on_error: Callable[[str], None], log_: Log, changelog: str,
                 query_id: str = "", changelog_partition: int = 0):
        self.plan = plan
        self.query_id = query_id
        self.log = log_
        self.changelog = changelog
        self.changelog_partition = changelog_partition  # distributed: the input partition it aggregates
        self.origins: dict[int, int] = {}  # repartitioned input: source partition -> last offset counted
        self.is_table = plan.source.kind == "TABLE"
        self.specs = [c.spec for c in plan.aggregates]
        self.k = len(plan.group_exprs)
        arg_exprs: list[ast.Expr] = []
        self.arg_slices: list[tuple[int, int]] = []
        for call in plan.aggregates:
            start = self.k + len(arg_exprs)
            arg_exprs.extend(call.args)
            self.arg_slices.append((start, start + len(call.args)))
        tail = [ast.ColumnRef(ROWTIME), ast.ColumnRef(ROWPARTITION), ast.ColumnRef(RAW_NULL),
                ast.ColumnRef(RAW_HEADERS)]
        n = self.k + len(arg_exprs)
        self.ts_i, self.part_i, self.null_i, self.headers_i = n, n + 1, n + 2, n + 3
        n += 1  # the slots after the tail start one further on
        projections = list(plan.group_exprs) + arg_exprs + tail
        if self.is_table:
            n_src_keys = len(plan.source.schema.key)
            projections += [ast.ColumnRef(c.name) for c in plan.source.schema.key]
            self.srckey_slice = (n + 3, n + 3 + n_src_keys)
            where = plan.where if plan.where is not None else ast.BooleanLiteral(True)
            projections.append(ast.Cast(where, BOOLEAN))
            self.pass_i = n + 3 + n_src_keys
            self.pre = compile_batch(None, projections, plan.scope, plan.registry, on_error)
        else:
            self.pre = compile_batch(plan.where, projections, plan.scope, plan.registry, on_error)
        having = plan.having if plan.having is not None else ast.BooleanLiteral(True)
        self.post = compile_projection(None, list(plan.key_exprs) + list(plan.value_exprs) + [having],
                                       plan.agg_scope, plan.registry, on_error)
        self.nk, self.nv = len(plan.key_exprs), len(plan.value_exprs)
        # per aggregate: add, undo, first argument slot, argument count (the hot loop's dispatch)
        self._ops = [(spec.add, spec.undo, lo, hi - lo)
                     for spec, (lo, hi) in zip(self.specs, self.arg_slices, strict=True)]
        self._results = [spec.result for spec in self.specs]
        self.window = plan.window
        # state: (group key, window start, window end) -> [accumulators, last emit passed HAVING]
        self.state: dict[tuple, list] = {}
        self.sessions: dict[tuple, list[tuple[int, int]]] = {}  # group key -> its session windows
        self.table_rows: dict[tuple, tuple] = {}  # table source: source key -> its last pre-row
        self.dirty: set[tuple] = set()
        self.dirty_rows: set[tuple] = set()
        self.stream_time: dict[int, int] = {}
        self.pending_final: dict[tuple, int] = {}  # EMIT FINAL: state key -> latest record timestamp
        self.materialized: dict[tuple, tuple] = {}  # state key -> (key values..., value values...)
        self._headers: list = []

    # -- processing -------------------------------------------------------------------------------

    def process(self, rows: list[tuple]) -> list[tuple]:
        out: list[tuple] = []
        for p in self.pre(rows):
            self._headers = p[self.headers_i]  # results carry the headers of the record causing them
            if not self.is_table:
                if not p[self.null_i]:
                    self._apply(p, True, p[self.ts_i], out)
                continue
            src_key = p[self.srckey_slice[0]:self.srckey_slice[1]]
            if any(v is None for v in src_key):
                continue
            old = self.table_rows.get(src_key)
            new = None if p[self.null_i] or not p[self.pass_i] else p
            if new is None:
                self.table_rows.pop(src_key, None)
            else:
                self.table_rows[src_key] = new
            self.dirty_rows.add(src_key)
            if old is not None and new is not None and old[:self.k] == new[:self.k] and self.window is None:
                # an update within one group is one change: undo and add, then a single output
                self._update((new[:self.k], None, None), [(old, False), (new, True)], p[self.ts_i],
                             p[self.part_i], out)
                continue
            if old is not None:
                self._apply(old, False, p[self.ts_i], out, partition=p[self.part_i])
            if new is not None:
                self._apply(new, True, p[self.ts_i], out)
        if self.window is not None and self.window.emit_final:
            self._emit_closed(out)
        return out

    def _apply(self, p: tuple, adding: bool, ts: int, out: list, partition: int | None = None) -> None:
        key = p[:self.k]
        if all(v is None for v in key) or (self.k == 1 and key[0] is None):
            return
        partition = p[self.part_i] if partition is None else partition
        window = self.window
        if window is None:
            self._update((key, None, None), [(p, adding)], ts, partition, out)
            return
        stream_time = max(self.stream_time.get(partition, ts), ts)
        self.stream_time[partition] = stream_time
        close = stream_time - window.grace_ms
        if window.kind == "SESSION":
            self._session(key, p, ts, partition, close, out)
            return
        size, advance = window.size_ms, window.advance_ms
        start = (max(0, ts - size + advance) // advance) * advance
        while start <= ts:
            end = start + size
            if end > close:
                self._update((key, start, end), [(p, adding)], ts, partition, out)
            else:
                log.info("%s: dropped a late record (timestamp %d) for window [%d, %d)", self.query_id, ts,
                         start, end)
            start += advance

    def _update(self, sk: tuple, changes: list[tuple[tuple, bool]], ts: int, partition: int, out: list) -> None:
        """Fold (pre-row, adding?) changes into one state entry, then emit it once."""
        entry = self.state.get(sk)
        if entry is None:
            entry = [[spec.init() for spec in self.specs], False]
            self.state[sk] = entry
        accs = entry[0]
        for p, adding in changes:
            j = 0
            for add, undo, lo, n in self._ops:
                fn = add if adding else undo
                if n == 1:
                    accs[j] = fn(accs[j], p[lo])
                elif n == 0:
                    accs[j] = fn(accs[j])
                else:
                    accs[j] = fn(accs[j], *p[lo:lo + n])
                j += 1
        self.dirty.add(sk)
        if self.window is not None and self.window.kind == "SESSION":
            ts = sk[2]  # a session's result carries the session's end as its timestamp
        elif self.window is not None:  # a time window's result carries its latest record's timestamp
            if len(entry) < 3:
                entry.append(ts)
            ts = entry[2] = max(entry[2], ts)
        if self.window is not None and self.window.emit_final:
            self.pending_final[sk] = max(ts, self.pending_final.get(sk, ts))
            return
        self._emit(sk, entry, ts, partition, out)

    def _session(self, key: tuple, p: tuple, ts: int, partition: int, close: int, out: list) -> None:
        window = self.window
        gap = window.size_ms
        windows = self.sessions.setdefault(key, [])
        horizon = close + window.grace_ms - window.retention_ms
        for w in [w for w in windows if w[1] < horizon]:  # sessions past retention are gone
            self._forget_session(key, w, partition, out)
        if ts + gap < close:
            log.info("%s: dropped a late record (timestamp %d) for a closed session", self.query_id, ts)
            return
        overlapping = [w for w in windows if w[1] >= ts - gap and w[0] <= ts + gap]
        start = min([ts] + [w[0] for w in overlapping])
        end = max([ts] + [w[1] for w in overlapping])
        accs = [spec.init() for spec in self.specs]
        for w in overlapping:
            old = self.state.pop((key, w[0], w[1]))
            windows.remove(w)
            self.dirty.add((key, w[0], w[1]))
            self.pending_final.pop((key, w[0], w[1]), None)
            accs = [spec.merge(a, b) for spec, a, b in zip(self.specs, accs, old[0], strict=True)]
            if old[1] and not window.emit_final:
                self._tombstone((key, w[0], w[1]), w[1], partition, out)
            self.materialized.pop((key, w[0], w[1]), None)
        windows.append((start, end))
        sk = (key, start, end)
        self.state[sk] = [accs, False]
        self._update(sk, [(p, True)], ts, partition, out)

    def _forget_session(self, key: tuple, w: tuple[int, int], partition: int, out: list) -> None:
        """Drop an expired session; under EMIT FINAL it is emitted first if it never was."""
        sk = (key, w[0], w[1])
        pending = self.pending_final.pop(sk, None)
        if pending is not None and sk in self.state:
            self._emit(sk, self.state[sk], pending, partition, out)
        self.state.pop(sk, None)
        self.sessions[key].remove(w)
        self.materialized.pop(sk, None)
        self.dirty.add(sk)

    def _aggregate_row(self, sk: tuple, accs: list) -> tuple:
        key, start, end = sk
        return (*key, *[result(a) for result, a in zip(self._results, accs, strict=True)], start, end)

    def _emit(self, sk: tuple, entry: list, ts: int, partition: int, out: list) -> None:
        row = self.post(self._aggregate_row(sk, entry[0]))
        if row is None:
            return
        if row[-1]:
            entry[1] = True
            self.materialized[sk] = row[:-1]
            out.append((*row[:-1], ts, self._headers, sk[1], sk[2], partition, False))
        elif entry[1]:
            entry[1] = False
            self.materialized.pop(sk, None)
            self._tombstone(sk, ts, partition, out)

    def _tombstone(self, sk: tuple, ts: int, partition: int, out: list) -> None:
        keys = self.post(self._aggregate_row(sk, self.state[sk][0]))[:self.nk] if sk in self.state else \
            self._key_values(sk)
        out.append((*keys, *([None] * self.nv), ts, [], sk[1], sk[2], partition, True))

    def _key_values(self, sk: tuple) -> tuple:
        """The output key of a state key whose state is gone (a merged-away session)."""
        row = self.post((*sk[0], *[spec.result(spec.init()) for spec in self.specs], sk[1], sk[2]))
        return row[:self.nk]

    def _emit_closed(self, out: list) -> None:
        """EMIT FINAL: emit each window that stream time has closed, once; expired windows are gone."""
        if self.window.kind != "SESSION":
            self._expire()
        grace = self.window.grace_ms
        for sk, ts in sorted(self.pending_final.items(), key=lambda item: (item[0][2], item[1])):
            partition_times = self.stream_time.values()
            if not partition_times or sk[2] + grace > max(partition_times):
                continue
            del self.pending_final[sk]
            self.dirty.add(sk)  # no longer pending: the changelog must say so, or a restore emits it again
            entry = self.state.get(sk)
            if entry is not None:
                self._emit(sk, entry, ts, 0, out)

    # -- state: changelog and restore -------------------------------------------------------------

    def commit(self, positions: dict[int, int]) -> None:
        """Append changed state and the input positions it corresponds to, in one atomic batch."""
        self._expire()
        records = [Record(pickle.dumps(("A", sk)), None if sk not in self.state else
                          pickle.dumps((self.state[sk], self.pending_final.get(sk))), 0, [])
                   for sk in self.dirty]
        records += [Record(pickle.dumps(("T", k)), None if k not in self.table_rows else
                           pickle.dumps(self.table_rows[k]), 0, []) for k in self.dirty_rows]
        checkpoint = {"positions": positions, "stream_time": self.stream_time, "origins": self.origins}
        records.append(Record(_CHECKPOINT, pickle.dumps(checkpoint), 0, []))
        self.log.append(self.changelog, self.changelog_partition, records)
        self.dirty.clear()
        self.dirty_rows.clear()

    def _expire(self) -> None:
        """Forget windows older than the retention period."""
        if self.window is None or not self.stream_time:
            return
        horizon = max(self.stream_time.values()) - self.window.retention_ms
        session = self.window.kind == "SESSION"
        for sk in [sk for sk in self.state if (sk[2] if session else sk[1]) < horizon]:
            del self.state[sk]
            self.pending_final.pop(sk, None)
            self.materialized.pop(sk, None)
            self.dirty.add(sk)
            if self.window.kind == "SESSION":
                self.sessions[sk[0]].remove((sk[1], sk[2]))

    def restore(self) -> dict[int, int] | None:
        """Rebuild state from the changelog; return the input positions to resume from.

        Entries count only once the checkpoint that closes their commit follows them: a
        commit cut short by a crash (possible where appends are not atomic, as on Kafka)
        leaves state ahead of the offsets, so its entries are ignored."""
        if not self.log.topic_exists(self.changelog):
            self.log.create_topic(self.changelog, TopicConfig(partitions=1))
            return None
        positions = None
        pending: list = []
        partition = self.changelog_partition
        offset = self.log.start_offset(self.changelog, partition)
        while True:
            batch = self.log.read(self.changelog, partition, offset, 10_000)
            if not batch:
                break
            for rec in batch:
                key = pickle.loads(rec.key)
                if key[0] != "C":
                    pending.append((key, rec.value))
                    continue
                for entry_key, value in pending:
                    self._restore_entry(entry_key, value)
                pending.clear()
                checkpoint = pickle.loads(rec.value)
                positions = checkpoint["positions"]
                self.stream_time = checkpoint["stream_time"]
                self.origins = checkpoint.get("origins", {})
            offset = batch[-1].offset + 1
        for sk, entry in self.state.items():
            if self.window is not None and self.window.kind == "SESSION":
                self.sessions.setdefault(sk[0], []).append((sk[1], sk[2]))
            if entry[1]:
                row = self.post(self._aggregate_row(sk, entry[0]))
                if row is not None:
                    self.materialized[sk] = row[:-1]
        return positions

    def _restore_entry(self, key: tuple, value: bytes | None) -> None:
        if key[0] == "A":
            sk = key[1]
            if value is None:
                self.state.pop(sk, None)
                self.pending_final.pop(sk, None)
            else:
                self.state[sk], pending = pickle.loads(value)
                if pending is not None:
                    self.pending_final[sk] = pending
                else:
                    self.pending_final.pop(sk, None)
        elif value is None:
            self.table_rows.pop(key[1], None)
        else:
            self.table_rows[key[1]] = pickle.loads(value)
