"""A real full disk under a running server: its data directory on a small tmpfs that the test fills.

Needs root and a working `mount` (skipped otherwise). Every write the disk refuses
is answered with 507 and ksqlDB's error JSON; a persistent query whose output
does not fit goes to ERROR (and /healthcheck to unhealthy), then recovers by
itself once space is freed, with every record counted once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.disk_faults import fill, small_tmpfs
from tests.server.harness import ServerProcess, ksql

NOTE = "x" * 3000  # a value too big for what is left in any file's last page
RESERVE = 16 * 1024  # what the test frees to let one small write through


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "16m") as path:
        yield path


def wait_for(get, done, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            assert done(value), value
            return value
        time.sleep(0.05)


def assert_disk_full(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    body = response.json()
    assert body["@type"] in ("generic_error", "statement_error") and body["error_code"] == 50700
    assert body["message"].startswith("the server's disk is full: ") and "Errno" not in body["message"]


def records(n: int, start: int = 0) -> dict:
    return {"records": [{"key": f"u{i % 3}", "value": {"MS": i, "NOTE": NOTE}} for i in range(start, start + n)]}


def pull_counts(client: httpx.Client) -> dict:
    rows = client.post("/query", json={"ksql": "SELECT USER, N FROM PER_USER;"}).json()
    return {row["row"]["columns"][0]: row["row"]["columns"][1] for row in rows[1:]}


def copied_ms(client: httpx.Client) -> list[int]:
    rows = client.post("/query", json={"ksql": "SELECT MS FROM COPY;"}).json()
    return [row["row"]["columns"][0] for row in rows if "row" in row]


def test_a_full_disk_is_refused_cleanly_and_queries_recover_exactly(disk: Path) -> None:
    server = ServerProcess(disk, {"ksql.log.fsync": "always", "ksql.query.retry.backoff.initial.ms": "100",
                                  "ksql.query.retry.backoff.max.ms": "400"}).start()
    try:
        with server.client() as client:
            ksql(client, "CREATE STREAM CLICKS (USER STRING KEY, MS INT, NOTE STRING) "
                         "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);")
            ksql(client, "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;",
                 {"auto.offset.reset": "earliest"})
            [copy] = ksql(client, "CREATE STREAM COPY AS SELECT * FROM CLICKS;", {"auto.offset.reset": "earliest"})
            assert client.post("/topics/clicks/records", json=records(30)).status_code == 200
            wait_for(lambda: pull_counts(client), lambda c: c == {"u0": 10, "u1": 10, "u2": 10})
            query_id = copy["commandStatus"]["queryId"]
            ksql(client, f"PAUSE {query_id};")
            assert client.post("/topics/clicks/records", json=records(30, 30)).status_code == 200

            reserve = disk / "reserve"
            reserve.write_bytes(b"\0" * RESERVE)
            filler = fill(disk)
            assert_disk_full(client.post("/ksql", json={"ksql": f"INSERT INTO CLICKS (USER, MS, NOTE) "
                                                                f"VALUES ('u0', 1, '{NOTE}');"}))
            assert_disk_full(client.post("/inserts-stream", content=b'{"target": "CLICKS"}\n' + httpx.Request(
                "POST", "/", json={"USER": "u0", "MS": 1, "NOTE": NOTE}).content + b"\n"))
            assert_disk_full(client.post("/topics/clicks/records", json=records(3)))
            before = ksql(client, "SHOW STREAMS;")[0]["streams"]
            assert_disk_full(client.post("/ksql", json={"ksql": "CREATE STREAM OTHER (A INT) WITH "
                                                                "(KAFKA_TOPIC='other', VALUE_FORMAT='JSON', "
                                                                "PARTITIONS=1);"}))
            assert ksql(client, "SHOW STREAMS;")[0]["streams"] == before

            reserve.unlink()  # room for the RESUME command, not for the query's output
            ksql(client, f"RESUME {query_id};")
            health = wait_for(lambda: client.get("/healthcheck"), lambda r: r.status_code == 503)
            assert health.json()["isHealthy"] is False
            assert health.json()["details"]["persistentQueries"]["errors"][0]["queryId"] == query_id
            [shown] = ksql(client, "SHOW QUERIES;")
            assert {q["id"]: q["state"] for q in shown["queries"]}[query_id] == "ERROR"

            filler.unlink()
            wait_for(lambda: client.get("/healthcheck"), lambda r: r.status_code == 200)
            [shown] = ksql(client, "SHOW QUERIES;")
            assert {q["state"] for q in shown["queries"]} == {"RUNNING"}
            wait_for(lambda: pull_counts(client), lambda c: c == {"u0": 20, "u1": 20, "u2": 20})
            copied = wait_for(lambda: copied_ms(client), lambda ms: len(ms) >= 60)
            assert sorted(copied) == list(range(60))
    finally:
        server.kill()
