"""ARRAY and STRUCT values as keys: GROUP BY (plain, windowed, over tables), PARTITION BY, joins and pulls,
in every key format that can hold them, and state that survives a restart."""

from __future__ import annotations

import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog
from ksql.testing import TestDriver

SOURCE = ("CREATE STREAM S (ID INT KEY, A ARRAY<INT>, ST STRUCT<X INT, Y STRING>, V INT) "
          "WITH (KAFKA_TOPIC='s', PARTITIONS=1, FORMAT='JSON');")
ST1, ST2 = {"X": 1, "Y": "y"}, {"X": 2, "Y": "z"}


def feed(d: TestDriver) -> None:
    d.pipe("s", 1, {"A": [1, 2], "ST": ST1, "V": 10}, timestamp=1_000)
    d.pipe("s", 2, {"A": [1, 2], "ST": ST1, "V": 20}, timestamp=2_000)
    d.pipe("s", 3, {"A": [3], "ST": {"Y": "z", "X": 2}, "V": 5}, timestamp=3_000)


def last_per_key(d: TestDriver, name: str) -> list:
    latest = {}
    for r in d.read_output(name):
        latest[repr(r["key"])] = (r["key"], r["value"])
    return sorted(latest.values(), key=repr)


@pytest.mark.parametrize("key_format", ["JSON", "AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"])
def test_group_by_array_and_struct_in_every_key_format(driver, key_format):
    driver.execute(SOURCE)
    driver.execute(f"CREATE TABLE G WITH (KEY_FORMAT='{key_format}') AS "
                   "SELECT ST, A, COUNT(*) AS N, SUM(V) AS T FROM S GROUP BY ST, A;")
    feed(driver)
    assert last_per_key(driver, "G") == [({"ST": ST1, "A": [1, 2]}, {"N": 2, "T": 30}),
                                         ({"ST": ST2, "A": [3]}, {"N": 1, "T": 5})]
    rows = driver.engine.pull_query("SELECT * FROM G WHERE ST = STRUCT(X:=1, Y:='y') AND A = ARRAY[1, 2];").rows
    assert rows == [[ST1, [1, 2], 2, 30]]


def test_windowed_and_session_group_by_a_struct(driver):
    driver.execute(SOURCE)
    driver.execute("CREATE TABLE W AS SELECT ST, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY ST;")
    driver.execute("CREATE TABLE SE AS SELECT ST, COUNT(*) AS N FROM S WINDOW SESSION (1 HOUR) GROUP BY ST;")
    feed(driver)
    for name in ("W", "SE"):
        assert [v["N"] for _, v in last_per_key(driver, name)] == [2, 1], name


def test_distinct_aggregates_of_nested_values(driver):
    driver.execute(SOURCE)
    driver.execute("CREATE TABLE D AS SELECT ID, COUNT_DISTINCT(A) AS CA, COLLECT_SET(ST) AS CS "
                   "FROM S GROUP BY ID;")
    driver.pipe("s", 1, {"A": [1], "ST": ST1, "V": 1})
    driver.pipe("s", 1, {"A": [1], "ST": ST1, "V": 2})
    driver.pipe("s", 1, {"A": [2], "ST": ST2, "V": 3})
    [(key, value)] = last_per_key(driver, "D")
    assert value["CA"] == 2 and sorted(value["CS"], key=repr) == [ST1, ST2]


def test_aggregating_a_table_keyed_by_a_struct(driver):
    driver.execute("CREATE TABLE T (ST STRUCT<X INT, Y STRING> PRIMARY KEY, V STRING, N INT) "
                   "WITH (KAFKA_TOPIC='t', PARTITIONS=1, FORMAT='JSON');")
    driver.execute("CREATE TABLE BY_V AS SELECT V, SUM(N) AS TOTAL FROM T GROUP BY V;")
    driver.execute("CREATE TABLE BY_ST AS SELECT ST, COUNT(*) AS C FROM T GROUP BY ST;")
    driver.pipe("t", ST1, {"V": "a", "N": 1})
    driver.pipe("t", ST2, {"V": "a", "N": 2})
    driver.pipe("t", {"Y": "y", "X": 1}, {"V": "b", "N": 5})  # the same key as ST1, fields in another order
    assert last_per_key(driver, "BY_V") == [("a", {"TOTAL": 2}), ("b", {"TOTAL": 5})]
    assert last_per_key(driver, "BY_ST") == [(ST1, {"C": 1}), (ST2, {"C": 1})]


def test_partition_by_and_joins_on_nested_values(driver):
    driver.execute(SOURCE)
    driver.execute("CREATE TABLE T (ST STRUCT<X INT, Y STRING> PRIMARY KEY, L STRING) "
                   "WITH (KAFKA_TOPIC='t', PARTITIONS=1, FORMAT='JSON');")
    driver.execute("CREATE STREAM P AS SELECT * FROM S PARTITION BY A;")
    driver.execute("CREATE STREAM J AS SELECT S.ST, S.ID, T.L FROM S JOIN T ON S.ST = T.ST;")
    driver.pipe("t", ST1, {"L": "label"})
    feed(driver)
    assert [r["key"] for r in driver.read_output("P")] == [[1, 2], [1, 2], [3]]
    assert [(r["key"], r["value"]["L"]) for r in driver.read_output("J")] == [(ST1, "label"), (ST1, "label")]


def test_nested_group_keys_are_restored_from_the_changelog(tmp_path):
    """The same statements on a reopened log: the query's changelog gives back its state."""
    statements = (SOURCE, "CREATE TABLE G AS SELECT ST, A, COUNT(*) AS N FROM S GROUP BY ST, A;")
    for id_ in (1, 2):
        log = EmbeddedLog(str(tmp_path), fsync="never")
        engine = Engine(log, EngineConfig())
        try:
            for sql in statements:
                engine.execute(sql)
            engine.execute(f"INSERT INTO S (ID, A, ST, V) VALUES ({id_}, ARRAY[1, 2], STRUCT(X:=1, Y:='y'), 1);")
            engine.run_until_idle()
            assert engine.pull_query("SELECT N FROM G WHERE ST = STRUCT(X:=1, Y:='y') AND A = ARRAY[1, 2];"
                                     ).rows == [[id_]]
        finally:
            engine.close()
            log.close()


NESTED_KEY = {"A": 1, "B": {"C": "x", "D": [1, 2]}}


@pytest.mark.parametrize("key_format", ["JSON", "AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"])
def test_declared_struct_keys_through_select_star_joins_and_multi_column_keys(driver, key_format):
    """A STRUCT (holding a STRUCT and an ARRAY) declared as a table's key, joined table to table with
    SELECT *, and a STRUCT beside an INT in a multi-column key; Protobuf keys are a message of the key
    columns, so their test values are written wrapped."""
    def wrapped(key: dict, column: str) -> dict:
        return {column: key} if key_format.startswith("PROTOBUF") else key

    nested = "STRUCT<A INT, B STRUCT<C STRING, D ARRAY<INT>>>"
    for name, col in (("L", "V"), ("R", "W")):
        driver.execute(f"CREATE TABLE {name} (K {nested} PRIMARY KEY, {col} INT) WITH (kafka_topic='{name.lower()}', "
                       f"key_format='{key_format}', value_format='JSON');")
    driver.execute("CREATE TABLE J AS SELECT * FROM L JOIN R ON L.K = R.K;")
    driver.execute("CREATE STREAM M (ID INT KEY, S STRUCT<A INT> KEY, V INT) WITH (kafka_topic='m', "
                   f"key_format='{key_format}', value_format='JSON');")
    driver.execute("CREATE STREAM COPY AS SELECT * FROM M;")
    driver.execute("CREATE TABLE COUNTS AS SELECT ID, S, COUNT(*) AS N FROM M GROUP BY ID, S;")
    driver.pipe("l", wrapped(NESTED_KEY, "K"), {"V": 1})
    driver.pipe("r", wrapped(NESTED_KEY, "K"), {"W": 2})
    driver.pipe("m", {"ID": 1, "S": {"A": 5}}, {"V": 3})

    assert [(r["key"], r["value"]) for r in driver.read_output("J")] == [
        (wrapped(NESTED_KEY, "L_K"), {"L_V": 1, "R_K": NESTED_KEY, "R_W": 2})]
    assert [c.name for c in driver.engine.metastore.get("J").schema.key] == ["L_K"]
    assert [(r["key"], r["value"]) for r in driver.read_output("COPY")] == [({"ID": 1, "S": {"A": 5}}, {"V": 3})]
    assert [(r["key"], r["value"]) for r in driver.read_output("COUNTS")] == [({"ID": 1, "S": {"A": 5}}, {"N": 1})]
