"""On Kafka, any producer can write to a query's internal topics: what it writes there is refused.

A GROUP BY over a stream on other columns than its key runs as two stages: records go through a repartition
topic carrying an origin header, then are counted into state with a changelog.
A record in the repartition topic whose origin header is malformed, and pickles or
junk in the changelog, are refused and logged; the counts stay exact, no code runs.
"""

from __future__ import annotations

import logging
import pickle
import time

import orjson

from ksql.engine.aggregate import changelog_topic
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Record, TopicConfig
from ksql.engine.log.kafka import KafkaLog
from ksql.engine.query import ORIGIN_HEADER, repartition_topic

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


class CreatesFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _counts(engine: Engine) -> dict:
    return {r[0]: r[1] for r in engine.pull_query("SELECT G, N FROM COUNTS;").rows}


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


def _start(bootstrap: str, service: str, statements: list[str]) -> tuple[KafkaLog, Engine]:
    log = KafkaLog(bootstrap)
    engine = Engine(log, EngineConfig(service_id=service))
    for sql in statements:
        engine.execute(sql, EARLIEST)
    return log, engine


def test_foreign_records_in_internal_topics_are_refused(kafka_bootstrap, unique, tmp_path, caplog):
    marker = tmp_path / "payload-ran"
    service, events = f"foreign{unique}_", f"events-{unique}"
    setup = KafkaLog(kafka_bootstrap)
    setup.create_topic(events, TopicConfig(partitions=2))
    setup.close()
    statements = [f"CREATE STREAM E (K STRING KEY, G STRING, V INT) WITH (KAFKA_TOPIC='{events}', "
                  "VALUE_FORMAT='JSON');",
                  "CREATE TABLE COUNTS AS SELECT G, COUNT(*) AS N FROM E GROUP BY G;"]
    log, engine = _start(kafka_bootstrap, service, statements)
    query_id = next(iter(q for q in engine.queries if q.startswith("CTAS_COUNTS")))
    repartition, changelog = repartition_topic(service, query_id), changelog_topic(service, query_id)
    try:
        for p in (0, 1):
            log.append(events, p, [Record(b"a", orjson.dumps({"G": "a", "V": i}), 1_000 + i, []) for i in range(3)])
        assert _wait_for(engine, {"a": 6}) == {"a": 6}

        value = orjson.dumps({"G": "a", "V": 1})
        payload = pickle.dumps(CreatesFile(marker))
        with caplog.at_level(logging.WARNING, logger="ksql.processing"):
            log.append(repartition, 0, [
                Record(b"a", value, 2_000, [(ORIGIN_HEADER, b"not:numbers")]),
                Record(b"a", value, 2_000, [(ORIGIN_HEADER, None)]),
                Record(b"a", value, 2_000, [(ORIGIN_HEADER, b"0:1:2")]),
            ])
            for p in (0, 1):
                log.append(changelog, p, [Record(payload, payload, 0, []), Record(b"junk", b"\x00", 0, [])])
            log.append(events, 0, [Record(b"a", value, 3_000, [])])
            assert _wait_for(engine, {"a": 7}) == {"a": 7}
            assert engine.queries[query_id].state == "RUNNING"
        assert sum("malformed __ksql_origin header" in r.getMessage() for r in caplog.records) == 3
        engine.close()
        log.close()

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ksql.processing"):
            log, engine = _start(kafka_bootstrap, service, statements)
            log.append(events, 1, [Record(b"a", value, 4_000, [])])
            assert _wait_for(engine, {"a": 8}) == {"a": 8}
        assert not marker.exists(), "a pickle payload from the changelog was executed"
        assert engine.queries[query_id].state == "RUNNING"
        assert sum("refused changelog record" in r.getMessage() for r in caplog.records) == 4
    finally:
        engine.close()
        log.close()
