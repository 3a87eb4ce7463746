"""KafkaLog against a real broker: topics, appends, reads at any offset, groups and offsets."""

from __future__ import annotations

import time

import pytest

from ksql.engine.log import Record, TopicConfig, TopicExistsError, UnknownTopicError
from ksql.engine.log.kafka import KafkaLog


@pytest.fixture
def log(kafka_bootstrap):
    kafka_log = KafkaLog(kafka_bootstrap)
    yield kafka_log
    kafka_log.close()


def test_topics_lifecycle(log, unique):
    name = f"t-{unique}"
    assert not log.topic_exists(name)
    log.create_topic(name, TopicConfig(partitions=3))
    assert log.topic_exists(name)
    assert log.topic_config(name).partitions == 3
    assert name in log.list_topics()
    with pytest.raises(TopicExistsError):
        log.create_topic(name, TopicConfig(partitions=3))
    log.delete_topic(name)
    with pytest.raises(UnknownTopicError):
        log.delete_topic(name)


def test_append_then_read_everything_back(log, unique):
    name = f"r-{unique}"
    log.create_topic(name, TopicConfig(partitions=2))
    records = [Record(b"k%d" % i, b"v%d" % i, 1_700_000_000_000 + i, [("h", b"x")] if i % 2 else [])
               for i in range(2500)]
    offsets = log.append(name, 1, records)
    assert offsets == list(range(2500))
    assert log.end_offset(name, 1) == 2500 and log.start_offset(name, 1) == 0
    got, offset = [], 0
    while True:  # a read returns nothing only at the end
        batch = log.read(name, 1, offset, 1000)
        if not batch:
            break
        got += batch
        offset = batch[-1].offset + 1
    assert [(r.key, r.value, r.timestamp, r.headers, r.offset) for r in got] == \
        [(r.key, r.value, r.timestamp, r.headers, i) for i, r in enumerate(records)]
    assert log.read(name, 0, 0) == []
    # a read elsewhere re-positions; reading back again from an earlier offset works
    assert [r.offset for r in log.read(name, 1, 100, 3)] == [100, 101, 102]
    assert [r.value for r in log.read(name, 1, 7, 2)] == [b"v7", b"v8"]


def test_group_offsets_and_membership(log, unique):
    name = f"g-{unique}"
    log.create_topic(name, TopicConfig(partitions=4))
    group = f"grp-{unique}"
    assert log.committed(group, name, 0) is None
    log.commit(group, {(name, 0): 5})
    assert log.committed(group, name, 0) == 5
    member = log.join_group(group, [name])
    deadline = time.monotonic() + 30
    gained: set = set()
    while time.monotonic() < deadline and len(gained) < 4:
        gained |= member.changes()[0]
        time.sleep(0.05)
    assert gained == {(name, p) for p in range(4)}
    log.commit(group, {(name, 1): 9})
    assert log.committed(group, name, 1) == 9
    member.close()


def test_two_members_split_and_take_over(kafka_bootstrap, unique):
    name = f"s-{unique}"
    first, second = KafkaLog(kafka_bootstrap), KafkaLog(kafka_bootstrap)
    try:
        first.create_topic(name, TopicConfig(partitions=4))
        group = f"split-{unique}"
        a, b = first.join_group(group, [name]), second.join_group(group, [name])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            a.changes()
            b.changes()
            if len(a.owned()) == 2 and len(b.owned()) == 2:
                break
            time.sleep(0.05)
        assert a.owned() | b.owned() == {(name, p) for p in range(4)} and not a.owned() & b.owned()
        b.close()  # leaves the group: its partitions move to the survivor
        while time.monotonic() < deadline and len(a.owned()) < 4:
            a.changes()
            time.sleep(0.05)
        assert a.owned() == {(name, p) for p in range(4)}
    finally:
        first.close()
        second.close()
