"""Two engines of one cluster (same service id) on Kafka: joins and table aggregations run once."""

from __future__ import annotations

import time

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Record, TopicConfig
from ksql.engine.log.kafka import KafkaLog

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def _drain(engines: list[Engine], until, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for engine in engines:
            engine.run_until_idle()
        if until():
            return
        time.sleep(0.05)


def _read_all(log: KafkaLog, topic: str) -> list[tuple[bytes | None, dict | None]]:
    out = []
    for p in range(log.partitions(topic)):
        offset = 0
        while batch := log.read(topic, p, offset, 1000):
            out += [(r.key, orjson.loads(r.value) if r.value else None) for r in batch]
            offset = batch[-1].offset + 1
    return out


def test_a_join_and_a_table_aggregation_run_on_one_engine_of_two(kafka_bootstrap, unique):
    logs = [KafkaLog(kafka_bootstrap), KafkaLog(kafka_bootstrap)]
    service = f"eng{unique}_"
    orders, users = f"orders-{unique}", f"users-{unique}"
    logs[0].create_topic(orders, TopicConfig(partitions=2))
    logs[0].create_topic(users, TopicConfig(partitions=2))
    engines = [Engine(log, EngineConfig(service_id=service)) for log in logs]
    try:
        statements = [
            f"CREATE STREAM O (UID STRING KEY, AMOUNT INT) WITH (KAFKA_TOPIC='{orders}', VALUE_FORMAT='JSON');",
            f"CREATE TABLE U (UID STRING PRIMARY KEY, CITY STRING) WITH (KAFKA_TOPIC='{users}', "
            "VALUE_FORMAT='JSON');",
            "CREATE STREAM ENRICHED AS SELECT O.UID AS UID, AMOUNT, CITY FROM O JOIN U ON O.UID = U.UID;",
            "CREATE TABLE PER_CITY AS SELECT CITY, COUNT(*) AS N FROM U GROUP BY CITY;",
        ]
        for engine in engines:  # what the command topic does between servers
            engine._sequence = 0
            for sql in statements:
                engine.execute(sql, EARLIEST)
        _drain(engines, lambda: any(q.active for q in engines[0].queries.values())
               or any(q.active for q in engines[1].queries.values()), timeout=30)
        for p, uid, city in [(0, b"a", "Paris"), (1, b"b", "Oslo"), (0, b"c", "Paris")]:
            logs[0].append(users, p, [Record(uid, orjson.dumps({"CITY": city}), 1_000, [])])
        time.sleep(0.5)  # the table first, so every order finds its user
        _drain(engines, lambda: False, timeout=3)
        for i, (p, uid) in enumerate([(0, b"a"), (1, b"b"), (0, b"c"), (0, b"a")]):
            logs[0].append(orders, p, [Record(uid, orjson.dumps({"AMOUNT": i}), 2_000 + i, [])])
        _drain(engines, lambda: len(_read_all(logs[0], "ENRICHED")) >= 4)
        _drain(engines, lambda: False, timeout=2)  # a second copy would show up by now
        enriched = sorted((k, v["AMOUNT"], v["CITY"]) for k, v in _read_all(logs[0], "ENRICHED"))
        assert enriched == [(b"a", 0, "Paris"), (b"a", 3, "Paris"), (b"b", 1, "Oslo"), (b"c", 2, "Paris")]
        latest = {}
        for key, value in _read_all(logs[0], "PER_CITY"):
            latest[key] = value["N"] if value else None
        assert latest == {b"Paris": 2, b"Oslo": 1}
        for query_id in engines[0].queries:  # each query is active on exactly one engine
            assert [engine.queries[query_id].active for engine in engines].count(True) == 1
    finally:
        for engine in engines:
            engine.close()
        for log in logs:
            log.close()
