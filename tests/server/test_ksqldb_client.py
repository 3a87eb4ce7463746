"""The PyPI `ksqldb` client (HTTP/2 cleartext for /query-stream and /inserts-stream) against ksql-server."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.harness import ServerProcess

ksqldb = pytest.importorskip("ksqldb")


def test_create_insert_and_read_back_with_the_ksqldb_client(server: ServerProcess) -> None:
    client = ksqldb.KSQLdbClient(server.url)
    created = client.ksql("CREATE STREAM PY_CLIENT (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='py_client', "
                          "PARTITIONS=1, VALUE_FORMAT='JSON');")
    assert created[0]["commandStatus"]["status"] == "SUCCESS"

    acks = client.inserts_stream("PY_CLIENT", [{"ID": 1, "NAME": "one"}, {"ID": 2, "NAME": "two"},
                                              {"ID": 3, "NAME": "three"}])
    assert acks == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}, {"status": "ok", "seq": 2}]

    async def read() -> list:
        query = client.query_async("SELECT * FROM PY_CLIENT EMIT CHANGES LIMIT 3;",
                                   stream_properties={"auto.offset.reset": "earliest"}, timeout=10)
        return [message async for message in query]

    header, *rows = asyncio.run(read())
    assert header["columnNames"] == ["ID", "NAME"]
    assert rows == [[1, "one"], [2, "two"], [3, "three"]]
    properties = {p["name"]: p["value"] for p in client.get_properties()}
    assert properties["ksql.service.id"] == "default_"


def test_close_query_with_the_ksqldb_client(server: ServerProcess) -> None:
    client = ksqldb.KSQLdbClient(server.url)
    client.ksql("CREATE STREAM PY_CLOSE (V INT) WITH (KAFKA_TOPIC='py_close', PARTITIONS=1, VALUE_FORMAT='JSON');")

    async def first_header() -> str:
        query = client.query_async("SELECT * FROM PY_CLOSE EMIT CHANGES;", timeout=10)
        header = await query.__anext__()
        assert client.close_query(header["queryId"]) is True
        rest = [message async for message in query]  # the stream ends once closed
        assert rest == []
        return header["queryId"]

    query_id = asyncio.run(first_header())
    assert client.close_query(query_id) is False  # already gone
