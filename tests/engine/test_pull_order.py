"""Pull-query row order: ksqlDB's state-store order, partition by partition, keys by their bytes."""

from __future__ import annotations

import struct

import pytest

from ksql.engine.log import default_partition
from ksql.testing import TestDriver


@pytest.fixture
def driver():
    d = TestDriver()
    d.create_topic({"name": "t", "partitions": 2})
    d.execute("CREATE SOURCE TABLE T (K INT PRIMARY KEY, V STRING) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');")
    for k in (300, 5, -1, 1, 2):
        d.pipe("t", k, {"V": str(k)})
    yield d
    d.close()


def keys(driver: TestDriver, sql: str) -> list:
    return [row[0] for row in driver.engine.pull_query(sql).rows]


def test_the_keys_spread_over_both_partitions():
    assert {k: default_partition(struct.pack(">i", k), 2) for k in (300, 5, -1, 1, 2)} == \
        {1: 0, 5: 0, 2: 1, 300: 1, -1: 1}


def test_a_scan_goes_partition_by_partition_in_unsigned_key_byte_order(driver):
    # partition 0: 1, 5; partition 1: 2, 300, then -1 (0xffffffff sorts last)
    assert keys(driver, "SELECT * FROM T;") == [1, 5, 2, 300, -1]
    assert keys(driver, "SELECT * FROM T WHERE V <> '5';") == [1, 2, 300, -1]
    assert keys(driver, "SELECT * FROM T LIMIT 3;") == [1, 5, 2]


def test_key_lookups_group_keys_by_partition_in_the_order_given(driver):
    # 2 and 300 share partition 1, which comes first as 2 is named first; then 5 and 1 as named
    assert keys(driver, "SELECT * FROM T WHERE K IN (2, 5, 300, 1, 7);") == [2, 300, 5, 1]


def test_key_lookups_follow_the_where_disjunction_order(driver):
    assert keys(driver, "SELECT * FROM T WHERE (K = 300 OR K = 2) AND K IN (2, 300, 5);") == [300, 2]
    assert keys(driver, "SELECT * FROM T WHERE K = 5 OR K = 1;") == [5, 1]


def test_windowed_rows_order_by_key_then_window_start():
    d = TestDriver()
    d.execute("CREATE STREAM S (ID STRING KEY, X INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);")
    d.execute("CREATE TABLE W AS SELECT ID, COUNT(1) AS N FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;")
    for key, ts in (("9", 2500), ("10", 1500), ("9", 500), ("10", 3500)):
        d.pipe("s", key, {"X": 1}, timestamp=ts)
    scan = [row[:2] for row in d.engine.pull_query("SELECT ID, WINDOWSTART FROM W;").rows]
    assert scan == [["10", 1000], ["10", 3000], ["9", 0], ["9", 2000]]  # "10" < "9" as bytes
    lookup = [row[:2] for row in d.engine.pull_query("SELECT ID, WINDOWSTART FROM W WHERE ID = '9';").rows]
    assert lookup == [["9", 0], ["9", 2000]]
    d.close()
