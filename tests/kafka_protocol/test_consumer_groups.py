"""Consumer groups through confluent-kafka and kcat against the embedded listener: rebalancing between
two consumers, committed offsets that survive kill -9, the group admin APIs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.kafka_protocol.conftest import KafkaServer, start_kafka_server
from tests.kafka_protocol.test_quickstart import create_topic


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(bootstrap: str, topic: str, values: list[str], partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    for i, v in enumerate(values):
        producer.produce(topic, value=v.encode(), partition=i % partitions)
    assert producer.flush(30) == 0


class GroupConsumer:
    """A consumer in a group that commits every record it processes, and remembers its assignment."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.assigned: set[int] = set()
        self.values: list[str] = []
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 200})
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer, partitions) -> None:
        self.assigned = {p.partition for p in partitions}

    def _on_revoke(self, consumer, partitions) -> None:
        self.assigned = set()

    def poll(self) -> None:
        m = self.consumer.poll(0.1)
        if m is None:
            return
        if m.error() is not None:
            assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
            return
        self.values.append(m.value().decode())
        self.consumer.commit(message=m, asynchronous=False)

    def close(self) -> None:
        self.consumer.close()


def poll_until(consumers: list[GroupConsumer], done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, [(c.assigned, len(c.values)) for c in consumers]
        for c in consumers:
            c.poll()


def test_two_consumers_share_a_topic_and_rebalance(kafka_server: KafkaServer) -> None:
    topic, group = _name("shared"), _name("group")
    create_topic(kafka_server, topic, 4)
    first = GroupConsumer(kafka_server.bootstrap, group, topic)
    second = None
    try:
        poll_until([first], lambda: first.assigned == {0, 1, 2, 3})
        batch1 = [f"a{i}" for i in range(20)]
        produce(kafka_server.bootstrap, topic, batch1, 4)
        poll_until([first], lambda: len(first.values) == 20)

        second = GroupConsumer(kafka_server.bootstrap, group, topic)  # joins: the partitions are split
        both = [first, second]
        poll_until(both, lambda: len(first.assigned) == 2 and len(second.assigned) == 2
                   and not first.assigned & second.assigned)
        batch2 = [f"b{i}" for i in range(20)]
        produce(kafka_server.bootstrap, topic, batch2, 4)
        poll_until(both, lambda: len(first.values) + len(second.values) == 40)
        assert second.values and set(second.values) <= set(batch2)

        second.close()  # leaves: the first gets every partition back
        second_values, second = second.values, None
        poll_until([first], lambda: first.assigned == {0, 1, 2, 3})
        batch3 = [f"c{i}" for i in range(20)]
        produce(kafka_server.bootstrap, topic, batch3, 4)
        poll_until([first], lambda: len(first.values) + len(second_values) == 60)
        consumed = first.values + second_values
        assert sorted(consumed) == sorted(batch1 + batch2 + batch3)  # each record once
    finally:
        first.close()
        if second is not None:
            second.close()


def test_group_admin_list_describe_delete(kafka_server: KafkaServer) -> None:
    topic, group = _name("admin"), _name("group")
    create_topic(kafka_server, topic, 2)
    produce(kafka_server.bootstrap, topic, ["x", "y"], 2)
    member = GroupConsumer(kafka_server.bootstrap, group, topic)
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    try:
        poll_until([member], lambda: len(member.values) == 2)
        listed = {g.group_id: g for g in admin.list_consumer_groups().result(30).valid}
        assert listed[group].state.name == "STABLE"
        [described] = admin.describe_consumer_groups([group])[group].result(30).members
        assert {tp.partition for tp in described.assignment.topic_partitions} == {0, 1}
        with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
            admin.delete_consumer_groups([group])[group].result(30)
    finally:
        member.close()
    offsets = admin.list_consumer_group_offsets(
        [_group_request(group, topic, 2)])[group].result(30).topic_partitions
    assert sorted((tp.partition, tp.offset) for tp in offsets) == [(0, 1), (1, 1)]
    listed = {g.group_id: g for g in admin.list_consumer_groups().result(30).valid}
    assert listed[group].state.name == "EMPTY"
    admin.delete_consumer_groups([group])[group].result(30)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(30).valid}
    with pytest.raises(KafkaException, match="GROUP_ID_NOT_FOUND"):
        admin.delete_consumer_groups([group])[group].result(30)


def _group_request(group: str, topic: str, partitions: int):
    from confluent_kafka import ConsumerGroupTopicPartitions
    return ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])


def test_committed_offsets_survive_kill_9(tmp_path) -> None:
    server = start_kafka_server(tmp_path / "data")
    topic, group = _name("durable"), _name("group")
    try:
        create_topic(server, topic, 1)
        produce(server.bootstrap, topic, [f"v{i}" for i in range(20)], 1)
        consumer = GroupConsumer(server.bootstrap, group, topic)
        poll_until([consumer], lambda: len(consumer.values) >= 10)
        first_half = list(consumer.values)
        server.process.kill()  # kill -9 while the consumer is still in the group
        consumer.consumer.close()
        server.process.start()
        resumed = GroupConsumer(server.bootstrap, group, topic)
        try:
            poll_until([resumed], lambda: len(first_half) + len(resumed.values) >= 20)
            time.sleep(0.5)
            resumed.poll()
            assert first_half + resumed.values == [f"v{i}" for i in range(20)]
        finally:
            resumed.close()
    finally:
        server.process.kill()


def test_kcat_balanced_consumer(kafka_server: KafkaServer, kcat) -> None:
    topic, group = _name("kcat"), _name("group")
    create_topic(kafka_server, topic, 2)
    produce(kafka_server.bootstrap, topic, [f"k{i}" for i in range(10)], 2)
    result = kcat(["-G", group, "-c", "10", "-f", "%s\\n", "-X", "auto.offset.reset=earliest", topic])
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(f"k{i}" for i in range(10))
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    offsets = admin.list_consumer_group_offsets(
        [_group_request(group, topic, 2)])[group].result(30).topic_partitions
    assert sum(tp.offset for tp in offsets) == 10  # kcat committed what it consumed
