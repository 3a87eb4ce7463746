"""Through the real server: hostile names and literals run nothing, and oversized statements are refused.

A column alias that would end DuckDB's CREATE TABLE and COPY a file must write no file while pull
queries over the table still answer correctly; statements beyond the server's limits get ksqlDB's
error JSON naming the limit (never a 500), and the server keeps serving.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql") / "data",
                            {"ksql.log.fsync": "never", "ksql.topic.max.partitions": "8",
                             "ksql.topic.max.replicas": "3", "ksql.statement.max.in.list.size": "20000"}).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(timeout=60.0) as c:
        yield c


def pull_rows(client: httpx.Client, sql: str, expected: list[list]) -> list[list]:
    """The rows of a pull query, asked again until the table has caught up with the inserts (or 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        response = client.post("/query", json={"ksql": sql})
        assert response.status_code == 200, response.text
        rows = [m["row"]["columns"] for m in response.json()[1:] if "row" in m]
        if rows == expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_hostile_column_alias_writes_no_file_and_pull_queries_answer(client: httpx.Client, tmp_path: Path):
    target = tmp_path / "pwned"
    alias = f'`x" BIGINT); COPY (SELECT 42) TO \'{target}\'; CREATE TABLE t2 ("y`'
    name = f'`semi;"quote\nline\\{tmp_path.name}`'
    ksql(client, "CREATE STREAM HS (ID INT KEY, V STRING, N INT) WITH (KAFKA_TOPIC='hs', FORMAT='JSON', "
                 "PARTITIONS=1);")
    ksql(client, f"CREATE TABLE HT AS SELECT ID, LATEST_BY_OFFSET(V) AS {alias}, LATEST_BY_OFFSET(N) AS {name} "
                 "FROM HS GROUP BY ID;")
    ksql(client, "INSERT INTO HS (ID, V, N) VALUES (1, 'it''s; \"one\"', 10);"
                 "INSERT INTO HS (ID, V, N) VALUES (2, 'two\nlines', 20);"
                 "INSERT INTO HS (ID, V, N) VALUES (3, 'ünï ✓', 30);")
    everything = [[1, "it's; \"one\"", 10], [2, "two\nlines", 20], [3, "ünï ✓", 30]]
    assert pull_rows(client, "SELECT * FROM HT;", everything) == everything
    assert pull_rows(client, "SELECT * FROM HT WHERE ID = 2;", [everything[1]]) == [everything[1]]
    assert pull_rows(client, f"SELECT ID FROM HT WHERE {name} > 15;", [[2], [3]]) == [[2], [3]]
    assert pull_rows(client, f"SELECT ID FROM HT WHERE {alias} LIKE '%''s;%';", [[1]]) == [[1]]
    assert pull_rows(client, f"SELECT ID FROM HT WHERE {alias} IN ('ünï ✓', 'two\nlines');", [[2], [3]]) == \
        [[2], [3]]
    assert pull_rows(client, f"SELECT {alias} FROM HT WHERE {name} BETWEEN 5 AND 10;", [[everything[0][1]]]) == \
        [[everything[0][1]]]
    assert not target.exists()


def nested(n: int) -> str:
    return "SELECT * FROM HT WHERE " + "(" * n + "ID = 1" + ")" * n + ";"


HOSTILE = {
    "50,000 nested parentheses": (nested(50_000), "(ksql.statement.max.depth)."),
    "10 MB statement": ("SELECT * FROM HT WHERE ID = 1 OR '" + "x" * 10_000_000 + "' = 'y';",
                        "bytes (ksql.statement.max.bytes)."),
    "IN list of 100,000": ("SELECT * FROM HT WHERE ID IN (" + ", ".join(map(str, range(100_000))) + ");",
                           "An IN list has 100000 values; the limit is 20000 values "
                           "(ksql.statement.max.in.list.size)."),
    "CASE nested 10,000 deep": ("SELECT " + "CASE WHEN ID = 1 THEN " * 10_000 + "1" + " END" * 10_000 +
                                " AS C FROM HT;", "(ksql.statement.max.depth)."),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_statements_beyond_the_limits_get_error_json(server: ServerProcess, client: httpx.Client, name: str):
    sql, ending = HOSTILE[name]
    requests = [("/ksql", {"ksql": sql}), ("/query", {"ksql": sql})]
    if len(sql) < 200_000:  # as a persistent and a push query too (long ones take seconds to parse)
        requests += [("/ksql", {"ksql": "CREATE STREAM LIM AS " + sql.replace("FROM HT", "FROM HS")}),
                     ("/query", {"ksql": sql.replace("FROM HT", "FROM HS").replace(";", " EMIT CHANGES;")})]
    for path, body in requests:
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.text[:300])
        error = response.json()
        assert error["@type"] == "statement_error" and error["error_code"] == 40001
        assert error["message"].endswith(ending), (path, error["message"][:300])
    assert client.get("/healthcheck").json()["isHealthy"]
    assert "LIM" not in str(ksql(client, "SHOW STREAMS;"))


def test_the_servers_own_limits_apply_to_every_endpoint(client: httpx.Client):
    """The server's configured limits, not the defaults, hold on /ksql and /query alike."""
    ksql(client, "CREATE STREAM INS (K INT KEY, V INT) WITH (KAFKA_TOPIC='ins', PARTITIONS=1, VALUE_FORMAT='JSON');")
    in_list = ", ".join(str(i) for i in range(15_000))  # past the default 10000, inside this server's 20000
    for path, sql in (("/ksql", f"CREATE STREAM INS2 AS SELECT * FROM INS WHERE V IN ({in_list});"),
                      ("/query", f"SELECT * FROM INS WHERE V IN ({in_list}) EMIT CHANGES LIMIT 1;")):
        body = {"ksql": sql} if path == "/ksql" else {"ksql": sql, "streamsProperties": {}}
        if path == "/query":
            with client.stream("POST", path, json=body, timeout=60.0) as response:
                assert response.status_code == 200, response.read()[:300]
        else:
            response = client.post(path, json=body)
            assert response.status_code == 200, response.text[:300]
    ksql(client, "DROP STREAM INS2 DELETE TOPIC;")


@pytest.mark.parametrize(("clause", "message"), [
    ("PARTITIONS=9", "Cannot create topic 'many' with 9 partitions: the limit is 8 (ksql.topic.max.partitions). "
                     "Give a smaller PARTITIONS in the WITH clause."),
    ("PARTITIONS=1, REPLICAS=4", "Cannot create topic 'many' with 4 replicas: the limit is 3 "
                                 "(ksql.topic.max.replicas). Give a smaller REPLICAS in the WITH clause."),
    ("PARTITIONS=0", "Invalid value for PARTITIONS: 0. It must be a positive integer."),
    ("PARTITIONS=-1", "Invalid value for PARTITIONS: -1. It must be a positive integer."),
    ("PARTITIONS=2, REPLICAS=0", "Invalid value for REPLICAS: 0. It must be a positive integer."),
])
def test_partitions_and_replicas_beyond_the_limits(client: httpx.Client, clause: str, message: str):
    sql = f"CREATE STREAM MANY (ID INT KEY) WITH (KAFKA_TOPIC='many', FORMAT='JSON', {clause});"
    response = client.post("/ksql", json={"ksql": sql})
    assert response.status_code == 400
    assert response.json() == {"@type": "statement_error", "error_code": 40001, "message": message,
                               "statementText": sql.rstrip(";"), "entities": []}
    topics = ksql(client, "SHOW TOPICS;")[0]["topics"]
    assert "many" not in [t["name"] for t in topics]


def test_a_bad_limit_stops_the_server_with_a_clear_message(tmp_path: Path):
    process = ServerProcess(tmp_path / "data", {"ksql.statement.max.depth": "deep"})
    with pytest.raises(RuntimeError) as err:
        process.start()
    assert "Invalid value for ksql.statement.max.depth: 'deep'. It must be a positive integer." in str(err.value)
    assert "Traceback" not in str(err.value)
