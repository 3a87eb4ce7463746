"""The topics statements create: tables' topics compacted, RETENTION_MS and CLEANUP_POLICY honoured,
and on the embedded log a compacted table that restarts with its rows intact."""

from __future__ import annotations

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import COMPACTED_SEGMENT_BYTES, EmbeddedLog, Record
from ksql.errors import KsqlError


def topic_config(driver, topic):
    return driver.engine.log.topic_config(topic)


def test_streams_are_deleted_by_time_and_tables_compacted(driver):
    driver.execute("CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, FORMAT='JSON');")
    driver.execute("CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', PARTITIONS=1, "
                   "FORMAT='JSON');")
    driver.execute("CREATE TABLE C AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;")
    driver.execute("CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY K;")
    driver.execute("CREATE STREAM F AS SELECT * FROM S WHERE V > 0;")
    policies = {t: topic_config(driver, t).cleanup_policy for t in ("s", "t", "C", "W", "F")}
    assert policies == {"s": "delete", "t": "compact", "C": "compact", "W": "compact,delete", "F": "delete"}


def test_retention_ms_and_cleanup_policy_in_with(driver):
    driver.execute("CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, FORMAT='JSON', "
                   "RETENTION_MS=3600000);")
    driver.execute("CREATE STREAM L (K STRING KEY, V INT) WITH (KAFKA_TOPIC='l', PARTITIONS=1, FORMAT='JSON', "
                   "CLEANUP_POLICY='compact');")
    driver.execute("CREATE STREAM F WITH (RETENTION_MS=60000) AS SELECT * FROM S;")
    assert topic_config(driver, "s").retention_ms == 3_600_000
    assert topic_config(driver, "l").cleanup_policy == "compact"
    assert topic_config(driver, "F").retention_ms == 60_000


@pytest.mark.parametrize("statement, message", [
    ("CREATE STREAM X (K STRING KEY, V INT) WITH (KAFKA_TOPIC='x', PARTITIONS=1, FORMAT='JSON', "
     "CLEANUP_POLICY='sometimes');", "Invalid value for CLEANUP_POLICY: sometimes"),
    ("CREATE STREAM X (K STRING KEY, V INT) WITH (KAFKA_TOPIC='x', PARTITIONS=1, FORMAT='JSON', "
     "RETENTION_MS='soon');", "Invalid value for RETENTION_MS: soon"),
    ("CREATE TABLE X WITH (CLEANUP_POLICY='delete') AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;",
     "The CLEANUP_POLICY config is automatically inferred"),
])
def test_bad_topic_settings_are_refused(driver, statement, message):
    driver.execute("CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, FORMAT='JSON');")
    with pytest.raises(KsqlError, match=message):
        driver.execute(statement)


def test_a_compacted_table_shrinks_and_restarts_intact(tmp_path):
    """A source table over 40 rewrites of 500 keys: compaction keeps about one record per key, and an
    engine opened on the compacted log answers pulls exactly as before."""
    def open_engine():
        log = EmbeddedLog(str(tmp_path), fsync="never", cleaner_interval_ms=0)
        engine = Engine(log, EngineConfig())
        engine.execute("CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', "
                       "PARTITIONS=1, FORMAT='JSON');")
        return log, engine

    log, engine = open_engine()
    assert log.topic_config("t").segment_bytes == COMPACTED_SEGMENT_BYTES
    payload = "x" * 200
    for version in range(40):
        log.append("t", 0, [Record(f'"k{k}"'.encode(), f'{{"V": {version * 1000 + k}, "P": "{payload}"}}'.encode(),
                                   version * 1000 + k, []) for k in range(500)])
    before = engine.pull_query("SELECT K, V FROM T WHERE K = 'k7';").rows
    records_before = log.end_offset("t", 0) - log.start_offset("t", 0)
    assert log.compact() > records_before // 2
    engine.close()
    log.close()

    log, engine = open_engine()
    try:
        remaining = len(log.read_batch("t", 0, 0, 100_000))
        assert remaining < records_before // 2
        assert engine.pull_query("SELECT K, V FROM T WHERE K = 'k7';").rows == before == [["k7", 39_007]]
        assert len(engine.pull_query("SELECT * FROM T;").rows) == 500
    finally:
        engine.close()
        log.close()
