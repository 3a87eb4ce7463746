"""Join analysis (ksql.planner.join): the synthetic key's name and the result's window."""

from __future__ import annotations

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog
from ksql.engine.metastore import WindowInfo
from ksql.planner.join import JoinAnalyzer, JoinPlan


def _plan(ddl: str, select: str) -> JoinPlan:
    engine = Engine(MemoryLog(), EngineConfig())
    engine.execute(ddl)
    [stmt] = engine.prepare(f"CREATE TABLE OUT AS {select};")
    return JoinAnalyzer(engine.metastore, engine.registry).analyze(stmt.query, "OUT")


@pytest.mark.parametrize("left, right, key", [
    ("ID INT PRIMARY KEY, V INT", "ID INT PRIMARY KEY, W INT", "ROWKEY"),
    ("ROWKEY INT PRIMARY KEY, V INT", "ID INT PRIMARY KEY, W INT", "ROWKEY_1"),
    ("ROWKEY INT PRIMARY KEY, ROWKEY_1 INT, ROWKEY_2 INT", "ROWKEY_3 INT PRIMARY KEY, ROWKEY_4 INT", "ROWKEY_5"),
    ("ID INT PRIMARY KEY, ROWKEY_1 INT", "ID INT PRIMARY KEY, W INT", "ROWKEY_2"),
])
def test_a_full_joins_synthetic_key_is_named_after_the_highest_rowkey_column(left: str, right: str,
                                                                                key: str) -> None:
    ddl = (f"CREATE TABLE L ({left}) WITH (KAFKA_TOPIC='l', PARTITIONS=1, VALUE_FORMAT='JSON');"
           f"CREATE TABLE R ({right}) WITH (KAFKA_TOPIC='r', PARTITIONS=1, VALUE_FORMAT='JSON');")
    left_key, right_key = left.split()[0], right.split()[0]
    plan = _plan(ddl, f"SELECT * FROM L FULL JOIN R ON L.{left_key} = R.{right_key}")
    assert plan.schema.key[0].name == key
    plan = _plan(ddl, f"SELECT {key}, L.{left_key} AS LK FROM L FULL JOIN R ON L.{left_key} = R.{right_key}")
    assert [c.name for c in plan.schema.columns] == [key, "LK"]


@pytest.mark.parametrize("window", ["WINDOW_TYPE='SESSION'", "WINDOW_TYPE='HOPPING', WINDOW_SIZE='5 SECONDS'"])
def test_a_join_of_windowed_tables_is_windowed_as_its_left_source(window: str) -> None:
    ddl = "".join(f"CREATE TABLE {n} (ID INT PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='{n}', PARTITIONS=1, "
                  f"VALUE_FORMAT='JSON', {window});" for n in ("A", "B"))
    plan = _plan(ddl, "SELECT A.ID, A.V AS AV, B.V AS BV FROM A LEFT JOIN B ON A.ID = B.ID")
    assert plan.window == (WindowInfo("SESSION") if "SESSION" in window else WindowInfo("HOPPING", 5000))
    assert str(plan.schema) == "`A_ID` INTEGER KEY, `AV` INTEGER, `BV` INTEGER"


@pytest.mark.parametrize("left_key", ["STRUCT(K := S.B)", "MAP('k' := S.B)['k']"])
def test_a_join_expression_inside_a_struct_or_map_constructor_reads_its_source(left_key: str) -> None:
    ddl = ("CREATE STREAM S (ID INT KEY, B STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');"
           "CREATE TABLE T (ROWKEY STRUCT<K STRING> PRIMARY KEY, A INT) WITH (KAFKA_TOPIC='t', PARTITIONS=1, "
           "FORMAT='JSON');"
           "CREATE TABLE U (K STRING PRIMARY KEY, A INT) WITH (KAFKA_TOPIC='u', PARTITIONS=1, FORMAT='JSON');")
    table = "T" if left_key.startswith("STRUCT") else "U"
    right_key = "T.ROWKEY" if table == "T" else "U.K"
    engine = Engine(MemoryLog(), EngineConfig())
    engine.execute(ddl)
    [stmt] = engine.prepare(f"CREATE STREAM OUT AS SELECT {right_key}, S.ID, {table}.A FROM S JOIN {table} "
                            f"ON {left_key} = {right_key};")
    plan = JoinAnalyzer(engine.metastore, engine.registry).analyze(stmt.query, "OUT")
    assert plan.steps[0].shape == "stream-table"
