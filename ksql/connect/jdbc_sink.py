"""The JDBC sink: records of topics into tables of PostgreSQL or SQLite, with Confluent's
JdbcSinkConnector property names.

    connection.url, connection.user, connection.password
    insert.mode      insert | upsert | update
    pk.mode          none | kafka | record_key | record_value;  pk.fields
    fields.whitelist the value fields to write (default all)
    delete.enabled   a tombstone deletes the row of its key (needs pk.mode=record_key)
    auto.create      CREATE TABLE from the record schema; auto.evolve: ALTER TABLE ADD missing fields
    table.name.format  default ${topic}
    batch.size       records per statement batch
    max.retries, retry.backoff.ms  a batch the database failed (not its records) is retried

A batch of records is written in one transaction, in record order, together with the next
offsets to consume in the table `__connect_offsets` (ksql.connect.jdbc_offsets); a restarted
task resumes from those offsets, so each record is written exactly once across crashes, in every
insert mode.
Schemaless values (JSON without schemas) are written with a schema inferred from their
values. A record that cannot be written (bad shape, rejected by the database) raises
`RecordError`, or, given an errant-record reporter, is reported and skipped.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ksql.connect import data
from ksql.connect.api import ConfigDef, SinkConnector, SinkRecord, SinkTask, Task
from ksql.connect.data import DataError, Schema
from ksql.connect.jdbc_dialect import (
    DatabaseError,
    Dialect,
    JdbcConfigError,
    JdbcError,
    config_errors,
    config_int,
    config_names,
    dialect_for,
)
from ksql.connect.jdbc_offsets import Offsets, OffsetsTable, next_offsets

log = logging.getLogger("ksql.connect.jdbc")

INSERT_MODES = ("insert", "upsert", "update")
PK_MODES = ("none", "kafka", "record_key", "record_value")
KAFKA_PK_FIELDS = ("__connect_topic", "__connect_partition", "__connect_offset")
DEFAULT_KEY_FIELD = "__connect_key"

ErrantRecordReporter = Callable[[Any, Exception], None]
T = TypeVar("T")


class RecordError(DataError):
    """A record the sink cannot write; `record` is the record."""

    def __init__(self, message: str, record: Any):
        super().__init__(message)
        self.record = record


def _bool(config: Mapping[str, Any], name: str, default: bool) -> bool:
    value = config.get(name)
    if value is None or value == "":
        return default
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise JdbcConfigError(name, f"Invalid value {value} for configuration {name}: Expected value to be either true or false")
    return text == "true"


def _choice(config: Mapping[str, Any], name: str, default: str, allowed: Sequence[str]) -> str:
    value = str(config.get(name) or default).strip().lower()
    if value not in allowed:
        raise JdbcConfigError(name, f"Invalid value {config.get(name)} for configuration {name}: must be one of "
                        f"{', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class SinkConfig:
    """A JdbcSinkConnector's configuration, checked."""

    url: str
    user: str | None
    password: str | None
    insert_mode: str
    pk_mode: str
    pk_fields: tuple[str, ...]
    fields_whitelist: tuple[str, ...]
    delete_enabled: bool
    auto_create: bool
    auto_evolve: bool
    table_name_format: str
    batch_size: int
    max_retries: int
    retry_backoff_ms: int

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> SinkConfig:
        batch_size = config_int(config, "batch.size", 3000)
        parsed = cls(
            url=str(config.get("connection.url") or ""),
            user=config.get("connection.user") or None,
            password=config.get("connection.password") or None,
            insert_mode=_choice(config, "insert.mode", "insert", INSERT_MODES),
            pk_mode=_choice(config, "pk.mode", "none", PK_MODES),
            pk_fields=tuple(config_names(config.get("pk.fields"))),
            fields_whitelist=tuple(config_names(config.get("fields.whitelist"))),
            delete_enabled=_bool(config, "delete.enabled", False),
            auto_create=_bool(config, "auto.create", False),
            auto_evolve=_bool(config, "auto.evolve", False),
            table_name_format=str(config.get("table.name.format") or "${topic}"),
            batch_size=max(1, batch_size),
            max_retries=max(0, config_int(config, "max.retries", 10)),
            retry_backoff_ms=max(0, config_int(config, "retry.backoff.ms", 3000)))
        if parsed.delete_enabled and parsed.pk_mode != "record_key":
            raise JdbcConfigError("delete.enabled", "Primary key mode must be 'record_key' when delete support is enabled")
        if parsed.insert_mode in ("upsert", "update") and parsed.pk_mode == "none":
            raise JdbcConfigError("pk.mode", f"insert.mode={parsed.insert_mode} needs a primary key: set pk.mode to "
                            "record_key, record_value or kafka")
        if parsed.pk_mode == "kafka" and parsed.pk_fields and len(parsed.pk_fields) != 3:
            raise JdbcConfigError("pk.fields", "PK mode for table is KAFKA so there should either be no field names defined for "
                            "defaults __connect_topic, __connect_partition, __connect_offset to be applicable, "
                            "or exactly 3")
        dialect_for(parsed.url, parsed.user, parsed.password)  # the URL names a known database
        return parsed


@dataclass(frozen=True)
class _Layout:
    """How the records of one table and schema pair become rows: the key and value columns, and how the
    key values are taken from a record. Computed once per (table, op, key schema, value schema)."""

    table: str
    op: str  # insert | upsert | update | delete
    keys: tuple[tuple[str, Schema], ...]
    fields: tuple[tuple[str, Schema], ...]
    key_source: str  # none | kafka | key | key_fields | value_fields
    shape: tuple
    key_schema: Schema | None  # the schemas it was made for (kept so their ids stay theirs)
    value_schema: Schema | None


@dataclass(frozen=True)
class _Row:
    """What one record does to one table: upsert/insert/update `values`, or delete by key."""

    record: Any
    layout: _Layout
    key_values: tuple
    values: tuple

    @property
    def table(self) -> str:
        return self.layout.table

    @property
    def op(self) -> str:
        return self.layout.op

    @property
    def keys(self) -> tuple[tuple[str, Schema], ...]:
        return self.layout.keys

    @property
    def fields(self) -> tuple[tuple[str, Schema], ...]:
        return self.layout.fields


_MAX_LAYOUTS = 256
_KAFKA_PK_SCHEMAS = (data.primitive("string"), data.primitive("int32"), data.primitive("int64"))


class JdbcSinkWriter:
    """Writes batches of sink records to one database; given the `connector` it writes for, with the
    offsets they were consumed at (in the same transactions)."""

    def __init__(self, config: Mapping[str, Any], *, dialect: Dialect | None = None, connector: str | None = None):
        self.config = SinkConfig.parse(config)
        self.dialect = dialect or dialect_for(self.config.url, self.config.user, self.config.password)
        self._offsets = OffsetsTable(self.dialect, connector) if connector else None
        self._saved: Offsets = {}
        self._conn: Any = None
        self._tables: dict[str, dict[str, str]] = {}
        self._layouts: dict[tuple, _Layout] = {}
        self._inferred: dict[tuple, Schema] = {}  # schemas of schemaless values, by field names and types

    # -- records -> rows --

    def _where(self, record: Any) -> str:
        return (f"(topic='{record.topic}',partition={record.kafka_partition},"
                f"offset={getattr(record, 'kafka_offset', None)},timestamp={record.timestamp})")

    def _layout(self, record: Any, table: str, op: str, key_schema: Schema | None,
                value_schema: Schema | None) -> _Layout:
        cache_key = (table, op, id(key_schema), id(value_schema))
        found = self._layouts.get(cache_key)
        if found is not None and found.key_schema is key_schema and found.value_schema is value_schema:
            return found
        keys, key_source = self._key_columns(record, key_schema, value_schema)
        fields: tuple[tuple[str, Schema], ...] = ()
        if value_schema is not None:
            key_names = {n for n, _ in keys}
            wanted = set(self.config.fields_whitelist)
            fields = tuple((f.name, f.schema) for f in value_schema.fields
                           if f.name not in key_names and (not wanted or f.name in wanted))
            for name, field_schema in fields:
                if field_schema.type in ("struct", "array", "map"):
                    raise RecordError(f"Field {name} of the record at {self._where(record)} is a "
                                      f"{field_schema.type}: the JDBC sink writes primitive fields only", record)
        shape = (table, op, tuple(n for n, _ in keys), tuple(n for n, _ in fields))
        layout = _Layout(table, op, keys, fields, key_source, shape, key_schema, value_schema)
        if len(self._layouts) >= _MAX_LAYOUTS:
            self._layouts.clear()
        self._layouts[cache_key] = layout
        return layout

    def _key_columns(self, record: Any, key_schema: Schema | None, value_schema: Schema | None) -> tuple[
            tuple[tuple[str, Schema], ...], str]:
        """The primary key columns and where their values come from."""
        cfg = self.config
        if cfg.pk_mode == "none":
            return (), "none"
        if cfg.pk_mode == "kafka":
            return tuple(zip(cfg.pk_fields or KAFKA_PK_FIELDS, _KAFKA_PK_SCHEMAS, strict=True)), "kafka"
        if cfg.pk_mode == "record_key":
            if key_schema.type != "struct":
                if len(cfg.pk_fields) > 1:
                    raise RecordError("Need exactly one PK column defined since the key schema for records is a "
                                      f"primitive type, defined columns are: {list(cfg.pk_fields)}", record)
                name = cfg.pk_fields[0] if cfg.pk_fields else DEFAULT_KEY_FIELD
                return ((name, key_schema.as_required()),), "key"
            return self._pick(key_schema, cfg.pk_fields, "key", record), "key_fields"
        return self._pick(value_schema, cfg.pk_fields, "value", record), "value_fields"

    def _pick(self, schema: Schema, names: Sequence[str], side: str, record: Any) -> tuple[
            tuple[str, Schema], ...]:
        cols = []
        for name in list(names) or [f.name for f in schema.fields]:
            f = schema.field(name)
            if f is None:
                raise RecordError(f"PK field not in record {side} schema: {name}", record)
            cols.append((name, f.schema.as_required()))
        return tuple(cols)

    def _key_values(self, layout: _Layout, record: Any, value: dict | None) -> tuple:
        source = layout.key_source
        if source == "none":
            return ()
        if source == "kafka":
            return record.topic, record.kafka_partition, getattr(record, "kafka_offset", None)
        if source == "key":
            return (record.key,)
        values = tuple((record.key if source == "key_fields" else value).get(n) for n, _ in layout.keys)
        if None in values:
            raise RecordError(f"A primary key field of the record at {self._where(record)} is null", record)
        return values

    def _schema_of(self, schema: Schema | None, value: Any, side: str, record: Any) -> Schema:
        """The struct schema of a key or value (inferred for schemaless JSON); RecordError for any other."""
        if schema is None and isinstance(value, dict):
            signature = tuple((k, type(v)) for k, v in value.items())
            schema = self._inferred.get(signature)
            if schema is None:
                schema = data.infer_schema(value)
                if len(self._inferred) >= _MAX_LAYOUTS:
                    self._inferred.clear()
                self._inferred[signature] = schema
        if schema is None or schema.type != "struct" or not isinstance(value, dict):
            raise RecordError(f"The JDBC sink needs a struct (or JSON object) {side}, but the record at "
                              f"{self._where(record)} has {type(value).__name__ if value is not None else 'null'}",
                              record)
        return schema

    def _row(self, record: Any) -> _Row:
        cfg = self.config
        table = cfg.table_name_format.replace("${topic}", record.topic)
        key_schema = None
        if cfg.pk_mode == "record_key":
            if record.key is None:
                raise RecordError(f"pk.mode=record_key needs a key, but the record at {self._where(record)} "
                                  "has none", record)
            key_schema = record.key_schema or data.infer_schema(record.key)
            if key_schema.type == "struct" and not isinstance(record.key, dict):
                raise RecordError(f"The record key at {self._where(record)} is not a struct", record)
        if record.value is None:
            if not cfg.delete_enabled:
                raise RecordError(
                    f"Sink connector is configured with 'delete.enabled=false' and 'pk.mode={cfg.pk_mode}' and "
                    "therefore requires records with a non-null Struct value and non-null Struct schema, but "
                    f"found record at {self._where(record)} with a null value and null value schema.", record)
            layout = self._layout(record, table, "delete", key_schema, None)
            return _Row(record, layout, self._key_values(layout, record, None), ())
        value = record.value
        value_schema = self._schema_of(record.value_schema, value, "value", record)
        layout = self._layout(record, table, cfg.insert_mode, key_schema, value_schema)
        values = tuple(value.get(n) for n, _ in layout.fields)
        try:
            for (name, field_schema), v in zip(layout.fields, values, strict=True):
                data.validate(field_schema, v, name)
        except DataError as err:
            raise RecordError(f"The record at {self._where(record)} does not match its schema: {err}",
                              record) from None
        return _Row(record, layout, self._key_values(layout, record, value), values)

    # -- tables --

    def _connection(self) -> Any:
        if self._conn is None:
            conn = self.dialect.connect()
            if self._offsets is not None:
                try:
                    self._offsets.ensure(conn)
                except Exception as err:  # noqa: BLE001 - the database's own error types differ per driver
                    conn.close()
                    raise self._as_error(err) from None
            self._conn = conn
        return self._conn

    def _ensure_table(self, row: _Row) -> None:
        columns = self._tables.get(row.table)
        if columns is None:
            columns = self.dialect.table_columns(self._connection(), row.table)
        if columns is None:
            if not self.config.auto_create:
                raise JdbcError(f"Table \"{row.table}\" is missing and auto-creation is disabled")
            if row.op == "delete":
                return  # nothing to delete from a table that does not exist yet
            self._connection().execute(self.dialect.create_table(row.table, row.keys + row.fields,
                                                                 [n for n, _ in row.keys]))
            columns = {n: self.dialect.column_type(s) for n, s in row.keys + row.fields}
        missing = [(n, s) for n, s in row.keys + row.fields if n not in columns]
        if missing:
            if not self.config.auto_evolve:
                raise JdbcError(f"Table \"{row.table}\" is missing fields ({', '.join(n for n, _ in missing)}) "
                                "and auto-evolution is disabled")
            for name, schema in missing:
                if not schema.optional:
                    raise JdbcError(f"Cannot ALTER TABLE \"{row.table}\" to add missing field {name}, as the field "
                                    "is not optional and does not have a default value")
                self._connection().execute(self.dialect.add_column(row.table, name, schema))
                columns[name] = self.dialect.column_type(schema)
        self._tables[row.table] = columns

    # -- statements --

    def _statement(self, row: _Row) -> tuple[str, Callable[[_Row], tuple]]:
        d, table = self.dialect, row.table
        keys, fields = [n for n, _ in row.keys], [n for n, _ in row.fields]
        bind = d.bind
        if row.op == "delete":
            return d.delete(table, keys), lambda r: tuple(map(bind, r.key_values))
        if row.op == "update":
            return d.update(table, keys, keys + fields), lambda r: tuple(map(bind, r.values + r.key_values))
        sql = d.upsert(table, keys, keys + fields) if row.op == "upsert" else d.insert(table, keys + fields)
        return sql, lambda r: tuple(map(bind, r.key_values + r.values))

    def _execute(self, rows: list[_Row]) -> None:
        if not rows:
            return
        self._ensure_table(rows[0])
        if rows[0].op == "delete" and rows[0].table not in self._tables:
            return
        sql, params = self._statement(rows[0])
        cursor = self._connection().cursor()
        cursor.executemany(sql, [params(r) for r in rows])

    def write(self, records: Sequence[Any], report: ErrantRecordReporter | None = None) -> None:
        """Write the records in one transaction, in order, with the offsets after them.

        Without `report`, a record that cannot be written raises (RecordError or the database's
        error) and nothing of the batch is written. With it, such records are reported (before the
        offsets that pass them are committed) and skipped, and the others are written."""
        rows: list[_Row] = []
        for record in records:
            try:
                rows.append(self._row(record))
            except RecordError as err:
                if report is None:
                    raise
                report(record, err)
        offsets = next_offsets(_consumed_at(r) for r in records)
        self._retrying(f"Write of {len(rows)} records", lambda: self._write_prepared(rows, offsets, report))

    def stored_offsets(self) -> Offsets:
        """The offsets the connector's last transaction stored: where its records go on (empty without any)."""
        if self._offsets is None:
            return {}

        def read() -> Offsets:
            try:
                return self._offsets.read(self._connection())
            except DatabaseError:
                raise
            except Exception as err:  # noqa: BLE001 - the database's own error types differ per driver
                self._rollback()
                raise self._as_error(err) from None

        self._saved = self._retrying("Reading the stored offsets", read)
        return dict(self._saved)

    def save_offsets(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store offsets in a transaction of their own: those of records that wrote no row (dropped by a
        transform, or sent to the dead letter queue before the task saw them)."""
        if self._offsets is None:
            return
        changed = {tp: o for tp, o in offsets.items() if self._saved.get(tp) != o}
        if changed:
            self._retrying(f"Storing the offsets of {len(changed)} partitions",
                           lambda: self._write_prepared([], changed, None))

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """operation(), again after a DatabaseError (the database's fault, not a record's) up to max.retries."""
        for attempt in itertools.count(1):
            try:
                return operation()
            except DatabaseError as err:
                if attempt > self.config.max_retries:
                    raise
                log.warning("%s failed (attempt %d of %d), retrying in %d ms: %s", what, attempt,
                            self.config.max_retries + 1, self.config.retry_backoff_ms, err)
                time.sleep(self.config.retry_backoff_ms / 1000)
        raise AssertionError("unreachable")  # itertools.count never ends

    def _committed(self, record: Any) -> bool:
        """Whether a transaction with its offsets already wrote `record`."""
        if self._offsets is None:
            return False
        topic, partition, offset = _consumed_at(record)
        return partition is not None and self._saved.get((topic, partition), -1) > offset

    def _commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit the open transaction with `offsets` stored in it."""
        if self._offsets is not None:
            self._offsets.write(self._connection(), offsets)
        self._connection().commit()
        self._saved.update(offsets)

    def _write_prepared(self, rows: list[_Row], offsets: Offsets, report: ErrantRecordReporter | None) -> None:
        rows = [r for r in rows if not self._committed(r.record)]  # a retry after rows committed one by one
        try:
            self._write_rows(rows)
            self._commit(offsets)
        except Exception as err:  # noqa: BLE001 - the database's own error types differ per driver
            self._rollback()
            if report is None or not isinstance(err, self.dialect.record_errors):
                raise self._as_error(err) from None
            self._write_one_by_one(rows, offsets, report)

    def _write_rows(self, rows: list[_Row]) -> None:
        batch: list[_Row] = []
        for row in rows:
            if batch and (row.layout.shape != batch[0].layout.shape or len(batch) >= self.config.batch_size):
                self._execute(batch)
                batch = []
            batch.append(row)
        self._execute(batch)

    def _write_one_by_one(self, rows: list[_Row], offsets: Offsets, report: ErrantRecordReporter) -> None:
        """After a failed batch: each row alone, reporting those the database refuses, and committed with the
        offset after it (so a retry of the batch goes on after it); then the offsets of the whole batch."""
        for row in rows:
            try:
                self._execute([row])
            except self.dialect.record_errors as err:
                self._rollback()
                report(row.record, self._as_error(err, row.record))
            except Exception as err:  # noqa: BLE001 - the database's own error types differ per driver
                self._rollback()
                raise self._as_error(err) from None
            self._commit_or_raise(next_offsets([_consumed_at(row.record)]))
        self._commit_or_raise(offsets)

    def _commit_or_raise(self, offsets: Offsets) -> None:
        try:
            self._commit(offsets)
        except Exception as err:  # noqa: BLE001 - the database's own error types differ per driver
            self._rollback()
            raise self._as_error(err) from None

    def _rollback(self) -> None:
        self._tables.clear()  # a rolled-back CREATE/ALTER must be looked up again
        if self._conn is not None:
            try:
                self._conn.rollback()
            except Exception:  # noqa: BLE001 - a broken connection is reopened on next use
                self.close()

    def _as_error(self, err: Exception, record: Any = None) -> Exception:
        """The driver's error as ours: a record's fault (RecordError, or JdbcError when no record is
        named), or the database's (DatabaseError, retried)."""
        if isinstance(err, (JdbcError, RecordError)):
            return err
        message = f"{self.dialect.name} refused the write: {str(err).strip()}"
        if record is not None:
            return RecordError(message, record)
        return JdbcError(message) if isinstance(err, self.dialect.record_errors) else DatabaseError(message)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


# --- the connector -------------------------------------------------------------------------------------


class JdbcSinkConnector(SinkConnector):
    """Confluent's io.confluent.connect.jdbc.JdbcSinkConnector: every task writes with the same config."""

    def config(self) -> ConfigDef:
        return (ConfigDef()
                .define("connection.url", required=True, importance="HIGH",
                        documentation="jdbc:postgresql://host:port/db or jdbc:sqlite:/path/file.db")
                .define("connection.user").define("connection.password", "PASSWORD")
                .define("insert.mode", default="insert", documentation="insert, upsert or update")
                .define("pk.mode", default="none", documentation="none, kafka, record_key or record_value")
                .define("pk.fields", "LIST").define("fields.whitelist", "LIST")
                .define("delete.enabled", "BOOLEAN", False).define("auto.create", "BOOLEAN", False)
                .define("auto.evolve", "BOOLEAN", False).define("table.name.format", default="${topic}")
                .define("batch.size", "INT", 3000).define("max.retries", "INT", 10)
                .define("retry.backoff.ms", "INT", 3000))

    def validate(self, config: Mapping[str, str]) -> dict[str, list[str]]:
        return super().validate(config) or config_errors(SinkConfig.parse, config)

    def start(self, config: Mapping[str, str]) -> None:
        SinkConfig.parse(config)
        self._config = dict(config)

    def task_class(self) -> type[Task]:
        return JdbcSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._config) for _ in range(max(1, max_tasks))]


def _consumed_at(record: Any) -> tuple[str, int | None, int]:
    """Where a record was consumed: SinkRecord knows it across transforms that route it elsewhere."""
    if isinstance(record, SinkRecord):
        return record.consumed_at()
    return record.topic, record.kafka_partition, getattr(record, "kafka_offset", -1)


class JdbcSinkTask(SinkTask):
    """Writes each batch put() gives in one transaction with its offsets, and starts from the offsets the
    database holds, so each record is written once across crashes. flush() stores the offsets of
    records that wrote no row."""

    def start(self, config: Mapping[str, str]) -> None:
        self._writer = JdbcSinkWriter(config, connector=config.get("name") or None)
        resume = self._writer.stored_offsets()
        if resume and self.context is not None:
            self.context.offset(resume)

    def put(self, records: list[SinkRecord]) -> None:
        if records:
            self._writer.write(records, self.context.report if self.context is not None else None)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self._writer.save_offsets(offsets)

    def stop(self) -> None:
        self._writer.close()
