"""INSERT VALUES refuses a row that the queries over its target would skip, instead of storing it."""

from __future__ import annotations

import pytest

from ksql.engine.codec import RecordEncoder
from ksql.engine.inserts import insert_record, insert_records
from ksql.engine.log import Record
from ksql.errors import KsqlError
from ksql.testing import TestDriver


@pytest.fixture
def driver():
    d = TestDriver()
    d.execute("CREATE STREAM S (K STRING KEY, TS BIGINT, V STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
              "VALUE_FORMAT='JSON', TIMESTAMP='TS');"
              "CREATE STREAM F (K STRING KEY, TS STRING) WITH (KAFKA_TOPIC='f', PARTITIONS=1, VALUE_FORMAT='JSON', "
              "TIMESTAMP='TS', TIMESTAMP_FORMAT='yyyy-MM-dd');"
              "CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', PARTITIONS=1, VALUE_FORMAT='JSON');"
              "CREATE STREAM D (K STRING KEY, V INT) WITH (KAFKA_TOPIC='d', PARTITIONS=1, VALUE_FORMAT='DELIMITED');"
              "CREATE TABLE W (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='w', PARTITIONS=1, VALUE_FORMAT='JSON', "
              "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 MINUTE');")
    d.execute("CREATE STREAM S2 AS SELECT * FROM S; CREATE STREAM F2 AS SELECT * FROM F; "
              "CREATE TABLE T2 AS SELECT * FROM T; CREATE STREAM D2 AS SELECT * FROM D;")
    yield d
    d.close()


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO S (K, TS, V) VALUES ('a', NULL, 'x');",
     "Failed to insert values into 'S'. The TIMESTAMP column TS is null"),
    ("INSERT INTO S (K, TS, V) VALUES ('a', -5, 'x');",
     "Failed to insert values into 'S'. The TIMESTAMP column TS is negative (-5)"),
    ("INSERT INTO F (K, TS) VALUES ('a', 'not a date');",
     "Failed to insert values into 'F'. The TIMESTAMP column TS ('not a date') does not match the timestamp "
     "format 'yyyy-MM-dd'"),
    ("INSERT INTO F (K, TS) VALUES ('a', '1960-01-01');",
     "Failed to insert values into 'F'. The TIMESTAMP column TS is negative (-315619200000)"),
    ("INSERT INTO F (K) VALUES ('a');", "Failed to insert values into 'F'. The TIMESTAMP column TS is null"),
    ("INSERT INTO T (K, V) VALUES (NULL, 1);",
     "Failed to insert values into 'T'. Value for primary key column(s) K is required for tables"),
    ("INSERT INTO T (V) VALUES (1);",
     "Failed to insert values into 'T'. Value for primary key column(s) K is required for tables"),
    ("INSERT INTO D (K, V) VALUES ('a', NULL);",
     "Failed to insert values into 'D'. The row's record would be unreadable in the formats of D: "
     "Error deserializing delimited: No fields in record"),
    ("INSERT INTO W (K, V) VALUES ('a', 1);",
     "Failed to insert values into 'W'. Inserting values into windowed sources is not supported"),
])
def test_rows_the_queries_would_drop_are_refused(driver, sql, message) -> None:
    topics = {t: driver.log.end_offset(t, 0) for t in ("s", "f", "t", "d", "w")}
    with pytest.raises(KsqlError) as err:
        driver.execute(sql)
    assert str(err.value).startswith(message)
    assert {t: driver.log.end_offset(t, 0) for t in topics} == topics  # nothing stored


def test_rows_the_queries_read_are_inserted_and_arrive(driver) -> None:
    driver.execute("INSERT INTO S (K, TS, V) VALUES ('a', 5, 'x');"
                   "INSERT INTO F (K, TS) VALUES ('a', '2020-01-01');"
                   "INSERT INTO T (K, V) VALUES ('a', 1);"
                   "INSERT INTO D (K, V) VALUES ('a', 1);")
    assert [(r["value"], r["timestamp"]) for r in driver.read_output("S2")] == [({"TS": 5, "V": "x"}, 5)]
    assert [r["timestamp"] for r in driver.read_output("F2")] == [1577836800000]
    assert [r["value"] for r in driver.read_output("T2")] == [{"V": 1}]
    assert [r["value"] for r in driver.read_output("D2")] == ["1"]


@pytest.mark.parametrize("name, rows", [
    ("B", [(["a"], [1, "x"]), (["b"], [2, None]), ([None], [3, "z"]), (["a"], [4, "w"])]),
    ("T", [(["a"], [1]), ([None], [2]), (["c"], [None])]),
    ("D", [(["a"], [1]), (["b"], [None]), (["c"], [3])]),  # a null DELIMITED value is refused
    ("S", [(["a"], [5, "x"]), (["b"], [None, "y"]), (["c"], [-1, "z"])]),  # the TIMESTAMP column
])
def test_a_batch_of_rows_gives_what_each_row_gives(driver, name: str, rows: list) -> None:
    """insert_records (the rows of an /inserts-stream round) is insert_record for each row: the same
    partition and record, or the same refusal, whether the batch is written at once or row by row."""
    driver.execute("CREATE STREAM B (K STRING KEY, N INT, V STRING) WITH (KAFKA_TOPIC='b', PARTITIONS=3, "
                   "VALUE_FORMAT='JSON');")
    target = driver.engine.metastore.get(name)
    encoder = RecordEncoder(target, driver.log.topic_config(target.topic).partitions, "INSERT")

    def one(key: list, value: list) -> tuple[int, Record] | str:
        try:
            return insert_record(target, encoder, key, value, 7)
        except KsqlError as err:
            return str(err)

    expected = [one(key, value) for key, value in rows]
    assert [str(out) if isinstance(out, KsqlError) else out
            for out in insert_records(target, encoder, rows, 7)] == expected
    valid = [row for row, out in zip(rows, expected, strict=True) if not isinstance(out, str)]
    assert insert_records(target, encoder, valid, 7) == [out for out in expected if not isinstance(out, str)]
