"""`ksql.*` properties that change what a persistent query writes, as server config and per request."""

from __future__ import annotations

import pytest

from ksql.errors import KsqlError
from ksql.testing import TestDriver

SOURCE = "CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"


def _topic_of(driver: TestDriver, name: str) -> str:
    return next(s["topic"] for s in driver.sources() if s["name"] == name)


def test_output_topic_prefix_from_server_config_names_sink_topics():
    driver = TestDriver({"ksql.output.topic.name.prefix": "team_"})
    try:
        driver.execute(SOURCE)
        driver.execute("CREATE STREAM OUT AS SELECT * FROM S;")
        driver.execute("CREATE TABLE COUNTS AS SELECT ID, COUNT(*) AS N FROM S GROUP BY ID;")
        driver.pipe("s", 1, {"V": "a"})
        assert (_topic_of(driver, "OUT"), _topic_of(driver, "COUNTS")) == ("team_OUT", "team_COUNTS")
        assert [r["value"] for r in driver.read_output("team_OUT")] == [{"V": "a"}]
    finally:
        driver.close()


def test_output_topic_prefix_per_request_and_by_set(driver):
    driver.execute(SOURCE)
    driver.engine.execute("CREATE STREAM A AS SELECT * FROM S;", {"ksql.output.topic.name.prefix": "req_"})
    driver.execute("SET 'ksql.output.topic.name.prefix'='sess_';")
    driver.execute("CREATE STREAM B AS SELECT * FROM S;")
    assert (_topic_of(driver, "A"), _topic_of(driver, "B")) == ("req_A", "sess_B")


def test_output_topic_prefix_does_not_rename_an_explicit_topic(driver):
    driver.execute(SOURCE)
    driver.execute("SET 'ksql.output.topic.name.prefix'='p_';")
    driver.execute("CREATE STREAM OUT WITH (KAFKA_TOPIC='mine') AS SELECT * FROM S;")
    assert _topic_of(driver, "OUT") == "mine"


def _limit_message(count: int, limit: int) -> str:
    return ("Not executing statement(s) as it would cause the number of active, persistent queries to exceed "
            "the configured limit. Use the TERMINATE command to terminate existing queries, or increase the "
            "'ksql.query.persistent.active.limit' setting via the 'ksql-server.properties' file. "
            f"Current persistent query count: {count}. Configured limit: {limit}.")


def test_persistent_query_limit_refuses_the_query_beyond_it():
    driver = TestDriver({"ksql.query.persistent.active.limit": "1"})
    try:
        driver.execute(SOURCE)
        driver.execute("CREATE STREAM A AS SELECT * FROM S;")
        for sql in ("CREATE STREAM B AS SELECT * FROM S;", "INSERT INTO A SELECT * FROM S;"):
            with pytest.raises(KsqlError) as err:
                driver.execute(sql)
            assert str(err.value) == _limit_message(2, 1)
        assert {s["name"] for s in driver.sources()} == {"S", "A"}
        driver.execute("CREATE OR REPLACE STREAM A AS SELECT ID, V FROM S WHERE V IS NOT NULL;")  # replaces
        [query_id] = driver.engine.queries
        driver.execute(f"TERMINATE {query_id};")
        driver.execute("CREATE STREAM B AS SELECT * FROM S;")
    finally:
        driver.close()


def test_persistent_query_limit_in_a_request(driver):
    driver.execute(SOURCE)
    with pytest.raises(KsqlError, match="Configured limit: 0"):
        driver.engine.execute("CREATE STREAM A AS SELECT * FROM S;", {"ksql.query.persistent.active.limit": 0})
