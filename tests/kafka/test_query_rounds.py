"""Persistent queries on Kafka: how a poll writes, and where a GROUP BY keeps its state.

- One poll is one round: a batch from each owned partition, processed, its output
  produced without waiting, then ONE producer flush and ONE offset commit for the round.
- A GROUP BY on exactly the stream's key columns aggregates each source partition in
  place (ksqlDB's groupByKey): no repartition topic, one changelog partition per source
  partition, counts exact across a restart.
"""

from __future__ import annotations

import time

import orjson
import pytest
from confluent_kafka import KafkaError

from ksql.engine.aggregate import changelog_topic
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import LogError, Record, TopicConfig
from ksql.engine.log.kafka import KafkaLog
from ksql.engine.query import repartition_topic

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}
PARTITIONS = 3


class CountingProducer:
    """A producer that counts its flushes (confluent-kafka's Producer cannot be patched)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.flushes = 0

    def flush(self, *args):
        self.flushes += 1
        return self.inner.flush(*args)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class RefusingProducer(CountingProducer):
    """A producer whose broker refuses every record it is sent (reported to the delivery callback)."""

    def produce(self, *args, on_delivery, **kwargs):
        def refused(err, msg):
            on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), msg)

        self.inner.produce(*args, on_delivery=refused, **kwargs)


def _owned_all(engine: Engine, query_id: str, topics: int = 1) -> None:
    """Join the query's group and wait until it owns every partition (not timed: a precondition)."""
    query = engine.queries[query_id]
    deadline = time.monotonic() + 60
    while len(query.ownership.owned()) < PARTITIONS * topics and time.monotonic() < deadline:
        query.poll()
        time.sleep(0.05)
    assert len(query.ownership.owned()) == PARTITIONS * topics


def test_a_poll_flushes_and_commits_once_for_all_its_partitions(kafka_bootstrap, unique, monkeypatch):
    topic = f"orders-{unique}"
    log = KafkaLog(kafka_bootstrap)
    log.create_topic(topic, TopicConfig(partitions=PARTITIONS))
    engine = Engine(log, EngineConfig(service_id=f"rounds{unique}_"))
    try:
        engine.execute(f"CREATE STREAM ORDERS (K STRING KEY, QTY INT) WITH (KAFKA_TOPIC='{topic}', "
                       "VALUE_FORMAT='JSON');", EARLIEST)
        [result] = engine.execute(f"CREATE STREAM BIG WITH (KAFKA_TOPIC='big-{unique}') AS SELECT K, QTY FROM ORDERS "
                                  "WHERE QTY > 2;", EARLIEST)
        _owned_all(engine, result.query_id)
        query = engine.queries[result.query_id]
        for p in range(PARTITIONS):
            log.append(topic, p, [Record(f"k{p}".encode(), orjson.dumps({"QTY": i}), 1_000 + i, [])
                                  for i in range(10)])
        commits: list[dict] = []
        real_commit = log.commit
        monkeypatch.setattr(log, "commit", lambda group, offsets: (commits.append(dict(offsets)),
                                                                    real_commit(group, offsets))[1])
        producer = CountingProducer(log.producer)
        monkeypatch.setattr(log, "producer", producer)
        deadline = time.monotonic() + 30
        while query.lag() and time.monotonic() < deadline:  # each record read once, whatever the fetches
            commits.clear()
            producer.flushes = 0
            if query.poll():
                assert len(commits) == 1, commits
                assert producer.flushes == 1
        assert query.lag() == 0
        sink = f"big-{unique}"
        written = sum(len(log.read(sink, p, 0, 1000)) for p in range(log.topic_config(sink).partitions))
        assert written == PARTITIONS * 7  # QTY 3..9 of each partition, once each
    finally:
        engine.close()
        log.close()


def _counts(engine: Engine) -> dict:
    return {r[0]: r[1] for r in engine.pull_query("SELECT K, N FROM COUNTS;").rows}


def _wait_for(engine: Engine, expected: dict, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    counts: dict = {}
    while time.monotonic() < deadline:
        engine.run_until_idle()
        counts = _counts(engine)
        if counts == expected:
            break
        time.sleep(0.05)
    return counts


def test_group_by_the_key_aggregates_each_partition_in_place(kafka_bootstrap, unique):
    service, events = f"inplace{unique}_", f"events-{unique}"
    statements = [f"CREATE STREAM E (K STRING KEY, V INT) WITH (KAFKA_TOPIC='{events}', VALUE_FORMAT='JSON');",
                  f"CREATE TABLE COUNTS WITH (KAFKA_TOPIC='counts-{unique}') AS SELECT K, COUNT(*) AS N FROM E "
                  "GROUP BY K;"]
    log = KafkaLog(kafka_bootstrap)
    log.create_topic(events, TopicConfig(partitions=PARTITIONS))
    engine = Engine(log, EngineConfig(service_id=service))
    for sql in statements:
        engine.execute(sql, EARLIEST)
    query_id = next(q for q in engine.queries if q.startswith("CTAS_COUNTS"))
    try:
        for p in range(PARTITIONS):  # the key's records in one partition, as a keyed producer puts them
            log.append(events, p, [Record(f"key{p}".encode(), orjson.dumps({"V": i}), 1_000 + i, [])
                                   for i in range(p + 2)])
        expected = {f"key{p}": p + 2 for p in range(PARTITIONS)}
        assert _wait_for(engine, expected) == expected
        assert not log.topic_exists(repartition_topic(service, query_id))
        changelog = changelog_topic(service, query_id)
        assert log.topic_config(changelog).partitions == PARTITIONS
        assert all(log.read(changelog, p, 0, 100) for p in range(PARTITIONS))  # each partition's state
        sink = f"counts-{unique}"
        latest = {r.key: orjson.loads(r.value)["N"] for p in range(log.topic_config(sink).partitions)
                  for r in log.read(sink, p, 0, 100)}
        assert latest == {f"key{p}".encode(): p + 2 for p in range(PARTITIONS)}
        engine.close()
        log.close()

        log = KafkaLog(kafka_bootstrap)  # a restart: state restored per partition, no record counted twice
        engine = Engine(log, EngineConfig(service_id=service))
        for sql in statements:
            engine.execute(sql, EARLIEST)
        log.append(events, 1, [Record(b"key1", orjson.dumps({"V": 9}), 5_000, [])])
        expected["key1"] += 1
        assert _wait_for(engine, expected) == expected
        assert not log.topic_exists(repartition_topic(service, query_id))
    finally:
        engine.close()
        log.close()


def test_a_round_whose_output_is_refused_commits_nothing(kafka_bootstrap, unique, monkeypatch):
    topic = f"orders-{unique}"
    log = KafkaLog(kafka_bootstrap)
    log.create_topic(topic, TopicConfig(partitions=PARTITIONS))
    engine = Engine(log, EngineConfig(service_id=f"refused{unique}_"))
    try:
        engine.execute(f"CREATE STREAM ORDERS (K STRING KEY, QTY INT) WITH (KAFKA_TOPIC='{topic}', "
                       "VALUE_FORMAT='JSON');", EARLIEST)
        [result] = engine.execute(f"CREATE STREAM ALL_ORDERS WITH (KAFKA_TOPIC='all-{unique}') AS "
                                  "SELECT K, QTY FROM ORDERS;", EARLIEST)
        _owned_all(engine, result.query_id)
        query = engine.queries[result.query_id]
        log.append(topic, 1, [Record(b"k", orjson.dumps({"QTY": 1}), 1_000, [])])
        monkeypatch.setattr(log, "producer", RefusingProducer(log.producer))
        deadline = time.monotonic() + 30
        with pytest.raises(LogError, match="append to all-"):
            while time.monotonic() < deadline:  # until the record is read (and its output refused)
                query.poll()
        assert log.committed(query.group, topic, 1) == 0  # read again once the broker takes it
    finally:
        engine.close()
        log.close()
