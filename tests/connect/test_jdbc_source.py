"""The JDBC source against SQLite and a real PostgreSQL server, in bulk, incrementing, timestamp and
timestamp+incrementing modes, resuming from the offsets it gave."""

from __future__ import annotations

import datetime as dt

import pytest

from ksql.connect import data
from ksql.connect.jdbc_dialect import JdbcError
from ksql.connect.jdbc_source import JdbcSourceReader
from tests.connect.jdbc_helpers import execute, unique_table


def create(url: str, table: str) -> None:
    execute(url, f'CREATE TABLE "{table}" ("id" INTEGER PRIMARY KEY, "name" TEXT, "updated" TIMESTAMP, '
                 '"price" REAL)')


def insert(url: str, table: str, *rows: tuple) -> None:
    for r in rows:
        execute(url, f'INSERT INTO "{table}" VALUES (?, ?, ?, ?)', r)


def ts(second: int, micros: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, 1, 0, 0, second, micros)


def reader(url: str, offsets=None, **props) -> JdbcSourceReader:
    return JdbcSourceReader({"connection.url": url, **{k.replace("_", "."): v for k, v in props.items()}},
                            offsets)


def committed(rows):
    """The committed offsets of a runtime after these rows (the last offset of each partition), as
    the task context's offset(partition) gives them."""
    last = {JdbcSourceReader.partition_key(r.partition): r.offset for r in rows}
    return lambda partition: last.get(JdbcSourceReader.partition_key(partition))


def test_incrementing_mode_reads_new_rows_and_resumes(db_url):
    table = unique_table("inc")
    create(db_url, table)
    insert(db_url, table, (1, "a", ts(1), 1.5), (2, "b", ts(2), 2.5))
    src = reader(db_url, mode="incrementing", incrementing_column_name="id", table_whitelist=table,
                 topic_prefix="pg-")
    rows = src.poll()
    assert [r.value["name"] for r in rows] == ["a", "b"]
    assert rows[0].topic == f"pg-{table}" and rows[0].partition == {"table": table}
    assert [r.offset for r in rows] == [{"incrementing": 1}, {"incrementing": 2}]
    assert rows[0].value == {"id": 1, "name": "a", "updated": ts(1).replace(tzinfo=dt.UTC), "price": 1.5}
    schema = rows[0].value_schema
    assert schema.name == table and [f.name for f in schema.fields] == ["id", "name", "updated", "price"]
    assert schema.field("updated").schema.name == data.TIMESTAMP
    assert src.poll() == []
    insert(db_url, table, (3, "c", ts(3), 0.0))
    assert [r.value["id"] for r in src.poll()] == [3]
    src.close()
    # a new reader given the committed offset of row 2 reads row 3 again, and nothing before it
    again = reader(db_url, committed(rows), mode="incrementing", incrementing_column_name="id",
                   table_whitelist=table, topic_prefix="pg-")
    assert [r.value["id"] for r in again.poll()] == [3]
    again.close()


def test_incrementing_batches_are_bounded(db_url):
    table = unique_table("batch")
    create(db_url, table)
    insert(db_url, table, *[(i, str(i), ts(i), 0.0) for i in range(1, 8)])
    src = reader(db_url, mode="incrementing", incrementing_column_name="id", table_whitelist=table,
                 batch_max_rows="3")
    assert [[r.value["id"] for r in src.poll()] for _ in range(4)] == [[1, 2, 3], [4, 5, 6], [7], []]
    src.close()


def test_timestamp_mode_reads_updated_rows_and_keeps_equal_timestamps_together(db_url):
    table = unique_table("ts")
    create(db_url, table)
    insert(db_url, table, (1, "a", ts(1), 0.0), (2, "b", ts(2, 500), 0.0), (3, "c", ts(2, 500), 0.0),
           (4, "d", ts(3), 0.0))
    src = reader(db_url, mode="timestamp", timestamp_column_name="updated", table_whitelist=table,
                 batch_max_rows="2")
    first = src.poll()
    assert [r.value["id"] for r in first] == [1]  # rows 2 and 3 share a timestamp: they come together
    assert first[0].offset == {"timestamp": 1704067201000, "timestamp_nanos": 0}
    second = src.poll()
    assert sorted(r.value["id"] for r in second) == [2, 3]
    assert second[-1].offset == {"timestamp": 1704067202000, "timestamp_nanos": 500_000}
    assert [r.value["id"] for r in src.poll()] == [4]
    execute(db_url, f'UPDATE "{table}" SET "name" = ?, "updated" = ? WHERE "id" = ?', ("a2", ts(9), 1))
    assert [(r.value["id"], r.value["name"]) for r in src.poll()] == [(1, "a2")]
    assert src.poll() == []
    src.close()
    resumed = reader(db_url, committed(second), mode="timestamp", timestamp_column_name="updated",
                     table_whitelist=table)
    assert [r.value["id"] for r in resumed.poll()] == [4, 1]
    resumed.close()


def test_timestamp_mode_waits_for_rows_of_the_future_and_the_delay(db_url):
    table = unique_table("future")
    create(db_url, table)
    future = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    insert(db_url, table, (1, "now", ts(1), 0.0), (2, "later", future, 0.0))
    src = reader(db_url, mode="timestamp", timestamp_column_name="updated", table_whitelist=table,
                 timestamp_delay_interval_ms="1000")
    assert [r.value["id"] for r in src.poll()] == [1]
    src.close()


def test_timestamp_incrementing_mode_and_query(db_url):
    table = unique_table("tsinc")
    create(db_url, table)
    insert(db_url, table, (1, "a", ts(1), 0.0), (2, "b", ts(1), 0.0), (3, "c", ts(2), 0.0))
    query = f'SELECT "id", "name", "updated" FROM "{table}" WHERE "name" <> \'b\''
    src = reader(db_url, mode="timestamp+incrementing", timestamp_column_name="updated",
                 incrementing_column_name="id", query=query, topic_prefix="q-topic", batch_max_rows="1")
    got = [src.poll() for _ in range(3)]
    assert [[r.value["id"] for r in rows] for rows in got] == [[1], [3], []]
    assert got[0][0].partition == {"query": query} and got[0][0].topic == "q-topic"
    assert got[1][0].offset == {"incrementing": 3, "timestamp": 1704067202000, "timestamp_nanos": 0}
    insert(db_url, table, (4, "d", ts(2), 0.0))  # same timestamp, higher id: still read
    assert [r.value["id"] for r in src.poll()] == [4]
    src.close()


def test_bulk_mode_reads_everything_each_poll(db_url):
    table = unique_table("bulk")
    create(db_url, table)
    insert(db_url, table, (1, "a", ts(1), 0.0))
    src = reader(db_url, mode="bulk", table_whitelist=table)
    assert len(src.poll()) == 1 and len(src.poll()) == 1
    src.close()


def test_tables_by_default_and_blacklist(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'all.db'}"
    for t in ("one", "two", "skip"):
        create(url, t)
        insert(url, t, (1, t, ts(1), 0.0))
    src = reader(url, mode="incrementing", incrementing_column_name="id", table_blacklist="skip", topic_prefix="x_")
    assert sorted(r.topic for r in src.poll()) == ["x_one", "x_two"]
    src.close()


def test_configuration_and_query_errors_are_clear(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'e.db'}"
    with pytest.raises(JdbcError, match="mode"):
        reader(url, mode="sometimes")
    with pytest.raises(JdbcError, match="incrementing.column.name"):
        reader(url, mode="incrementing")
    with pytest.raises(JdbcError, match="topic.prefix"):
        reader(url, mode="bulk", query="SELECT 1")
    src = reader(url, mode="incrementing", incrementing_column_name="id", table_whitelist="missing")
    with pytest.raises(JdbcError, match="query failed: no such table"):
        src.poll()
