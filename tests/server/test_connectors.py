"""Connectors in a real server: the statements and their ksqlDB entities, Kafka Connect's REST API,
datagen and file connectors feeding streams and tables, a restart after kill -9 that resumes a source
exactly, and ksql.connect.url sending the statements to another server's Connect API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

STRING = "org.apache.kafka.connect.storage.StringConverter"


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def datagen_sql(name: str, topic: str, iterations: int, extra: str = "") -> str:
    return (f"CREATE SOURCE CONNECTOR {name} WITH ('connector.class'='DatagenConnector', 'quickstart'='orders', "
            f"'kafka.topic'='{topic}', 'max.interval'='0', 'iterations'='{iterations}'{extra});")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("connect") / "data", {"ksql.log.fsync": "never"}).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def post_ksql(client: httpx.Client, sql: str) -> httpx.Response:
    return client.post("/ksql", json={"ksql": sql})


# -- statements ------------------------------------------------------------------------------------

def test_create_show_describe_and_drop_connector(client):
    [created] = ksql(client, datagen_sql("stmt_gen", "stmt_orders", 5))
    assert created["@type"] == "connector_info" and created["warnings"] == []
    assert created["info"]["name"] == "STMT_GEN" and created["info"]["type"] == "source"
    assert created["info"]["config"]["kafka.topic"] == "stmt_orders"
    assert created["info"]["tasks"] == [{"connector": "STMT_GEN", "task": 0}]

    [again] = ksql(client, datagen_sql("IF NOT EXISTS stmt_gen", "stmt_orders", 5))
    assert again == {"@type": "warning_entity", "statementText": again["statementText"],
                     "message": "Connector STMT_GEN already exists", "warnings": []}
    refused = post_ksql(client, datagen_sql("stmt_gen", "stmt_orders", 5))
    assert refused.status_code == 409
    assert refused.json() == {"@type": "generic_error", "error_code": 40900,
                              "message": "Failed to create connector: Connector STMT_GEN already exists"}

    ksql(client, "CREATE STREAM STMT_ORDERS (ORDERID STRING KEY, ITEMID STRING) WITH (KAFKA_TOPIC='stmt_orders', "
                 "VALUE_FORMAT='JSON');")
    wait_for(lambda: ksql(client, "DESCRIBE CONNECTOR stmt_gen;")[0]["topics"] == ["stmt_orders"])
    [described] = ksql(client, "DESCRIBE CONNECTOR stmt_gen;")
    assert described["@type"] == "connector_description"
    assert described["connectorClass"] == "DatagenConnector"
    assert described["status"]["name"] == "STMT_GEN"
    assert described["status"]["connector"]["state"] == "RUNNING"
    assert [s["name"] for s in described["sources"]] == ["STMT_ORDERS"]

    for sql, kinds in (("SHOW CONNECTORS;", {"source"}), ("LIST SOURCE CONNECTORS;", {"source"}),
                       ("SHOW SINK CONNECTORS;", set())):
        [listed] = ksql(client, sql)
        assert listed["@type"] == "connector_list"
        mine = [c for c in listed["connectors"] if c["name"] == "STMT_GEN"]
        assert {c["type"] for c in mine} == kinds
        if mine:
            assert mine[0] == {"name": "STMT_GEN", "type": "source", "className": "DatagenConnector",
                               "state": "RUNNING (1/1 tasks RUNNING)"}

    [dropped] = ksql(client, "DROP CONNECTOR stmt_gen;")
    assert dropped == {"@type": "drop_connector", "statementText": "DROP CONNECTOR stmt_gen",
                       "connectorName": "STMT_GEN", "warnings": []}
    [absent] = ksql(client, "DROP CONNECTOR IF EXISTS stmt_gen;")
    assert absent["@type"] == "warning_entity" and absent["message"] == "Connector 'STMT_GEN' does not exist."
    missing = post_ksql(client, "DROP CONNECTOR stmt_gen;")
    assert (missing.status_code, missing.json()["message"]) == (
        404, "Failed to drop connector: Connector STMT_GEN not found")
    missing = post_ksql(client, "DESCRIBE CONNECTOR stmt_gen;")
    assert (missing.status_code, missing.json()["message"]) == (
        404, "Failed to describe connector: Connector STMT_GEN not found")


def test_a_bad_connector_config_is_refused_with_connects_message(client):
    response = post_ksql(client, "CREATE SOURCE CONNECTOR bad WITH ('connector.class'='Nope');")
    assert response.status_code == 400
    assert response.json()["message"].startswith("Failed to create connector: Failed to find any class that "
                                                 "implements Connector and which name matches Nope")
    response = post_ksql(client, "CREATE SOURCE CONNECTOR bad WITH ('connector.class'='DatagenConnector');")
    assert response.status_code == 400
    assert "Missing required configuration \"kafka.topic\"" in response.json()["message"]


def test_datagen_to_a_stream_to_a_table_that_a_pull_query_reads(client):
    ksql(client, datagen_sql("pipe_gen", "pipe_orders", 30))
    ksql(client, "CREATE STREAM PIPE_ORDERS (ORDERID STRING KEY, ORDERUNITS DOUBLE, ITEMID STRING, "
                 "ADDRESS STRUCT<CITY STRING, STATE STRING, ZIPCODE BIGINT>) "
                 "WITH (KAFKA_TOPIC='pipe_orders', VALUE_FORMAT='JSON');")
    ksql(client, "CREATE TABLE PIPE_BY_CITY AS SELECT ADDRESS->CITY AS CITY, COUNT(*) AS N FROM PIPE_ORDERS "
                 "GROUP BY ADDRESS->CITY;", {"auto.offset.reset": "earliest"})

    def counted() -> int:
        wait_idle(client)
        return sum(n for _, n in query_rows(client, "SELECT CITY, N FROM PIPE_BY_CITY;"))
    wait_for(lambda: counted() == 30)
    rows = query_rows(client, "SELECT CITY, N FROM PIPE_BY_CITY;")
    assert {city for city, _ in rows} <= {"City_1", "City_2", "City_3", "City_4"}


def test_file_source_into_a_stream_and_a_stream_into_a_file_sink(client, tmp_path: Path):
    source, sink = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"ID": i, "NAME": f"n{i}"}) + "\n" for i in range(4)))
    ksql(client, f"CREATE SOURCE CONNECTOR file_in WITH ('connector.class'='FileStreamSource', "
                 f"'file'='{source}', 'topic'='file_lines', 'value.converter'='{STRING}');")
    ksql(client, "CREATE STREAM FILE_LINES (ID INT, NAME STRING) WITH (KAFKA_TOPIC='file_lines', "
                 "VALUE_FORMAT='JSON', PARTITIONS=1);")
    ksql(client, "CREATE STREAM FILE_EVEN WITH (KAFKA_TOPIC='file_even', VALUE_FORMAT='JSON') AS "
                 "SELECT ID, UCASE(NAME) AS NAME FROM FILE_LINES WHERE ID % 2 = 0;", {"auto.offset.reset": "earliest"})
    ksql(client, f"CREATE SINK CONNECTOR file_out WITH ('connector.class'='FileStreamSink', 'file'='{sink}', "
                 f"'topics'='file_even', 'value.converter'='{STRING}');")
    wait_for(lambda: sink.exists() and len(sink.read_text().splitlines()) == 2)
    assert [json.loads(line) for line in sink.read_text().splitlines()] == [{"ID": 0, "NAME": "N0"},
                                                                           {"ID": 2, "NAME": "N2"}]
    with source.open("a") as f:
        f.write(json.dumps({"ID": 4, "NAME": "n4"}) + "\n")
    wait_for(lambda: len(sink.read_text().splitlines()) == 3)
    assert json.loads(sink.read_text().splitlines()[-1]) == {"ID": 4, "NAME": "N4"}
    assert sorted(r[0] for r in query_rows(client, "SELECT ID FROM FILE_LINES;")) == [0, 1, 2, 3, 4]


# -- Kafka Connect's REST API -------------------------------------------------------------------------

def test_connect_rest_api_shapes(client, tmp_path: Path):
    config = {"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector", "quickstart": "users",
              "kafka.topic": "rest_users", "max.interval": "0", "iterations": "3"}
    created = client.post("/connectors", json={"name": "rest-gen", "config": config})
    assert created.status_code == 201
    assert created.json() == {"name": "rest-gen", "config": {**config, "name": "rest-gen"},
                              "tasks": [{"connector": "rest-gen", "task": 0}], "type": "source"}
    assert "rest-gen" in client.get("/connectors").json()
    assert client.get("/connectors/rest-gen").json() == created.json()
    assert client.get("/connectors/rest-gen/config").json() == {**config, "name": "rest-gen"}
    status = client.get("/connectors/rest-gen/status").json()
    assert status["name"] == "rest-gen" and status["type"] == "source"
    assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["id"] == 0
    assert client.get("/connectors/rest-gen/tasks").json() == [
        {"id": {"connector": "rest-gen", "task": 0}, "config": {**config, "name": "rest-gen", "task.id": "0"}}]
    assert client.get("/connectors/rest-gen/tasks/0/status").json()["id"] == 0
    expanded = client.get("/connectors", params=[("expand", "status"), ("expand", "info")]).json()
    assert expanded["rest-gen"]["info"]["name"] == "rest-gen"
    assert expanded["rest-gen"]["status"]["connector"]["state"] == "RUNNING"
    wait_for(lambda: client.get("/connectors/rest-gen/topics").json() == {"rest-gen": {"topics": ["rest_users"]}})

    assert client.put("/connectors/rest-gen/pause").status_code == 202
    assert client.get("/connectors/rest-gen/status").json()["connector"]["state"] == "PAUSED"
    assert client.put("/connectors/rest-gen/resume").status_code == 202
    assert client.get("/connectors/rest-gen/status").json()["connector"]["state"] == "RUNNING"
    assert client.post("/connectors/rest-gen/restart").status_code == 204
    restarted = client.post("/connectors/rest-gen/restart", params={"includeTasks": "true"})
    assert restarted.status_code == 202 and restarted.json()["name"] == "rest-gen"
    assert client.post("/connectors/rest-gen/tasks/0/restart").status_code == 204

    updated = client.put("/connectors/rest-gen/config", json={**config, "iterations": "4"})
    assert updated.status_code == 200 and updated.json()["config"]["iterations"] == "4"
    [listed] = ksql(client, "SHOW CONNECTORS;")
    assert "rest-gen" in [c["name"] for c in listed["connectors"]]  # the REST API runs statements

    plugins = client.get("/connector-plugins").json()
    assert {"class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "type": "sink",
            "version": "3.7.0"} in plugins
    assert client.delete("/connectors/rest-gen").status_code == 204
    assert "rest-gen" not in client.get("/connectors").json()


@pytest.mark.parametrize("method,path,body,status,message", [
    ("GET", "/connectors/nope", None, 404, "Connector nope not found"),
    ("GET", "/connectors/nope/status", None, 404, "Connector nope not found"),
    ("GET", "/connectors/nope/config", None, 404, "Connector nope not found"),
    ("GET", "/connectors/nope/tasks", None, 404, "Connector nope not found"),
    ("DELETE", "/connectors/nope", None, 404, "Connector nope not found"),
    ("PUT", "/connectors/nope/pause", None, 404, "Connector nope not found"),
    ("PUT", "/connectors/nope/resume", None, 404, "Connector nope not found"),
    ("POST", "/connectors/nope/restart", None, 404, "Connector nope not found"),
    ("POST", "/connectors/nope/restart?includeTasks=maybe", None, 400, None),
    ("GET", "/connectors/nope/tasks/x/status", None, 404, "Task nope-x not found"),
    ("POST", "/connectors", b"not json", 400, None),
    ("POST", "/connectors", b"[1]", 400, "Request body must be a JSON object"),
    ("POST", "/connectors", b'{"config": {}}', 400, "Connector name must be a non-empty string"),
    ("POST", "/connectors", b'{"name": "x", "config": {}}', 400, "Connector config {name=x} contains no connector type"),
    ("POST", "/connectors", b'{"name": "x", "config": {"connector.class": "Nope"}}', 400, None),
    ("POST", "/connectors", b'{"name": "x", "config": {"connector.class": "FileStreamSink", "file": {"a": 1}}}',
     400, "Connector config values must be strings, numbers or booleans"),
    ("PUT", "/connectors/x/config", b'"x"', 400, "Request body must be a JSON object"),
])
def test_connect_rest_api_errors_are_connects_json(client, method, path, body, status, message):
    response = client.request(method, path, content=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error_code"] == status
    if message is not None:
        assert error["message"] == message


# -- restarts ------------------------------------------------------------------------------------------

def test_kill_9_resumes_sources_exactly_and_keeps_connectors_and_their_pause(tmp_path: Path):
    data = tmp_path / "data"
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"line {i}\n" for i in range(200)))
    total = 3000
    process = ServerProcess(data, {"ksql.log.fsync": "always"}).start()
    try:
        with process.client() as c:
            ksql(c, datagen_sql("kill_gen", "kill_orders", total, ", 'messages.per.second'='2000'"))
            ksql(c, f"CREATE SOURCE CONNECTOR kill_file WITH ('connector.class'='FileStreamSource', "
                    f"'file'='{lines}', 'topic'='kill_lines', 'value.converter'='{STRING}');")
            ksql(c, "CREATE SOURCE CONNECTOR kill_paused WITH ('connector.class'='DatagenConnector', "
                    "'quickstart'='users', 'kafka.topic'='kill_users');")
            assert c.put("/connectors/KILL_PAUSED/pause").status_code == 202
            ksql(c, "CREATE STREAM KILL_ORDERS (ORDERID STRING KEY, ORDERUNITS DOUBLE) WITH (KAFKA_TOPIC="
                    "'kill_orders', VALUE_FORMAT='JSON');")
            ksql(c, "CREATE STREAM KILL_LINES (LINE STRING) WITH (KAFKA_TOPIC='kill_lines', "
                    "VALUE_FORMAT='KAFKA');")
            wait_for(lambda: 0 < len(query_rows(c, "SELECT ORDERID FROM KILL_ORDERS;")))
        process.kill()  # mid-production: datagen needs over a second for its records
        with lines.open("a") as f:
            f.write("".join(f"line {i}\n" for i in range(200, 300)))
        process = ServerProcess(data, {"ksql.log.fsync": "always"}, port=process.port).start()
        with process.client() as c:
            [listed] = ksql(c, "SHOW CONNECTORS;")
            assert sorted(x["name"] for x in listed["connectors"]) == ["KILL_FILE", "KILL_GEN", "KILL_PAUSED"]
            assert c.get("/connectors/KILL_PAUSED/status").json()["connector"]["state"] == "PAUSED"
            wait_for(lambda: len(query_rows(c, "SELECT ORDERID FROM KILL_ORDERS;")) >= total, timeout=60)
            wait_for(lambda: len(query_rows(c, "SELECT LINE FROM KILL_LINES;")) >= 300)
            time.sleep(0.5)
            orders = sorted(int(k) for [k] in query_rows(c, "SELECT ORDERID FROM KILL_ORDERS;"))
            assert orders == list(range(total)), "a datagen record lost or produced twice"
            assert [line for [line] in query_rows(c, "SELECT LINE FROM KILL_LINES;")] == \
                [f"line {i}" for i in range(300)], "a line lost or produced twice"
            assert query_rows(c, "SELECT * FROM KILL_ORDERS LIMIT 1;")
    finally:
        process.kill()


def test_connector_statements_go_to_the_connect_cluster_at_ksql_connect_url(tmp_path: Path):
    connect = ServerProcess(tmp_path / "connect", {"ksql.log.fsync": "never"}).start()
    ksqldb = None
    try:
        ksqldb = ServerProcess(tmp_path / "ksql", {"ksql.log.fsync": "never",
                                                   "ksql.connect.url": connect.url}).start()
        with ksqldb.client() as k, connect.client() as c:
            [created] = ksql(k, datagen_sql("remote_gen", "remote_orders", 3))
            assert created["@type"] == "connector_info" and created["info"]["name"] == "REMOTE_GEN"
            assert c.get("/connectors").json() == ["REMOTE_GEN"]
            [listed] = ksql(k, "SHOW CONNECTORS;")
            assert [x["name"] for x in listed["connectors"]] == ["REMOTE_GEN"]
            [described] = ksql(k, "DESCRIBE CONNECTOR remote_gen;")
            assert described["status"]["connector"]["worker_id"] == connect.url.removeprefix("http://")
            refused = post_ksql(k, datagen_sql("remote_gen", "remote_orders", 3))
            assert refused.status_code == 409
            assert refused.json()["message"] == "Failed to create connector: Connector REMOTE_GEN already exists"
            assert k.get("/connectors").status_code == 404  # this server runs none itself
            [dropped] = ksql(k, "DROP CONNECTOR remote_gen;")
            assert dropped["@type"] == "drop_connector"
            assert c.get("/connectors").json() == []
        ksqldb.kill()
        ksqldb = ServerProcess(tmp_path / "ksql", {"ksql.log.fsync": "never", "ksql.connect.url": connect.url},
                               port=ksqldb.port).start()
        with connect.client() as c:
            assert c.get("/connectors").json() == []  # nothing replayed against the Connect cluster
    finally:
        if ksqldb is not None:
            ksqldb.kill()
        connect.kill()
