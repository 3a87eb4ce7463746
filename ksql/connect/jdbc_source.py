"""The JDBC source: new rows of PostgreSQL or SQLite tables as records, with Confluent's
JdbcSourceConnector property names.

    connection.url, connection.user, connection.password
    table.whitelist / table.blacklist   tables to read (default: every table), or
    query                               one query to read instead of tables
    mode             bulk | incrementing | timestamp | timestamp+incrementing
    incrementing.column.name, timestamp.column.name
    timestamp.delay.interval.ms         rows younger than this (by the database clock) wait
    topic.prefix     the topic of a table is prefix + table name (of the query: the prefix)
    poll.interval.ms, batch.max.rows
    connection.attempts, connection.backoff.ms   a failing database is tried again before the task fails

Each table is a source partition ({"table": name}, or {"query": text}); its offset is what
Confluent's connector stores: {"incrementing": id} and/or {"timestamp": epoch ms,
"timestamp_nanos": nanos of the second}. A reader resumes after the offset it is given, so
a runtime that commits offsets with the records resumes exactly. The timestamp modes only
read rows older than the database's current time (less the delay) and never split rows of
one timestamp between two polls, so no row is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ksql.connect import data
from ksql.connect.api import ConfigDef, SourceConnector, SourceRecord, SourceTask, Task
from ksql.connect.data import Schema
from ksql.connect.jdbc_dialect import (
    DatabaseError,
    JdbcConfigError,
    JdbcError,
    config_errors,
    config_int,
    config_names,
    dialect_for,
    quote_identifier,
    quote_table,
)
from ksql.connect.jdbc_offsets import OFFSETS_TABLE

log = logging.getLogger("ksql.connect.jdbc")

MODES = ("bulk", "incrementing", "timestamp", "timestamp+incrementing")


@dataclass(frozen=True)
class SourceRow:
    """One row read: where it belongs (partition, offset after it, topic) and its value."""

    partition: dict[str, str]
    offset: dict[str, int]
    topic: str
    value_schema: Schema
    value: dict[str, Any]


@dataclass(frozen=True)
class SourceConfig:
    """A JdbcSourceConnector's configuration, checked."""

    url: str
    user: str | None
    password: str | None
    mode: str
    incrementing_column: str | None
    timestamp_column: str | None
    tables: tuple[str, ...]
    blacklist: tuple[str, ...]
    query: str | None
    topic_prefix: str
    poll_interval_ms: int
    batch_max_rows: int
    delay_ms: int
    connection_attempts: int
    connection_backoff_ms: int

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> SourceConfig:
        mode = str(config.get("mode") or "").strip().lower()
        if mode not in MODES:
            raise JdbcConfigError("mode", f"Invalid value {config.get('mode')} for configuration mode: must be one of "
                            f"{', '.join(MODES)}")
        timestamp_columns = config_names(config.get("timestamp.column.name"))
        if len(timestamp_columns) > 1:
            raise JdbcConfigError("timestamp.column.name", "timestamp.column.name: the JDBC source reads one timestamp column per table, "
                            f"not {len(timestamp_columns)}")
        parsed = cls(
            url=str(config.get("connection.url") or ""),
            user=config.get("connection.user") or None,
            password=config.get("connection.password") or None,
            mode=mode,
            incrementing_column=str(config.get("incrementing.column.name") or "").strip() or None,
            timestamp_column=timestamp_columns[0] if timestamp_columns else None,
            tables=tuple(config_names(config.get("table.whitelist"))),
            blacklist=tuple(config_names(config.get("table.blacklist"))),
            query=str(config.get("query") or "").strip() or None,
            topic_prefix=str(config.get("topic.prefix") or ""),
            poll_interval_ms=config_int(config, "poll.interval.ms", 5000),
            batch_max_rows=max(1, config_int(config, "batch.max.rows", 100)),
            delay_ms=max(0, config_int(config, "timestamp.delay.interval.ms", 0)),
            connection_attempts=max(1, config_int(config, "connection.attempts", 3)),
            connection_backoff_ms=max(0, config_int(config, "connection.backoff.ms", 10000)))
        if "incrementing" in mode and not parsed.incrementing_column:
            raise JdbcConfigError("incrementing.column.name", f"mode={mode} needs incrementing.column.name")
        if "timestamp" in mode and not parsed.timestamp_column:
            raise JdbcConfigError("timestamp.column.name", f"mode={mode} needs timestamp.column.name")
        if parsed.query and (parsed.tables or parsed.blacklist):
            raise JdbcConfigError("query", "Do not specify table filtering (table.whitelist, table.blacklist) with a query")
        if parsed.tables and parsed.blacklist:
            raise JdbcConfigError("table.blacklist", "table.whitelist and table.blacklist cannot both be set")
        if parsed.query and not parsed.topic_prefix:
            raise JdbcConfigError("topic.prefix", "A query needs topic.prefix: it is the topic its rows go to")
        dialect_for(parsed.url, parsed.user, parsed.password)
        return parsed


class JdbcSourceReader:
    """Reads the rows that are new since each table's offset."""

    def __init__(self, config: Mapping[str, Any],
                 offset_of: Callable[[dict[str, str]], Mapping[str, Any] | None] | None = None):
        """`offset_of(partition)` is the committed offset of a source partition (None: read from the start)."""
        self.config = SourceConfig.parse(config)
        self.dialect = dialect_for(self.config.url, self.config.user, self.config.password)
        self._conn: Any = None
        self._offset_of = offset_of or (lambda partition: None)
        self._offsets: dict[tuple, dict[str, Any]] = {}

    @staticmethod
    def partition_key(partition: Mapping[str, str]) -> tuple:
        return tuple(sorted(partition.items()))

    def partitions(self) -> list[dict[str, str]]:
        """The source partitions: one per table read, or the query's."""
        if self.config.query:
            return [{"query": self.config.query}]
        tables = list(self.config.tables) or [  # every table but the JDBC sinks' offsets
            t for t in self.dialect.list_tables(self._connection())
            if t not in self.config.blacklist and t != OFFSETS_TABLE]
        return [{"table": t} for t in tables]

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self.dialect.connect()
        return self._conn

    def poll(self) -> list[SourceRow]:
        """The new rows of every partition (at most batch.max.rows each, except rows sharing the last
        timestamp of a batch, which come together), in column order."""
        rows: list[SourceRow] = []
        try:
            for partition in self.partitions():
                rows.extend(self._poll_partition(partition))
            self._connection().rollback()  # end the read transaction: the next poll sees new commits
        except JdbcError:
            self.close()
            raise
        except Exception as err:  # noqa: BLE001 - the drivers' errors differ; the connection is reopened
            self.close()
            raise DatabaseError(f"{self.dialect.name} query failed: {str(err).strip()}") from None
        return rows

    def _source(self, partition: dict[str, str]) -> str:
        if "query" in partition:
            return f"({partition['query']}) AS {quote_identifier('ksql_jdbc_source_query')}"
        return quote_table(partition["table"])

    def _poll_partition(self, partition: dict[str, str]) -> list[SourceRow]:
        cfg, d = self.config, self.dialect
        key = self.partition_key(partition)
        if key not in self._offsets:
            self._offsets[key] = dict(self._offset_of(partition) or {})
        offset = self._offsets[key]
        conditions: list[str] = []
        params: list[Any] = []
        order: list[str] = []
        ts_col = inc_col = mark = None
        if "timestamp" in cfg.mode:
            ts_col, mark = d.timestamp_column(cfg.timestamp_column), d.timestamp_parameter()
            upper = d.now(self._connection()) - dt.timedelta(milliseconds=cfg.delay_ms)
            conditions.append(f"{ts_col} < {mark}")
            params.append(d.bind(upper))
            order.append(ts_col)
        if "incrementing" in cfg.mode:
            inc_col = quote_identifier(cfg.incrementing_column)
            order.append(inc_col)
        last_ts = _offset_timestamp(offset)
        last_inc = offset.get("incrementing")
        if cfg.mode == "timestamp" and last_ts is not None:
            conditions.append(f"{ts_col} > {mark}")
            params.append(d.bind(last_ts))
        elif cfg.mode == "incrementing" and last_inc is not None:
            conditions.append(f"{inc_col} > {d.placeholder}")
            params.append(last_inc)
        elif cfg.mode == "timestamp+incrementing" and last_ts is not None:
            conditions.append(f"(({ts_col} = {mark} AND {inc_col} > {d.placeholder}) OR {ts_col} > {mark})")
            params.extend([d.bind(last_ts), last_inc if last_inc is not None else -1, d.bind(last_ts)])
        sql = f"SELECT * FROM {self._source(partition)}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if order:
            sql += " ORDER BY " + ", ".join(f"{o} ASC" for o in order)
        limited = cfg.mode != "bulk"
        if limited:
            sql += f" LIMIT {cfg.batch_max_rows + 1}"
        cursor = self._connection().cursor()
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
        if not fetched:
            return []
        schema_fields = d.result_schema(cursor, fetched, partition.get("table"), self._connection())
        if ts_col is not None:  # a query's column of undeclared type (SQLite) holds the timestamps
            schema_fields = [(n, data.timestamp(True) if n == cfg.timestamp_column and s.name != data.TIMESTAMP
                              else s) for n, s in schema_fields]
        names = [n for n, _ in schema_fields]
        if limited and len(fetched) > cfg.batch_max_rows:
            fetched = self._whole_timestamps(fetched[:cfg.batch_max_rows], fetched[cfg.batch_max_rows],
                                             names, partition, sql, params)
        return self._rows(partition, key, schema_fields, fetched)

    def _whole_timestamps(self, batch: list, following: Sequence, names: list[str], partition: dict[str, str],
                          sql: str, params: list) -> list:
        """A full batch in timestamp mode without splitting the rows of its last timestamp: those
        rows come next time, or, when the whole batch shares one timestamp, all of them now."""
        if self.config.mode != "timestamp":
            return batch
        i = names.index(self.config.timestamp_column)
        last = batch[-1][i]
        if following[i] != last:
            return batch
        kept = [r for r in batch if r[i] != last]
        if kept:
            return kept
        cursor = self._connection().cursor()
        cursor.execute(sql.rsplit(" LIMIT ", 1)[0], params)
        return [r for r in cursor.fetchall() if r[i] == last]

    def _rows(self, partition: dict[str, str], key: tuple, schema_fields: list[tuple[str, Schema]],
              fetched: Sequence[Sequence]) -> list[SourceRow]:
        cfg, d = self.config, self.dialect
        name = partition.get("table", "query")
        schema = data.struct(schema_fields, name=name.rpartition(".")[2])
        topic = cfg.topic_prefix + (partition["table"] if "table" in partition else "")
        offset = dict(self._offsets.get(key, {}))
        out = []
        for raw in fetched:
            value = {n: d.read(s, v) for (n, s), v in zip(schema_fields, raw, strict=True)}
            if cfg.incrementing_column:
                inc = value.get(cfg.incrementing_column)
                if not isinstance(inc, int) or isinstance(inc, bool):
                    raise JdbcError(f"Incrementing column {cfg.incrementing_column} of {name} must be an integer, "
                                    f"found {inc!r}")
                if "incrementing" in cfg.mode:
                    offset["incrementing"] = inc
            if "timestamp" in cfg.mode:
                ts = value.get(cfg.timestamp_column)
                if not isinstance(ts, dt.datetime):
                    raise JdbcError(f"Timestamp column {cfg.timestamp_column} of {name} must hold timestamps, "
                                    f"found {ts!r}")
                offset.update(_timestamp_offset(ts))
            out.append(SourceRow(partition, dict(offset), topic, schema, value))
        if cfg.mode != "bulk":
            self._offsets[key] = offset
        return out

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _timestamp_offset(ts: dt.datetime) -> dict[str, int]:
    """Confluent's timestamp offset: epoch milliseconds and the nanoseconds of the second."""
    return {"timestamp": data.timestamp_to_millis(ts), "timestamp_nanos": ts.microsecond * 1000}


def _offset_timestamp(offset: Mapping[str, Any]) -> dt.datetime | None:
    millis = offset.get("timestamp")
    if millis is None:
        return None
    seconds = int(millis) // 1000
    nanos = int(offset.get("timestamp_nanos", (int(millis) % 1000) * 1_000_000))
    return data.EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


# --- the connector -------------------------------------------------------------------------------------


class JdbcSourceConnector(SourceConnector):
    """Confluent's io.confluent.connect.jdbc.JdbcSourceConnector: the tables of a whitelist are shared out
    among up to tasks.max tasks; without a whitelist (or with a query) one task reads everything."""

    def config(self) -> ConfigDef:
        return (ConfigDef()
                .define("connection.url", required=True, importance="HIGH",
                        documentation="jdbc:postgresql://host:port/db or jdbc:sqlite:/path/file.db")
                .define("connection.user").define("connection.password", "PASSWORD")
                .define("mode", required=True, importance="HIGH",
                        documentation="bulk, incrementing, timestamp or timestamp+incrementing")
                .define("incrementing.column.name").define("timestamp.column.name")
                .define("table.whitelist", "LIST").define("table.blacklist", "LIST").define("query")
                .define("topic.prefix", default="")
                .define("poll.interval.ms", "INT", 5000).define("batch.max.rows", "INT", 100)
                .define("timestamp.delay.interval.ms", "LONG", 0)
                .define("connection.attempts", "INT", 3).define("connection.backoff.ms", "LONG", 10000))

    def validate(self, config: Mapping[str, str]) -> dict[str, list[str]]:
        return super().validate(config) or config_errors(SourceConfig.parse, config)

    def start(self, config: Mapping[str, str]) -> None:
        self._config = dict(config)
        self._parsed = SourceConfig.parse(config)

    def task_class(self) -> type[Task]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        tables = self._parsed.tables
        if self._parsed.query or len(tables) <= 1 or max_tasks <= 1:
            return [dict(self._config)]
        groups = [tables[i::max_tasks] for i in range(min(max_tasks, len(tables)))]
        return [{**self._config, "table.whitelist": ",".join(group)} for group in groups]


class JdbcSourceTask(SourceTask):
    """Polls its tables every poll.interval.ms; each row becomes a record with the table's offset."""

    def start(self, config: Mapping[str, str]) -> None:
        context = self.context
        self._reader = JdbcSourceReader(config, context.offset if context is not None else None)
        self._interval = self._reader.config.poll_interval_ms / 1000
        self._next_poll = 0.0
        self._failures = 0

    def poll(self) -> list[SourceRecord]:
        wait = self._next_poll - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, 1.0))
            return []
        try:
            rows = self._reader.poll()
        except DatabaseError as err:
            self._failures += 1
            cfg = self._reader.config
            if self._failures >= cfg.connection_attempts:
                raise
            log.warning("JDBC source poll failed (attempt %d of %d), trying again in %d ms: %s", self._failures,
                        cfg.connection_attempts, cfg.connection_backoff_ms, err)
            self._next_poll = time.monotonic() + cfg.connection_backoff_ms / 1000
            return []
        self._failures = 0
        if not rows:
            self._next_poll = time.monotonic() + self._interval
        return [SourceRecord(row.topic, None, None, None, row.value_schema, row.value,
                             source_partition=row.partition, source_offset=row.offset) for row in rows]

    def stop(self) -> None:
        self._reader.close()
