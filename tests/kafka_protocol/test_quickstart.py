"""The quickstart through Kafka clients against the embedded listener: create a topic with partitions,
describe it, list topics, produce, read from the beginning (confluent-kafka and kcat)."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from tests.kafka_protocol.conftest import KafkaServer


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(server: KafkaServer, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": server.bootstrap})  # kept until the result is in
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 30) -> list:
    """Every record of the topic from the beginning, by assignment (no consumer group)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    messages = []
    try:
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                if m.error() is None:
                    messages.append(m)
                else:
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
    finally:
        consumer.close()
    return messages


def test_admin_produce_consume(kafka_server: KafkaServer) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    topic = _name("quickstart")
    admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "86400000", "segment.bytes": "4194304",
                                                       "delete.retention.ms": "60000"})])[topic].result(30)
    with pytest.raises(KafkaException, match="already exists"):
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)

    metadata = admin.list_topics(timeout=30)
    assert topic in metadata.topics
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2]
    resource = ConfigResource("topic", topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["retention.ms"].value == "86400000"
    assert configs["cleanup.policy"].value == "delete"
    assert configs["segment.bytes"].value == "4194304" and configs["delete.retention.ms"].value == "60000"

    producer = Producer({"bootstrap.servers": kafka_server.bootstrap, "linger.ms": 5})
    delivered = []
    for i in range(30):
        producer.produce(topic, value=f"v{i}".encode(), key=f"k{i % 5}".encode(), headers=[("h", b"x")],
                         on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    assert producer.flush(30) == 0
    assert all(err is None for err, _, _ in delivered)

    messages = consume_all(kafka_server.bootstrap, topic, 3, 30)
    assert sorted(m.value() for m in messages) == sorted(f"v{i}".encode() for i in range(30))
    by_key = {}
    for m in messages:
        by_key.setdefault(m.key(), set()).add(m.partition())
        assert m.headers() == [("h", b"x")]
    assert all(len(parts) == 1 for parts in by_key.values())  # one key, one partition
    per_partition = {}
    for m in messages:
        per_partition.setdefault(m.partition(), []).append(m.offset())
    assert all(offsets == list(range(len(offsets))) for offsets in per_partition.values())

    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
    assert len(admin.list_topics(topic, timeout=30).topics[topic].partitions) == 4
    admin.delete_topics([topic])[topic].result(30)
    assert topic not in admin.list_topics(timeout=30).topics


def test_refusals_say_why(kafka_server: KafkaServer) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    bad = {"replicated": NewTopic(_name("r"), 1, 3),
           "unknown-config": NewTopic(_name("c"), 1, 1, config={"min.compaction.lag.ms": "1"}),
           "tiny-segment": NewTopic(_name("s"), 1, 1, config={"segment.bytes": "1"}),
           "bad-retention": NewTopic(_name("b"), 1, 1, config={"retention.ms": "soon"})}
    futures = admin.create_topics(list(bad.values()))
    messages = {}
    for label, topic in bad.items():
        with pytest.raises(KafkaException) as err:
            futures[topic.topic].result(30)
        messages[label] = str(err.value)
    assert "larger than the 1 available broker" in messages["replicated"]
    assert "min.compaction.lag.ms" in messages["unknown-config"] and "not supported" in messages["unknown-config"]
    assert "segment.bytes must be -1 or at least 1024" in messages["tiny-segment"]
    assert "retention.ms must be a whole number" in messages["bad-retention"]
    internal = [t for t in admin.list_topics(timeout=30).topics if t.startswith("_confluent-ksql-")]
    assert internal
    with pytest.raises(KafkaException, match="POLICY_VIOLATION"):
        admin.delete_topics([internal[0]])[internal[0]].result(30)


def test_compressed_batches(kafka_server: KafkaServer) -> None:
    topic = _name("codecs")
    create_topic(kafka_server, topic, 1)
    sent = []
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        producer = Producer({"bootstrap.servers": kafka_server.bootstrap, "compression.type": codec,
                             "linger.ms": 20})
        for i in range(200):
            value = f"{codec}-{i}-".encode() * 5
            producer.produce(topic, value=value, key=None if i % 7 == 0 else str(i).encode())
            sent.append(value)
        assert producer.flush(30) == 0
    assert [m.value() for m in consume_all(kafka_server.bootstrap, topic, 1, len(sent))] == sent


def test_kcat_list_produce_consume(kafka_server: KafkaServer, kcat) -> None:
    topic = _name("kcat")
    create_topic(kafka_server, topic, 2)
    listed = kcat(["-L", "-t", topic])
    assert listed.returncode == 0, listed.stderr
    assert f'topic "{topic}" with 2 partitions' in listed.stdout
    produced = kcat(["-P", "-t", topic, "-p", "1", "-K", ":"], input="a:1\nb:2\nc:3\n")
    assert produced.returncode == 0, produced.stderr
    consumed = kcat(["-C", "-t", topic, "-p", "1", "-o", "beginning", "-e", "-f", "%k=%s@%o\n"])
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["a=1@0", "b=2@1", "c=3@2"]
