"""What a person (or Prometheus) can see of a running server: /metrics in Prometheus' text format
behind Basic auth, DESCRIBE EXTENDED's statistics, and the KSQL_PROCESSING_LOG stream."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

AUTH = ("alice", "secret")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("observe") / "data", {
        "ksql.log.fsync": "never", "authentication.method": "BASIC", "authentication.basic.users": "alice:secret",
        "ksql.logging.processing.topic.auto.create": "true", "ksql.logging.processing.stream.auto.create": "true",
        "ksql.logging.processing.rows.include": "true"}).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(auth=AUTH) as c:
        ksql(c, "CREATE STREAM CLICKS (USER_ID STRING KEY, N INT) WITH (KAFKA_TOPIC='clicks', PARTITIONS=2, "
                "VALUE_FORMAT='JSON');"
                "CREATE STREAM BIG_CLICKS AS SELECT USER_ID, N FROM CLICKS WHERE N > 10;"
                "CREATE TABLE CLICK_COUNTS AS SELECT USER_ID, COUNT(*) AS C FROM CLICKS GROUP BY USER_ID;")
        yield c


def scrape(client: httpx.Client) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics, parsed by prometheus_client: name -> {sorted labels: value}."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def one(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def insert(client: httpx.Client, rows: list[tuple[str, int]]) -> None:
    ksql(client, "".join(f"INSERT INTO CLICKS (USER_ID, N) VALUES ('{u}', {n});" for u, n in rows))
    wait_idle(client)


def test_metrics_require_basic_auth(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        assert anonymous.get("/metrics", auth=("alice", "wrong")).status_code == 401
        assert anonymous.get("/metrics", auth=AUTH).status_code == 200


def test_query_and_server_figures_move_after_inserts(client: httpx.Client) -> None:
    query_id = next(q["id"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"] if q["sinks"] == ["BIG_CLICKS"])
    before = scrape(client)
    insert(client, [("alice", 5), ("bob", 50), ("alice", 500)])
    assert query_rows(client, "SELECT * FROM CLICK_COUNTS WHERE USER_ID = 'alice';")
    after = scrape(client)

    def grew(name: str, by: float, **labels: str) -> None:
        assert one(after, name, **labels) - before.get(name, {}).get(tuple(sorted(labels.items())), 0) == by

    grew("ksql_query_records_in_total", 3, query_id=query_id)
    grew("ksql_query_records_out_total", 2, query_id=query_id)  # the filter passes two
    assert one(after, "ksql_query_bytes_in_total", query_id=query_id) > one(before, "ksql_query_bytes_in_total",
                                                                            query_id=query_id)
    assert one(after, "ksql_query_bytes_out_total", query_id=query_id) > 0
    assert one(after, "ksql_query_processing_errors_total", query_id=query_id) == 0
    assert {one(after, "ksql_query_consumer_lag", query_id=query_id, topic="clicks", partition=p)
            for p in ("0", "1")} == {0}
    polls = before["ksql_query_poll_seconds_count"][(("query_id", query_id),)]
    assert one(after, "ksql_query_poll_seconds_count", query_id=query_id) > polls
    assert one(after, "ksql_query_state", query_id=query_id, state="RUNNING") == 1
    grew("ksql_http_requests_total", 1, endpoint="/metrics", method="GET", status="200")
    assert one(after, "ksql_http_requests_total", endpoint="/ksql", method="POST", status="200") >= 2
    assert one(after, "ksql_pull_query_seconds_count") >= 1
    assert one(after, "ksql_push_queries_open") == 0
    assert one(after, "ksql_topic_log_size_bytes", topic="clicks") > one(before, "ksql_topic_log_size_bytes",
                                                                          topic="clicks")


def test_requests_are_counted_by_route_template(client: httpx.Client) -> None:
    assert client.get("/status/stream/CLICKS/create").status_code in (200, 404)
    assert client.get("/no/such/path").status_code == 404
    samples = scrape(client)["ksql_http_requests_total"]
    endpoints = {dict(labels)["endpoint"] for labels in samples}
    assert "/status/{command_id:path}" in endpoints and "unmatched" in endpoints
    assert not any("CLICKS" in e or "no/such" in e for e in endpoints)


def test_describe_extended_and_show_queries_extended_show_statistics(client: httpx.Client) -> None:
    insert(client, [("carol", 11)])
    source = ksql(client, "DESCRIBE CLICKS EXTENDED;")[0]["sourceDescription"]
    assert "consumer-total-messages:" in source["statistics"] and "last-message:" in source["statistics"]
    assert source["errorStats"].startswith("consumer-failed-messages:")
    sink = ksql(client, "DESCRIBE BIG_CLICKS EXTENDED;")[0]["sourceDescription"]
    assert "total-messages:" in sink["statistics"]
    assert ksql(client, "DESCRIBE CLICKS;")[0]["sourceDescription"]["statistics"] == ""
    described = ksql(client, "SHOW QUERIES EXTENDED;")[0]["queryDescriptions"]
    assert all("total-messages:" in d["statistics"] for d in described)
    assert all(d["topology"].startswith("Topologies:\n") for d in described)


def test_a_malformed_record_appears_in_the_processing_log(client: httpx.Client, server: ServerProcess) -> None:
    described = ksql(client, "DESCRIBE KSQL_PROCESSING_LOG;")[0]["sourceDescription"]
    assert described["topic"] == "default_ksql_processing_log"
    assert [f["name"] for f in described["fields"]] == ["LOGGER", "LEVEL", "TIME", "MESSAGE"]
    message = next(f for f in described["fields"] if f["name"] == "MESSAGE")["schema"]["fields"]
    assert [f["name"] for f in message] == ["TYPE", "DESERIALIZATIONERROR", "RECORDPROCESSINGERROR",
                                            "PRODUCTIONERROR", "SERIALIZATIONERROR", "KAFKASTREAMSTHREADERROR"]
    rows: list[list] = []
    header = threading.Event()

    def follow() -> None:
        sql = ("SELECT LOGGER, MESSAGE->TYPE, MESSAGE->DESERIALIZATIONERROR->ERRORMESSAGE, "
               "MESSAGE->DESERIALIZATIONERROR->RECORDB64, MESSAGE->DESERIALIZATIONERROR->`TOPIC` "
               "FROM KSQL_PROCESSING_LOG WHERE MESSAGE->DESERIALIZATIONERROR->`TOPIC` = 'clicks' "
               "EMIT CHANGES LIMIT 1;")
        with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as c, \
                c.stream("POST", "/query-stream", json={"sql": sql}) as response:
            lines = response.iter_lines()
            next(lines)
            header.set()
            rows.extend(json.loads(line) for line in lines if line.strip())

    reader = threading.Thread(target=follow)
    reader.start()
    assert header.wait(10)
    bad = b'{"N": "not a number"}'
    response = client.post("/topics/clicks/records", json={"records": [
        {"key": "mallory", "rawValue": base64.b64encode(bad).decode()}]})
    assert response.status_code == 200, response.text
    reader.join(30)
    assert not reader.is_alive()
    [[logger, kind, error, record, topic]] = rows
    assert logger.startswith("processing.") and logger.endswith(".KsqlTopic.Source.deserializer")
    assert kind == 0 and topic == "clicks"
    assert "Failed to deserialize value from topic: clicks" in error
    assert base64.b64decode(record) == bad  # ksql.logging.processing.rows.include=true
    errors = scrape(client)["ksql_query_processing_errors_total"]
    assert sum(errors.values()) >= 2  # both queries over CLICKS skipped it
    assert "consumer-failed-messages:" in ksql(client, "DESCRIBE CLICKS EXTENDED;")[0]["sourceDescription"][
        "errorStats"]
