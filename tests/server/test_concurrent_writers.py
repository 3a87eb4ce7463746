"""Concurrent writers over HTTP (with ksql.log.fsync=always): /inserts-stream clients sending a row per
chunk, INSERT VALUES requests and /topics records, appended in shared group commit rounds. Every row
lands exactly once and in its writer's order, and a kill -9 loses no acknowledged row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson

from tests.server.harness import ServerProcess, ksql, query_rows

SETUP = "CREATE STREAM S (W INT, N INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');"
STREAM_WRITERS, VALUES_WRITERS, RECORDS_WRITERS = 4, 3, 1
ROWS_PER_REQUEST = 10


def _stream_rows(writer: int, first: int) -> Iterator[bytes]:
    """An /inserts-stream body sending each row in its own chunk."""
    yield orjson.dumps({"target": "S"}) + b"\n"
    for n in range(first, first + ROWS_PER_REQUEST):
        yield orjson.dumps({"W": writer, "N": n}) + b"\n"


def _stream_writer(client: httpx.Client, writer: int, first: int) -> list[int]:
    acks = [orjson.loads(line) for line in
            client.post("/inserts-stream", content=_stream_rows(writer, first)).text.splitlines()]
    assert all(a["status"] == "ok" for a in acks), acks
    return [first + a["seq"] for a in acks]


def _values_writer(client: httpx.Client, writer: int, first: int) -> list[int]:
    acked = []
    for n in range(first, first + ROWS_PER_REQUEST):
        ksql(client, f"INSERT INTO S (W, N) VALUES ({writer}, {n});")
        acked.append(n)
    return acked


def _records_writer(client: httpx.Client, writer: int, first: int) -> list[int]:
    rows = range(first, first + ROWS_PER_REQUEST)
    response = client.post("/topics/s/records", json={"records": [{"value": {"W": writer, "N": n}} for n in rows]})
    assert response.status_code == 200, response.text
    return list(rows)


WRITERS: list[tuple[int, Callable[[httpx.Client, int, int], list[int]]]] = (
    [(w, _stream_writer) for w in range(STREAM_WRITERS)]
    + [(100 + w, _values_writer) for w in range(VALUES_WRITERS)]
    + [(200 + w, _records_writer) for w in range(RECORDS_WRITERS)])


def _write(server: ServerProcess, first: int, rounds: int | None, stop: threading.Event,
           acked: dict[int, list[int]]) -> list[threading.Thread]:
    """Start every writer: `rounds` requests each (or until `stop`, or the server dies)."""
    def run(writer: int, request: Callable[[httpx.Client, int, int], list[int]]) -> None:
        with server.client(timeout=30) as client:
            n, done = first, 0
            while not stop.is_set() and (rounds is None or done < rounds):
                try:
                    acked[writer].extend(request(client, writer, n))
                except httpx.HTTPError:
                    return  # the server was killed under us
                n, done = n + ROWS_PER_REQUEST, done + 1

    for writer, _ in WRITERS:
        acked.setdefault(writer, [])
    threads = [threading.Thread(target=run, args=writer) for writer in WRITERS]
    for thread in threads:
        thread.start()
    return threads


def _stored(client: httpx.Client) -> dict[int, list[int]]:
    """Each writer's N values in the order the stream (one partition) holds them."""
    rows: dict[int, list[int]] = {}
    for w, n in query_rows(client, "SELECT W, N FROM S;"):
        rows.setdefault(w, []).append(n)
    return rows


def test_concurrent_writers_land_once_in_order_and_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, {"ksql.log.fsync": "always"}).start()
    acked: dict[int, list[int]] = {}
    try:
        with server.client() as c:
            ksql(c, SETUP)
        threads = _write(server, 0, 3, threading.Event(), acked)
        for thread in threads:
            thread.join()
        with server.client() as c:
            stored = _stored(c)
        assert {w: sorted(ns) for w, ns in acked.items()} == {w: list(range(30)) for w, _ in WRITERS}
        assert stored == acked, "a row lost, duplicated or out of its writer's order"

        stop = threading.Event()
        threads = _write(server, 1000, None, stop, acked)
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < 30 * len(WRITERS) + 150:  # writers are well under way
            assert time.monotonic() < deadline, "the writers made no progress"
            time.sleep(0.01)
        server.kill()  # SIGKILL right after acknowledgements, with writes in flight
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        server.kill()
    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client() as c:
            stored = _stored(c)
        for writer, ns in acked.items():
            kept = stored.get(writer, [])
            assert len(kept) == len(set(kept)), f"writer {writer}: a row twice"
            assert kept == sorted(kept), f"writer {writer}: rows out of order"
            assert set(ns) <= set(kept), f"writer {writer}: an acknowledged row was lost"
    finally:
        server.kill()
