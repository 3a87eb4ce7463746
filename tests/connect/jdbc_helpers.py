"""What the JDBC connector tests share: the databases (a SQLite file, the PostgreSQL server) and queries."""

from __future__ import annotations

import uuid

import pytest

from ksql.connect.jdbc_dialect import dialect_for, quote_table


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """A JDBC URL of each database the connectors speak: a SQLite file, then the PostgreSQL server."""
    if request.param == "sqlite":
        return f"jdbc:sqlite:{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url") + "?user=ksql"


def unique_table(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def execute(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one statement against the database of `url` and commit; the rows it returns."""
    dialect = dialect_for(url)
    conn = dialect.connect()
    try:
        cursor = conn.cursor()
        cursor.execute(sql.replace("?", dialect.placeholder), tuple(map(dialect.bind, params)))
        rows = cursor.fetchall() if cursor.description else []
        conn.commit()
        return [tuple(r) for r in rows]
    finally:
        conn.close()


def table_rows(url: str, table: str, order_by: str) -> list[tuple]:
    return execute(url, f'SELECT * FROM {quote_table(table)} ORDER BY "{order_by}"')
