"""Writes the disk refuses: ksqlDB's error JSON with 507 (disk full) or 503 (I/O error), nothing half done.

The server runs in-process (its app over a real KsqlServer on the embedded log);
the faults come from the seam at the log's OS calls (tests/disk_faults.py).
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Iterator

import orjson
import pytest
from starlette.testclient import TestClient

from ksql.engine.log import Record
from server.app import create_app
from server.config import ServerConfig
from server.core import KsqlServer
from tests.disk_faults import DiskFaults

STATUS = {errno.ENOSPC: 507, errno.EIO: 503}
CODE = {errno.ENOSPC: 50700, errno.EIO: 50300}
START = {errno.ENOSPC: "the server's disk is full: ", errno.EIO: "the server's disk reported an I/O error: "}


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> DiskFaults:
    return DiskFaults(monkeypatch)


@pytest.fixture
def server(tmp_path, faults: DiskFaults) -> Iterator[KsqlServer]:
    server = KsqlServer(ServerConfig({"state.dir": str(tmp_path / "data"), "ksql.log.fsync": "always",
                                      "ksql.query.retry.backoff.initial.ms": "50",
                                      "ksql.query.retry.backoff.max.ms": "200"}))
    server.start()
    yield server
    faults.clear()
    server.stop()


@pytest.fixture
def client(server: KsqlServer) -> Iterator[TestClient]:
    with TestClient(create_app(server)) as c:
        ksql(c, "CREATE STREAM CLICKS (USER STRING KEY, MS INT) "
                "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);")
        yield c


def ksql(client: TestClient, sql: str):
    return client.post("/ksql", json={"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}})


def assert_refused(response, error: int) -> dict:
    assert response.status_code == STATUS[error], response.text
    body = response.json()
    assert body["error_code"] == CODE[error] and "@type" in body
    message = body["message"]
    assert message.startswith(START[error]), message
    for leak in ("Errno", "OSError", "No space left", "Input/output", "Traceback"):
        assert leak not in message, message
    assert not re.search(r"/\w+/", message), message  # no file path
    return body


def names(client: TestClient, what: str) -> set[str]:
    [entity] = ksql(client, f"SHOW {what};").json()
    return {s["name"] if what != "QUERIES" else s["id"] for s in entity[what.lower()]}


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_insert_values_is_refused_and_nothing_is_written(client: TestClient, faults: DiskFaults,
                                                         error: int) -> None:
    faults.arm(error)
    body = assert_refused(ksql(client, "INSERT INTO CLICKS (USER, MS) VALUES ('ann', 1);"), error)
    assert body["@type"] == "statement_error" and "INSERT INTO CLICKS" in body["statementText"]
    faults.clear()
    assert client.post("/topics/clicks/records", json={"records": [{"key": "bob", "value": {"MS": 2}}]}
                       ).json() == {"offsets": [{"partition": 0, "offset": 0}]}  # nothing before it


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_inserts_stream_and_records_are_refused(client: TestClient, faults: DiskFaults, error: int) -> None:
    faults.arm(error)
    body = b'{"target": "CLICKS"}\n{"USER": "ann", "MS": 1}\n'
    assert_refused(client.post("/inserts-stream", content=body), error)
    assert_refused(client.post("/topics/clicks/records", json={"records": [
        {"key": "ann", "value": {"MS": 1}}, {"key": "bob", "value": {"MS": 2}}]}), error)
    faults.clear()
    acks = client.post("/inserts-stream", content=body).text.splitlines()
    assert [orjson.loads(a) for a in acks] == [{"status": "ok", "seq": 0}]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_ddl_whose_command_cannot_be_logged_is_not_applied(client: TestClient, faults: DiskFaults,
                                                           error: int) -> None:
    streams, queries = names(client, "STREAMS"), names(client, "QUERIES")
    for sql in ("CREATE STREAM VIEWS (USER STRING KEY, MS INT) "
                "WITH (KAFKA_TOPIC='views', VALUE_FORMAT='JSON', PARTITIONS=1);",
                "CREATE STREAM FAST AS SELECT * FROM CLICKS WHERE MS < 10;",
                "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;"):
        for only in (None, "_command_topic"):  # the statement's own writes; only the command log's
            faults.arm(error, only=only)
            assert_refused(ksql(client, sql), error)
            faults.clear()
            assert names(client, "STREAMS") == streams and names(client, "QUERIES") == queries
            [tables] = ksql(client, "SHOW TABLES;").json()
            assert tables["tables"] == []
    [created] = ksql(client, "CREATE STREAM FAST AS SELECT * FROM CLICKS WHERE MS < 10;").json()
    assert created["commandStatus"]["status"] == "SUCCESS"


def test_a_failing_query_is_in_error_unhealthy_and_recovers_by_itself(server: KsqlServer, client: TestClient,
                                                                      faults: DiskFaults) -> None:
    ksql(client, "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;")
    assert client.get("/healthcheck").json()["isHealthy"] is True
    client.post("/topics/clicks/records", json={"records": [{"key": f"u{i % 3}", "value": {"MS": i}}
                                                            for i in range(30)]})
    with server.lock:  # the runner polls the new records only once the disk is full
        server.log.append("clicks", 0, [Record(f"u{i % 3}".encode(), orjson.dumps({"MS": i}), i, [])
                                        for i in range(30)])
        faults.arm(errno.ENOSPC)
    health = wait_for(lambda: client.get("/healthcheck"), lambda r: r.status_code == 503)
    details = health.json()["details"]["persistentQueries"]
    assert health.json()["isHealthy"] is False and details["isHealthy"] is False
    assert details["errors"][0]["errorMessage"].startswith("the server's disk is full")
    [shown] = ksql(client, "SHOW QUERIES;").json()
    [query] = shown["queries"]
    assert query["state"] == "ERROR" and "disk is full" in query["queryErrors"][-1]["errorMessage"]
    [explained] = ksql(client, f"EXPLAIN {query['id']};").json()
    assert explained["queryDescription"]["state"] == "ERROR" and explained["queryDescription"]["queryErrors"]

    faults.clear()
    wait_for(lambda: client.get("/healthcheck"), lambda r: r.status_code == 200)
    [shown] = ksql(client, "SHOW QUERIES;").json()
    assert shown["queries"][0]["state"] == "RUNNING"
    rows = wait_for(lambda: client.post("/query", json={"ksql": "SELECT * FROM PER_USER;"}).json(),
                    lambda r: len(r) == 4 and sum(row["row"]["columns"][1] for row in r[1:]) == 60)
    assert {row["row"]["columns"][0]: row["row"]["columns"][1] for row in rows[1:]} == \
        {"u0": 20, "u1": 20, "u2": 20}


def wait_for(get, done, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            assert done(value), value
            return value
        time.sleep(0.02)
