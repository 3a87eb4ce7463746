"""Joins of three or more sources: a later join on a column the earlier result is keyed by joins on
that key, as ksqlDB does without repartitioning, even where an outer join left the column null."""

from __future__ import annotations

from ksql.testing import TestDriver


def test_a_later_join_on_the_missing_sides_key_column_joins_on_the_results_key() -> None:
    driver = TestDriver()
    try:
        for name, column in (("T1", "A"), ("T2", "B"), ("T3", "C")):
            driver.execute(f"CREATE TABLE {name} (ID INT PRIMARY KEY, {column} STRING) WITH "
                           f"(KAFKA_TOPIC='{name.lower()}', PARTITIONS=1, VALUE_FORMAT='JSON');")
        driver.execute("CREATE TABLE J AS SELECT T1.ID, A, B, C FROM T1 LEFT JOIN T2 ON T1.ID = T2.ID "
                       "LEFT JOIN T3 ON T2.ID = T3.ID;")
        driver.pipe("t1", 1, {"A": "a"}, 100)
        driver.pipe("t3", 1, {"C": "c"}, 200)  # T2 has no row 1: T2.ID is null, the result's key is 1
        assert [(r["key"], r["value"]) for r in driver.read_output("J")] == [
            (1, {"A": "a", "B": None, "C": None}), (1, {"A": "a", "B": None, "C": "c"})]
    finally:
        driver.close()
