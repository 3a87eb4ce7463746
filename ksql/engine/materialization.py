"""Materialized views of tables: the current row per key, rebuilt from the table's topic.

A table's topic is its changelog (upserts, tombstones), so replaying it gives
exactly the rows a pull query must see. A `TableView` follows its topic
incrementally, keeps the current row of each key in a dict (point lookups), and
mirrors the scalar columns into a DuckDB table so range and scan predicates run
as SQL. Rows reach DuckDB in bulk, as Arrow tables it scans natively.

Decoding values is most of the cost of reading a big topic, and a key lookup needs
one row: so on its first read of the topic, an unwindowed table's view decodes only
the keys of the records it applies and keeps each value as stored (`_Stored`),
decoded when a lookup reads it; the mirror or a scan, which need every row, read the
topic again decoding every value (cheaper than picking values out of batches).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from itertools import repeat
from typing import Any

import duckdb
import pyarrow as pa

from ksql.engine.bulk_load import collector_paused
from ksql.engine.codec import RecordDecoder
from ksql.engine.log import Log, RecordBatch
from ksql.engine.metastore import DataSource
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.schema import ROWTIME, WINDOWEND, WINDOWSTART
from ksql.errors import KsqlError
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    DecimalType,
    MapType,
    SqlType,
    StructType,
    hashable,
)

_DUCK_TYPES = {INTEGER: "INTEGER", BIGINT: "BIGINT", DOUBLE: "DOUBLE", STRING: "VARCHAR", BOOLEAN: "BOOLEAN"}
_ARROW_TYPES = {INTEGER: pa.int32(), BIGINT: pa.int64(), DOUBLE: pa.float64(), STRING: pa.string(),
                BOOLEAN: pa.bool_()}


def open_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that cannot touch files, the network or extensions, and cannot be reconfigured
    to: even SQL that should never have reached it (COPY, ATTACH, read_csv, INSTALL, LOAD) fails."""
    return duckdb.connect(":memory:", config={
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "lock_configuration": True,
    })


def duck_type(t: SqlType) -> str | None:
    """The DuckDB column type for a SQL type mirrored into DuckDB (None: not mirrored)."""
    if isinstance(t, DecimalType):
        return f"DECIMAL({t.precision}, {t.scale})"
    return _DUCK_TYPES.get(t)


def arrow_type(t: SqlType) -> pa.DataType:
    """The Arrow type that carries a mirrored column's values into DuckDB without loss."""
    if isinstance(t, DecimalType):
        return pa.decimal128(t.precision, t.scale)
    return _ARROW_TYPES[t]


class _Unreported(ProcessingLog):
    """Reports nothing, or only what is not a key's failure (`keys_only`): for reading records again
    whose failures were (or will be) reported when the view read them first."""

    def __init__(self, keys_only: bool):
        super().__init__()
        self.keys_only = keys_only

    def deserialization_error(self, query_id: str, topic: str, partition: int, offset: int, target: str,
                              reason: str, data: bytes | None) -> None:
        if self.keys_only and target != "key":
            super().deserialization_error(query_id, topic, partition, offset, target, reason, data)

    def record_processing_error(self, query_id: str, message: str, row: Any = None) -> None:
        if self.keys_only:
            super().record_processing_error(query_id, message, row)


class _Stored(tuple):
    """The current row of a key, not decoded yet: (batch read from the topic, index of its record).
    A tuple made in C, as a million of them are on a big table's first read."""

    __slots__ = ()


class TableView:
    """The current rows of one table, keyed by (key values..., window start, window end).

    Two locks, so that copying rows into DuckDB never holds up the table's catch-up (which the
    server's runner does under the engine lock): `_lock` guards the decoded rows, the read
    positions and the changes not yet mirrored; `_mirror_lock` guards DuckDB and the row ids.
    Neither lock is the engine's: a pull query catches up and queries the view outside the engine lock,
    and the runner's catch-up skips a view another thread is catching up.
    The mirror is built on the first query that needs it and then synced in bulk, one Arrow
    batch of upserts and one of deletes per sync, by each later query.
    Until then `rows` may hold `_Stored` values of the first read (see the module docstring); one that
    does not decode to a row (a record the decoder skips, a null value) leaves the key's row to an
    earlier record, so the view is then rebuilt from the topic with every record decoded.
    """

    def __init__(self, source: DataSource, log: Log):
        self.source = source
        self.log = log
        self.decoder = RecordDecoder(source, f"view {source.name}")
        # a stored value's failure is reported when the view is read again decoding everything (see
        # _read_again_decoding_all), which does not report again the keys decode_keys() reported
        self._value_decoder = RecordDecoder(source, f"view {source.name}", reporter=_Unreported(False))
        self._rereader = RecordDecoder(source, f"view {source.name}", reporter=_Unreported(True))
        self.n_keys = len(source.schema.key)
        # ARRAY, MAP or STRUCT keys are lists and dicts at runtime: made hashable to be dict keys
        self._complex_keys = any(isinstance(c.type, (ArrayType, MapType, StructType)) for c in source.schema.key)
        columns = source.schema.key + source.schema.value
        self.n_cols = len(columns)
        self.window_slot = self.n_cols + 3  # WINDOWSTART in the decoded row layout
        self.rows: dict[tuple, tuple | _Stored] = {}
        self.positions: dict[int, int] = {}
        # values of the first read decoded when read: unwindowed keyed tables, until the mirror exists or
        # a stored value turns out not to decode to a row
        self._defer_values = source.window is None and self.n_keys > 0
        self._lock = threading.Lock()
        # changes since the last sync, kept only once the mirror exists (None before)
        self._pending_upserts: dict[tuple, tuple] | None = None
        self._pending_deletes: set[tuple] = set()
        self._mirror_lock = threading.Lock()
        self._state_lock = threading.Lock()  # orders close() with a query's release of `_mirror_lock`
        self._closed = False
        self.db_closed = False
        # DuckDB mirror of the scalar columns, one row per key, addressed by a row id. Mirrored columns
        # are named by position (c0, c1, ...): no user-chosen name is ever part of DuckDB SQL.
        self.mirrored = [(i, duck_type(c.type)) for i, c in enumerate(columns) if duck_type(c.type)]
        self.sql_columns = {columns[i].name: f"c{i}" for i, _ in self.mirrored}
        if source.window is not None:
            self.sql_columns[WINDOWSTART], self.sql_columns[WINDOWEND] = "ws", "we"
        self.sql_columns[ROWTIME] = "rowtime"
        self._arrow_schema = pa.schema(
            [("rid", pa.int64())] + [(f"c{i}", arrow_type(columns[i].type)) for i, _ in self.mirrored]
            + [("ws", pa.int64()), ("we", pa.int64()), ("rowtime", pa.int64())])
        self.db = open_duckdb()
        cols = "".join(f", c{i} {t}" for i, t in self.mirrored)
        self.db.execute(f"CREATE TABLE t (rid BIGINT{cols}, ws BIGINT, we BIGINT, rowtime BIGINT)")
        self._row_ids: dict[tuple, int] = {}
        self._by_id: dict[int, tuple] = {}  # row id -> the row as mirrored
        self._next_id = 0

    def catch_up(self, wait: bool = True, every_value: bool = False) -> None:
        """Apply every record appended to the table's topic since the last call (no DuckDB work), up to
        the topic's visible ends: a transaction written over several partitions is applied whole or not
        at all, so readers of the rows see a committed state.
        With `wait` False, return at once if another thread is catching up (it reads what this would).
        With `every_value` (the caller reads every row: a scan, the mirror), values are decoded as they
        are applied, and those stored so far too."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            if every_value:
                self._decode_stored()
            self._read_topic()
        finally:
            self._lock.release()

    def _read_topic(self, ends: list[int] | None = None, decoder: RecordDecoder | None = None) -> None:
        """catch_up() under `_lock`: up to `ends` (default: the visible ends) with `decoder`."""
        topic = self.source.topic
        if not self.log.topic_exists(topic):
            return
        upserts, deletes = self._pending_upserts, self._pending_deletes
        decoder = decoder or self.decoder
        # values are kept as stored only on the first read of the topic (the one that may be big): later
        # reads are small, and decoding them keeps the first read's batches from being held ever after
        defer = self._defer_values and upserts is None and not self.positions
        with collector_paused():  # a big topic makes a row per key, none of them in a cycle
            for partition, end in enumerate(ends if ends is not None else self.log.visible_end_offsets(topic)):
                offset = self.positions.get(partition, self.log.start_offset(topic, partition))
                while offset < end:
                    batch = self.log.read_batch(topic, partition, offset, min(10_000, end - offset))
                    if not len(batch):
                        break
                    offset = batch.offsets[-1] + 1
                    if defer:
                        self._apply_stored(batch)
                    else:
                        self._apply(decoder.decode_batch(batch), upserts, deletes)
                self.positions[partition] = offset

    def _apply_stored(self, batch: RecordBatch) -> None:
        """A batch of the topic into the current rows, the values kept as stored (only keys decoded)."""
        n_keys, current = self.n_keys, self.rows
        keys, values = self.decoder.decode_keys(batch), batch.values
        if not self._complex_keys and None not in values and None not in keys \
                and all(len(k) == n_keys and None not in k for k in keys):  # the usual batch: in one go
            stored = map(_Stored, zip(repeat(batch), range(len(keys))))
            current.update(zip([(*k, None, None) for k in keys], stored, strict=True))
            return
        for i, key_values in enumerate(keys):
            if key_values is None or len(key_values) != n_keys or None in key_values:
                continue  # a null key, or one the decoder reported
            key = (*(map(hashable, key_values) if self._complex_keys else key_values), None, None)
            if values[i] is None:
                current.pop(key, None)
            else:
                current[key] = _Stored((batch, i))

    def _decode_stored(self, keys: list[tuple] | None = None) -> None:
        """Decode the stored values of `keys` (default: all, by reading the topic again decoding every
        value: cheaper than picking 1M values out of their batches), under `_lock`. A value that decodes
        to no row leaves its key's row to an earlier record: then too the view is read again."""
        if not self._defer_values:
            return
        if keys is None:
            self._read_again_decoding_all()
            return
        rows = self.rows
        stored = [(key, value) for key in keys if type(value := rows.get(key)) is _Stored]
        if not stored:
            return
        batch = RecordBatch([], [], [], [], [], -1)  # partitions are put in the rows below
        for _, value in stored:
            source, i = value
            batch.keys.append(source.keys[i])
            batch.values.append(source.values[i])
            batch.timestamps.append(source.timestamps[i])
            batch.headers.append(source.headers[i])
            batch.offsets.append(source.offsets[i])
        decoded = self._value_decoder.decode_batch(batch)
        if len(decoded) != len(stored) or any(row[-1] for row in decoded):  # skipped, or a null value
            self._read_again_decoding_all()
            return
        slot = self.n_cols + 1  # ROWPARTITION
        for (key, value), row in zip(stored, decoded, strict=True):
            rows[key] = (*row[:slot], value[0].partition, *row[slot + 1:])

    def _read_again_decoding_all(self) -> None:
        """Rebuild the rows from the topic, every value decoded as it is applied (under `_lock`), up to
        where the view had read (the records after are read by the next catch-up)."""
        read = self.positions
        self._defer_values = False
        self.rows, self.positions = {}, {}
        topic = self.source.topic
        ends = [read.get(p, self.log.start_offset(topic, p)) for p in range(self.log.partitions(topic))]
        self._read_topic(ends, self._rereader)

    def _apply(self, rows: list[tuple], upserts: dict[tuple, tuple] | None, deletes: set[tuple]) -> None:
        """Decoded changelog rows into the current rows (and the mirror's pending changes, once it exists)."""
        n_keys, ws, complex_keys = self.n_keys, self.window_slot, self._complex_keys
        current = self.rows
        for row in rows:
            key_values = row[:n_keys]
            if None in key_values:
                continue
            if complex_keys:
                key_values = tuple(map(hashable, key_values))
            key = (*key_values, row[ws], row[ws + 1])
            if row[-1]:
                current.pop(key, None)
                if upserts is not None:
                    upserts.pop(key, None)
                    deletes.add(key)
            else:
                current[key] = row
                if upserts is not None:
                    upserts[key] = row

    def is_current(self) -> bool:
        """Whether every visible record of the topic is applied (cheap: no read, no decode)."""
        topic = self.source.topic
        if not self.log.topic_exists(topic):
            return True
        positions = self.positions
        return all(positions.get(p, -1) >= end or end == self.log.start_offset(topic, p)
                   for p, end in enumerate(self.log.visible_end_offsets(topic)))

    def lookup(self, keys: list[tuple], wait: bool = True) -> list[tuple] | None:
        """Rows whose key values (as `hashable` gives them) equal one of `keys`, in that order (every
        window of a windowed table's key), all read from one state of the view. With `wait` False, None
        at once when a catch-up holds the view or a value looked up is not decoded yet."""
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self.source.window is None:
                wanted = [(*key, None, None) for key in keys]
                if self._defer_values and any(type(self.rows.get(key)) is _Stored for key in wanted):
                    if not wait:  # decoding may come to reading the topic again: not for a caller that never waits
                        return None
                    self._decode_stored(keys=wanted)
                found = (self.rows.get(key) for key in wanted)
                return [row for row in found if row is not None]
            wanted = set(keys)
            by_key: dict[tuple, list[tuple]] = {}
            for k, row in self.rows.items():
                if k[:self.n_keys] in wanted:
                    by_key.setdefault(k[:self.n_keys], []).append(row)
            return [row for key in keys for row in by_key.get(key, ())]
        finally:
            self._lock.release()

    def scan(self) -> list[tuple]:
        """Every row, in the order their keys first appeared on the topic."""
        with self._lock:
            self._decode_stored()
            return list(self.rows.values())

    def query(self, where_sql: str, params: list[Any], limit: int | None = None,
              after: int = -1) -> list[tuple[int, tuple]]:
        """(row id, row) of the rows matching a DuckDB predicate over the mirrored columns, in row id
        order (the order their keys first appeared on the topic), at most `limit`, with row ids above
        `after` (to read on where a previous call stopped). `where_sql` names columns as `sql_columns`
        gives them and takes every value as a `?` parameter."""
        self._mirror_lock.acquire()
        try:
            if self._closed:
                raise KsqlError(f"{self.source.name} was dropped while the pull query ran")
            self._sync()
            sql = f"SELECT rid FROM t WHERE rid > ? AND ({where_sql}) ORDER BY rid"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            ids = self.db.execute(sql, [after, *params]).fetchall()
            return [(rid, self._by_id[rid]) for (rid,) in ids]
        finally:
            with self._state_lock:  # see close(): either it closes DuckDB or it leaves that to us
                if self._closed and not self.db_closed:
                    self.db.close()
                    self.db_closed = True
                self._mirror_lock.release()

    def _sync(self) -> None:
        """Bring the mirror up to the decoded rows: all of them the first time, then the changes since."""
        with self._lock:
            if self._pending_upserts is None:
                self._decode_stored()  # from now on each catch-up decodes what it applies
                upserts, deletes = dict(self.rows), set()
            else:
                upserts, deletes = self._pending_upserts, self._pending_deletes
            self._pending_upserts, self._pending_deletes = {}, set()
        stale = [self._row_ids.pop(key) for key in deletes if key in self._row_ids]
        ids = []
        for key, row in upserts.items():
            rid = self._row_ids.get(key)
            if rid is None:
                rid = self._row_ids[key] = self._next_id
                self._next_id += 1
            else:
                stale.append(rid)
            self._by_id[rid] = row
            ids.append(rid)
        if stale:
            self._run_with_batch("DELETE FROM t WHERE rid IN (SELECT rid FROM batch)",
                                 pa.table({"rid": pa.array(stale, pa.int64())}))
            for rid in set(stale).difference(ids):
                del self._by_id[rid]
        if ids:
            self._run_with_batch("INSERT INTO t SELECT * FROM batch", self._arrow_batch(ids, upserts.values()))

    def _arrow_batch(self, ids: list[int], rows: Iterable[tuple]) -> pa.Table:
        """The mirrored columns of `rows` as an Arrow table (DECIMAL values stay exact as decimal128)."""
        rows = list(rows)
        slots = [i for i, _ in self.mirrored] + [self.window_slot, self.window_slot + 1, self.n_cols]
        columns = [ids] + [[row[slot] for row in rows] for slot in slots]
        return pa.Table.from_arrays([pa.array(values, field.type) for values, field in
                                     zip(columns, self._arrow_schema, strict=True)], schema=self._arrow_schema)

    def _run_with_batch(self, sql: str, batch: pa.Table) -> None:
        self.db.register("batch", batch)
        try:
            self.db.execute(sql)
        finally:
            self.db.unregister("batch")

    def close(self) -> None:
        """Close DuckDB; if a query is using it right now, that query closes it when done (so dropping a
        table, done under the engine lock, never waits for a pull query's work on the view)."""
        with self._state_lock:
            self._closed = True
            if self._mirror_lock.acquire(blocking=False):
                try:
                    if not self.db_closed:
                        self.db.close()
                        self.db_closed = True
                finally:
                    self._mirror_lock.release()
