"""Many push queries over one stream through a real server: every /query-stream subscriber gets every
row, in order, though they share one reader and hold fewer rows each than the stream carries; a
subscriber that reads nothing holds up no other one, and gets every row once it reads."""

from __future__ import annotations

import asyncio
import re
import socket
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


SLOW_ROWS = 5000
PAD = "x" * 1000  # 5 MB in all: more than the socket buffers between the server and a client hold


async def _stalled_subscriber(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A /query-stream push query whose client reads its header, then nothing (a small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
    body = orjson.dumps({"sql": f"SELECT ID, PAD FROM SLOWFAN EMIT CHANGES LIMIT {SLOW_ROWS};"})
    writer.write(b"POST /query-stream HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Accept: application/vnd.ksqlapi.delimited.v1\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    while b"}\n" not in seen:  # the header: the query runs
        seen += await reader.read(4096)
    return reader, writer


async def _stalled_and_fast(url: str, port: int) -> tuple[list[int], list[int]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        reader, writer = await _stalled_subscriber(port)
        running = asyncio.Semaphore(0)
        body = {"sql": f"SELECT ID, PAD FROM SLOWFAN EMIT CHANGES LIMIT {SLOW_ROWS};"}

        async def fast() -> list[int]:
            async with client.stream("POST", "/query-stream", json=body,
                                     headers={"accept": "application/vnd.ksqlapi.delimited.v1"}) as response:
                lines = response.aiter_lines()
                await anext(lines)
                running.release()
                return [orjson.loads(line)[0] async for line in lines if line]

        task = asyncio.create_task(fast())
        await asyncio.wait_for(running.acquire(), 60)
        rows = b'{"target": "SLOWFAN"}\n' + b"".join(orjson.dumps({"ID": i, "PAD": PAD}) + b"\n"
                                                     for i in range(SLOW_ROWS))
        response = await client.post("/inserts-stream", content=rows)
        assert response.status_code == 200 and b'"error"' not in response.content
        fast_ids = await asyncio.wait_for(task, 60)  # while the stalled client still reads nothing
        stalled = await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 60)  # it reads: every row comes
        writer.close()
        return fast_ids, [int(i) for i in re.findall(rb'\[(\d+),"x', stalled)]


def test_a_stalled_subscriber_holds_up_no_other_and_gets_every_row_once_it_reads(server: ServerProcess) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM SLOWFAN (ID INT, PAD STRING) WITH (KAFKA_TOPIC='slowfan', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
    fast_ids, stalled_ids = asyncio.run(_stalled_and_fast(server.url, server.port))
    assert fast_ids == list(range(SLOW_ROWS))
    assert stalled_ids == list(range(SLOW_ROWS))
