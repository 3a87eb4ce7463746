"""Many push queries over one stream through a real server: every /query-stream subscriber gets every
row, in order, though they share one reader and hold fewer rows each than the stream carries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.server.harness import ServerProcess, ksql

SUBSCRIBERS = 50
ROWS = 600
BUFFER_ROWS = 100  # fewer than ROWS: subscribers' buffers fill and empty while the rows flow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql") / "data",
                            {"ksql.log.fsync": "never", "ksql.max.push.queries": str(SUBSCRIBERS + 5),
                             "ksql.server.push.buffer.rows": str(BUFFER_ROWS)}).start()
    try:
        yield process
    finally:
        process.kill()


async def _subscribe(client: httpx.AsyncClient, running: asyncio.Semaphore) -> list[int]:
    """The IDs one /query-stream push query receives (it ends at its LIMIT)."""
    body = {"sql": f"SELECT ID FROM FANOUT EMIT CHANGES LIMIT {ROWS};"}
    async with client.stream("POST", "/query-stream", json=body,
                             headers={"accept": "application/vnd.ksqlapi.delimited.v1"}) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        header = orjson.loads(await anext(lines))
        assert header["columnNames"] == ["ID"]
        running.release()
        return [orjson.loads(line)[0] async for line in lines if line]


async def _fan_out(url: str) -> list[list[int]]:
    limits = httpx.Limits(max_connections=SUBSCRIBERS + 5)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        running = asyncio.Semaphore(0)
        tasks = [asyncio.create_task(_subscribe(client, running)) for _ in range(SUBSCRIBERS)]
        for _ in range(SUBSCRIBERS):  # every query runs (from the latest offsets) before a row is written
            await asyncio.wait_for(running.acquire(), 60)
        rows = b'{"target": "FANOUT"}\n' + b"".join(orjson.dumps({"ID": i}) + b"\n" for i in range(ROWS))
        response = await client.post("/inserts-stream", content=rows)
        assert response.status_code == 200 and b'"error"' not in response.content
        return await asyncio.gather(*tasks)


def test_fifty_subscribers_all_receive_every_row(server: ServerProcess) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM FANOUT (ID INT) WITH (KAFKA_TOPIC='fanout', PARTITIONS=1, VALUE_FORMAT='JSON');")
    received = asyncio.run(_fan_out(server.url))
    assert len(received) == SUBSCRIBERS
    assert all(ids == list(range(ROWS)) for ids in received)
