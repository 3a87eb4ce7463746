"""`ksql.*` properties that change what a persistent query writes, as server config and per request."""

from __future__ import annotations

import pytest

from ksql.engine.log import Record
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


def test_persistent_query_limit_is_the_servers_alone():
    """ksqlDB lists the limit among the properties a client cannot override: a request or SET cannot raise it."""
    driver = TestDriver({"ksql.query.persistent.active.limit": "1"})
    try:
        driver.execute(SOURCE)
        driver.execute("SET 'ksql.query.persistent.active.limit'='5';")
        driver.execute("CREATE STREAM A AS SELECT * FROM S;")
        with pytest.raises(KsqlError, match="Configured limit: 1"):
            driver.engine.execute("CREATE STREAM B AS SELECT * FROM S;", {"ksql.query.persistent.active.limit": 5})
    finally:
        driver.close()


FAIL_ON_BAD_RECORDS = "ksql.fail.on.deserialization.error"


@pytest.mark.parametrize("sink", [
    "CREATE STREAM OUT AS SELECT * FROM S;",
    "CREATE TABLE OUT AS SELECT ID, COUNT(*) AS N FROM S GROUP BY ID;",
    "CREATE STREAM OUT AS SELECT S.ID, S.V, T.W FROM S JOIN T ON S.ID = T.ID;",
], ids=["projection", "aggregate", "join"])
def test_fail_on_deserialization_error_stops_the_query_at_a_bad_record(driver, sink):
    driver.execute(SOURCE)
    driver.execute("CREATE TABLE T (ID INT PRIMARY KEY, W STRING) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');")
    driver.execute("SET 'ksql.streams.auto.offset.reset'='earliest';")
    driver.engine.execute(sink, {FAIL_ON_BAD_RECORDS: "true"})
    driver.pipe("t", 1, {"W": "w"})
    driver.log.append("s", 0, [Record(b"\x00\x00\x00\x01", b"not json", 0, [])])
    with pytest.raises(KsqlError, match="Deserialization exception handler is set to fail upon a "
                                        "deserialization error"):
        driver.engine.run_until_idle()


def test_bad_records_are_skipped_by_default(driver):
    driver.execute(SOURCE)
    driver.execute("CREATE STREAM OUT AS SELECT * FROM S;")
    driver.log.append("s", 0, [Record(b"\x00\x00\x00\x01", b"not json", 0, [])])
    driver.pipe("s", 2, {"V": "ok"})
    assert [r["value"] for r in driver.read_output("OUT")] == [{"V": "ok"}]


def test_legacy_sink_partitions_and_replicas_configs_size_new_sink_topics(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=5, "
                   "VALUE_FORMAT='JSON');")
    driver.engine.execute("CREATE STREAM A AS SELECT * FROM S;",
                          {"ksql.sink.partitions": "4", "ksql.sink.replicas": "1"})
    driver.engine.execute("CREATE STREAM B WITH (PARTITIONS=2) AS SELECT * FROM S;", {"ksql.sink.partitions": "4"})
    driver.execute("CREATE STREAM C AS SELECT * FROM S;")
    assert [driver.log.topic_config(t).partitions for t in ("A", "B", "C")] == [4, 2, 5]


def test_legacy_sink_configs_are_recognized_properties():
    from ksql.engine.properties import check_property

    for name in ("ksql.sink.partitions", "ksql.sink.replicas"):
        check_property(name)


def test_default_formats_and_wrapping_per_request_and_by_set(driver):
    driver.engine.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s');",
                          {"ksql.persistence.default.format.value": "DELIMITED",
                           "ksql.persistence.default.format.key": "JSON"})
    driver.execute("SET 'ksql.persistence.wrap.single.values'='false';")
    driver.execute("CREATE STREAM OUT WITH (VALUE_FORMAT='JSON') AS SELECT * FROM S;")
    formats = {s["name"]: (s["keyFormat"], s["valueFormat"]) for s in driver.sources()}
    assert formats == {"S": ("JSON", "DELIMITED"), "OUT": ("JSON", "JSON")}
    driver.pipe("s", 1, "a")
    [record] = driver.log.read("OUT", 0, 0, 1)
    assert record.value == b'"a"'  # unwrapped: the bare JSON string, not {"V": "a"}


def test_function_configs_apply_per_request(driver):
    """A request's `ksql.functions.*` settings reach the functions its query calls, as its SET ones do."""
    driver.execute(SOURCE)
    driver.engine.execute("CREATE TABLE L AS SELECT ID, COLLECT_LIST(V) AS VS FROM S GROUP BY ID;",
                          {"ksql.functions.collect_list.limit": 2})
    for v in "abc":
        driver.pipe("s", 1, {"V": v})
    assert [r["value"]["VS"] for r in driver.read_output("L")] == [["a"], ["a", "b"], ["a", "b"]]


@pytest.mark.parametrize("sink", [
    "CREATE STREAM OUT AS SELECT * FROM S;",
    "CREATE STREAM OUT AS SELECT S.ID, S.T, R.W FROM S JOIN R ON S.ID = R.ID;",
], ids=["projection", "join"])
def test_throw_on_invalid_timestamp_stops_the_query(driver, sink):
    driver.execute("CREATE STREAM S (ID INT KEY, T STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
                   "TIMESTAMP='T', TIMESTAMP_FORMAT='yyyy-MM-dd');")
    driver.execute("CREATE TABLE R (ID INT PRIMARY KEY, W STRING) WITH (KAFKA_TOPIC='r', VALUE_FORMAT='JSON');")
    driver.engine.execute(sink, {"ksql.timestamp.throw.on.invalid": "true"})
    driver.log.append("s", 0, [Record(b"\x00\x00\x00\x01", b'{"T": "garbage"}', 0, [])])
    with pytest.raises(KsqlError, match="Fatal user code error in TimestampExtractor callback"):
        driver.engine.run_until_idle()


def test_persistent_prefix_names_a_querys_internal_topics():
    """ksqlDB's application id is _confluent-ksql-<service id><ksql.persistent.prefix><query id>."""
    driver = TestDriver({"ksql.persistent.prefix": "pq_"})
    try:
        driver.execute(SOURCE)
        driver.execute("CREATE TABLE C AS SELECT V, COUNT(*) AS N FROM S GROUP BY V;")
        driver.engine.execute("CREATE TABLE D AS SELECT V, COUNT(*) AS N FROM S GROUP BY V;",
                              {"ksql.persistent.prefix": "req_"})
        driver.pipe("s", 1, {"V": "a"})
        internal = sorted(t for t in driver.log.list_topics() if t.startswith("_confluent-ksql-default_"))
        [c_id] = [q for q in driver.engine.queries if q.startswith("CTAS_C_")]
        [d_id] = [q for q in driver.engine.queries if q.startswith("CTAS_D_")]
        assert f"_confluent-ksql-default_pq_{c_id}-Aggregate-Aggregate-Materialize-changelog" in internal
        assert f"_confluent-ksql-default_req_{d_id}-Aggregate-Aggregate-Materialize-changelog" in internal
        assert not any("query_" in t for t in internal)
        assert [r["value"] for r in driver.read_output("C")] == [{"N": 1}]
    finally:
        driver.close()
