"""Joins of windowed sources, as ksqlDB 0.29 runs them.

Windowed sources join on their key and their window (time windows on the window start, the only
bound their keys carry; session windows on both bounds). The result is windowed as the left source
is and keyed in its key format; `*` expands each source's window bounds after its key columns.
Repartitioning a windowed source, or mixing window types, is refused with ksqlDB's messages.
"""

from __future__ import annotations

import pytest

from ksql.engine.transient import TransientQueries
from ksql.errors import KsqlError
from ksql.testing import TestDriver

WINDOWS = {"TUMBLING": "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='10 SECONDS'",
           "HOPPING": "WINDOW_TYPE='HOPPING', WINDOW_SIZE='10 SECONDS'",
           "SESSION": "WINDOW_TYPE='SESSION'"}


def _window(start: int, window_type: str) -> dict:
    return {"start": start, "end": start + 10_000, "type": "session" if window_type == "SESSION" else "time"}


def _create(driver: TestDriver, kind: str, name: str, columns: str, window: str, key_format: str = "KAFKA",
            partitions: int = 1) -> None:
    key = "PRIMARY KEY" if kind == "TABLE" else "KEY"
    driver.execute(f"CREATE {kind} {name} (ID INT {key}, {columns}) WITH (KAFKA_TOPIC='{name.lower()}', "
                   f"PARTITIONS={partitions}, KEY_FORMAT='{key_format}', VALUE_FORMAT='JSON', {window});")


def _rows(driver: TestDriver, topic: str) -> list[tuple]:
    """(key, value, window start, window end, timestamp) of each record written to `topic`."""
    return [(r["key"], r["value"], r["window"]["start"], r["window"]["end"], r["timestamp"])
            for r in driver.read_output(topic)]


@pytest.fixture
def driver():
    d = TestDriver()
    yield d
    d.close()


# -- table-table -----------------------------------------------------------------------------------

EXPECTED_TABLE_JOIN = {
    "INNER": [({"X": "x1", "Y": "y1"}, 0, 200), (None, 0, 400)],
    "LEFT": [({"X": "x1", "Y": None}, 0, 100), ({"X": "x1", "Y": "y1"}, 0, 200), (None, 0, 400)],
    "RIGHT": [({"X": "x1", "Y": "y1"}, 0, 200), ({"X": None, "Y": "y2"}, 10_000, 300),
              ({"X": None, "Y": "y1"}, 0, 400)],
    "FULL": [({"X": "x1", "Y": None}, 0, 100), ({"X": "x1", "Y": "y1"}, 0, 200),
             ({"X": None, "Y": "y2"}, 10_000, 300), ({"X": None, "Y": "y1"}, 0, 400)],
}


@pytest.mark.parametrize("window_type", list(WINDOWS))
@pytest.mark.parametrize("join", list(EXPECTED_TABLE_JOIN))
def test_windowed_table_table_join_matches_key_and_window(driver, window_type: str, join: str) -> None:
    _create(driver, "TABLE", "A", "X STRING", WINDOWS[window_type])
    _create(driver, "TABLE", "B", "Y STRING", WINDOWS[window_type])
    key = "ROWKEY AS ID" if join == "FULL" else "A.ID"  # a full join's key is either side's
    driver.execute(f"CREATE TABLE J AS SELECT {key}, X, Y FROM A {join} JOIN B ON A.ID = B.ID;")
    driver.pipe("a", 1, {"X": "x1"}, 100, window=_window(0, window_type))
    driver.pipe("b", 1, {"Y": "y1"}, 200, window=_window(0, window_type))
    driver.pipe("b", 1, {"Y": "y2"}, 300, window=_window(10_000, window_type))  # another window: no match
    driver.pipe("a", 1, None, 400, window=_window(0, window_type))  # the left row is deleted
    assert _rows(driver, "J") == [(1, value, start, start + 10_000, ts)
                                  for value, start, ts in EXPECTED_TABLE_JOIN[join]]
    sink = driver.engine.metastore.get("J")
    assert sink.window is not None and sink.window.kind == window_type


@pytest.mark.parametrize("key_format", ["KAFKA", "JSON", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR", "DELIMITED"])
def test_windowed_join_result_is_keyed_in_the_left_key_format(driver, key_format: str) -> None:
    _create(driver, "TABLE", "A", "X STRING", WINDOWS["HOPPING"], key_format)
    _create(driver, "TABLE", "B", "Y STRING", WINDOWS["HOPPING"], key_format)
    driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y FROM A JOIN B ON A.ID = B.ID;")
    protobuf = key_format.startswith("PROTOBUF")  # protobuf keys are not unwrapped
    key = {"ID": 1} if protobuf else 1
    driver.pipe("a", key, {"X": "x1"}, 100, window=_window(0, "HOPPING"))
    driver.pipe("b", key, {"Y": "y1"}, 200, window=_window(0, "HOPPING"))
    driver.pipe("b", key, None, 300, window=_window(0, "HOPPING"))
    out = {"A_ID": 1} if protobuf else "1" if key_format == "DELIMITED" else 1
    assert _rows(driver, "J") == [(out, {"X": "x1", "Y": "y1"}, 0, 10_000, 200), (out, None, 0, 10_000, 300)]
    sink = driver.engine.metastore.get("J")
    assert sink.formats.key.name == key_format
    assert (sink.window.kind, sink.window.size_ms) == ("HOPPING", 10_000)


def test_star_expands_each_sources_window_bounds_after_its_key(driver) -> None:
    _create(driver, "STREAM", "S1", "V BIGINT", WINDOWS["TUMBLING"])
    _create(driver, "STREAM", "S2", "V BIGINT", WINDOWS["TUMBLING"])
    driver.execute("CREATE STREAM J AS SELECT *, S2.WINDOWEND AS S2_END FROM S1 JOIN S2 WITHIN 1 MINUTE "
                   "ON S1.ID = S2.ID;")
    assert str(driver.engine.metastore.get("J").schema) == (
        "`S1_ID` INTEGER KEY, `S1_WINDOWSTART` BIGINT, `S1_WINDOWEND` BIGINT, `S1_V` BIGINT, `S2_ID` INTEGER, "
        "`S2_WINDOWSTART` BIGINT, `S2_WINDOWEND` BIGINT, `S2_V` BIGINT, `S2_END` BIGINT")
    driver.pipe("s1", 1, {"V": 1}, 100, window=_window(0, "TUMBLING"))
    driver.pipe("s2", 1, {"V": 2}, 200, window=_window(0, "TUMBLING"))
    driver.pipe("s2", 1, {"V": 3}, 300, window=_window(10_000, "TUMBLING"))  # WITHIN, but another window
    assert _rows(driver, "J") == [(1, {"S1_WINDOWSTART": 0, "S1_WINDOWEND": 10_000, "S1_V": 1, "S2_ID": 1,
                                       "S2_WINDOWSTART": 0, "S2_WINDOWEND": 10_000, "S2_V": 2, "S2_END": 10_000},
                                   0, 10_000, 200)]


@pytest.mark.parametrize("bound", ["WINDOWSTART", "WINDOWEND"])
def test_window_bounds_are_named_after_their_source_and_never_as_a_bound(driver, bound: str) -> None:
    _create(driver, "TABLE", "A", "X STRING", WINDOWS["TUMBLING"])
    _create(driver, "TABLE", "B", "Y STRING", WINDOWS["TUMBLING"])
    driver.execute(f"CREATE TABLE J AS SELECT A.ID, B.{bound}, X FROM A JOIN B ON A.ID = B.ID;")
    assert str(driver.engine.metastore.get("J").schema) == f"`A_ID` INTEGER KEY, `B_{bound}` BIGINT, `X` STRING"
    with pytest.raises(KsqlError, match=f"Reserved column name in select: `{bound}`. Please remove or alias"):
        driver.execute(f"CREATE TABLE K AS SELECT A.ID, A.{bound} AS {bound}, X FROM A JOIN B ON A.ID = B.ID;")


def test_windowed_stream_joins_the_windowed_table_row_of_its_window(driver) -> None:
    _create(driver, "STREAM", "S", "V INT", WINDOWS["TUMBLING"])
    _create(driver, "TABLE", "T", "C STRING", WINDOWS["TUMBLING"])
    driver.execute("CREATE STREAM J AS SELECT S.ID, V, C FROM S LEFT JOIN T ON S.ID = T.ID;")
    driver.pipe("t", 1, {"C": "first"}, 0, window=_window(0, "TUMBLING"))
    driver.pipe("t", 1, {"C": "second"}, 10_000, window=_window(10_000, "TUMBLING"))
    driver.pipe("s", 1, {"V": 1}, 11_000, window=_window(0, "TUMBLING"))
    driver.pipe("s", 1, {"V": 2}, 12_000, window=_window(10_000, "TUMBLING"))
    driver.pipe("s", 1, {"V": 3}, 21_000, window=_window(20_000, "TUMBLING"))
    assert _rows(driver, "J") == [(1, {"V": 1, "C": "first"}, 0, 10_000, 11_000),
                                  (1, {"V": 2, "C": "second"}, 10_000, 20_000, 12_000),
                                  (1, {"V": 3, "C": None}, 20_000, 30_000, 21_000)]


def test_multi_way_join_of_windowed_tables(driver) -> None:
    for name, column in (("A", "X STRING"), ("B", "Y STRING"), ("C", "Z STRING")):
        _create(driver, "TABLE", name, column, WINDOWS["SESSION"])
    driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y, Z FROM A JOIN B ON A.ID = B.ID LEFT JOIN C ON A.ID = C.ID;")
    driver.pipe("a", 1, {"X": "x"}, 100, window=_window(0, "SESSION"))
    driver.pipe("b", 1, {"Y": "y"}, 200, window=_window(0, "SESSION"))
    driver.pipe("c", 1, {"Z": "z"}, 300, window=_window(0, "SESSION"))
    driver.pipe("c", 1, {"Z": "other"}, 400, window={"start": 0, "end": 5_000, "type": "session"})
    assert _rows(driver, "J") == [(1, {"X": "x", "Y": "y", "Z": None}, 0, 10_000, 200),
                                  (1, {"X": "x", "Y": "y", "Z": "z"}, 0, 10_000, 300)]


# -- what ksqlDB refuses -----------------------------------------------------------------------------

REPARTITION = ("Implicit repartitioning of windowed sources is not supported. "
               "See https://github.com/confluentinc/ksql/issues/4385.")


@pytest.mark.parametrize("left, right", [("TUMBLING", "HOPPING"), ("HOPPING", "TUMBLING")])
def test_time_windows_of_another_type_or_size_would_need_a_repartition(driver, left: str, right: str) -> None:
    _create(driver, "STREAM", "S1", "V INT", WINDOWS[left])
    _create(driver, "STREAM", "S2", "V INT", WINDOWS[right].replace("10 SECONDS", "2 SECONDS"))
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE STREAM J AS SELECT * FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.ID = S2.ID;")
    assert str(refused.value) == REPARTITION


@pytest.mark.parametrize("key_format", ["AVRO", "PROTOBUF", "JSON_SR"])
def test_schema_registry_keys_join_time_windows_of_another_size_on_their_start(driver, key_format: str) -> None:
    """ksqlDB repartitions both sides into the join's key format, the left's: the right's keys are then
    read as the left's windows, whose keys carry only their start."""
    _create(driver, "STREAM", "S1", "V INT", WINDOWS["HOPPING"], key_format)
    _create(driver, "STREAM", "S2", "V INT", WINDOWS["TUMBLING"].replace("10 SECONDS", "2 SECONDS"), key_format)
    driver.execute("CREATE STREAM J AS SELECT S1.ID, S1.V AS V1, S2.V AS V2, S2.WINDOWEND AS END2 "
                   "FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.ID = S2.ID;")
    key = {"ID": 1} if key_format == "PROTOBUF" else 1
    driver.pipe("s1", key, {"V": 1}, 0, window={"start": 0, "end": 10_000, "type": "time"})
    driver.pipe("s2", key, {"V": 2}, 0, window={"start": 0, "end": 2_000, "type": "time"})
    driver.pipe("s2", key, {"V": 3}, 10, window={"start": 2_000, "end": 4_000, "type": "time"})
    out = {"S1_ID": 1} if key_format == "PROTOBUF" else 1
    assert _rows(driver, "J") == [(out, {"V1": 1, "V2": 2, "END2": 2_000}, 0, 10_000, 0)]
    sink = driver.engine.metastore.get("J")
    assert (sink.window.kind, sink.window.size_ms, sink.formats.key.name) == ("HOPPING", 10_000, key_format)


@pytest.mark.parametrize("left, right", [("SESSION", "TUMBLING"), ("HOPPING", "SESSION")])
def test_session_windows_join_only_session_windows(driver, left: str, right: str) -> None:
    _create(driver, "TABLE", "A", "X INT", WINDOWS[left])
    _create(driver, "TABLE", "B", "Y INT", WINDOWS[right])
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y FROM A JOIN B ON A.ID = B.ID;")
    assert str(refused.value) == (
        f"Incompatible windowed sources.\nLeft source: {left}\nRight source: {right}\nSession windowed sources "
        "can only be joined to other session windowed sources, and may still not result in expected behaviour "
        "as session bounds must be an exact match for the join to work\nHopping and tumbling windowed sources "
        "can only be joined to other hopping and tumbling windowed sources")


def test_windowed_and_unwindowed_sources_do_not_join(driver) -> None:
    _create(driver, "STREAM", "S", "V INT", WINDOWS["SESSION"])
    driver.execute("CREATE TABLE T (ID INT PRIMARY KEY, C INT) WITH (KAFKA_TOPIC='t', PARTITIONS=1, "
                   "VALUE_FORMAT='JSON');")
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE STREAM J AS SELECT S.ID, V, C FROM S JOIN T ON S.ID = T.ID;")
    assert str(refused.value) == ("Can not join windowed source to non-windowed source.\n"
                                  "`S` is SESSION windowed\n`T` is not windowed")


@pytest.mark.parametrize("sql", [
    "CREATE STREAM J AS SELECT S1.ID, S1.V, S2.V FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.V = S2.ID;",
    "CREATE STREAM J AS SELECT S1.ID, S1.V, S2.V FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.ID = S2.ID + 1;",
    "CREATE STREAM J AS SELECT S1.V, S2.V AS V2 FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.ID = S2.ID PARTITION BY S1.V;",
    "CREATE TABLE J AS SELECT S1.V, COUNT(*) AS N FROM S1 JOIN S2 WITHIN 1 MINUTE ON S1.ID = S2.ID GROUP BY S1.V;",
])
def test_joins_that_would_repartition_a_windowed_source_are_refused(driver, sql: str) -> None:
    _create(driver, "STREAM", "S1", "V INT", WINDOWS["TUMBLING"])
    _create(driver, "STREAM", "S2", "V INT", WINDOWS["TUMBLING"])
    with pytest.raises(KsqlError) as refused:
        driver.execute(sql)
    assert str(refused.value) == REPARTITION


def test_foreign_key_joins_of_windowed_tables_are_refused(driver) -> None:
    _create(driver, "TABLE", "A", "F INT", WINDOWS["TUMBLING"])
    _create(driver, "TABLE", "B", "Y INT", WINDOWS["TUMBLING"])
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE TABLE J AS SELECT A.ID, Y FROM A JOIN B ON A.F = B.ID;")
    assert str(refused.value) == "Foreign-key table-table joins are not supported on windowed tables."


# -- querying the joined windowed table ----------------------------------------------------------------

def test_pull_and_push_queries_read_the_joined_windowed_table(driver) -> None:
    _create(driver, "TABLE", "A", "X STRING", WINDOWS["TUMBLING"])
    _create(driver, "TABLE", "B", "Y STRING", WINDOWS["TUMBLING"])
    driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y FROM A JOIN B ON A.ID = B.ID;")
    for key, start, x, y in ((1, 0, "x1", "y1"), (1, 10_000, "x2", "y2"), (2, 10_000, "z", "z")):
        driver.pipe("a", key, {"X": x}, start + 100, window=_window(start, "TUMBLING"))
        driver.pipe("b", key, {"Y": y}, start + 200, window=_window(start, "TUMBLING"))
    driver.pipe("b", 2, None, 10_300, window=_window(10_000, "TUMBLING"))  # the join's row goes
    pulled = driver.engine.pull_query("SELECT * FROM J WHERE A_ID = 1 AND WINDOWSTART >= 5000;")
    assert [c.name for c in pulled.columns] == ["A_ID", "WINDOWSTART", "WINDOWEND", "X", "Y"]
    assert pulled.rows == [[1, 10_000, 20_000, "x2", "y2"]]
    assert driver.engine.pull_query("SELECT * FROM J WHERE A_ID = 2;").rows == []
    [stmt] = driver.engine.prepare("SELECT A_ID, WINDOWEND, Y FROM J EMIT CHANGES;")
    pushed = TransientQueries().start(driver.engine, stmt, {"auto.offset.reset": "earliest"})
    while pushed.poll():
        pass
    assert [(r.columns, r.tombstone) for r in pushed.take()] == [
        ([1, 10_000, "y1"], False), ([1, 20_000, "y2"], False), ([2, 20_000, "z"], False), ([2, 20_000, None], True)]


@pytest.mark.parametrize("left_format, right_format", [("KAFKA", "JSON"), ("DELIMITED", "KAFKA")])
def test_windowed_keys_of_another_format_would_need_a_repartition(driver, left_format, right_format) -> None:
    _create(driver, "TABLE", "A", "X INT", WINDOWS["TUMBLING"], left_format)
    _create(driver, "TABLE", "B", "Y INT", WINDOWS["TUMBLING"], right_format)
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y FROM A JOIN B ON A.ID = B.ID;")
    assert str(refused.value) == REPARTITION


@pytest.mark.parametrize("left_format, right_format", [("JSON_SR", "KAFKA"), ("KAFKA", "AVRO")])
def test_windowed_keys_of_another_format_join_when_one_is_a_schema_registry_format(driver, left_format,
                                                                                  right_format) -> None:
    _create(driver, "TABLE", "A", "X INT", WINDOWS["SESSION"], left_format)
    _create(driver, "TABLE", "B", "Y INT", WINDOWS["SESSION"], right_format)
    driver.execute("CREATE TABLE J AS SELECT A.ID, X, Y FROM A JOIN B ON A.ID = B.ID;")
    driver.pipe("a", 1, {"X": 1}, 100, window=_window(0, "SESSION"))
    driver.pipe("b", 1, {"Y": 2}, 200, window=_window(0, "SESSION"))
    assert _rows(driver, "J") == [(1, {"X": 1, "Y": 2}, 0, 10_000, 200)]
    assert driver.engine.metastore.get("J").formats.key.name == left_format


def test_a_join_after_a_full_join_of_windowed_sources_would_repartition_its_synthetic_key(driver) -> None:
    for name in ("S1", "S2", "S3"):
        _create(driver, "STREAM", name, "V INT", WINDOWS["TUMBLING"])
    with pytest.raises(KsqlError) as refused:
        driver.execute("CREATE STREAM J AS SELECT ROWKEY AS K, S1.V AS V1 FROM S1 FULL JOIN S2 WITHIN 1 MINUTE "
                       "ON S1.ID = S2.ID FULL JOIN S3 WITHIN 1 MINUTE ON S1.ID = S3.ID;")
    assert str(refused.value) == REPARTITION


@pytest.mark.parametrize("kind", ["INNER", "LEFT", "RIGHT"])
def test_windowed_streams_join_in_chains_on_any_column_equal_to_the_key(driver, kind: str) -> None:
    for name in ("S1", "S2", "S3"):
        _create(driver, "STREAM", name, "V INT", WINDOWS["SESSION"])
    driver.execute(f"CREATE STREAM J AS SELECT S2.ID, S1.V AS V1, S2.V AS V2, S3.V AS V3 FROM S1 {kind} JOIN S2 "
                   f"WITHIN 1 MINUTE ON S1.ID = S2.ID {kind} JOIN S3 WITHIN 1 MINUTE ON S2.ID = S3.ID;")
    driver.pipe("s1", 1, {"V": 1}, 100, window=_window(0, "SESSION"))
    driver.pipe("s2", 1, {"V": 2}, 200, window=_window(0, "SESSION"))
    driver.pipe("s3", 1, {"V": 3}, 300, window=_window(10_000, "SESSION"))  # another session
    driver.pipe("s3", 1, {"V": 4}, 400, window=_window(0, "SESSION"))
    expected = {
        "INNER": [({"V1": 1, "V2": 2, "V3": 4}, 0)],
        # the first join's outer result goes on by its key, though its S2.ID is null
        "LEFT": [({"V1": 1, "V2": None, "V3": None}, 0), ({"V1": 1, "V2": 2, "V3": None}, 0),
                 ({"V1": 1, "V2": None, "V3": 4}, 0), ({"V1": 1, "V2": 2, "V3": 4}, 0)],
        "RIGHT": [({"V1": None, "V2": None, "V3": 3}, 10_000), ({"V1": 1, "V2": 2, "V3": 4}, 0)],
    }[kind]
    assert _rows(driver, "J") == [(1, value, start, start + 10_000, ts)
                                  for (value, start), ts in zip(expected, _timestamps(kind), strict=True)]


def _timestamps(kind: str) -> list[int]:
    return {"INNER": [400], "LEFT": [100, 200, 400, 400], "RIGHT": [300, 400]}[kind]
