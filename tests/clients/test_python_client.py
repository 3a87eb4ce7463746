"""The PyPI `ksqldb` client against ksql-server: create, insert, pull, push with and without LIMIT,
terminate, list, describe, and the same calls after 30 s idle."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.server.harness import ServerProcess

ksqldb = pytest.importorskip("ksqldb")

IDLE_SECONDS = 30
ROWS = [{"ID": 1, "NAME": "one", "AMOUNT": 1.5}, {"ID": 2, "NAME": "two", "AMOUNT": 2.5},
        {"ID": 3, "NAME": "three", "AMOUNT": 3.5}]
EARLIEST = {"auto.offset.reset": "earliest"}


def unique() -> str:
    return f"P{uuid.uuid4().hex[:8]}".upper()


def create_stream(client, name: str) -> None:
    created = client.ksql(f"CREATE STREAM {name} (ID INT KEY, NAME STRING, AMOUNT DOUBLE) WITH "
                          f"(KAFKA_TOPIC='{name.lower()}', PARTITIONS=1, VALUE_FORMAT='JSON');")
    assert created[0]["commandStatus"]["status"] == "SUCCESS"


def push(client, sql: str, stop_after: int | None = None) -> tuple[dict, list]:
    """A push query's header and rows: until it ends (LIMIT), or closed after `stop_after` rows."""
    async def read() -> tuple[dict, list]:
        query = client.query_async(sql, stream_properties=EARLIEST, timeout=20)
        header = await query.__anext__()
        rows = []
        async for row in query:
            rows.append(row)
            if stop_after is not None and len(rows) == stop_after:
                assert client.close_query(header["queryId"]) is True
        return header, rows
    return asyncio.run(read())


def pull(client, sql: str, expected: int) -> list:
    """A pull query's messages, retried until the table's materialization has `expected` rows."""
    for _ in range(100):
        header, *rows = client.query_sync(sql, timeout=10)
        if len(rows) >= expected:
            return [header, *rows]
        time.sleep(0.1)
    raise AssertionError(f"{sql} never had {expected} rows")


def exercise(client, name: str) -> None:
    """Every kind of call once, on streams and tables named after `name`."""
    create_stream(client, name)
    client.ksql(f"CREATE TABLE {name}_T AS SELECT ID, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL FROM {name} "
                "GROUP BY ID;", stream_properties=EARLIEST)
    assert client.inserts_stream(name, ROWS) == [{"status": "ok", "seq": i} for i in range(3)]

    header, *rows = pull(client, f"SELECT * FROM {name}_T WHERE ID = 2;", 1)
    assert header["columnNames"] == ["ID", "N", "TOTAL"] and rows == [[2, 1, 2.5]]

    header, rows = push(client, f"SELECT ID, NAME FROM {name} EMIT CHANGES LIMIT 3;")
    assert header["columnNames"] == ["ID", "NAME"] and rows == [[1, "one"], [2, "two"], [3, "three"]]
    header, rows = push(client, f"SELECT ID FROM {name} EMIT CHANGES;", stop_after=3)
    assert rows == [[1], [2], [3]]
    assert client.close_query(header["queryId"]) is False  # already closed

    streams = client.ksql("SHOW STREAMS;")[0]["streams"]
    assert name in [s["name"] for s in streams]
    assert f"{name}_T" in [t["name"] for t in client.ksql("LIST TABLES;")[0]["tables"]]
    assert name.lower() in [t["name"] for t in client.ksql("SHOW TOPICS;")[0]["topics"]]
    described = client.ksql(f"DESCRIBE {name}_T;")[0]["sourceDescription"]
    assert [f["name"] for f in described["fields"]] == ["ID", "N", "TOTAL"]

    queries = client.ksql("SHOW QUERIES;")[0]["queries"]
    query_id = next(q["id"] for q in queries if q["sinks"] == [f"{name}_T"])
    terminated = client.ksql(f"TERMINATE {query_id};")
    assert terminated[0]["commandStatus"]["status"] == "SUCCESS"
    assert query_id not in [q["id"] for q in client.ksql("SHOW QUERIES;")[0]["queries"]]


def test_every_call(server: ServerProcess) -> None:
    exercise(ksqldb.KSQLdbClient(server.url), unique())


@pytest.mark.slow
def test_every_call_after_30_seconds_idle(server: ServerProcess) -> None:
    client = ksqldb.KSQLdbClient(server.url)
    assert "ksql.streams.auto.offset.reset" in {p["name"] for p in client.get_properties()}
    time.sleep(IDLE_SECONDS)
    exercise(client, unique())
