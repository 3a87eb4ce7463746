"""ksqlDB endpoints and entities clients call beyond /ksql and /query: metadata, health checks, property
checks and listings, extended SHOW, command sequence numbers, cluster termination."""

from __future__ import annotations

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql


def test_is_valid_property(client: httpx.Client) -> None:
    for name in ("ksql.streams.auto.offset.reset", "auto.offset.reset", "ksql.query.pull.table.scan.enabled",
                 "consumer.max.poll.records", "ksql.functions.my_udf.setting"):
        response = client.get(f"/is_valid_property/{name}")
        assert response.status_code == 200 and response.json() is True, (name, response.text)
    refused = client.get("/is_valid_property/no.such.property")
    assert refused.status_code == 400
    assert refused.json()["message"] == ("Not recognizable as ksql, streams, consumer, or producer property: "
                                         "'no.such.property'")


def test_metadata_and_container_health_checks(client: httpx.Client) -> None:
    metadata = client.get("/v1/metadata").json()
    info = client.get("/info").json()["KsqlServerInfo"]
    assert metadata["version"] == info["version"]
    clusters = metadata["clusterId"]["scope"]["clusters"]
    assert clusters == {"kafka-cluster": info["kafkaClusterId"], "ksql-cluster": info["ksqlServiceId"]}
    assert client.get("/v1/metadata/id").json() == metadata["clusterId"]
    for path in ("/chc/live", "/chc/ready"):
        response = client.get(path)
        assert response.status_code == 200 and response.json() == {}


def test_lag_reports_are_acknowledged(client: httpx.Client) -> None:
    report = {"host": {"host": "other", "port": 8088}, "hostPartitionStoreLags": {"stateStoreLags": {}},
              "lastLagUpdateMs": 1}
    assert client.post("/lag", json=report).json() == {"isOk": True}
    assert client.post("/lag", json={"nope": 1}).status_code == 400


def test_cluster_status_names_this_server(server: ServerProcess, client: httpx.Client) -> None:
    status = client.get("/clusterStatus").json()["clusterStatus"]
    assert list(status) == [f"127.0.0.1:{server.port}"]


def test_show_properties_lists_server_defaults_and_session_properties(client: httpx.Client) -> None:
    [entity] = ksql(client, "SHOW PROPERTIES;")
    listed = {p["name"]: p for p in entity["properties"]}
    assert {p["scope"] for p in entity["properties"]} == {"KSQL"}
    assert listed["ksql.service.id"]["value"] == "default_"
    assert listed["ksql.max.push.queries"]["value"] == "5"  # the server's configuration
    assert listed["ksql.streams.auto.offset.reset"]["value"] == "latest"  # ksqlDB's default
    assert "ksql.streams.auto.offset.reset" in entity["defaultProperties"]
    [_, entity] = ksql(client, "SET 'auto.offset.reset'='earliest'; SHOW PROPERTIES;")
    listed = {p["name"]: p for p in entity["properties"]}
    assert listed["ksql.streams.auto.offset.reset"]["value"] == "earliest"
    assert "ksql.streams.auto.offset.reset" in entity["overwrittenProperties"]
    ksql(client, "UNSET 'auto.offset.reset';")


@pytest.mark.parametrize("sql, message", [
    ("SET 'ksql.no.such.thing'='1';", "Unknown property: ksql.no.such.thing"),
    ("SET 'bogus.property'='1';", "Not recognizable as ksql, streams, consumer, or producer property: "
                                  "'bogus.property'"),
])
def test_set_of_an_unknown_property_is_refused(client: httpx.Client, sql: str, message: str) -> None:
    response = client.post("/ksql", json={"ksql": sql})
    assert response.status_code == 400
    assert response.json()["@type"] == "statement_error" and response.json()["message"] == message


def test_unknown_request_properties_are_refused(client: httpx.Client) -> None:
    ksql_response = client.post("/ksql", json={"ksql": "SHOW STREAMS;", "streamsProperties": {"bogus.prop": "x"}})
    query_response = client.post("/query-stream", json={"sql": "SELECT 1 FROM X;", "properties": {"bogus.prop": 1}})
    for response in (ksql_response, query_response):
        assert response.status_code == 400
        body = response.json()
        assert body["error_code"] == 40000
        assert body["message"].startswith("Failed to set 'bogus.prop' to ")
        assert "Not recognizable as ksql, streams, consumer, or producer property: 'bogus.prop'" in body["message"]


def test_show_queries_and_topics_extended(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM EXT_SRC (K STRING KEY, V INT) WITH (KAFKA_TOPIC='ext_src', PARTITIONS=2, "
                 "VALUE_FORMAT='JSON'); CREATE STREAM EXT_SINK AS SELECT * FROM EXT_SRC;")
    [queries] = ksql(client, "SHOW QUERIES EXTENDED;")
    assert queries["@type"] == "query_descriptions"
    [description] = [d for d in queries["queryDescriptions"] if d["sinks"] == ["EXT_SINK"]]
    assert description["sources"] == ["EXT_SRC"] and description["queryType"] == "PERSISTENT"
    assert list(description["ksqlHostQueryStatus"].values()) == ["RUNNING"]
    [topics] = ksql(client, "SHOW TOPICS EXTENDED;")
    assert topics["@type"] == "kafka_topics_extended"
    listed = {t["name"]: t for t in topics["topics"]}
    assert listed["ext_src"]["replicaInfo"] == [1, 1]
    assert (listed["ext_src"]["consumerCount"], listed["ext_src"]["consumerGroupCount"]) == (1, 1)
    assert (listed["EXT_SINK"]["consumerCount"], listed["EXT_SINK"]["consumerGroupCount"]) == (0, 0)
    [plain] = ksql(client, "SHOW TOPICS;")
    assert plain["@type"] == "kafka_topics" and "consumerCount" not in plain["topics"][0]


def test_command_sequence_number_waits_for_that_command(client: httpx.Client) -> None:
    [created] = ksql(client, "CREATE STREAM SEQ_S (V INT) WITH (KAFKA_TOPIC='seq_s', PARTITIONS=1, "
                             "VALUE_FORMAT='JSON');")
    sequence = created["commandSequenceNumber"]
    done = client.post("/ksql", json={"ksql": "DESCRIBE SEQ_S;", "commandSequenceNumber": sequence})
    assert done.status_code == 200
    ahead = client.post("/ksql", json={"ksql": "SHOW STREAMS;", "commandSequenceNumber": sequence + 1000})
    assert ahead.status_code == 503
    assert ahead.json() == {"@type": "generic_error", "error_code": 50301,
                            "message": "Timed out while waiting for a previous command to execute. "
                                       f"command sequence number: {sequence + 1000}"}


def test_terminate_cluster_drops_everything_and_deletes_matching_topics(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", {"ksql.log.fsync": "never"}).start()
    try:
        with server.client() as client:
            ksql(client, "CREATE STREAM T_SRC (V INT) WITH (KAFKA_TOPIC='t_src', PARTITIONS=1, VALUE_FORMAT='JSON');"
                         "CREATE STREAM T_KEEP AS SELECT * FROM T_SRC; CREATE STREAM T_GONE AS SELECT * FROM T_SRC;")
            response = client.post("/ksql/terminate", json={"deleteTopicList": ["t_g.*"]})
            assert response.status_code == 200, response.text
            assert response.json()[0]["commandStatus"]["status"] == "SUCCESS"
            [streams, queries, topics] = ksql(client, "SHOW STREAMS; SHOW QUERIES; SHOW TOPICS;")
            assert streams["streams"] == [] and queries["queries"] == []
            names = {t["name"] for t in topics["topics"]}
            assert {"t_src", "T_KEEP"} <= names and "T_GONE" not in names
    finally:
        server.kill()
