"""Materialized views of tables: the current row per key, rebuilt from the table's topic.

A table's topic is its changelog (upserts, tombstones), so replaying it gives
exactly the rows a pull query must see. A `TableView` follows its topic
incrementally, keeps decoded rows in a dict (point lookups), and mirrors the
scalar columns into a DuckDB table so range and scan predicates run as SQL.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb

from ksql.engine.codec import RecordDecoder
from ksql.engine.log import Log
from ksql.engine.metastore import DataSource
from ksql.engine.schema import ROWTIME, WINDOWEND, WINDOWSTART
from ksql.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, DecimalType, SqlType, hashable

_DUCK_TYPES = {INTEGER: "INTEGER", BIGINT: "BIGINT", DOUBLE: "DOUBLE", STRING: "VARCHAR", BOOLEAN: "BOOLEAN"}


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


class TableView:
    """The current rows of one table, keyed by (key values..., window start, window end)."""

    def __init__(self, source: DataSource, log: Log):
        self.source = source
        self.log = log
        self.decoder = RecordDecoder(source, f"view {source.name}")
        self.n_keys = len(source.schema.key)
        columns = source.schema.key + source.schema.value
        self.n_cols = len(columns)
        self.window_slot = self.n_cols + 3  # WINDOWSTART in the decoded row layout
        self.rows: dict[tuple, tuple] = {}
        self.positions: dict[int, int] = {}
        self._lock = threading.Lock()
        # DuckDB mirror of the scalar columns, one row per key, addressed by a row id. Mirrored columns
        # are named by position (c0, c1, ...): no user-chosen name is ever part of DuckDB SQL.
        self.mirrored = [(i, duck_type(c.type)) for i, c in enumerate(columns) if duck_type(c.type)]
        self.sql_columns = {columns[i].name: f"c{i}" for i, _ in self.mirrored}
        if source.window is not None:
            self.sql_columns[WINDOWSTART], self.sql_columns[WINDOWEND] = "ws", "we"
        self.sql_columns[ROWTIME] = "rowtime"
        self.db = open_duckdb()
        cols = "".join(f", c{i} {t}" for i, t in self.mirrored)
        self.db.execute(f"CREATE TABLE t (rid BIGINT PRIMARY KEY{cols}, ws BIGINT, we BIGINT, rowtime BIGINT)")
        self.row_ids: dict[tuple, int] = {}
        self.by_id: dict[int, tuple] = {}
        self._next_id = 0

    def catch_up(self) -> None:
        """Apply every record appended to the table's topic since the last call."""
        with self._lock:
            topic = self.source.topic
            if not self.log.topic_exists(topic):
                return
            upserts: dict[tuple, tuple] = {}
            deletes: set[tuple] = set()
            for partition in range(self.log.topic_config(topic).partitions):
                offset = self.positions.get(partition, self.log.start_offset(topic, partition))
                while True:
                    records = self.log.read(topic, partition, offset, 10_000)
                    if not records:
                        break
                    offset = records[-1].offset + 1
                    for row in self.decoder.decode(records):
                        key = (*map(hashable, row[:self.n_keys]), row[self.window_slot],
                               row[self.window_slot + 1])
                        if any(v is None for v in row[:self.n_keys]):
                            continue
                        if row[-1]:
                            self.rows.pop(key, None)
                            upserts.pop(key, None)
                            deletes.add(key)
                        else:
                            self.rows[key] = row
                            upserts[key] = row
                            deletes.discard(key)
                self.positions[partition] = offset
            self._mirror(upserts, deletes)

    def _mirror(self, upserts: dict[tuple, tuple], deletes: set[tuple]) -> None:
        stale: list[int] = []
        for key in deletes:
            rid = self.row_ids.pop(key, None)
            if rid is not None:
                del self.by_id[rid]
                stale.append(rid)
        params = []
        for key, row in upserts.items():
            rid = self.row_ids.get(key)
            if rid is None:
                rid = self._next_id
                self._next_id += 1
                self.row_ids[key] = rid
                self.by_id[rid] = key
            else:
                stale.append(rid)
            params.append([rid, *[row[i] for i, _ in self.mirrored],
                           row[self.window_slot], row[self.window_slot + 1], row[self.n_cols]])
        if stale:
            self.db.executemany("DELETE FROM t WHERE rid = ?", [[r] for r in stale])
        if params:
            marks = ", ".join("?" for _ in params[0])
            self.db.executemany(f"INSERT INTO t VALUES ({marks})", params)

    def lookup(self, key: tuple) -> list[tuple]:
        """Rows whose key values (as `hashable` gives them) equal `key` (every window, if windowed)."""
        with self._lock:
            if self.source.window is None:
                row = self.rows.get((*key, None, None))
                return [row] if row is not None else []
            return [row for k, row in self.rows.items() if k[:self.n_keys] == key]

    def query(self, where_sql: str | None, params: list[Any]) -> list[tuple]:
        """Rows matching a DuckDB predicate over the mirrored columns (all rows when None),
        in the order their keys first appeared on the topic. `where_sql` names columns as
        `sql_columns` gives them and takes every value as a `?` parameter."""
        with self._lock:
            if where_sql is None:
                return list(self.rows.values())
            ids = self.db.execute(f"SELECT rid FROM t WHERE {where_sql} ORDER BY rid", params).fetchall()
            return [self.rows[self.by_id[rid]] for (rid,) in ids]

    def close(self) -> None:
        self.db.close()

