"""Every endpoint answers any body with ksqlDB's error JSON (never a 500) and the server stays up."""

from __future__ import annotations

import json
import random

import httpx

from tests.server.harness import ServerProcess

ENDPOINTS = ["/ksql", "/query", "/query-stream", "/inserts-stream", "/close-query", "/query/sse",
             "/topics/t/records"]
FIELDS = ["ksql", "sql", "streamsProperties", "properties", "sessionVariables", "queryId", "target", "records",
          "requestProperties", "commandSequenceNumber", "lastEventId", "x"]
STATEMENTS = ["SELECT * FROM NOPE EMIT CHANGES;", "SELECT", "CREATE STREAM;", "SHOW STREAMS;", "PRINT nope;",
              "DROP TABLE x;", "'unterminated", "SELECT * FROM S EMIT CHANGES LIMIT -1;", "", ";;;",
              "DEFINE a = 'b'; SELECT ${a} FROM X;", "INSERT INTO X VALUES (1);"]


def _value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(8 if depth < 2 else 5)
    if choice == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if choice == 6:
        return {rng.choice(FIELDS): _value(rng, depth + 1) for _ in range(rng.randrange(3))}
    if choice == 7:
        return {"a": _value(rng, depth + 1)}
    return [None, True, rng.randint(-2**70, 2**70), rng.random(), rng.choice(STATEMENTS)][choice]


def _bodies(rng: random.Random) -> list[bytes]:
    bodies = [b"", b"{", b"null", b"[]", b"\xff\xfe", b'{"ksql": "SHOW STREAMS;"}{', b"\n\n\n",
              b'{"target": "NOPE"}\n{"a": 1}\n', b'{"sql": "SELECT * FROM X;", "properties": {"a": {"b": 1}}}']
    for _ in range(40):
        doc = {rng.choice(FIELDS): _value(rng) for _ in range(rng.randrange(1, 4))}
        bodies.append(json.dumps(doc).encode())
    return bodies


def test_random_bodies_never_cause_a_server_error(server: ServerProcess) -> None:
    rng = random.Random(7)
    with server.client(timeout=5) as c:
        for body in _bodies(rng):
            for path in ENDPOINTS:
                try:
                    response = c.post(path, content=body)
                except httpx.ReadTimeout:
                    continue  # a valid push query that waits for rows: fine
                assert response.status_code < 500, (path, body, response.text)
                if response.status_code >= 400:
                    error = response.json()
                    assert error["@type"] in ("generic_error", "statement_error") and error["message"], error
        for params in ({"sql": "SELECT"}, {"properties": "{"}, {"lastEventId": "1:2"}, {"sql": "", "x": ""}):
            assert c.get("/query/sse", params=params).status_code == 400
        assert c.get("/healthcheck").json()["isHealthy"] is True
