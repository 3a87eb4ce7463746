"""Kafka clients and the engine share one log: records a Kafka producer sends are processed by persistent
queries (the produce wakes the query runner, as a REST insert does), their sinks are read by Kafka
consumers, and SHOW TOPICS, PRINT and INSERT VALUES see and feed the same topics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.kafka_protocol.conftest import KafkaServer, start_kafka_server
from tests.kafka_protocol.test_quickstart import consume_all, create_topic
from tests.server.harness import ksql


@pytest.fixture(scope="module")
def sleepy_server(tmp_path_factory) -> Iterator[KafkaServer]:
    """A server whose idle query runner sleeps 60 s between rounds unless a write wakes it."""
    server = start_kafka_server(tmp_path_factory.mktemp("engine") / "data",
                                {"ksql.server.runner.idle.ms": "60000"})
    yield server
    server.process.terminate()


def test_csas_over_a_topic_produced_by_confluent_kafka(sleepy_server: KafkaServer) -> None:
    create_topic(sleepy_server, "payments", 2)
    with sleepy_server.client() as client:
        ksql(client, "CREATE STREAM PAYMENTS (ID VARCHAR KEY, AMOUNT DOUBLE) "
                     "WITH (KAFKA_TOPIC='payments', VALUE_FORMAT='JSON');")
        ksql(client, "CREATE STREAM BIG_PAYMENTS AS SELECT ID, AMOUNT * 2 AS DOUBLED FROM PAYMENTS "
                     "WHERE AMOUNT > 10 EMIT CHANGES;")
        time.sleep(0.5)  # the runner is asleep again: only the produce below can wake it in time
        producer = Producer({"bootstrap.servers": sleepy_server.bootstrap, "linger.ms": 5})
        for i, amount in enumerate([5, 20, 7.5, 100, 11]):
            producer.produce("payments", key=f"p{i}".encode(), value=json.dumps({"AMOUNT": amount}).encode())
        assert producer.flush(30) == 0

        sink = consume_all(sleepy_server.bootstrap, "BIG_PAYMENTS", 1, 3, timeout=20)
        assert sorted((m.key(), json.loads(m.value())["DOUBLED"]) for m in sink) == [
            (b"p1", 40.0), (b"p3", 200.0), (b"p4", 22.0)]

        [topics] = ksql(client, "SHOW TOPICS;")
        names = {t["name"]: t for t in topics["topics"]}
        assert names["payments"]["replicaInfo"] == [1, 1]
        assert "BIG_PAYMENTS" in names


def test_rows_inserted_over_rest_are_read_by_kafka_consumers(kafka_server: KafkaServer) -> None:
    with kafka_server.client() as client:
        ksql(client, "CREATE STREAM READINGS (SENSOR VARCHAR KEY, V INT) "
                     "WITH (KAFKA_TOPIC='readings', PARTITIONS=1, VALUE_FORMAT='JSON');")
        for v in range(3):
            ksql(client, f"INSERT INTO READINGS (SENSOR, V) VALUES ('s{v}', {v});")
    messages = consume_all(kafka_server.bootstrap, "readings", 1, 3)
    assert [(m.key(), json.loads(m.value()), m.offset()) for m in messages] == [
        (b"s0", {"V": 0}, 0), (b"s1", {"V": 1}, 1), (b"s2", {"V": 2}, 2)]


def test_print_shows_records_produced_by_kafka_clients(kafka_server: KafkaServer) -> None:
    create_topic(kafka_server, "printed", 1)
    producer = Producer({"bootstrap.servers": kafka_server.bootstrap})
    producer.produce("printed", key=b"k", value=b'{"A":1}')
    assert producer.flush(30) == 0
    lines = []
    with httpx.Client(base_url=kafka_server.url) as client:
        body = {"ksql": "PRINT 'printed' FROM BEGINNING LIMIT 1;", "streamsProperties": {}}
        with client.stream("POST", "/query", json=body, timeout=10) as response:
            lines = [line for line in response.iter_lines() if "rowtime" in line]
    assert len(lines) == 1 and 'key: k, value: {"A":1}' in lines[0], lines


def test_topic_settings_reach_the_log(kafka_server: KafkaServer) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    create_topic(kafka_server, "tuned", 1)
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    resource = ConfigResource("topic", "tuned", incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    described = admin.describe_configs([ConfigResource("topic", "tuned")])
    configs = next(iter(described.values())).result(30)
    assert (configs["retention.ms"].value, configs["cleanup.policy"].value) == ("1000", "compact,delete")
    with kafka_server.client() as client:
        [topics] = ksql(client, "SHOW TOPICS EXTENDED;")
    assert any(t["name"] == "tuned" for t in topics["topics"])
