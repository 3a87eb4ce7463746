"""End-to-end engine behaviour through the public TestDriver and Engine APIs."""

from __future__ import annotations

import logging

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog
from ksql.errors import KsqlError


def test_filter_and_projection_json(driver):
    driver.execute("CREATE STREAM ORDERS (ID INT KEY, ITEM STRING, QTY INT) "
                   "WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');")
    driver.execute("CREATE STREAM BIG AS SELECT ID, UCASE(ITEM) AS ITEM, QTY * 2 AS DOUBLED "
                   "FROM ORDERS WHERE QTY > 1;")
    driver.pipe("orders", 1, {"ITEM": "pen", "QTY": 1})
    driver.pipe("orders", 2, {"item": "ink", "qty": 3})
    out = driver.read_output("BIG")
    assert [(r["key"], r["value"]) for r in out] == [(2, {"ITEM": "INK", "DOUBLED": 6})]


def test_schema_is_described_ksqldb_style(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    [source] = driver.sources()
    assert source["schema"] == "`ID` INTEGER KEY, `NAME` STRING"
    assert (source["keyFormat"], source["valueFormat"]) == ("KAFKA", "JSON")


def test_partition_by_rekeys(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, NAME STRING, AGE INT) "
                   "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    driver.execute("CREATE STREAM R AS SELECT * FROM S PARTITION BY NAME;")
    driver.pipe("s", 10, {"NAME": "bob", "AGE": 22})
    out = driver.read_output("R")
    assert out[0]["key"] == "bob" and out[0]["value"] == {"AGE": 22, "ID": 10}
    schema = next(s["schema"] for s in driver.sources() if s["name"] == "R")
    assert schema == "`NAME` STRING KEY, `AGE` INTEGER, `ID` INTEGER"


def test_insert_values_reach_sink(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='DELIMITED');")
    driver.execute("CREATE STREAM T AS SELECT ID, V FROM S;")
    driver.execute("INSERT INTO S (ID, V) VALUES (7, 'seven');")
    assert [r["value"] for r in driver.read_output("T")] == ["seven"]


def test_insert_values_take_untyped_nulls_as_the_columns_type(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, NAME STRING, A ARRAY<INT>) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    driver.execute("INSERT INTO S (ID, NAME, A) VALUES (NULL, NULL, NULL);")
    [out] = driver.read_output("T")
    assert (out["key"], out["value"]) == (None, {"NAME": None, "A": None})


def test_malformed_record_is_skipped_and_logged(driver, caplog):
    driver.execute("CREATE STREAM S (ID INT KEY, QTY INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    driver.execute("CREATE STREAM T AS SELECT ID, QTY FROM S;")
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        driver.pipe("s", 1, "not json at all {")
    driver.pipe("s", 2, {"QTY": 5})
    assert [r["value"] for r in driver.read_output("T")] == [{"QTY": 5}]
    assert any("skipped record" in m for m in caplog.messages)


@pytest.mark.parametrize("sql, message", [
    ("CREATE STREAM X AS SELECT NOPE FROM S;", "cannot be resolved"),
    ("CREATE STREAM X AS SELECT ID FROM MISSING;", "MISSING does not exist"),
    ("CREATE STREAM X AS SELECT NAME FROM S;", "must include the key column ID"),
    ("CREATE TABLE X (A INT, B INT) WITH (KAFKA_TOPIC='x', VALUE_FORMAT='JSON');", "PRIMARY KEY"),
])
def test_refusals_are_clear(driver, sql, message):
    driver.execute("CREATE STREAM S (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    with pytest.raises(KsqlError, match=message):
        driver.execute(sql)


def test_drop_terminates_writer_and_frees_name(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    with pytest.raises(KsqlError, match="read from this source"):
        driver.execute("DROP STREAM S;")
    driver.execute("DROP STREAM T DELETE TOPIC;")
    assert not driver.engine.queries
    driver.execute("DROP STREAM S;")
    assert driver.sources() == []


def test_query_resumes_from_committed_offsets_on_the_embedded_log(tmp_path):
    """A restarted query re-created over the same durable log neither loses nor repeats records."""
    ddl = "CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
    csas = "CREATE STREAM T AS SELECT ID, V FROM S;"
    props = {"auto.offset.reset": "earliest"}

    log = EmbeddedLog(str(tmp_path), fsync="never")
    engine = Engine(log, EngineConfig(properties=props))
    engine.execute(ddl)
    engine.execute(csas)
    engine.execute("INSERT INTO S (ID, V) VALUES (1, 10);")
    engine.run_until_idle()
    log.close()

    log = EmbeddedLog(str(tmp_path), fsync="never")
    engine = Engine(log, EngineConfig(properties=props))
    engine.execute(ddl)
    engine.execute(csas)
    engine.execute("INSERT INTO S (ID, V) VALUES (2, 20);")
    engine.run_until_idle()
    assert log.end_offset("T", 0) == 2
    log.close()
