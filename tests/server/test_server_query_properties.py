"""Server-level `ksql.*` properties that change persistent queries, as a ksqlDB server applies them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql") / "data",
                            {"ksql.log.fsync": "never", "ksql.output.topic.name.prefix": "srv_",
                             "ksql.query.persistent.active.limit": "2"}).start()
    try:
        yield process
    finally:
        process.kill()


def _topic(client: httpx.Client, name: str) -> str:
    [entity] = ksql(client, f"DESCRIBE {name};")
    return entity["sourceDescription"]["topic"]


def test_prefix_and_query_limit_from_the_server_config(server: ServerProcess) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        ksql(client, "CREATE STREAM A AS SELECT * FROM S;")
        ksql(client, "CREATE STREAM B AS SELECT * FROM S;", {"ksql.output.topic.name.prefix": "req_"})
        assert (_topic(client, "A"), _topic(client, "B")) == ("srv_A", "req_B")
        response = client.post("/ksql", json={"ksql": "CREATE STREAM C AS SELECT * FROM S;",
                                              "streamsProperties": {}})
        assert response.status_code == 400
        assert response.json()["message"].endswith("Current persistent query count: 3. Configured limit: 2.")
        assert "C" not in {s["name"] for s in ksql(client, "SHOW STREAMS;")[0]["streams"]}
