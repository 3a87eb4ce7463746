"""User-defined aggregates in queries: GROUP BY, windows, tables (undo), failures and restarts."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry, default_registry
from ksql.testing import TestDriver
from ksql.types import BIGINT, STRING, ArrayType, StructField, StructType

_SPREAD = StructType((StructField("LOW", BIGINT), StructField("HIGH", BIGINT), StructField("VALUES", ArrayType(BIGINT))))


def _registry() -> FunctionRegistry:
    """The built-ins plus SPREAD (max - min, undoable: it keeps every value) and TAGS (no undo, may fail)."""
    reg = default_registry().copy()

    @reg.aggregate("SPREAD", [BIGINT], BIGINT, intermediate=_SPREAD)
    class Spread:
        def initialize(self):
            return {"LOW": None, "HIGH": None, "VALUES": []}

        def _of(self, values):
            return {"LOW": min(values, default=None), "HIGH": max(values, default=None), "VALUES": values}

        def aggregate(self, current, agg):
            if current is None:
                return agg
            if current < 0:
                raise ValueError("negative values are not allowed")
            return self._of(agg["VALUES"] + [current])

        def undo(self, current, agg):
            values = list(agg["VALUES"])
            if current in values:
                values.remove(current)
            return self._of(values)

        def merge(self, a, b):
            return self._of(a["VALUES"] + b["VALUES"])

        def map(self, agg):
            return None if agg["LOW"] is None else agg["HIGH"] - agg["LOW"]

    @reg.aggregate("TAGS", [STRING], STRING, intermediate=STRING)
    class Tags:
        def initialize(self):
            return ""

        def aggregate(self, current, agg):
            return agg + (current or "")

        def merge(self, a, b):
            return a + b

        def map(self, agg):
            return agg

    class Fragile:
        """Fails in `map` on a negative total, and always in `initialize` as NO_START."""

        def initialize(self):
            return 0

        def aggregate(self, current, agg):
            return agg + (current or 0)

        def merge(self, a, b):
            return a + b

        def map(self, agg):
            if agg < 0:
                raise ArithmeticError("negative total")
            return agg

    class NoStart(Fragile):
        def initialize(self):
            raise RuntimeError("cannot start")

    reg.aggregate("FRAGILE", [BIGINT], BIGINT, intermediate=BIGINT)(Fragile)
    reg.aggregate("NO_START", [BIGINT], BIGINT, intermediate=BIGINT)(NoStart)
    return reg


@pytest.fixture
def driver() -> Iterator[TestDriver]:
    d = TestDriver(registry=_registry())
    d.execute("CREATE STREAM S (ID STRING KEY, V BIGINT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    yield d
    d.close()


def _values(d: TestDriver, topic: str) -> list:
    return [(r["key"], r["value"]) for r in d.read_output(topic)]


def test_a_user_aggregate_in_group_by(driver):
    driver.execute("CREATE TABLE T AS SELECT ID, SPREAD(V) AS S, COUNT(*) AS N FROM S GROUP BY ID;")
    for key, v in (("a", 5), ("a", 9), ("b", 1), ("a", 2)):
        driver.pipe("s", key, {"V": v})
    assert _values(driver, "T") == [("a", {"S": 0, "N": 1}), ("a", {"S": 4, "N": 2}), ("b", {"S": 0, "N": 1}),
                                    ("a", {"S": 7, "N": 3})]


def test_a_user_aggregate_in_tumbling_and_session_windows(driver):
    driver.execute("CREATE TABLE W AS SELECT ID, SPREAD(V) AS S FROM S WINDOW TUMBLING (SIZE 10 SECONDS) "
                   "GROUP BY ID;")
    driver.execute("CREATE TABLE SS AS SELECT ID, SPREAD(V) AS S FROM S WINDOW SESSION (5 SECONDS) GROUP BY ID;")
    for v, ts in ((1, 1000), (4, 2000), (10, 11000), (20, 6000)):
        driver.pipe("s", "a", {"V": v}, timestamp=ts)
    assert [r["value"]["S"] for r in driver.read_output("W")] == [0, 3, 0, 19]
    # the fourth record joins the sessions [1000, 2000] and [11000]: SPREAD's merge combines their states
    assert [r["value"] for r in driver.read_output("SS")][-1] == {"S": 19}


def test_a_user_aggregate_over_a_table_takes_rows_out_with_undo(driver):
    driver.execute("CREATE TABLE U (ID STRING PRIMARY KEY, G STRING, V BIGINT) "
                   "WITH (KAFKA_TOPIC='u', VALUE_FORMAT='JSON');")
    driver.execute("CREATE TABLE BY_G AS SELECT G, SPREAD(V) AS S FROM U GROUP BY G;")
    driver.pipe("u", "x", {"G": "g", "V": 1})
    driver.pipe("u", "y", {"G": "g", "V": 10})
    driver.pipe("u", "y", {"G": "g", "V": 3})  # an update: 10 is taken out
    driver.pipe("u", "x", None)  # a delete: 1 is taken out
    assert [r["value"]["S"] if r["value"] else None for r in driver.read_output("BY_G")] == [0, 9, 2, 0]


def test_an_aggregate_without_undo_is_refused_over_a_table(driver):
    driver.execute("CREATE TABLE U (ID STRING PRIMARY KEY, G STRING) WITH (KAFKA_TOPIC='u', VALUE_FORMAT='JSON');")
    with pytest.raises(KsqlError, match=r"The aggregation function\(s\) \(TAGS\) cannot be applied to a table"):
        driver.execute("CREATE TABLE BY_G AS SELECT G, TAGS(ID) AS T FROM U GROUP BY G;")


def test_a_failing_user_aggregate_is_a_processing_error_and_the_query_goes_on(driver, caplog):
    driver.execute("CREATE TABLE T AS SELECT ID, SPREAD(V) AS S FROM S GROUP BY ID;")
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        driver.pipe("s", "a", {"V": 5})
        driver.pipe("s", "a", {"V": -1})
        driver.pipe("s", "a", {"V": 8})
    assert [r["value"]["S"] for r in driver.read_output("T")] == [0, 0, 3]
    assert any("Function 'SPREAD' failed in aggregate: negative values are not allowed" in m for m in caplog.messages)
    assert driver.engine.queries["CTAS_T_1"].state == "RUNNING"


def test_failures_in_map_give_null_and_in_initialize_skip_the_record(driver, caplog):
    driver.execute("CREATE TABLE F AS SELECT ID, FRAGILE(V) AS T FROM S GROUP BY ID;")
    driver.execute("CREATE TABLE N AS SELECT ID, NO_START(V) AS T FROM S GROUP BY ID;")
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        for v in (2, -5, 4):
            driver.pipe("s", "a", {"V": v})
    assert [r["value"]["T"] for r in driver.read_output("F")] == [2, None, 1]
    assert driver.read_output("N") == []
    assert any("Function 'FRAGILE' failed in map: negative total" in m for m in caplog.messages)
    assert any("Function 'NO_START' failed in initialize: cannot start" in m for m in caplog.messages)
    assert {q.state for q in driver.engine.queries.values()} == {"RUNNING"}


def test_user_aggregate_state_survives_a_restart(tmp_path):
    props = {"auto.offset.reset": "earliest"}
    ddl = "CREATE STREAM S (ID STRING KEY, V BIGINT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
    ctas = "CREATE TABLE T AS SELECT ID, SPREAD(V) AS S FROM S GROUP BY ID;"

    def start() -> tuple[EmbeddedLog, Engine]:
        log = EmbeddedLog(str(tmp_path), fsync="never")
        engine = Engine(log, EngineConfig(properties=props), _registry())
        engine.execute(ddl)
        engine.execute(ctas)
        return log, engine

    log, engine = start()
    engine.execute("INSERT INTO S (ID, V) VALUES ('a', 4);")
    engine.execute("INSERT INTO S (ID, V) VALUES ('a', 6);")
    engine.run_until_idle()
    log.close()

    log, engine = start()
    engine.execute("INSERT INTO S (ID, V) VALUES ('a', 1);")
    engine.run_until_idle()
    assert engine.pull_query("SELECT ID, S FROM T;").rows == [["a", 5]]  # 6 - 1: 4 and 6 were restored
    log.close()
