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

The changelog's records are written in ksql.engine.state_codec's format. Anyone
who can produce to the topic can put other records there, so a restore refuses
(and writes to the processing log) every record that is not in that format or
not of this query's shape; since this processor's own records always are, the
state rebuilt from the rest is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ksql.engine.log import COMPACTED_SEGMENT_BYTES, Log, LogError, Record, RecordBatch, TopicConfig
from ksql.engine.state_codec import StateFormatError, decode, encode, tag, untag
from ksql.errors import KsqlError
from ksql.functions.aggregates import AggregateSpec, UserAggregateError
from ksql.parser import ast
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.expressions import ExpressionTyper, compile_batch, compile_projection
from ksql.types import BOOLEAN, hashable, is_nested, thaw

log = logging.getLogger("ksql.processing")

_CHECKPOINT = encode(["C"])


class ChangelogError(KsqlError):
    """The changelog could not be read at all: the query cannot know its state."""


class SuppressBufferFullError(KsqlError):
    """EMIT FINAL's windows waiting to close take more than ksql.suppress.buffer.size.bytes: the query
    fails (and is retried, as ksqlDB restarts a query whose suppress buffer shut it down)."""


def changelog_config() -> TopicConfig:
    """A state changelog is compacted, as Kafka Streams' are: restart time grows with state, not history."""
    return TopicConfig(partitions=1, cleanup_policy="compact", segment_bytes=COMPACTED_SEGMENT_BYTES)


def changelog_topic(service_id: str, query_id: str, prefix: str = "query_") -> str:
    """ksqlDB's name for an aggregation's state-store changelog topic (`prefix`: ksql.persistent.prefix)."""
    return f"_confluent-ksql-{service_id}{prefix}{query_id}-Aggregate-Aggregate-Materialize-changelog"


class AggregateProcessor:
    """Runs an AggregatePlan over batches of source rows."""

    def __init__(self, plan: AggregatePlan, on_error: Callable[[str], None], log_: Log, changelog: str,
                 query_id: str = "", changelog_partition: int = 0,
                 key_bytes: Callable[[list], bytes | None] | None = None):
        """`key_bytes` serializes an output key as the sink writes it: EMIT FINAL orders the windows
        closing together by those bytes, as Kafka Streams' suppress buffer does."""
        self.plan = plan
        self.key_bytes = key_bytes
        self.on_error = on_error
        self.query_id = query_id
        self.log = log_
        self.changelog = changelog
        self.changelog_partition = changelog_partition  # distributed: the input partition it aggregates
        self.origins: dict[int, int] = {}  # repartitioned input: source partition -> last offset counted
        shape = plan.input
        self.is_table = shape.kind == "TABLE"
        self.specs = [c.spec for c in plan.aggregates]
        self.k = len(plan.group_exprs)
        arg_exprs: list[ast.Expr] = []
        self.arg_slices: list[tuple[int, int]] = []
        for call in plan.aggregates:
            start = self.k + len(arg_exprs)
            arg_exprs.extend(call.args)
            self.arg_slices.append((start, start + len(call.args)))
        tail = [shape.rowtime, shape.partition, shape.is_null, shape.headers]
        n = self.k + len(arg_exprs)
        self.ts_i, self.part_i, self.null_i, self.headers_i = n, n + 1, n + 2, n + 3
        n += 1  # the slots after the tail start one further on
        projections = list(plan.group_exprs) + arg_exprs + tail
        if self.is_table:
            n_src_keys = len(shape.key_exprs)
            projections += list(shape.key_exprs)
            self.srckey_slice = (n + 3, n + 3 + n_src_keys)
            where = plan.where if plan.where is not None else ast.BooleanLiteral(True)
            projections.append(ast.Cast(where, BOOLEAN))
            self.pass_i = n + 3 + n_src_keys
            self.row_width = self.pass_i + 1
            self.pre = compile_batch(None, projections, plan.scope, plan.registry, on_error)
        else:
            self.pre = compile_batch(plan.where, projections, plan.scope, plan.registry, on_error)
        having = plan.having if plan.having is not None else ast.BooleanLiteral(True)
        self.post = compile_projection(None, list(plan.key_exprs) + list(plan.value_exprs) + [having],
                                       plan.agg_scope, plan.registry, on_error)
        self.nk, self.nv = len(plan.key_exprs), len(plan.value_exprs)
        # ARRAY and STRUCT group keys (and source table keys) are kept frozen by `hashable` in the
        # state's dict keys, and thawed back to lists and dicts for results
        self.group_types = [c.type for c in plan.agg_scope.columns[:self.k]]
        self.freeze_groups = any(map(is_nested, self.group_types))
        key_typer = ExpressionTyper(plan.scope, plan.registry)
        self.freeze_source_keys = self.is_table and any(is_nested(key_typer.type_of(e)) for e in shape.key_exprs)
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
        if not self.is_table and self.window is None:
            self._process_unwindowed_stream(self.pre(rows), out)
            return out
        for p in self.pre(rows):
            self._headers = p[self.headers_i]  # results carry the headers of the record causing them
            if not self.is_table:
                if not p[self.null_i]:
                    self._apply(p, True, p[self.ts_i], out)
                continue
            src_key = p[self.srckey_slice[0]:self.srckey_slice[1]]
            if any(v is None for v in src_key):
                continue
            if self.freeze_source_keys:
                src_key = tuple(map(hashable, src_key))
            old = self.table_rows.get(src_key)
            new = None if p[self.null_i] or not p[self.pass_i] else p
            if new is None:
                self.table_rows.pop(src_key, None)
            else:
                self.table_rows[src_key] = new
            self.dirty_rows.add(src_key)
            if old is not None and new is not None and old[:self.k] == new[:self.k] and self.window is None:
                # an update within one group is one change: undo and add, then a single output
                self._update((self._group_key(new), None, None), [(old, False), (new, True)], p[self.ts_i],
                             p[self.part_i], out)
                continue
            if old is not None:
                self._apply(old, False, p[self.ts_i], out, partition=p[self.part_i])
            if new is not None:
                self._apply(new, True, p[self.ts_i], out)
        if self.window is not None and self.window.emit_final:
            self._emit_closed(out)
            if self.window.suppress_buffer_bytes >= 0:
                self._check_suppress_buffer(self.window.suppress_buffer_bytes)
        return out

    def _check_suppress_buffer(self, limit: int) -> None:
        """Fail when the windows still waiting to close take more than `limit` bytes, counted as their
        changelog records (key and value), as Kafka Streams counts its buffer's serialized records. Costs
        a pass over the waiting windows per batch, only when a limit is set."""
        size = sum(len(self._state_key(sk)) + len(self._encode_entry(self.state[sk], ts))
                   for sk, ts in self.pending_final.items() if sk in self.state)
        if size > limit:
            raise SuppressBufferFullError(
                f"Suppress buffer exceeded its max capacity. Currently [{len(self.pending_final)}/"
                f"9223372036854775807] records and [{size}/{limit}] bytes. Raise ksql.suppress.buffer.size.bytes "
                "(a negative size is unbounded).")

    @staticmethod
    def _state_key(sk: tuple) -> bytes:
        """A window's key in the changelog."""
        return encode(["A", [tag(v) for v in sk[0]], sk[1], sk[2]])

    def _process_unwindowed_stream(self, pre_rows: list[tuple], out: list) -> None:
        """process() of a stream without a window (the usual GROUP BY): _apply and _update inlined,
        since their calls and window checks per record were most of its time."""
        state, dirty, ops, k, freeze = self.state, self.dirty, self._ops, self.k, self.freeze_groups
        null_i, ts_i, part_i, headers_i = self.null_i, self.ts_i, self.part_i, self.headers_i
        for p in pre_rows:
            if p[null_i]:
                continue
            key = tuple(map(hashable, p[:k])) if freeze else p[:k]
            if key[0] is None if k == 1 else all(v is None for v in key):
                continue
            sk = (key, None, None)
            entry = state.get(sk)
            if entry is None:
                accs = self._initial()
                if accs is None:
                    continue
                entry = state[sk] = [accs, False]
            accs = entry[0]
            j = 0
            for add, _, lo, n in ops:
                try:
                    if n == 1:
                        accs[j] = add(accs[j], p[lo])
                    elif n == 0:
                        accs[j] = add(accs[j])
                    else:
                        accs[j] = add(accs[j], *p[lo:lo + n])
                except UserAggregateError as err:  # the record leaves this aggregate's state as it was
                    self.on_error(str(err))
                j += 1
            dirty.add(sk)
            self._headers = p[headers_i]  # results carry the headers of the record causing them
            self._emit(sk, entry, p[ts_i], p[part_i], out)

    def _group_key(self, p: tuple) -> tuple:
        """The group key of a pre-row, as the state's dict keys hold it."""
        return tuple(map(hashable, p[:self.k])) if self.freeze_groups else p[:self.k]

    def _key_columns(self, key: tuple) -> tuple:
        """The group key's values as results carry them (the inverse of _group_key)."""
        return tuple(map(thaw, key, self.group_types)) if self.freeze_groups else key

    def _apply(self, p: tuple, adding: bool, ts: int, out: list, partition: int | None = None) -> None:
        key = self._group_key(p)
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
            accs = self._initial()
            if accs is None:
                return
            entry = [accs, False]
            self.state[sk] = entry
        accs = entry[0]
        for p, adding in changes:
            j = 0
            for add, undo, lo, n in self._ops:
                fn = add if adding else undo
                try:
                    if n == 1:
                        accs[j] = fn(accs[j], p[lo])
                    elif n == 0:
                        accs[j] = fn(accs[j])
                    else:
                        accs[j] = fn(accs[j], *p[lo:lo + n])
                except UserAggregateError as err:  # the record leaves this aggregate's state as it was
                    self.on_error(str(err))
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
        accs = self._initial()
        if accs is None:
            return
        for w in overlapping:
            old = self.state.pop((key, w[0], w[1]))
            windows.remove(w)
            self.dirty.add((key, w[0], w[1]))
            self.pending_final.pop((key, w[0], w[1]), None)
            accs = [self._merge(spec, a, b) for spec, a, b in zip(self.specs, accs, old[0], strict=True)]
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

    def _initial(self) -> list | None:
        """Every aggregate's initial state, or None (the record is skipped) when a user aggregate's fails."""
        try:
            return [spec.init() for spec in self.specs]
        except UserAggregateError as err:
            self.on_error(str(err))
            return None

    def _merge(self, spec: AggregateSpec, a: Any, b: Any) -> Any:
        try:
            return spec.merge(a, b)
        except UserAggregateError as err:  # the merged session keeps the newer state
            self.on_error(str(err))
            return a

    def _result(self, result: Callable[[Any], Any], acc: Any) -> Any:
        try:
            return result(acc)
        except UserAggregateError as err:  # the column is null in this output row
            self.on_error(str(err))
            return None

    def _aggregate_row(self, sk: tuple, accs: list) -> tuple:
        key, start, end = sk
        return (*self._key_columns(key), *[self._result(result, a) for result, a in zip(self._results, accs,
                                                                                       strict=True)], start, end)

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
        accs = self._initial()
        results = [None] * len(self.specs) if accs is None else \
            [self._result(spec.result, acc) for spec, acc in zip(self.specs, accs, strict=True)]
        row = self.post((*self._key_columns(sk[0]), *results, sk[1], sk[2]))
        return row[:self.nk]

    def _emit_closed(self, out: list) -> None:
        """EMIT FINAL: emit each window that stream time has closed, once; expired windows are gone."""
        if self.window.kind != "SESSION":
            self._expire()  # as in ksqlDB, a window stream time has passed its retention is not emitted
        if self.stream_time:
            now, grace = max(self.stream_time.values()), self.window.grace_ms
            closed = [(sk, ts) for sk, ts in self.pending_final.items() if sk[2] + grace <= now]
            for sk, ts in sorted(closed, key=self._suppress_order):
                del self.pending_final[sk]
                self.dirty.add(sk)  # no longer pending: the changelog must say so, or a restore emits it again
                entry = self.state.get(sk)
                if entry is not None:
                    self._emit(sk, entry, ts, 0, out)

    def _suppress_order(self, item: tuple[tuple, int]) -> tuple:
        """Kafka Streams' suppress buffer order: window end, then the serialized key (unsigned bytes),
        then window start; by the latest record's time where the key's bytes are not known."""
        sk, ts = item
        if self.key_bytes is None or sk not in self.state:
            return sk[2], b"", ts, sk[1]
        row = self.post(self._aggregate_row(sk, self.state[sk][0]))
        try:
            data = b"" if row is None else self.key_bytes(list(row[:self.nk])) or b""
        except (KsqlError, ValueError, TypeError, OverflowError):  # the sink reports it when it writes
            data = b""
        return sk[2], data, ts, sk[1]

    # -- state: handing it to another process ------------------------------------------------------

    _HELD = ("state", "sessions", "table_rows", "stream_time", "pending_final", "materialized", "origins")

    def held_state(self) -> dict[str, Any]:
        """The state as plain data (right after a restore or a commit: nothing is dirty), so another
        process can go on from it (put_state)."""
        return {name: getattr(self, name) for name in self._HELD}

    def put_state(self, held: dict[str, Any]) -> None:
        """Go on from `held` (held_state() of another processor of the same plan)."""
        for name in self._HELD:
            setattr(self, name, held[name])

    def drop_state(self) -> None:
        """Forget the state (another process computes from it now; a restore brings it back)."""
        self.put_state({name: type(getattr(self, name))() for name in self._HELD})

    # -- state: changelog and restore -------------------------------------------------------------

    def commit(self, positions: dict[int, int]) -> None:
        """Append changed state and the input positions it corresponds to, in one atomic batch (sent:
        the query waits for it with the rest of its round, before it commits its input offsets)."""
        self._expire()
        state, pending_final, table_rows = self.state, self.pending_final, self.table_rows
        records = [Record(self._state_key(sk),
                          None if sk not in state else self._encode_entry(state[sk], pending_final.get(sk)),
                          0, []) for sk in self.dirty]
        records += [Record(encode(["T", [tag(v) for v in k]]),
                           None if k not in table_rows else encode([tag(v) for v in table_rows[k]]), 0, [])
                    for k in self.dirty_rows]
        checkpoint = [list(positions.items()), list(self.stream_time.items()), list(self.origins.items())]
        records.append(Record(_CHECKPOINT, encode(checkpoint), 0, []))
        self.log.send_batch(self.changelog, self.changelog_partition, RecordBatch.of(records))
        self.dirty.clear()
        self.dirty_rows.clear()

    @staticmethod
    def _encode_entry(entry: list, pending: int | None) -> bytes:
        """[accumulators, last emit passed HAVING, latest record timestamp or null, EMIT FINAL's pending]."""
        return encode([[tag(acc) for acc in entry[0]], entry[1], entry[2] if len(entry) > 2 else None, pending])

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

    def restore(self, resumed: bool = False) -> dict[int, int] | None:
        """Rebuild state from the changelog; return the input positions to resume from.

        Entries count only once the checkpoint that closes their commit follows them: a
        commit cut short by a crash (possible where appends are not atomic, as on Kafka)
        leaves state ahead of the offsets, so its entries are ignored. Records this
        processor did not write are refused and logged. Raises ChangelogError when the
        changelog cannot be read, or when the query has consumed input (`resumed`) and
        the changelog has records but not one readable checkpoint (a changelog of another
        format): going on would count from a state that is not the one it had."""
        if not self.log.topic_exists(self.changelog):
            self.log.create_topic(self.changelog, changelog_config())
            return None
        positions = None
        pending: list[tuple[str, Any, Any]] = []
        refused = 0
        partition = self.changelog_partition
        offset = self.log.start_offset(self.changelog, partition)
        while True:
            try:
                batch = self.log.read(self.changelog, partition, offset, 10_000)
            except LogError as err:
                raise ChangelogError(f"cannot restore the state of {self.query_id or 'the query'} from its "
                                     f"changelog {self.changelog} (partition {partition}, offset {offset}): "
                                     f"{err}") from None
            if not batch:
                break
            for rec in batch:
                try:
                    kind, item = self._decode_key(rec.key)
                    value = self._decode_value(kind, item, rec.value)
                except StateFormatError as err:
                    log.warning("%s: refused changelog record %s/%d@%d: %s", self.query_id, self.changelog,
                                partition, rec.offset, err)
                    refused += 1
                    continue
                if kind != "C":
                    pending.append((kind, item, value))
                    continue
                for entry in pending:
                    self._restore_entry(*entry)
                pending.clear()
                positions, self.stream_time, self.origins = value
            offset = batch[-1].offset + 1
        if positions is None and refused and resumed:
            raise ChangelogError(f"cannot restore the state of {self.query_id or 'the query'}: its changelog "
                                 f"{self.changelog} (partition {partition}) has {refused} records and none it "
                                 "can read (see the processing log), yet the query has consumed input: its "
                                 "results would be wrong. Drop and re-create the query to rebuild them from "
                                 "its source.")
        for sk, entry in self.state.items():
            if self.window is not None and self.window.kind == "SESSION":
                self.sessions.setdefault(sk[0], []).append((sk[1], sk[2]))
            if entry[1]:
                row = self.post(self._aggregate_row(sk, entry[0]))
                if row is not None:
                    self.materialized[sk] = row[:-1]
        return positions

    def has_checkpoint(self) -> bool:
        """Whether the changelog holds a checkpoint this processor can read. Looked for from the end, where
        every commit leaves one, so a sound changelog costs one record and its state is not decoded: only
        a changelog without one can make restore() fail as unreadable (a read error counts as none)."""
        if not self.log.topic_exists(self.changelog):
            return False
        partition = self.changelog_partition
        start, end = self.log.start_offset(self.changelog, partition), self.log.end_offset(self.changelog, partition)
        chunk = 1
        while end > start:
            first = max(start, end - chunk)
            try:
                batch = self.log.read(self.changelog, partition, first, end - first)
            except LogError:
                return False
            for rec in reversed([r for r in batch if r.offset < end]):
                try:
                    kind, item = self._decode_key(rec.key)
                    if kind == "C":
                        self._decode_value(kind, item, rec.value)
                        return True
                except StateFormatError:
                    continue
            end, chunk = first, min(chunk * 4, 10_000)
        return False

    def _decode_key(self, data: bytes | None) -> tuple[str, Any]:
        """("A", state key) | ("T", source key) | ("C", None), or StateFormatError."""
        tree = decode(data)
        kind = tree[0] if type(tree) is list and tree else None
        if kind == "C" and len(tree) == 1:
            return "C", None
        if kind == "A" and len(tree) == 4:
            start, end = tree[2], tree[3]
            bounds_fit = (start is None and end is None) if self.window is None else \
                type(start) is int and type(end) is int
            if not bounds_fit:
                raise StateFormatError("window bounds that do not match the query's window")
            return "A", _hashable((_values(tree[1], self.k), start, end))
        if kind == "T" and self.is_table and len(tree) == 2:
            return "T", _hashable(_values(tree[1], self.srckey_slice[1] - self.srckey_slice[0]))
        raise StateFormatError("a key that is not an aggregate state key")

    def _decode_value(self, kind: str, item: Any, data: bytes | None) -> Any:
        """A state entry, a table row or a checkpoint (positions, stream time, origins); None deletes."""
        if data is None:
            if kind == "C":
                raise StateFormatError("a checkpoint without positions")
            return None
        tree = decode(data)
        if kind == "A":
            return self._decode_entry(tree)
        if kind == "T":
            row = _values(tree, self.row_width)
            if tuple(map(hashable, row[self.srckey_slice[0]:self.srckey_slice[1]])) != item or type(row[self.ts_i]) is not int \
                    or type(row[self.part_i]) is not int:
                raise StateFormatError("a table row that does not match its key")
            return row
        if type(tree) is not list or len(tree) != 3:
            raise StateFormatError("a checkpoint of a foreign shape")
        return tuple(_int_map(part) for part in tree)

    def _decode_entry(self, tree: Any) -> tuple[list, int | None]:
        if type(tree) is not list or len(tree) != 4 or type(tree[0]) is not list \
                or len(tree[0]) != len(self.specs) or type(tree[1]) is not bool:
            raise StateFormatError("a state entry of a foreign shape")
        accs, passed, ts, pending = tree
        if not all(v is None or type(v) is int for v in (ts, pending)):
            raise StateFormatError("a state entry with a timestamp that is not an integer")
        if not _UNTAGGED.issuperset(map(type, accs)):
            accs = [untag(acc) for acc in accs]
        for spec, acc in zip(self.specs, accs, strict=True):
            if not spec.valid(acc):
                raise StateFormatError(f"a {spec.name} accumulator of a foreign shape")
        return [accs, passed, ts] if ts is not None else [accs, passed], pending

    def _restore_entry(self, kind: str, key: tuple, value: Any) -> None:
        if kind == "A":
            if value is None:
                self.state.pop(key, None)
                self.pending_final.pop(key, None)
            else:
                self.state[key], pending = value
                if pending is not None:
                    self.pending_final[key] = pending
                else:
                    self.pending_final.pop(key, None)
        elif value is None:
            self.table_rows.pop(key, None)
        else:
            self.table_rows[key] = value


_UNTAGGED = frozenset((str, int, float, bool, type(None)))  # values that are written as themselves


def _values(tree: Any, n: int) -> tuple:
    """A tuple of n tagged values (a key, a row)."""
    if type(tree) is not list or len(tree) != n:
        raise StateFormatError(f"{n} values were expected")
    if _UNTAGGED.issuperset(map(type, tree)):  # the usual case on restore: nothing to untag
        return tuple(tree)
    return tuple(untag(v) for v in tree)


def _hashable(key: tuple) -> tuple:
    try:
        hash(key)
    except TypeError:
        raise StateFormatError("a key holding a value that cannot be a key") from None
    return key


def _int_map(pairs: Any) -> dict[int, int]:
    """{partition: offset or time} from [[int, int], ...]."""
    if type(pairs) is not list or not all(type(p) is list and len(p) == 2 and type(p[0]) is int
                                          and type(p[1]) is int for p in pairs):
        raise StateFormatError("a checkpoint whose positions are not [partition, integer] pairs")
    return dict(pairs)
