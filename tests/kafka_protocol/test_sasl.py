"""SASL/PLAIN on the Kafka listener when the server has Basic authentication on: the same users."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.kafka_protocol.conftest import KafkaServer, start_kafka_server
from tests.kafka_protocol.test_transactions import read
from tests.server.harness import free_port
from tests.server.test_startup_errors import assert_refused, start_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[KafkaServer]:
    server = start_kafka_server(tmp_path_factory.mktemp("sasl") / "data", properties={
        "authentication.method": "BASIC", "authentication.basic.users": "alice:secret,bob:hunter2"})
    yield server
    server.process.terminate()


def plain(user: str, password: str) -> dict[str, str]:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": user,
            "sasl.password": password}


def test_right_password_is_served(secured: KafkaServer) -> None:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": secured.bootstrap, **plain("alice", "secret")})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": secured.bootstrap, **plain("bob", "hunter2")})
    producer.produce(topic, value=b"hello", partition=0)
    assert producer.flush(30) == 0
    assert topic in admin.list_topics(timeout=30).topics
    assert read(secured.bootstrap, topic, 1, "read_uncommitted", settle=0.3,
                config=plain("alice", "secret")) == ["hello"]


def _refusals(bootstrap: str, config: dict[str, str]) -> list[KafkaError]:
    """The errors a producer reports when it cannot get metadata (it cannot)."""
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **config})
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=10)
    producer.poll(1)
    return errors


def test_wrong_password_is_refused(secured: KafkaServer) -> None:
    for user, password in (("alice", "wrong"), ("mallory", "secret")):
        errors = _refusals(secured.bootstrap, plain(user, password))
        assert any(e.code() == KafkaError._AUTHENTICATION and "invalid username or password" in e.str()
                   for e in errors), errors


def test_unauthenticated_requests_are_refused(secured: KafkaServer) -> None:
    admin = AdminClient({"bootstrap.servers": secured.bootstrap})  # plaintext, no SASL
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    assert "before SASL authentication" in secured.process.output()


def test_basic_auth_without_users_is_one_clear_line(tmp_path) -> None:
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                          "--kafka-listener", f"127.0.0.1:{free_port()}", "-D", "authentication.method=BASIC")
    assert_refused(result, "authentication.method=BASIC needs users")
