"""Records written into a CTAS's changelog topic through the API never run code at restart.

Over the real server: a pickle payload (that would create a file) and junk go into
the changelog topic of a running CTAS through POST /topics/{topic}/records and
through INSERT INTO a stream declared over that topic. After a restart the server
is up, no code ran, the records were refused in the processing log, every query
runs, and the CTAS's results are exact.
"""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import httpx

from ksql.engine.log import EmbeddedLog, Record, TopicConfig
from tests.server.harness import ServerProcess, ksql

SETUP = """
CREATE STREAM EVENTS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='events', PARTITIONS=1, VALUE_FORMAT='JSON');
CREATE TABLE TOTALS AS SELECT K, COUNT(*) AS N, SUM(V) AS S FROM EVENTS GROUP BY K;
CREATE STREAM DOUBLED AS SELECT K, V * 2 AS W FROM EVENTS;
"""


class CreatesFile:
    """Unpickling this opens `path` for writing: the file's existence shows the payload ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _insert(client: httpx.Client, values: range) -> None:
    lines = [json.dumps({"target": "EVENTS"})] + [json.dumps({"K": f"k{v % 3}", "V": v}) for v in values]
    acks = client.post("/inserts-stream", content="\n".join(lines) + "\n").text.splitlines()
    assert all(json.loads(a)["status"] == "ok" for a in acks)


def _rows(client: httpx.Client, sql: str) -> list[list]:
    response = client.post("/query", json={"ksql": sql})
    assert response.status_code == 200, response.text
    return [m["row"]["columns"] for m in response.json() if "row" in m]


def _eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _expect_totals(client: httpx.Client, values: range) -> None:
    expected: dict[str, list[int]] = {}
    for v in values:
        n, s = expected.get(f"k{v % 3}", [0, 0])
        expected[f"k{v % 3}"] = [n + 1, s + v]

    def check():
        assert {k: [n, s] for k, n, s in _rows(client, "SELECT K, N, S FROM TOTALS;")} == expected
    _eventually(check)


def _expect_doubled(client: httpx.Client, values: range) -> None:
    def check():
        assert sorted(w for [w] in _rows(client, "SELECT W FROM DOUBLED;")) == [v * 2 for v in values]
    _eventually(check)


def test_pickles_and_junk_in_a_ctas_changelog_are_refused_at_restart(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    payload = pickle.dumps(CreatesFile(marker), protocol=0).decode("ascii")  # text: any client can send it
    data = tmp_path / "data"
    server = ServerProcess(data, {"ksql.log.fsync": "never"}).start()
    try:
        with server.client() as c:
            ksql(c, SETUP)
            queries = {q["sinks"][0]: q["id"] for q in ksql(c, "SHOW QUERIES;")[0]["queries"]}
            changelog = f"_confluent-ksql-default_query_{queries['TOTALS']}-Aggregate-Aggregate-Materialize-changelog"
            _insert(c, range(30))
            _expect_totals(c, range(30))

            # straight into the topic: text keys and values are written as their UTF-8 bytes
            response = c.post(f"/topics/{changelog}/records", json={"records": [
                {"key": payload, "value": payload}, {"key": "junk", "value": "\u0000\u00ff junk"},
                {"key": {"K": "k0"}, "value": {"N": 1000, "S": -1}}, {"key": payload, "value": None}]})
            assert response.status_code == 200, response.text
            # through SQL: a stream declared over the changelog topic, then INSERT VALUES
            ksql(c, f"CREATE STREAM CL (K STRING KEY, V STRING) WITH (KAFKA_TOPIC='{changelog}', "
                    "KEY_FORMAT='KAFKA', VALUE_FORMAT='KAFKA');")
            quoted = payload.replace("'", "''")
            ksql(c, f"INSERT INTO CL (K, V) VALUES ('{quoted}', '{quoted}');"
                    f"INSERT INTO CL (K, V) VALUES ('C', '{quoted}');")
            response = c.post(f"/topics/{changelog}/records", json={"records": [{"key": payload, "value": "x"}]})
            assert response.status_code == 200, response.text
            _insert(c, range(30, 40))  # a real commit follows the foreign records
            _expect_totals(c, range(40))
        assert server.terminate() == 0

        server = ServerProcess(data, {"ksql.log.fsync": "never"}, port=server.port).start()
        with server.client() as c:
            assert not marker.exists(), "a pickle payload from the changelog was executed"
            states = {q["id"]: q["state"] for q in ksql(c, "SHOW QUERIES;")[0]["queries"]}
            assert states == {queries["TOTALS"]: "RUNNING", queries["DOUBLED"]: "RUNNING"}
            _expect_totals(c, range(40))
            _insert(c, range(40, 50))
            _expect_totals(c, range(50))
            _expect_doubled(c, range(50))
        assert not marker.exists()
        refusals = [line for line in server.log_path.read_text().splitlines() if "refused changelog record" in line]
        assert len(refusals) == 7, server.output()
    finally:
        server.kill()


def test_a_changelog_with_nothing_readable_stops_only_its_query_with_a_reason(tmp_path: Path) -> None:
    """A changelog holding only foreign records after the query had consumed input: the server
    starts, that query is in ERROR with the reason in EXPLAIN, the other query runs on."""
    marker = tmp_path / "payload-ran"
    data = tmp_path / "data"
    server = ServerProcess(data, {"ksql.log.fsync": "never"}).start()
    try:
        with server.client() as c:
            ksql(c, SETUP)
            queries = {q["sinks"][0]: q["id"] for q in ksql(c, "SHOW QUERIES;")[0]["queries"]}
            _insert(c, range(10))
            _expect_totals(c, range(10))
        assert server.terminate() == 0

        changelog = f"_confluent-ksql-default_query_{queries['TOTALS']}-Aggregate-Aggregate-Materialize-changelog"
        log = EmbeddedLog(str(data), fsync="never")
        log.delete_topic(changelog)
        log.create_topic(changelog, TopicConfig(partitions=1))
        payload = pickle.dumps(CreatesFile(marker))
        log.append(changelog, 0, [Record(payload, payload, 0, []), Record(b"junk", None, 0, [])])
        log.close()

        server = ServerProcess(data, {"ksql.log.fsync": "never"}, port=server.port).start()
        with server.client() as c:
            states = {q["id"]: q["state"] for q in ksql(c, "SHOW QUERIES;")[0]["queries"]}
            assert states == {queries["TOTALS"]: "ERROR", queries["DOUBLED"]: "RUNNING"}
            [explained] = ksql(c, f"EXPLAIN {queries['TOTALS']};")
            [error] = explained["queryDescription"]["queryErrors"]
            assert "has 2 records and none it can read" in error["errorMessage"]
            assert changelog in error["errorMessage"]
            health = c.get("/healthcheck")
            assert health.status_code == 503 and not health.json()["isHealthy"]
            [failed] = health.json()["details"]["persistentQueries"]["errors"]
            assert failed["queryId"] == queries["TOTALS"] and changelog in failed["errorMessage"]
            _insert(c, range(10, 20))
            _expect_doubled(c, range(20))
        assert not marker.exists()
    finally:
        server.kill()
