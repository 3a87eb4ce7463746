"""Restarts lose nothing: SIGTERM and SIGKILL, then every stream, table, type, variable and query is back,
each query resumes from its committed offsets, and every sink is complete without duplicates."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle
from tests.server.poison import interleaved, produce, unreadable_json

SETUP = """
CREATE TYPE ADDRESS AS STRUCT<STREET STRING, ZIP INT>;
DEFINE suffix = 'done';
CREATE STREAM EVENTS (K STRING KEY, V INT, A ADDRESS) WITH (KAFKA_TOPIC='events', PARTITIONS=2, VALUE_FORMAT='JSON');
CREATE STREAM BIG AS SELECT K, V * 10 AS W FROM EVENTS WHERE V % 3 <> 0;
CREATE TABLE TOTALS AS SELECT K, COUNT(*) AS N, SUM(V) AS S FROM EVENTS GROUP BY K;
CREATE TABLE LABELS (K STRING PRIMARY KEY, LABEL STRING) WITH (KAFKA_TOPIC='labels', PARTITIONS=2, VALUE_FORMAT='JSON');
CREATE STREAM LABELLED AS SELECT E.K AS K, E.V AS V, L.LABEL AS LABEL FROM EVENTS E LEFT JOIN LABELS L ON E.K = L.K;
"""


def _check_sinks(client: httpx.Client) -> list[int]:
    """Every sink is exactly what its query makes of the source; returns the source's V values."""
    wait_idle(client)
    events = query_rows(client, "SELECT K, V FROM EVENTS;")
    values = [v for _, v in events]
    assert len(values) == len(set(values)), "a source record twice"
    big = query_rows(client, "SELECT W FROM BIG;")
    expected_big = sorted(v * 10 for v in values if v % 3 != 0)
    assert sorted(w for [w] in big) == expected_big, "BIG lost or duplicated records"
    totals = {k: (n, s) for k, n, s in query_rows(client, "SELECT K, N, S FROM TOTALS;")}
    expected: dict[str, tuple[int, int]] = {}
    for k, v in events:
        n, s = expected.get(k, (0, 0))
        expected[k] = (n + 1, s + v)
    assert totals == expected, "TOTALS counted a record twice or missed one"
    labelled = query_rows(client, "SELECT V FROM LABELLED;")
    assert sorted(v for [v] in labelled) == sorted(values), "LABELLED (a join) lost or duplicated records"
    return values


def _state(client: httpx.Client) -> dict:
    entities = ksql(client, "SHOW STREAMS; SHOW TABLES; SHOW TYPES; SHOW VARIABLES; SHOW QUERIES;")
    return {
        "streams": sorted(s["name"] for s in entities[0]["streams"]),
        "tables": sorted(t["name"] for t in entities[1]["tables"]),
        "types": sorted(entities[2]["types"]),
        "variables": entities[3]["variables"],
        "queries": sorted((q["id"], q["state"]) for q in entities[4]["queries"]),
    }


def _insert(client: httpx.Client, values: range) -> list[dict]:
    lines = [json.dumps({"target": "EVENTS"})] + [
        json.dumps({"K": f"k{v % 7}", "V": v, "A": {"STREET": "main", "ZIP": v}}) for v in values]
    return [json.loads(line) for line in client.post("/inserts-stream", content="\n".join(lines) + "\n")
            .text.splitlines()]


def test_sigterm_restart_restores_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    with server.client() as c:
        ksql(c, SETUP)
        assert all(a["status"] == "ok" for a in _insert(c, range(100)))
        _check_sinks(c)
        before = _state(c)
    assert server.terminate() == 0  # graceful
    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client() as c:
            assert _state(c) == before
            assert before["queries"] == [("CSAS_BIG_3", "RUNNING"), ("CSAS_LABELLED_6", "RUNNING"),
                                         ("CTAS_TOTALS_4", "RUNNING")]
            assert before["variables"] == [{"name": "SUFFIX", "value": "done"}]
            assert all(a["status"] == "ok" for a in _insert(c, range(100, 150)))
            assert sorted(_check_sinks(c)) == list(range(150))
            # the restored type and variable work in new statements
            ksql(c, "CREATE STREAM ADDRS (A ADDRESS) WITH (KAFKA_TOPIC='addrs', PARTITIONS=1, VALUE_FORMAT='JSON');"
                    "CREATE STREAM ${suffix}_COPY AS SELECT * FROM ADDRS;")
            assert "DONE_COPY" in _state(c)["streams"]
    finally:
        server.kill()


def _insert_among_poison(client: httpx.Client, first_value: int, poison: int) -> list[int]:
    """`poison` unreadable records (100k-level nesting among them) appended to the events topic, with
    valid rows inserted between every 500 of them; returns the acknowledged values."""
    records = [r for _, r in interleaved(unreadable_json(), poison, 1, 500)]
    acked = []
    for start in range(0, poison, 500):
        produce(client, "events", records[start:start + 500])
        values = range(first_value + start // 10, first_value + start // 10 + 50)
        acked += [values[a["seq"]] for a in _insert(client, values) if a["status"] == "ok"]
    return acked


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    """Also with 10,000 unreadable records among the input: the queries skip them before and after
    the kill (none is in ERROR after the restart) and their sinks are complete."""
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    with server.client(timeout=30) as c:
        ksql(c, SETUP)
        before = _state(c)
        acked: list[int] = _insert_among_poison(c, 5_000_000, 10_000)  # the queries work through these
    next_value = 0

    def write(target: ServerProcess, start: int, stop: threading.Event) -> None:
        value = start
        with target.client(timeout=5) as w:
            while not stop.is_set():
                try:
                    acks = _insert(w, range(value, value + 50))
                except httpx.HTTPError:
                    return  # the server died under us
                acked.extend(value + a["seq"] for a in acks if a["status"] == "ok")
                value += 50

    for _round in range(2):
        stop = threading.Event()
        writer = threading.Thread(target=write, args=(server, next_value, stop))
        writer.start()
        time.sleep(0.8)
        server.kill()  # SIGKILL while rows flow in and queries process them
        stop.set()
        writer.join()
        next_value += 1_000_000
        server = ServerProcess(data, port=server.port).start()
        with server.client() as c:
            assert _state(c) == before  # every stream, table, type, variable and query is back
            values = _check_sinks(c)
            assert set(acked) <= set(values), "an acknowledged row was lost"
    server.kill()
    assert len(acked) > 1100


@pytest.mark.parametrize("http_server", ["hypercorn", "uvicorn"])
def test_sigterm_ends_open_push_queries_and_exits_cleanly(tmp_path: Path, http_server: str) -> None:
    server = ServerProcess(tmp_path / "data", {"ksql.log.fsync": "never"},
                           extra_args=["--http-server", http_server]).start()
    with server.client() as c:
        ksql(c, "CREATE STREAM LIVE (V INT) WITH (KAFKA_TOPIC='live', PARTITIONS=1, VALUE_FORMAT='JSON');")
    lines: list[str] = []

    def follow() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c, c.stream(
                "POST", "/query", json={"ksql": "SELECT * FROM LIVE EMIT CHANGES;"}) as response:
            lines.extend(response.iter_lines())

    reader = threading.Thread(target=follow)
    reader.start()
    deadline = time.monotonic() + 5
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert server.terminate() == 0
    assert time.monotonic() - started < 5
    reader.join(5)
    assert not reader.is_alive() and "header" in lines[0]
