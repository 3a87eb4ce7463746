"""Kafka transactions through confluent-kafka against the embedded listener: read_committed consumers
see committed transactions only, producers are fenced, a transaction open at kill -9 is aborted, and
persistent queries never see aborted records or markers."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from tests.kafka_protocol.conftest import KafkaServer, start_kafka_server
from tests.kafka_protocol.test_quickstart import create_topic
from tests.server.harness import ksql


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def transactional_producer(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 1})
    producer.init_transactions(30)
    return producer


def read(bootstrap: str, topic: str, partitions: int, isolation: str, settle: float = 1.5,
         config: dict[str, str] | None = None) -> list[str]:
    """Every value a consumer with this isolation level reads from the beginning (until quiet)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": _name("reader"), "enable.auto.commit": False,
                         "isolation.level": isolation, "enable.partition.eof": True, **(config or {})})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    values: list[str] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 30
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            m = consumer.poll(0.1)
            if m is None:
                if len(eof) == partitions and time.monotonic() - quiet_since > settle:
                    break
                continue
            quiet_since = time.monotonic()
            if m.error() is not None:
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                eof.add(m.partition())
                continue
            eof.discard(m.partition())
            values.append(m.value().decode())
    finally:
        consumer.close()
    return values


def test_read_committed_sees_only_committed_transactions(kafka_server: KafkaServer) -> None:
    topic = _name("txn")
    create_topic(kafka_server, topic, 2)
    producer = transactional_producer(kafka_server.bootstrap, _name("tx"))
    producer.begin_transaction()
    for i in range(6):
        producer.produce(topic, value=f"committed-{i}".encode(), partition=i % 2)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(4):
        producer.produce(topic, value=f"aborted-{i}".encode(), partition=i % 2)
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed-after", partition=1)
    producer.commit_transaction(30)

    committed = [f"committed-{i}" for i in range(6)] + ["committed-after"]
    assert sorted(read(kafka_server.bootstrap, topic, 2, "read_committed")) == sorted(committed)
    assert sorted(read(kafka_server.bootstrap, topic, 2, "read_uncommitted")) == sorted(
        committed + [f"aborted-{i}" for i in range(4)])


def test_open_transaction_is_invisible_to_read_committed(kafka_server: KafkaServer) -> None:
    topic = _name("open")
    create_topic(kafka_server, topic, 1)
    plain = Producer({"bootstrap.servers": kafka_server.bootstrap})
    plain.produce(topic, value=b"before", partition=0)
    plain.flush(30)
    producer = transactional_producer(kafka_server.bootstrap, _name("tx"))
    producer.begin_transaction()
    producer.produce(topic, value=b"pending", partition=0)
    producer.flush(30)
    plain.produce(topic, value=b"after", partition=0)  # behind the open transaction: held back too
    plain.flush(30)
    assert read(kafka_server.bootstrap, topic, 1, "read_committed") == ["before"]
    producer.commit_transaction(30)
    assert read(kafka_server.bootstrap, topic, 1, "read_committed") == ["before", "pending", "after"]


def test_new_producer_fences_the_old_one_and_aborts_its_transaction(kafka_server: KafkaServer) -> None:
    topic, tid = _name("fence"), _name("tx")
    create_topic(kafka_server, topic, 1)
    old = transactional_producer(kafka_server.bootstrap, tid)
    old.begin_transaction()
    old.produce(topic, value=b"zombie", partition=0)
    old.flush(30)
    new = transactional_producer(kafka_server.bootstrap, tid)  # bumps the epoch: aborts the open one
    with pytest.raises(KafkaException) as raised:
        old.commit_transaction(30)
    assert raised.value.args[0].fatal() or "fenced" in str(raised.value).lower()
    new.begin_transaction()
    new.produce(topic, value=b"fresh", partition=0)
    new.commit_transaction(30)
    assert read(kafka_server.bootstrap, topic, 1, "read_committed") == ["fresh"]


def test_transactional_offsets_commit_with_the_transaction(kafka_server: KafkaServer) -> None:
    source, sink, group = _name("src"), _name("sink"), _name("group")
    create_topic(kafka_server, source, 1)
    create_topic(kafka_server, sink, 1)
    plain = Producer({"bootstrap.servers": kafka_server.bootstrap})
    for i in range(4):
        plain.produce(source, value=f"in-{i}".encode(), partition=0)
    plain.flush(30)
    consumer = Consumer({"bootstrap.servers": kafka_server.bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([source])
    producer = transactional_producer(kafka_server.bootstrap, _name("tx"))
    try:
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 4 and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                seen.append(m)
        assert len(seen) == 4
        for aborted in (True, False):
            producer.begin_transaction()
            producer.produce(sink, value=b"out", partition=0)
            producer.send_offsets_to_transaction([TopicPartition(source, 0, 4)], consumer.consumer_group_metadata(),
                                                 30)
            if aborted:
                producer.abort_transaction(30)
                assert consumer.committed([TopicPartition(source, 0)], 30)[0].offset < 0
            else:
                producer.commit_transaction(30)
                assert consumer.committed([TopicPartition(source, 0)], 30)[0].offset == 4
    finally:
        consumer.close()


def test_open_transaction_at_kill_9_is_aborted(tmp_path) -> None:
    server = start_kafka_server(tmp_path / "data")
    topic = _name("crash")
    try:
        create_topic(server, topic, 1)
        producer = transactional_producer(server.bootstrap, _name("tx"))
        producer.begin_transaction()
        producer.produce(topic, value=b"committed", partition=0)
        producer.commit_transaction(30)
        producer.begin_transaction()
        producer.produce(topic, value=b"in-flight", partition=0)
        producer.flush(30)
        server.process.kill()
        server.process.start()
        plain = Producer({"bootstrap.servers": server.bootstrap})
        plain.produce(topic, value=b"later", partition=0)
        plain.flush(30)
        assert read(server.bootstrap, topic, 1, "read_committed") == ["committed", "later"]
        assert read(server.bootstrap, topic, 1, "read_uncommitted") == ["committed", "in-flight", "later"]
    finally:
        server.process.kill()


def test_persistent_queries_skip_aborted_records_and_markers(kafka_server: KafkaServer) -> None:
    topic = _name("engine_in")
    create_topic(kafka_server, topic, 1)
    stream = "S_" + uuid.uuid4().hex[:8].upper()
    with kafka_server.client() as client:
        ksql(client, f"CREATE STREAM {stream} (v VARCHAR) WITH (kafka_topic='{topic}', value_format='KAFKA');")
        ksql(client, f"CREATE STREAM {stream}_OUT AS SELECT v FROM {stream};")
        producer = transactional_producer(kafka_server.bootstrap, _name("tx"))
        producer.begin_transaction()
        producer.produce(topic, value=b"kept", partition=0)
        producer.commit_transaction(30)
        producer.begin_transaction()
        producer.produce(topic, value=b"dropped", partition=0)
        producer.flush(30)
        producer.abort_transaction(30)
        producer.begin_transaction()
        producer.produce(topic, value=b"kept-too", partition=0)
        producer.commit_transaction(30)
        sink = ksql(client, f"DESCRIBE {stream}_OUT;")[0]["sourceDescription"]["topic"]
        deadline = time.monotonic() + 30
        values: list[str] = []
        while time.monotonic() < deadline and len(values) < 2:
            values = read(kafka_server.bootstrap, sink, 1, "read_uncommitted", settle=0.3)
        time.sleep(0.5)
        assert read(kafka_server.bootstrap, sink, 1, "read_uncommitted", settle=0.3) == ["kept", "kept-too"]


def test_transaction_past_its_timeout_is_aborted(kafka_server: KafkaServer) -> None:
    topic = _name("timeout")
    create_topic(kafka_server, topic, 1)
    producer = Producer({"bootstrap.servers": kafka_server.bootstrap, "transactional.id": _name("tx"),
                         "transaction.timeout.ms": 1000})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"abandoned", partition=0)
    producer.flush(30)
    time.sleep(2)  # the coordinator aborts it: read_committed readers are not held back by it
    plain = Producer({"bootstrap.servers": kafka_server.bootstrap})
    plain.produce(topic, value=b"later", partition=0)
    plain.flush(30)
    assert read(kafka_server.bootstrap, topic, 1, "read_committed") == ["later"]
    with pytest.raises(KafkaException):
        producer.commit_transaction(30)  # its epoch was bumped: it is fenced
