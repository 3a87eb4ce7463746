"""GROUP BY and PARTITION BY directly over joins: stream-stream, stream-table, table-table."""

from __future__ import annotations

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog
from ksql.errors import KsqlError
from ksql.testing import TestDriver

ORDERS = "CREATE STREAM ORDERS (ID INT KEY, ITEM STRING, QTY INT) WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON', PARTITIONS=1);"
SHIPS = "CREATE STREAM SHIPS (ID INT KEY, CARRIER STRING) WITH (KAFKA_TOPIC='ships', VALUE_FORMAT='JSON', PARTITIONS=1);"
ITEMS = "CREATE TABLE ITEMS (ITEM STRING PRIMARY KEY, SHOP STRING) WITH (KAFKA_TOPIC='items', VALUE_FORMAT='JSON', PARTITIONS=1);"
T1 = "CREATE TABLE T1 (ID BIGINT PRIMARY KEY, SHOP STRING, TOTAL INT) WITH (KAFKA_TOPIC='t1', VALUE_FORMAT='JSON', PARTITIONS=1);"
T2 = "CREATE TABLE T2 (ID BIGINT PRIMARY KEY, TOTAL INT) WITH (KAFKA_TOPIC='t2', VALUE_FORMAT='JSON', PARTITIONS=1);"


@pytest.fixture
def driver():
    d = TestDriver()
    for sql in (ORDERS, SHIPS, ITEMS, T1, T2):
        d.execute(sql)
    yield d
    d.close()


def _schema(driver: TestDriver, name: str) -> str:
    return str(driver.engine.metastore.get(name).schema)


def _records(driver: TestDriver, topic: str) -> list[tuple]:
    return [(r["key"], r["value"]) for r in driver.read_output(topic)]


def test_stream_stream_join_counted_per_key_named_as_ksqldb(driver):
    driver.execute("CREATE TABLE PER_ID AS SELECT O.ID, COUNT(*) AS N, COLLECT_LIST(S.CARRIER) AS C "
                   "FROM ORDERS O JOIN SHIPS S WITHIN 1 MINUTE ON O.ID = S.ID GROUP BY O.ID;")
    assert _schema(driver, "PER_ID") == "`O_ID` INTEGER KEY, `N` BIGINT, `C` ARRAY<STRING>"
    driver.pipe("orders", 1, {"ITEM": "a", "QTY": 2}, timestamp=0)
    driver.pipe("ships", 1, {"CARRIER": "ups"}, timestamp=10)
    driver.pipe("ships", 1, {"CARRIER": "dhl"}, timestamp=20)
    driver.pipe("ships", 2, {"CARRIER": "dhl"}, timestamp=30)  # no order 2: no join, no count
    assert _records(driver, "PER_ID") == [(1, {"N": 1, "C": ["ups"]}), (1, {"N": 2, "C": ["ups", "dhl"]})]


def test_stream_table_join_grouped_by_an_expression_windowed_with_having(driver):
    driver.execute("CREATE TABLE PER_SHOP AS SELECT UCASE(I.SHOP) AS SHOP, SUM(O.QTY) AS QTY "
                   "FROM ORDERS O JOIN ITEMS I ON O.ITEM = I.ITEM WINDOW TUMBLING (SIZE 100 MILLISECONDS) "
                   "WHERE O.QTY > 0 GROUP BY UCASE(I.SHOP) HAVING SUM(O.QTY) > 2;")
    assert _schema(driver, "PER_SHOP") == "`SHOP` STRING KEY, `QTY` INTEGER"
    driver.pipe("items", "a", {"SHOP": "north"}, timestamp=0)
    driver.pipe("items", "b", {"SHOP": "North"}, timestamp=0)
    driver.pipe("orders", 1, {"ITEM": "a", "QTY": 2}, timestamp=10)
    driver.pipe("orders", 2, {"ITEM": "b", "QTY": 3}, timestamp=20)
    driver.pipe("orders", 3, {"ITEM": "b", "QTY": -9}, timestamp=30)  # filtered by WHERE
    driver.pipe("orders", 4, {"ITEM": "a", "QTY": 4}, timestamp=150)  # the next window, HAVING passes
    out = driver.read_output("PER_SHOP")
    assert [(r["key"], r["value"], r["window"]["start"]) for r in out] == [
        ("NORTH", {"QTY": 5}, 0), ("NORTH", {"QTY": 4}, 100)]


def test_table_table_join_aggregated_with_undo(driver):
    driver.execute("CREATE TABLE PER_SHOP AS SELECT T1.SHOP, SUM(T2.TOTAL) AS S, COUNT(*) AS N "
                   "FROM T1 LEFT JOIN T2 ON T1.ID = T2.ID GROUP BY T1.SHOP;")
    assert _schema(driver, "PER_SHOP") == "`SHOP` STRING KEY, `S` INTEGER, `N` BIGINT"
    driver.pipe("t1", 1, {"SHOP": "x", "TOTAL": 0})
    driver.pipe("t1", 2, {"SHOP": "x", "TOTAL": 0})
    driver.pipe("t2", 1, {"TOTAL": 5})  # the joined row of 1 changes: undo then add
    driver.pipe("t1", 2, {"SHOP": "y", "TOTAL": 0})  # row 2 moves to another group
    driver.pipe("t1", 1, None)  # deleted: its group loses it
    assert _records(driver, "PER_SHOP") == [
        ("x", {"S": 0, "N": 1}), ("x", {"S": 0, "N": 2}), ("x", {"S": 5, "N": 2}),
        ("x", {"S": 5, "N": 1}), ("y", {"S": 0, "N": 1}), ("x", {"S": 0, "N": 0})]


def test_stream_aggregate_functions_are_refused_over_a_table_join(driver):
    with pytest.raises(KsqlError, match=r"cannot be applied to a table source"):
        driver.execute("CREATE TABLE X AS SELECT T1.SHOP, EARLIEST_BY_OFFSET(T2.TOTAL) AS L "
                       "FROM T1 JOIN T2 ON T1.ID = T2.ID GROUP BY T1.SHOP;")


def test_grouping_needs_its_expression_in_the_projection(driver):
    with pytest.raises(KsqlError, match=r"must include the grouping expression T1.SHOP"):
        driver.execute("CREATE TABLE X AS SELECT COUNT(*) AS N FROM T1 JOIN T2 ON T1.ID = T2.ID GROUP BY T1.SHOP;")


def test_partition_by_over_stream_stream_join(driver):
    driver.execute("CREATE STREAM BY_ITEM AS SELECT O.ITEM, O.ID, S.CARRIER FROM ORDERS O "
                   "JOIN SHIPS S WITHIN 1 MINUTE ON O.ID = S.ID PARTITION BY O.ITEM;")
    assert _schema(driver, "BY_ITEM") == "`ITEM` STRING KEY, `O_ID` INTEGER, `CARRIER` STRING"
    driver.pipe("orders", 1, {"ITEM": "a", "QTY": 2}, timestamp=0)
    driver.pipe("ships", 1, {"CARRIER": "ups"}, timestamp=10)
    assert _records(driver, "BY_ITEM") == [("a", {"O_ID": 1, "CARRIER": "ups"})]


def test_partition_by_over_stream_table_join_with_star(driver):
    driver.execute("CREATE STREAM BY_SHOP AS SELECT * FROM ORDERS O JOIN ITEMS I ON O.ITEM = I.ITEM "
                   "PARTITION BY I.SHOP;")
    assert _schema(driver, "BY_SHOP") == (
        "`I_SHOP` STRING KEY, `O_ITEM` STRING, `O_QTY` INTEGER, `O_ROWTIME` BIGINT, `O_ROWPARTITION` INTEGER, "
        "`O_ROWOFFSET` BIGINT, `O_ID` INTEGER, `I_ROWTIME` BIGINT, `I_ROWPARTITION` INTEGER, "
        "`I_ROWOFFSET` BIGINT, `I_ITEM` STRING")
    driver.pipe("items", "a", {"SHOP": "north"}, timestamp=1)
    driver.pipe("orders", 7, {"ITEM": "a", "QTY": 2}, timestamp=5)
    [(key, value)] = _records(driver, "BY_SHOP")
    assert key == "north" and value["O_ID"] == 7 and value["I_ITEM"] == "a" and value["O_ROWTIME"] == 5


def test_partition_by_refused_over_a_table_join(driver):
    with pytest.raises(KsqlError, match=r"PARTITION BY is not supported on tables"):
        driver.execute("CREATE TABLE X AS SELECT T1.ID, T2.TOTAL FROM T1 JOIN T2 ON T1.ID = T2.ID "
                       "PARTITION BY T2.TOTAL;")


def test_join_aggregation_resumes_from_its_changelog_after_restart(tmp_path):
    """The aggregate's state and the join's input positions come back together: nothing counted twice."""
    ddl = [ORDERS, ITEMS,
           "CREATE TABLE PER_SHOP AS SELECT I.SHOP, SUM(O.QTY) AS QTY FROM ORDERS O JOIN ITEMS I "
           "ON O.ITEM = I.ITEM GROUP BY I.SHOP;"]
    props = {"auto.offset.reset": "earliest"}

    def start() -> tuple[EmbeddedLog, Engine]:
        log = EmbeddedLog(str(tmp_path), fsync="never")
        engine = Engine(log, EngineConfig(properties=props))
        for sql in ddl:
            engine.execute(sql)
        return log, engine

    log, engine = start()
    engine.execute("INSERT INTO ITEMS (ITEM, SHOP) VALUES ('a', 'north');")
    engine.run_until_idle()
    engine.execute("INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (1, 'a', 2);")
    engine.run_until_idle()
    log.close()

    log, engine = start()
    engine.execute("INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (2, 'a', 3);")
    engine.run_until_idle()
    assert engine.pull_query("SELECT * FROM PER_SHOP;").rows == [["north", 5]]
    log.close()


def test_foreign_key_join_aggregated_moves_rows_between_groups(driver):
    """A right-side change re-joins every left row referencing it: each leaves its old group."""
    driver.execute("CREATE TABLE PER_SHOP AS SELECT I.SHOP, SUM(T1.TOTAL) AS S FROM T1 JOIN ITEMS I "
                   "ON T1.SHOP = I.ITEM GROUP BY I.SHOP;")
    driver.pipe("items", "a", {"SHOP": "eu"})
    driver.pipe("t1", 10, {"SHOP": "a", "TOTAL": 3})
    driver.pipe("t1", 11, {"SHOP": "a", "TOTAL": 4})
    driver.pipe("items", "a", {"SHOP": "us"})
    driver.pipe("t1", 10, None)
    assert _records(driver, "PER_SHOP") == [
        ("eu", {"S": 3}), ("eu", {"S": 7}), ("eu", {"S": 4}), ("us", {"S": 3}), ("eu", {"S": 0}),
        ("us", {"S": 7}), ("us", {"S": 4})]
