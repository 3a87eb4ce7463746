"""Errors leak nothing: a sweep of malformed requests to every endpoint, none of which may be answered
with a 500, a stack trace, a Python class name or a path of the server; bodies over the size limit are
refused with 413 and ksqlDB's error JSON."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import connect

from server.guard import INTERNAL_ERROR_MESSAGE, ErrorGuard
from tests.server.harness import REPO, ServerProcess, ksql

MAX_BYTES = 100_000
FORBIDDEN = ["/usr", "site-packages", ".py", "Error'", "Exception", "Traceback", "KeyError", "<class",
             "object at 0x"]

JSON_ENDPOINTS = ["/ksql", "/query", "/query-stream", "/inserts-stream", "/close-query", "/query/sse",
                  "/topics/hy_s/records", "/schema-registry/subjects/s-value/versions",
                  "/schema-registry/subjects/s-value", "/schema-registry/config", "/schema-registry/config/s",
                  "/schema-registry/compatibility/subjects/s-value/versions/latest"]
BODIES = [b"", b"{", b"\xff\xfe\xfd", b'{"ksql": "\xff\xfe", "sql": "\xc3"}', b"[1, 2]", b'"text"', b"null",
          b'{"ksql": 5, "sql": 5}', b'{"ksql": null}', b"[" * 5000 + b"]" * 5000, b'{"a": ' * 2000,
          b'{"schema": 5}', b'{"schema": "{", "schemaType": "AVRO"}', b'{"compatibility": 5}',
          b'{"schema": "syntax = \\"proto3\\"; message {", "schemaType": "PROTOBUF"}',
          b'{"schema": "{\\"type\\": 5}", "schemaType": "JSON"}', b'{"records": [1]}', b'{"target": 5}']
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=zz", "application/vnd.ksql.v1+json; charset=latin-1"]
STATEMENTS = [
    "DESCRIBE NOPE;", "DESCRIBE HY_S EXTENDED;", "DROP STREAM NOPE;", "TERMINATE NOPE;", "SHOW NOPE;",
    "CREATE STREAM HY_X (A INT) WITH (KAFKA_TOPIC='hy_x', VALUE_FORMAT='AVRO', VALUE_SCHEMA_ID=999);",
    "CREATE STREAM HY_Y (A BOGUS) WITH (KAFKA_TOPIC='hy_y', VALUE_FORMAT='JSON', PARTITIONS=1);",
    "CREATE STREAM HY_Z AS SELECT CAST(V AS MAP<STRING, INT>) FROM HY_S;",
    "CREATE STREAM HY_W WITH (KAFKA_TOPIC='hy_s', VALUE_FORMAT='PROTOBUF') AS SELECT * FROM HY_S;",
    "INSERT INTO HY_S (K, V) VALUES ('a', 'not a number');", "INSERT INTO HY_S (NOPE) VALUES (1);",
    "INSERT INTO HY_S (K, V) VALUES (STRUCT(A := 1), ARRAY[1]);",
    "SELECT * FROM HY_S EMIT CHANGES;", "PRINT 'nope';", "DEFINE x = ;", "SET 'ksql.x' = ;",
    "CREATE TABLE HY_T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='hy_s', VALUE_FORMAT='JSON', "
    "KEY_FORMAT='AVRO');", "LIST TOPICS EXTENDED;", "EXPLAIN NOPE;", "DROP TYPE NOPE;",
    "CREATE SOURCE CONNECTOR C WITH ('connector.class'='x');", "SELECT * FROM HY_S WHERE V = 'x';",
    "SELECT EXPLODE(V) FROM HY_S;", "SELECT UDF_NOPE(V) FROM HY_S EMIT CHANGES;", "'unterminated",
    "SELECT * FROM HY_S EMIT CHANGES LIMIT 99999999999999999999999;", "SELECT 1/0 FROM HY_S;",
]
RECORDS = [{"window": "x"}, {"window": {"start": "a"}}, {"headers": [{"KEY": "a", "VALUE": "!!not base64"}]},
           {"headers": "x"}, {"headers": [1]}, {"timestamp": "abc"}, {"timestamp": 10**400}, {"partition": 99},
           {"partition": "0"}, {"key": {"a": 1}, "value": [1]}, {"key": "k", "value": {"V": "x" * 10}},
           {"value": {"V": {"nested": [1]}}}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("hygiene") / "data",
                            {"ksql.log.fsync": "never", "ksql.server.max.request.bytes": str(MAX_BYTES)}).start()
    try:
        with process.client() as c:
            ksql(c, "CREATE STREAM HY_S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='hy_s', PARTITIONS=1, "
                    "VALUE_FORMAT='JSON');")
            ksql(c, "CREATE TABLE HY_AGG AS SELECT K, COUNT(*) AS N FROM HY_S GROUP BY K;")
        yield process
    finally:
        process.kill()


def leaks(text: str, server: ServerProcess) -> list[str]:
    """What in `text` gives away the server's internals."""
    paths = [str(server.data_dir), str(server.data_dir.resolve()), str(REPO), str(Path.cwd())]
    return [word for word in FORBIDDEN + paths if word in text]


class Sweep:
    """Sends requests and records every answer that is a 500 or leaks internals."""

    def __init__(self, server: ServerProcess, client: httpx.Client):
        self.server = server
        self.client = client
        self.problems: list[str] = []

    def send(self, method: str, path: str, *, expect_error: bool = True, **kwargs) -> httpx.Response | None:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.ReadTimeout:  # a push query that waits for rows
            return None
        except httpx.TransportError as err:
            self.problems.append(f"{method} {path} {str(kwargs)[:150]} -> connection failed: {err!r}")
            return None
        self.check(f"{method} {path} {str(kwargs)[:150]}", response.status_code, response.text, expect_error)
        return response

    def check(self, what: str, status: int, text: str, expect_error: bool = True) -> None:
        if status >= 500:
            self.problems.append(f"{what} -> {status}: {text[:300]}")
        found = leaks(text, self.server)
        if found:
            self.problems.append(f"{what} leaks {found}: {text[:300]}")
        if expect_error and status >= 400 and not path_is_registry(what) and not what.startswith("HEAD"):
            try:
                body = json.loads(text)
            except ValueError:
                self.problems.append(f"{what} -> {status} is not JSON: {text[:200]}")
                return
            if not (isinstance(body, dict) and body.get("@type") in ("generic_error", "statement_error")
                    and body.get("message") and isinstance(body.get("error_code"), int)):
                self.problems.append(f"{what} -> {status} is not ksqlDB's error JSON: {text[:200]}")


def path_is_registry(what: str) -> bool:
    return "/schema-registry" in what


def test_malformed_requests_are_clear_errors_without_internals(server: ServerProcess) -> None:
    with server.client(timeout=5) as client:
        sweep = Sweep(server, client)
        for path in JSON_ENDPOINTS:
            for body in BODIES:
                sweep.send("POST", path, content=body, headers={"content-type": "application/json"})
            for content_type in CONTENT_TYPES:
                sweep.send("POST", path, content=b'{"ksql": "SHOW STREAMS;"}', headers={"content-type": content_type})
            sweep.send("PUT", path, content=b"{")
        for method, path in [("GET", "/nope"), ("POST", "/nope"), ("GET", "/ksql"), ("DELETE", "/info"),
                             ("PUT", "/query"), ("PATCH", "/status"), ("GET", "/status/nope"),
                             ("GET", "/status/..%2F..%2Fetc%2Fpasswd"), ("GET", "/schema-registry/nope"),
                             ("GET", "/schema-registry/schemas/ids/abc"), ("GET", "/schema-registry/schemas/ids/999"),
                             ("GET", "/schema-registry/subjects/x/versions/abc"), ("DELETE", "/schema-registry/subjects/x"),
                             ("GET", "/schema-registry/subjects/x/versions/-5"), ("GET", "/ws/query"),
                             ("GET", "/query/sse?sql=%FF%FE"), ("GET", "/query/sse?properties=%7B&sql=x"),
                             ("GET", "/query/sse?sql=SELECT+*+FROM+HY_S+EMIT+CHANGES;&sessionVariables=[1]"),
                             ("GET", "/query/sse?sql=SELECT+*+FROM+HY_S+EMIT+CHANGES;&lastEventId=x:y"),
                             ("OPTIONS", "/ksql"), ("TRACE", "/info"), ("HEAD", "/nope")]:
            sweep.send(method, path)
        for sql in STATEMENTS:
            sweep.send("POST", "/ksql", json={"ksql": sql}, expect_error=False)
            sweep.send("POST", "/query", json={"ksql": sql, "streamsProperties": {"auto.offset.reset": "bogus"}},
                       expect_error=False)
            sweep.send("POST", "/query-stream", json={"sql": sql, "properties": {"ksql.query.pull.table.scan.enabled":
                                                                                    "maybe"}}, expect_error=False)
            sweep.send("POST", "/query", json={"ksql": sql, "sessionVariables": {"x": {"y": 1}}}, expect_error=False)
        for record in RECORDS:
            sweep.send("POST", "/topics/hy_s/records", json={"records": [record]}, expect_error=False)
            sweep.send("POST", "/topics/no_such/records", json={"records": [record]})
        rows = b'{"target": "HY_S"}\n{"V": "abc"}\n{"V": [1]}\nnot json\n\xff\xfe\n[1]\n{"NOPE": 1}\n' \
               b'{"K": {"a": 1}}\n{"V": 1e400}\n{"V": 99999999999999999999999}\n'
        sweep.send("POST", "/inserts-stream", content=rows, expect_error=False)
        sweep.send("POST", "/inserts-stream", content=b'{"target": "HY_AGG"}\n{"K": "a"}\n', expect_error=False)
        assert not sweep.problems, "\n".join(sweep.problems)
        assert client.get("/healthcheck").json()["isHealthy"] is True


def test_websocket_errors_leak_nothing(server: ServerProcess) -> None:
    base = server.url.replace("http://", "ws://") + "/ws/query"
    requests = ["", "?request=%7B", "?request=%FF"] + ["?request=" + quote(r) for r in [
        '{"ksql": 5}', '{"ksql": "SELECT * FROM NOPE;"}', '{"ksql": "PRINT \'hy_s\';"}',
        '{"ksql": "SELECT x FROM HY_S EMIT CHANGES;"}', '{"ksql": "SELECT * FROM HY_S EMIT CHANGES;", '
        '"sessionVariables": [1]}', '{"ksql": "SELECT * FROM HY_S;", "streamsProperties": {"a": [1]}}']]
    problems = []
    for query in requests:
        with connect(base + query) as ws:
            messages = []
            try:
                while True:
                    messages.append(ws.recv(timeout=5))
            except Exception:  # noqa: BLE001 - closed by the server (or nothing more within the timeout)
                pass
            reason = ws.close_reason or ""
        text = "\n".join(str(m) for m in messages) + "\n" + reason
        if leaks(text, server) or ws.close_code == 1011:
            problems.append((query, ws.close_code, text[:300]))
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("path", ["/ksql", "/query", "/query-stream", "/close-query", "/query/sse",
                                  "/topics/hy_s/records", "/inserts-stream"])
def test_bodies_over_the_limit_are_refused_with_413(server: ServerProcess, path: str) -> None:
    padding = "x" * (MAX_BYTES + 10)
    body = (json.dumps({"ksql": "SHOW STREAMS;", "sql": "SHOW STREAMS;", "pad": padding}).encode()
            if path != "/inserts-stream" else b'{"target": "HY_S"}\n{"K": "' + padding.encode() + b'"}\n')

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse early on
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    with server.client() as client:
        for content in (body, chunks()):
            response = client.post(path, content=content)
            if path == "/inserts-stream":  # the acks had started: the refusal is the last ack
                assert response.status_code == 200
                last = json.loads(response.text.splitlines()[-1])
                assert last["status"] == "error" and last["error_code"] == 41300
                continue
            assert response.status_code == 413, response.text
            error = response.json()
            assert error["@type"] == "generic_error" and error["error_code"] == 41300
            assert f"limit of {MAX_BYTES} bytes" in error["message"]


def test_an_unexpected_exception_is_logged_and_answered_without_internals(caplog: pytest.LogCaptureFixture
                                                                          ) -> None:
    async def broken(scope, receive, send) -> None:
        raise RuntimeError("bug near /srv/ksql/server/app.py")

    transport = httpx.ASGITransport(app=ErrorGuard(broken))

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/ksql", content=b"{}")

    with caplog.at_level(logging.ERROR, logger="ksql.server"):
        response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json() == {"@type": "generic_error", "error_code": 50000, "message": INTERNAL_ERROR_MESSAGE}
    assert "bug near" in caplog.text and "RuntimeError" in caplog.text
