"""Unreadable records in source topics, through the real server: 10,000 of them (100k-level nesting,
invalid UTF-8, huge numbers, truncated Avro and Protobuf) interleaved with valid ones are skipped by the
persistent queries, a push query and pull queries, which keep answering; and inserts that the queries
would drop are refused in their acknowledgement."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle
from tests.server.poison import framed_poisons, interleaved, json_poisons, produce

SETUP = """
CREATE STREAM EVENTS (K STRING KEY, V INT, B BIGINT, D DOUBLE, X DECIMAL(10, 2), T STRING)
  WITH (KAFKA_TOPIC='events', PARTITIONS=2, VALUE_FORMAT='JSON');
CREATE STREAM AEVENTS (K STRING KEY, V INT, T STRING) WITH (KAFKA_TOPIC='aevents', PARTITIONS=1, VALUE_FORMAT='AVRO');
CREATE STREAM PEVENTS (K STRING KEY, V INT, T STRING)
  WITH (KAFKA_TOPIC='pevents', PARTITIONS=1, VALUE_FORMAT='PROTOBUF');
CREATE STREAM COPY AS SELECT K, V, T FROM EVENTS WHERE T LIKE 'ok-%';
CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM EVENTS WHERE T LIKE 'ok-%' GROUP BY K;
CREATE STREAM ACOPY AS SELECT K, T FROM AEVENTS;
CREATE TABLE PCOUNTS AS SELECT K, COUNT(*) AS N FROM PEVENTS GROUP BY K;
"""


def _query_states(client: httpx.Client) -> Counter:
    [entity] = ksql(client, "SHOW QUERIES;")
    return Counter(q["state"] for q in entity["queries"])


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("poison") / "data", {"ksql.log.fsync": "never"}).start()
    try:
        yield process
    finally:
        process.kill()


def test_ten_thousand_poison_records_are_skipped_by_every_query(big_server: ServerProcess) -> None:
    with big_server.client(timeout=30) as c:
        ksql(c, SETUP)
        streams = {"events": list(interleaved(json_poisons(), 8_000, 800, 400)),
                   "aevents": list(interleaved(framed_poisons(), 1_000, 100, 250)),
                   "pevents": list(interleaved(framed_poisons(), 1_000, 100, 250))}
        assert sum(not ok for records in streams.values() for ok, _ in records) == 10_000
        expected = {topic: sorted(r["value"]["T"] for ok, r in records if ok) for topic, records in streams.items()}
        pushed: list[str] = []

        def follow() -> None:
            body = {"sql": f"SELECT T FROM EVENTS WHERE T LIKE 'ok-%' EMIT CHANGES LIMIT {len(expected['events'])};"}
            with httpx.Client(base_url=big_server.url, timeout=60) as p, \
                    p.stream("POST", "/query-stream", json=body) as response:
                lines = response.iter_lines()
                next(lines)  # the header: the query reads from here on
                started.set()
                pushed.extend(json.loads(line)[0] for line in lines if line.strip())

        started = threading.Event()
        reader = threading.Thread(target=follow)
        reader.start()
        assert started.wait(10)
        for topic, records in streams.items():
            produce(c, topic, [r for _, r in records])
        wait_idle(c)
        reader.join(60)
        assert not reader.is_alive() and sorted(pushed) == expected["events"]
        assert _query_states(c) == Counter({"RUNNING": 4})
        assert sorted(t for [t] in query_rows(c, "SELECT T FROM COPY;")) == expected["events"]
        assert sorted(t for [t] in query_rows(c, "SELECT T FROM ACOPY;")) == expected["aevents"]
        assert dict(query_rows(c, "SELECT K, N FROM COUNTS;")) == {f"k{i}": 160 for i in range(5)}
        assert dict(query_rows(c, "SELECT K, N FROM PCOUNTS;")) == {f"k{i}": 20 for i in range(5)}
        assert query_rows(c, "SELECT K, N FROM COUNTS WHERE K = 'k3';") == [["k3", 160]]
        scanned = query_rows(c, "SELECT T FROM EVENTS WHERE T LIKE 'ok-%';")
        assert sorted(t for [t] in scanned) == expected["events"]
        assert c.get("/status").status_code == 200
    assert "failed and stopped" not in big_server.output()


def test_inserts_the_queries_would_drop_are_refused_in_the_acknowledgement(big_server: ServerProcess) -> None:
    with big_server.client() as c:
        ksql(c, "CREATE STREAM TS_EVENTS (K STRING KEY, TS BIGINT, V INT) WITH (KAFKA_TOPIC='ts_events', "
                "PARTITIONS=1, VALUE_FORMAT='JSON', TIMESTAMP='TS');"
                "CREATE TABLE KEYED (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='keyed', PARTITIONS=1, "
                "VALUE_FORMAT='JSON');"
                "CREATE STREAM TS_COPY AS SELECT * FROM TS_EVENTS;")
        rows = [{"K": "a", "TS": 5, "V": 1}, {"K": "b", "TS": None, "V": 2}, {"K": "c", "TS": -1, "V": 3},
                {"K": "d", "V": 4}, {"K": "e", "TS": 6, "V": 2**40}, {"K": "f", "TS": 7, "V": 6}]
        body = "\n".join(json.dumps(x) for x in [{"target": "TS_EVENTS"}, *rows]) + "\n"
        acks = [json.loads(line) for line in c.post("/inserts-stream", content=body).text.splitlines()]
        assert [a["status"] for a in acks] == ["ok", "error", "error", "error", "error", "ok"]
        assert "The TIMESTAMP column TS is null" in acks[1]["message"]
        assert "The TIMESTAMP column TS is negative (-1)" in acks[2]["message"]
        assert "1099511627776 is out of range for type INTEGER" in acks[4]["message"]
        body = "\n".join(json.dumps(x) for x in [{"target": "KEYED"}, {"V": 1}, {"K": "k", "V": 2}]) + "\n"
        acks = [json.loads(line) for line in c.post("/inserts-stream", content=body).text.splitlines()]
        assert [a["status"] for a in acks] == ["error", "ok"]
        assert "Value for primary key column(s) K is required for tables" in acks[0]["message"]
        response = c.post("/ksql", json={"ksql": "INSERT INTO TS_EVENTS (K, TS, V) VALUES ('g', NULL, 1);"})
        assert response.status_code == 400
        assert response.json()["message"].startswith(
            "Failed to insert values into 'TS_EVENTS'. The TIMESTAMP column TS is null")
        wait_idle(c)
        assert sorted(query_rows(c, "SELECT K, V FROM TS_COPY;")) == [["a", 1], ["f", 6]]



def test_raw_record_bytes_are_checked_base64(big_server: ServerProcess) -> None:
    with big_server.client() as c:
        ksql(c, "CREATE STREAM RAW (K STRING KEY, V INT) WITH (KAFKA_TOPIC='raw', PARTITIONS=1, VALUE_FORMAT='JSON');")
        both = c.post("/topics/raw/records", json={"records": [{"value": {"V": 1}, "rawValue": "AA=="}]})
        assert both.status_code == 400 and 'either "value" or "rawValue"' in both.json()["message"]
        bad = c.post("/topics/raw/records", json={"records": [{"rawKey": "not base64!"}]})
        assert bad.status_code == 400 and "rawKey is not valid base64" in bad.json()["message"]
        ok = c.post("/topics/raw/records", json={"records": [{"rawKey": "azE=", "rawValue": "eyJWIjogN30="}]})
        assert ok.status_code == 200
        rows = c.post("/query-stream", headers={"accept": "application/json"},
                      json={"sql": "SELECT K, V FROM RAW EMIT CHANGES LIMIT 1;",
                            "properties": {"auto.offset.reset": "earliest"}})
        assert rows.json()[1] == ["k1", 7]


def test_every_push_endpoint_delivers_the_valid_rows_around_poison_records(big_server: ServerProcess) -> None:
    """/query, /query-stream, SSE and WebSocket push queries over a topic with unreadable records."""
    from websockets.sync.client import connect

    with big_server.client(timeout=30) as c:
        ksql(c, "CREATE STREAM PUSHED (K STRING KEY, V INT, B BIGINT, D DOUBLE, X DECIMAL(10, 2), T STRING) "
                "WITH (KAFKA_TOPIC='pushed', PARTITIONS=1, VALUE_FORMAT='JSON');")
        records = list(interleaved(json_poisons(), 300, 30, 100))
        produce(c, "pushed", [r for _, r in records])
        expected = [r["value"]["T"] for ok, r in records if ok]
        sql = f"SELECT T FROM PUSHED WHERE T LIKE 'ok-%' EMIT CHANGES LIMIT {len(expected)};"
        earliest = {"auto.offset.reset": "earliest"}
        chunked = c.post("/query", json={"ksql": sql, "streamsProperties": earliest})
        assert [m["row"]["columns"][0] for m in chunked.json() if "row" in m] == expected
        delimited = c.post("/query-stream", headers={"accept": "application/json"},
                           json={"sql": sql, "properties": earliest})
        assert [row[0] for row in delimited.json()[1:]] == expected
        params = {"sql": sql, "properties": json.dumps(earliest)}
        with c.stream("GET", "/query/sse", params=params) as response:
            data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
        assert [json.loads(d)[0] for d in data[1:] if d.startswith("[")] == expected
    request = json.dumps({"ksql": sql, "streamsProperties": earliest})
    with connect(big_server.url.replace("http://", "ws://") + "/ws/query?" + urlencode({"request": request})) as ws:
        ws.recv(timeout=10)  # the schema
        assert [json.loads(ws.recv(timeout=10))["row"]["columns"][0] for _ in expected] == expected


def test_print_shows_unreadable_records_raw(big_server: ServerProcess) -> None:
    """PRINT prints what a format cannot read (100k-level nesting in JSON_SR, an absurd timestamp) as is."""
    with big_server.client(timeout=30) as c:
        ksql(c, "CREATE STREAM SR (K STRING KEY, V INT) WITH (KAFKA_TOPIC='sr', PARTITIONS=1, "
                "VALUE_FORMAT='JSON_SR');")
        deep = b"\x00\x00\x00\x00\x01" + b"[" * 100_000 + b"]" * 100_000
        produce(c, "sr", [{"key": "a", "value": {"V": 1}, "timestamp": 0},
                          {"key": "b", "rawValue": base64.b64encode(deep).decode(), "timestamp": 10**16},
                          {"key": "c", "value": {"V": 3}, "timestamp": 1000}])
        response = c.post("/query", json={"ksql": "PRINT 'sr' FROM BEGINNING LIMIT 3;"})
        lines = [line for line in response.text.splitlines() if line.startswith("rowtime:")]
    assert lines[0] == 'rowtime: 1970/01/01 00:00:00.000 Z, key: a, value: {"V":1}, partition: 0'
    assert lines[1].startswith("rowtime: +318857/05/20 17:46:40.000 Z, key: b, value: 00000000015b5b5b")
    assert lines[2] == 'rowtime: 1970/01/01 00:00:01.000 Z, key: c, value: {"V":3}, partition: 0'
