"""ksqlDB's feature-flag properties set in the server's config, and overridden per request where ksqlDB allows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

FLAGS_OFF = {"ksql.insert.into.values.enabled": "false", "ksql.create.or.replace.enabled": "false",
             "ksql.headers.columns.enabled": "false", "ksql.suppress.enabled": "false",
             "ksql.cast.strings.preserve.nulls": "false", "ksql.rowpartition.rowoffset.enabled": "false"}
INSERT_DISABLED = ("The server has disabled INSERT INTO ... VALUES functionality. To enable it, restart your "
                   "ksqlDB server with 'ksql.insert.into.values.enabled'=true")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql") / "data", {"ksql.log.fsync": "never", **FLAGS_OFF}).start()
    try:
        with process.client(timeout=60.0) as client:
            ksql(client, "CREATE STREAM S (ID INT KEY, V STRING, N INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                         "VALUE_FORMAT='JSON');")
        yield process
    finally:
        process.kill()


def _refusal(client: httpx.Client, sql: str, properties: dict | None = None) -> str:
    response = client.post("/ksql", json={"ksql": sql, "streamsProperties": properties or {}})
    assert response.status_code == 400, response.text
    return response.json()["message"]


def test_insert_values_refused_by_the_server_config_and_allowed_per_request(server: ServerProcess) -> None:
    with server.client(timeout=60.0) as client:
        assert _refusal(client, "INSERT INTO S (ID, V) VALUES (1, 'a');") == INSERT_DISABLED
        ksql(client, "INSERT INTO S (ID, V, N) VALUES (2, 'b', 3);", {"ksql.insert.into.values.enabled": "true"})
        assert query_rows(client, "SELECT ID, V FROM S;") == [[2, "b"]]


def test_inserts_stream_refused_by_the_server_config(server: ServerProcess) -> None:
    with server.client(timeout=60.0) as client:
        response = client.post("/inserts-stream", content=b'{"target": "S"}\n{"ID": 4, "V": "d"}\n')
        assert response.status_code == 400
        assert response.json()["message"] == INSERT_DISABLED


def test_statements_refused_by_the_server_config(server: ServerProcess) -> None:
    with server.client(timeout=60.0) as client:
        ksql(client, "CREATE STREAM A AS SELECT * FROM S;")
        assert _refusal(client, "CREATE OR REPLACE STREAM A AS SELECT ID, V FROM S;") == (
            "CREATE OR REPLACE is disabled on this server. To enable it, set 'ksql.create.or.replace.enabled'=true")
        assert _refusal(client, "CREATE STREAM H (ID INT KEY, X BYTES HEADER('x')) WITH (KAFKA_TOPIC='h', "
                                "PARTITIONS=1, VALUE_FORMAT='JSON');").startswith("Cannot create stream 'H' with headers")
        assert _refusal(client, "CREATE TABLE F AS SELECT ID, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) "
                                "GROUP BY ID EMIT FINAL;") == ("Suppression is currently disabled. You can enable "
                                                               "it by setting ksql.suppress.enabled to true")
        assert _refusal(client, "CREATE STREAM R AS SELECT ID, ROWOFFSET AS O FROM S;") == \
            "SELECT column 'ROWOFFSET' cannot be resolved."


def test_flags_enabled_per_request(server: ServerProcess) -> None:
    with server.client(timeout=60.0) as client:
        ksql(client, "CREATE STREAM B AS SELECT * FROM S;")
        ksql(client, "CREATE OR REPLACE STREAM B AS SELECT ID, V, N FROM S;", {"ksql.create.or.replace.enabled": "true"})
        ksql(client, "CREATE TABLE F AS SELECT ID, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID "
                     "EMIT FINAL;", {"ksql.suppress.enabled": "true"})
        ksql(client, "CREATE STREAM R AS SELECT ID, ROWOFFSET AS O FROM S;",
             {"ksql.rowpartition.rowoffset.enabled": "true"})


def test_cast_of_null_to_string_by_the_server_config_and_per_request(server: ServerProcess) -> None:
    with server.client(timeout=60.0) as client:
        ksql(client, "CREATE STREAM LEGACY AS SELECT ID, CAST(N AS STRING) AS C FROM S;",
             {"auto.offset.reset": "earliest"})
        ksql(client, "CREATE STREAM PRESERVED AS SELECT ID, CAST(N AS STRING) AS C FROM S;",
             {"auto.offset.reset": "earliest", "ksql.cast.strings.preserve.nulls": "true"})
        ksql(client, "INSERT INTO S (ID, V) VALUES (5, 'e');", {"ksql.insert.into.values.enabled": "true"})
        wait_idle(client)
        legacy = query_rows(client, "SELECT C FROM LEGACY WHERE ID = 5;")
        preserved = query_rows(client, "SELECT C FROM PRESERVED WHERE ID = 5;")
        assert (legacy, preserved) == ([["null"]], [[None]])
