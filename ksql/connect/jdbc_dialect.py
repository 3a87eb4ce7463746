"""SQL dialects of the JDBC connectors: PostgreSQL (psycopg 3) and SQLite (the standard library).

A `connection.url` in Confluent's JDBC form picks the dialect:

    jdbc:postgresql://host:port/database[?user=...&password=...]   (or postgresql://...)
    jdbc:sqlite:/path/to/file.db                                     (or sqlite:///path)

A dialect builds statements from names only: identifiers are always quoted and
every value is bound as a parameter, so no SQL is ever built from record data.
It also maps Connect schemas to column types (auto.create, auto.evolve) and
result columns back to Connect schemas (the source).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from ksql.connect import data
from ksql.connect.data import Schema
from ksql.errors import KsqlError


class JdbcError(KsqlError):
    """A JDBC connector that cannot reach or use its database."""


class DatabaseError(JdbcError):
    """The database (or the way to it) failed: worth retrying, as the connectors do (max.retries,
    connection.attempts), unlike a bad configuration or a bad record."""


class JdbcConfigError(JdbcError):
    """A bad property of a JDBC connector; `name` is the property (what Connect's validation reports)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def config_int(config: Mapping[str, Any], name: str, default: int) -> int:
    """An INT property of a JDBC connector's config (Connect's message when it is not one)."""
    value = config.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise JdbcConfigError(name, f"Invalid value {value} for configuration {name}: Not a number of type INT") \
            from None


def config_errors(parse: Callable[[Mapping[str, Any]], object], config: Mapping[str, Any]) -> dict[str, list[str]]:
    """What a JDBC connector's validate() reports beyond ConfigDef's checks: the property `parse` refuses."""
    try:
        parse(config)
    except JdbcConfigError as err:
        return {err.name: [str(err)]}
    return {}


def config_names(value: Any) -> list[str]:
    """A LIST property's names (comma-separated, blanks dropped)."""
    return [x.strip() for x in str(value or "").split(",") if x.strip()]


def quote_identifier(name: str) -> str:
    """An SQL identifier in double quotes (both dialects), quotes inside doubled."""
    if "\x00" in name:
        raise JdbcError(f"Invalid identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """A possibly qualified table name (schema.table) with each part quoted."""
    return ".".join(quote_identifier(part) for part in name.split("."))


class Dialect(ABC):
    """How one database is reached and spoken to."""

    name = ""
    placeholder = "?"
    # the driver's errors that blame one record's values (not the connection or the table)
    record_errors: tuple[type[Exception], ...] = ()

    @abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection (autocommit off: the connectors commit per batch)."""

    @abstractmethod
    def column_type(self, schema: Schema) -> str:
        """The SQL type of a column holding values of `schema`."""

    @abstractmethod
    def table_columns(self, conn: Any, table: str) -> dict[str, str] | None:
        """The table's columns (name -> declared type), or None when there is no such table."""

    @abstractmethod
    def result_schema(self, cursor: Any, rows: Sequence[Sequence], table: str | None, conn: Any) -> list[
            tuple[str, Schema]]:
        """The Connect schema of each column of a query result."""

    @abstractmethod
    def now(self, conn: Any) -> dt.datetime:
        """The database's current time (UTC), the upper bound of the timestamp mode."""

    def bind(self, value: Any) -> Any:
        """A Python value as the driver binds it."""
        return value

    def read(self, schema: Schema, value: Any) -> Any:
        """A fetched value as a Connect value of `schema`."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def timestamp_column(self, column: str) -> str:
        """A timestamp column as compared with `timestamp_parameter()` and ordered by."""
        return quote_identifier(column)

    def timestamp_parameter(self) -> str:
        """The placeholder of a bound timestamp compared with `timestamp_column()`."""
        return self.placeholder

    @abstractmethod
    def list_tables(self, conn: Any) -> list[str]:
        """The tables of the database (of the current schema), what a source without a whitelist reads."""

    # -- statements --

    def insert(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join(self.placeholder for _ in columns)
        return f"INSERT INTO {quote_table(table)} ({', '.join(map(quote_identifier, columns))}) VALUES ({marks})"

    def upsert(self, table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
        """INSERT ... ON CONFLICT (keys) DO UPDATE: both PostgreSQL and SQLite (3.24+) speak it."""
        conflict = ", ".join(map(quote_identifier, keys))
        updates = [c for c in columns if c not in keys]
        action = ("DO UPDATE SET " + ", ".join(f"{quote_identifier(c)} = EXCLUDED.{quote_identifier(c)}"
                                               for c in updates)) if updates else "DO NOTHING"
        return f"{self.insert(table, columns)} ON CONFLICT ({conflict}) {action}"

    def update(self, table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
        """UPDATE of the non-key columns; parameters: the non-key values, then the key values."""
        sets = ", ".join(f"{quote_identifier(c)} = {self.placeholder}" for c in columns if c not in keys)
        return f"UPDATE {quote_table(table)} SET {sets} WHERE {self._key_match(keys)}"

    def delete(self, table: str, keys: Sequence[str]) -> str:
        return f"DELETE FROM {quote_table(table)} WHERE {self._key_match(keys)}"

    def _key_match(self, keys: Sequence[str]) -> str:
        return " AND ".join(f"{quote_identifier(k)} = {self.placeholder}" for k in keys)

    def create_table(self, table: str, fields: Sequence[tuple[str, Schema]], keys: Sequence[str]) -> str:
        cols = []
        for name, schema in fields:
            null = "" if schema.optional and name not in keys else " NOT NULL"
            cols.append(f"{quote_identifier(name)} {self.column_type(schema)}{null}")
        if keys:
            cols.append(f"PRIMARY KEY({', '.join(map(quote_identifier, keys))})")
        return f"CREATE TABLE {quote_table(table)} (\n" + ",\n".join(cols) + ")"

    def add_column(self, table: str, name: str, schema: Schema) -> str:
        return f"ALTER TABLE {quote_table(table)} ADD {quote_identifier(name)} {self.column_type(schema)}"


# --- PostgreSQL --------------------------------------------------------------------------------

_PG_TYPES = {"int8": "SMALLINT", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "float32": "REAL",
             "float64": "DOUBLE PRECISION", "boolean": "BOOLEAN", "string": "TEXT", "bytes": "BYTEA"}
_PG_LOGICAL = {data.DATE: "DATE", data.TIME: "TIME", data.TIMESTAMP: "TIMESTAMP", data.DECIMAL: "DECIMAL"}
_PG_READ = {"int2": "int16", "int4": "int32", "int8": "int64", "float4": "float32", "float8": "float64",
            "bool": "boolean", "text": "string", "varchar": "string", "bpchar": "string", "name": "string",
            "bytea": "bytes", "uuid": "string", "json": "string", "jsonb": "string", "oid": "int64"}


class PostgresDialect(Dialect):
    name = "PostgreSQL"
    placeholder = "%s"

    def __init__(self, conninfo: dict[str, Any]):
        import psycopg

        self.conninfo = conninfo
        # a value of the wrong type for its column (DatatypeMismatch) blames the record, like bad data
        self.record_errors = (psycopg.IntegrityError, psycopg.DataError, psycopg.errors.DatatypeMismatch)

    def connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(**self.conninfo, options="-c TimeZone=UTC", connect_timeout=10)
        except psycopg.Error as err:
            where = f"{self.conninfo.get('host')}:{self.conninfo.get('port')}/{self.conninfo.get('dbname')}"
            raise DatabaseError(f"Cannot connect to PostgreSQL at {where}: {str(err).strip()}") from None

    def column_type(self, schema: Schema) -> str:
        if schema.name in _PG_LOGICAL:
            return _PG_LOGICAL[schema.name]
        if schema.type in _PG_TYPES:
            return _PG_TYPES[schema.type]
        raise JdbcError(f"{self.name} has no column type for Connect type {schema.type}")

    def table_columns(self, conn: Any, table: str) -> dict[str, str] | None:
        schema, _, name = table.rpartition(".")
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = COALESCE(NULLIF(%s, ''), current_schema()) "
            "ORDER BY ordinal_position", (name, schema)).fetchall()
        return {r[0]: r[1] for r in rows} or None

    def result_schema(self, cursor: Any, rows: Sequence[Sequence], table: str | None, conn: Any) -> list[
            tuple[str, Schema]]:
        from psycopg.postgres import types

        out = []
        for col in cursor.description:
            info = types.get(col.type_code)
            type_name = info.name if info else ""
            if type_name == "numeric":
                schema = data.decimal(col.scale or 0, True)
            elif type_name in ("timestamp", "timestamptz"):
                schema = data.timestamp(True)
            elif type_name == "date":
                schema = data.date(True)
            elif type_name in ("time", "timetz"):
                schema = data.time(True)
            elif type_name in _PG_READ:
                schema = data.primitive(_PG_READ[type_name], True)
            else:
                raise JdbcError(f"Column {col.name} of {table or 'the query'} has type {type_name or col.type_code}, "
                                "which the JDBC source cannot map to a Connect type")
            out.append((col.name, schema))
        return out

    def read(self, schema: Schema, value: Any) -> Any:
        if schema.type == "string" and value is not None and not isinstance(value, str):
            return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else str(value)
        return super().read(schema, value)

    def now(self, conn: Any) -> dt.datetime:
        return conn.execute("SELECT CURRENT_TIMESTAMP").fetchone()[0].astimezone(dt.UTC)

    def list_tables(self, conn: Any) -> list[str]:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                            "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()
        return [r[0] for r in rows]


# --- SQLite ------------------------------------------------------------------------------------

_SQLITE_TYPES = {"int8": "INTEGER", "int16": "INTEGER", "int32": "INTEGER", "int64": "INTEGER",
                 "float32": "REAL", "float64": "REAL", "boolean": "INTEGER", "string": "TEXT", "bytes": "BLOB"}
_SQLITE_LOGICAL = {data.DATE: "DATE", data.TIME: "TIME", data.TIMESTAMP: "TIMESTAMP", data.DECIMAL: "NUMERIC"}


class SqliteDialect(Dialect):
    """SQLite keeps dates and times as ISO text ('2024-01-31 12:00:00.123456'), as its date functions read
    them; the timestamp modes of the source compare them as julianday() values."""

    name = "SQLite"
    record_errors = (sqlite3.IntegrityError, sqlite3.DataError)

    def __init__(self, path: str):
        self.path = path

    def connect(self) -> Any:
        try:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except sqlite3.Error as err:
            raise DatabaseError(f"Cannot open SQLite database {self.path}: {err}") from None
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def column_type(self, schema: Schema) -> str:
        if schema.name in _SQLITE_LOGICAL:
            return _SQLITE_LOGICAL[schema.name]
        if schema.type in _SQLITE_TYPES:
            return _SQLITE_TYPES[schema.type]
        raise JdbcError(f"{self.name} has no column type for Connect type {schema.type}")

    def table_columns(self, conn: Any, table: str) -> dict[str, str] | None:
        rows = conn.execute(f"PRAGMA table_info({quote_table(table)})").fetchall()
        return {r[1]: (r[2] or "").upper() for r in rows} or None

    def bind(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(sep=" ")
        if isinstance(value, (dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    def result_schema(self, cursor: Any, rows: Sequence[Sequence], table: str | None, conn: Any) -> list[
            tuple[str, Schema]]:
        declared = (self.table_columns(conn, table) or {}) if table else {}
        out = []
        for i, col in enumerate(cursor.description):
            name = col[0]
            decl = declared.get(name, "")
            out.append((name, self._declared_schema(decl) or self._value_schema([r[i] for r in rows])))
        return out

    @staticmethod
    def _declared_schema(decl: str) -> Schema | None:
        """SQLite's type affinity rules, plus the date/time names a table declares."""
        if not decl:
            return None
        if "TIMESTAMP" in decl or "DATETIME" in decl:
            return data.timestamp(True)
        if decl == "DATE":
            return data.date(True)
        if decl == "TIME":
            return data.time(True)
        if "BOOL" in decl:
            return data.primitive("boolean", True)
        if "INT" in decl:
            return data.primitive("int64", True)
        if any(t in decl for t in ("CHAR", "CLOB", "TEXT")):
            return data.OPTIONAL_STRING
        if "BLOB" in decl:
            return data.primitive("bytes", True)
        if any(t in decl for t in ("REAL", "FLOA", "DOUB")):
            return data.primitive("float64", True)
        match = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", decl)
        return data.decimal(int(match.group(1)) if match else 0, True)

    @staticmethod
    def _value_schema(values: list) -> Schema:
        """A query's column without a declared type: the type of its values (SQLite's storage classes)."""
        for v in values:
            if v is not None:
                inferred = data.infer_schema(v)
                if inferred is not None:
                    return inferred
        return data.OPTIONAL_STRING

    def read(self, schema: Schema, value: Any) -> Any:
        if value is None:
            return None
        if schema.name == data.TIMESTAMP and isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value)
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
        if schema.name == data.TIMESTAMP and isinstance(value, (int, float)):
            return data.millis_to_timestamp(int(value))
        if schema.name == data.DATE and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if schema.name == data.TIME and isinstance(value, str):
            return dt.time.fromisoformat(value)
        if schema.name == data.DECIMAL and not isinstance(value, Decimal):
            return Decimal(str(value))
        if schema.type == "boolean":
            return bool(value)
        if schema.type == "string" and not isinstance(value, str):
            return str(value)
        return value

    def timestamp_column(self, column: str) -> str:
        return f"julianday({quote_identifier(column)})"

    def timestamp_parameter(self) -> str:
        return "julianday(?)"

    def list_tables(self, conn: Any) -> list[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                            "ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def now(self, conn: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(
            conn.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").fetchone()[0]).replace(tzinfo=dt.UTC)


# --- choosing a dialect -------------------------------------------------------------------------

def dialect_for(url: str, user: str | None = None, password: str | None = None) -> Dialect:
    """The dialect and connection of a `connection.url` (JDBC form or plain URL)."""
    if not url:
        raise JdbcConfigError("connection.url", "Missing required configuration \"connection.url\" which has no "
                              "default value.")
    plain = url[len("jdbc:"):] if url.startswith("jdbc:") else url
    if plain.startswith("sqlite:"):
        path = plain[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise JdbcConfigError("connection.url", f"connection.url {url} names no SQLite database file")
        return SqliteDialect(unquote(path))
    if plain.startswith(("postgresql:", "postgres:")):
        parts = urlsplit(plain)
        query = dict(parse_qsl(parts.query))
        conninfo: dict[str, Any] = {"host": parts.hostname or "localhost", "port": parts.port or 5432,
                                    "dbname": unquote(parts.path.lstrip("/")) or "postgres"}
        login = user or query.pop("user", None) or (unquote(parts.username) if parts.username else None)
        secret = password or query.pop("password", None) or (unquote(parts.password) if parts.password else None)
        if login:
            conninfo["user"] = login
        if secret:
            conninfo["password"] = secret
        return PostgresDialect(conninfo)
    raise JdbcConfigError("connection.url", f"Unsupported connection.url {url}: the JDBC connectors speak PostgreSQL "
                    "(jdbc:postgresql://host:port/database) and SQLite (jdbc:sqlite:/path/file.db)")
