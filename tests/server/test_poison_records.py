"""Unreadable records in source topics, through the real server: 10,000 of them (100k-level nesting,
invalid UTF-8, huge numbers, truncated Avro and Protobuf) interleaved with valid ones are skipped by the
persistent queries, a push query and pull queries, which keep answering; and inserts that the queries
would drop are refused in their acknowledgement."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql

DEPTH = 100_000
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


def json_poisons() -> list[bytes]:
    """Values no JSON reader accepts, and values that decode only to rows the queries filter out (T='bad')."""
    huge = b"1" + b"0" * 400
    return [
        b"[" * DEPTH + b"]" * DEPTH, b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
        b'{"T": "\xff\xfe"}', b'{"T": "\\ud800"}', b"\x00", b"", b'{"V": 1, "T": "ok', b"\xde\xad\xbe\xef",
        b'{"V": 1e400, "T": "bad"}', b'{"B": 1e400, "T": "bad"}', b'{"D": 1e400, "T": "bad"}',
        b'{"X": 1e400, "T": "bad"}', b'{"V": %s, "T": "bad"}' % huge, b'{"B": %s, "T": "bad"}' % huge,
        b'{"D": %s, "T": "bad"}' % huge, b'{"X": %s, "T": "bad"}' % huge,
        b"[" * 2000 + b"]" * 2000, b'{"T": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ]


def framed_poisons() -> list[bytes]:
    """Truncated or garbage Avro / Protobuf records, with and without Confluent's framing."""
    return [b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00\x01", b"\x00\x00\x00\x00\x01\x02",
            b"\x00\x00\x00\x00\x02\x00\x0a", b"\x00\x00\x00\x7f\xff\x02\x02", b"\x00\x00\x00\x00\x01\xff\xff\xff",
            b"\x00\x00\x00\x00\x02" + b"\x80" * 1000, b"\x07garbage", b"",
            b"\x00\x00\x00\x00\x01" + b"[" * DEPTH]


def _raw(key: str, value: bytes) -> dict:
    return {"key": key, "rawValue": base64.b64encode(value).decode()}


def interleaved(poisons: list[bytes], bad: int, valid: int, deep_every: int) -> Iterator[tuple[bool, dict]]:
    """(is_valid, record) for `bad` poison records with `valid` valid ones (T = ok-<i>) spread among them;
    the poisons of 100k-level nesting (the first two of a list, if that long) only every `deep_every`."""
    shallow = [p for p in poisons if len(p) < DEPTH]
    deep = [p for p in poisons if len(p) >= DEPTH]
    step = bad // valid
    n_valid = 0
    for i in range(bad):
        if deep and i % deep_every == 0:
            value = deep[(i // deep_every) % len(deep)]
        else:
            value = shallow[i % len(shallow)]
        yield False, _raw(f"k{i % 5}", value)
        if i % step == step - 1 and n_valid < valid:
            yield True, {"key": f"k{n_valid % 5}", "value": {"V": n_valid, "T": f"ok-{n_valid}"}}
            n_valid += 1


def _produce(client: httpx.Client, topic: str, records: list[dict], per_request: int = 500) -> None:
    for start in range(0, len(records), per_request):
        response = client.post(f"/topics/{topic}/records", json={"records": records[start:start + per_request]})
        assert response.status_code == 200, response.text[:500]


def _wait_idle(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/clusterStatus").json()["clusterStatus"]
        lags = [q["offsetLag"] for host in status.values() for q in host["hostStoreLags"]["stateStoreLags"].values()]
        if not any(lags):
            return
        time.sleep(0.05)
    raise AssertionError(f"queries did not catch up: {status}")


def _pull(client: httpx.Client, sql: str) -> list[list]:
    response = client.post("/query", json={"ksql": sql})
    assert response.status_code == 200, response.text[:500]
    return [m["row"]["columns"] for m in response.json() if "row" in m]


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
            _produce(c, topic, [r for _, r in records])
        _wait_idle(c)
        reader.join(60)
        assert not reader.is_alive() and sorted(pushed) == expected["events"]
        assert _query_states(c) == Counter({"RUNNING": 4})
        assert sorted(t for [t] in _pull(c, "SELECT T FROM COPY;")) == expected["events"]
        assert sorted(t for [t] in _pull(c, "SELECT T FROM ACOPY;")) == expected["aevents"]
        assert dict(_pull(c, "SELECT K, N FROM COUNTS;")) == {f"k{i}": 160 for i in range(5)}
        assert dict(_pull(c, "SELECT K, N FROM PCOUNTS;")) == {f"k{i}": 20 for i in range(5)}
        assert _pull(c, "SELECT K, N FROM COUNTS WHERE K = 'k3';") == [["k3", 160]]
        scanned = _pull(c, "SELECT T FROM EVENTS WHERE T LIKE 'ok-%';")
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
        _wait_idle(c)
        assert sorted(_pull(c, "SELECT K, V FROM TS_COPY;")) == [["a", 1], ["f", 6]]

