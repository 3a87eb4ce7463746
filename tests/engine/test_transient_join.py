"""Push queries over joins (ksql.engine.transient + ksql.engine.join.TransientJoin).

Stream-stream, stream-table, table-table and foreign-key joins stream their results
in select order; the join's state and read positions live in the push query only.
"""

from __future__ import annotations

import re
import struct

import pytest

from ksql.engine.codec import encode_window
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record, default_partition
from ksql.engine.metastore import WindowInfo
from ksql.engine.transient import LIMIT_REACHED, TransientQueries
from ksql.errors import KsqlError

EARLIEST = {"auto.offset.reset": "earliest"}


class SpyLog(MemoryLog):
    """A memory log that records consumer-group commits and topic creations."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[str] = []
        self.created: list[str] = []

    def commit(self, group, offsets) -> None:
        self.commits.append(group)
        super().commit(group, offsets)

    def create_topic(self, name, config=None) -> None:
        self.created.append(name)
        if config is None:
            super().create_topic(name)
        else:
            super().create_topic(name, config)


@pytest.fixture
def engine() -> Engine:
    engine = Engine(SpyLog(), EngineConfig())
    engine.execute(
        "CREATE STREAM L (K STRING KEY, A INT) WITH (KAFKA_TOPIC='l', PARTITIONS=2, VALUE_FORMAT='JSON');"
        "CREATE STREAM R (K STRING KEY, B INT) WITH (KAFKA_TOPIC='r', PARTITIONS=2, VALUE_FORMAT='JSON');"
        "CREATE TABLE T (K STRING PRIMARY KEY, C INT) WITH (KAFKA_TOPIC='t', PARTITIONS=2, VALUE_FORMAT='JSON');"
        "CREATE TABLE U (ID STRING PRIMARY KEY, FK STRING, D INT) WITH (KAFKA_TOPIC='u', PARTITIONS=1, "
        "VALUE_FORMAT='JSON');"
        "CREATE TABLE V (K STRING PRIMARY KEY, E INT) WITH (KAFKA_TOPIC='v', PARTITIONS=2, VALUE_FORMAT='JSON');")
    return engine


def _start(engine: Engine, registry: TransientQueries, sql: str, properties=None):
    [stmt] = engine.prepare(sql)
    return registry.start(engine, stmt, properties or {})


def _drain(query) -> list:
    while query.poll():
        pass
    return query.take(10_000)


def test_stream_stream_join_rows_pseudo_columns_and_limit(engine: Engine) -> None:
    engine.execute("INSERT INTO L (K, A, ROWTIME) VALUES ('x', 1, 1000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 10, 2000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 11, 90000);"  # outside WITHIN
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('y', 12, 2000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 13, 3000);")
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT *, L.ROWTIME, R.ROWOFFSET FROM L JOIN R WITHIN 60 SECONDS "
                                     "ON L.K = R.K EMIT CHANGES LIMIT 2;", EARLIEST)
    assert query.schema == ("`L_K` STRING, `L_A` INTEGER, `R_K` STRING, `R_B` INTEGER, `L_ROWTIME` BIGINT, "
                            "`R_ROWOFFSET` BIGINT")
    rows = _drain(query)
    x_offsets = [r.offset for p in range(2) for r in engine.log.read("r", p, 0) if r.key == b"x"]
    assert [r.columns for r in rows] == [["x", 1, "x", 10, 1000, x_offsets[0]],
                                        ["x", 1, "x", 13, 1000, x_offsets[2]]]
    assert query.finished == LIMIT_REACHED and not any(r.tombstone for r in rows)
    assert query.query_id.startswith("transient_L_")


def test_left_stream_table_join_in_select_order_without_the_key(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT T.C * 2 AS C2, L.A FROM L LEFT JOIN T ON L.K = T.K "
                                     "WHERE L.A > 0 EMIT CHANGES;")
    assert query.schema == "`C2` INTEGER, `A` INTEGER"
    # stream and table records are processed in timestamp order
    engine.execute("INSERT INTO L (K, A, ROWTIME) VALUES ('a', 1, 1000);"
                   "INSERT INTO T (K, C, ROWTIME) VALUES ('a', 5, 2000);"  # a table update emits nothing
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('a', 2, 3000);"
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('a', 0, 4000);")  # filtered out
    assert [r.columns for r in _drain(query)] == [[None, 1], [10, 2]]


def test_push_join_reads_from_the_latest_offsets_by_default(engine: Engine) -> None:
    engine.execute("INSERT INTO T (K, C) VALUES ('a', 5);")
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT L.K, C FROM L JOIN T ON L.K = T.K EMIT CHANGES;")
    engine.execute("INSERT INTO L (K, A) VALUES ('a', 1);")  # the table row predates the query
    assert _drain(query) == []
    engine.execute("INSERT INTO T (K, C, ROWTIME) VALUES ('a', 6, 1000);"
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('a', 2, 2000);")
    assert [r.columns for r in _drain(query)] == [["a", 6]]


def test_table_table_join_deletions_are_tombstones_with_the_key(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT C, T.K AS TK, E FROM T JOIN V ON T.K = V.K EMIT CHANGES;")
    engine.execute("INSERT INTO T (K, C) VALUES ('a', 1);"
                   "INSERT INTO V (K, E) VALUES ('a', 2);"
                   "INSERT INTO V (K, E) VALUES ('a', 3);")
    engine.log.append("v", default_partition(b"a", 2), [Record(b"a", None, 10**13, [])])  # the right row is deleted
    rows = _drain(query)
    assert [(r.columns, r.tombstone) for r in rows] == [
        ([1, "a", 2], False), ([1, "a", 3], False), ([None, "a", None], True)]


def test_foreign_key_join_follows_both_tables(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT U.ID, D, E FROM U JOIN V ON U.FK = V.K EMIT CHANGES;")
    engine.execute("INSERT INTO V (K, E) VALUES ('v1', 7);"
                   "INSERT INTO U (ID, FK, D) VALUES ('u1', 'v1', 1);"
                   "INSERT INTO U (ID, FK, D) VALUES ('u2', 'v1', 2);"
                   "INSERT INTO V (K, E) VALUES ('v1', 8);")
    engine.log.append("u", 0, [Record(b"u1", None, 10**13, [])])
    rows = _drain(query)
    assert [(r.columns, r.tombstone) for r in rows] == [
        (["u1", 1, 7], False), (["u2", 2, 7], False), (["u1", 1, 8], False), (["u2", 2, 8], False),
        (["u1", None, None], True)]


def test_windowed_sources_join_on_key_and_window(engine: Engine) -> None:
    engine.execute(
        "CREATE STREAM W1 (K INT KEY, A INT) WITH (KAFKA_TOPIC='w1', PARTITIONS=1, VALUE_FORMAT='JSON', "
        "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='2 SECONDS');"
        "CREATE STREAM W2 (K INT KEY, B INT) WITH (KAFKA_TOPIC='w2', PARTITIONS=1, VALUE_FORMAT='JSON', "
        "WINDOW_TYPE='TUMBLING', WINDOW_SIZE='2 SECONDS');")
    window = WindowInfo("TUMBLING", 2000)

    def record(key: int, start: int, value: bytes, ts: int) -> Record:
        return Record(encode_window(struct.pack(">i", key), window, start, start + 2000), value, ts, [])

    engine.log.append("w1", 0, [record(1, 0, b'{"A": 1}', 0), record(1, 2000, b'{"A": 2}', 2000)])
    engine.log.append("w2", 0, [record(1, 2000, b'{"B": 3}', 2000)])
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT * FROM W1 JOIN W2 WITHIN 1 MINUTE ON W1.K = W2.K EMIT CHANGES;",
                   EARLIEST)
    assert query.schema == ("`W1_K` INTEGER, `W1_WINDOWSTART` BIGINT, `W1_WINDOWEND` BIGINT, `W1_A` INTEGER, "
                            "`W2_K` INTEGER, `W2_WINDOWSTART` BIGINT, `W2_WINDOWEND` BIGINT, `W2_B` INTEGER")
    # only the record of the same window joins, though both lie WITHIN a minute
    assert [r.columns for r in _drain(query)] == [[1, 2000, 4000, 2, 1, 2000, 4000, 3]]


def test_push_join_leaves_no_offsets_topics_or_query_behind(engine: Engine) -> None:
    log = engine.log
    topics, commits = sorted(log.list_topics()), len(log.commits)
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT * FROM L JOIN R WITHIN 1 MINUTE ON L.K = R.K EMIT CHANGES;",
                   EARLIEST)
    engine.execute("INSERT INTO L (K, A) VALUES ('x', 1);"
                   "INSERT INTO R (K, B) VALUES ('x', 2);")
    assert len(_drain(query)) == 1
    assert registry.close(query.query_id) and len(registry) == 0 and query.done
    assert sorted(log.list_topics()) == topics
    assert len(log.commits) == commits  # no consumer group of its own: positions were in memory
    assert engine.queries == {}


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM T JOIN L ON T.K = L.K EMIT CHANGES;",
     "Invalid join order: table-stream joins are not supported; only stream-table joins."),
    ("SELECT * FROM L JOIN R ON L.K = R.K EMIT CHANGES;", "Stream-Stream joins must have a WITHIN clause"),
    ("SELECT * FROM L JOIN U ON L.K = U.ID EMIT CHANGES;",
     "Can't join `L` with `U` since the number of partitions don't match."),
    ("SELECT C, COUNT(*) FROM L JOIN T ON L.K = T.K GROUP BY T.C PARTITION BY T.C EMIT CHANGES;",
     "PARTITION BY cannot be combined with GROUP BY."),
    ("SELECT T.K, C FROM T JOIN V ON T.K = V.K PARTITION BY C EMIT CHANGES;",
     "PARTITION BY is not supported on tables: the result of a table-table join is a table."),
    ("SELECT L.A, R.B FROM L JOIN R WITHIN 1 MINUTE ON L.K = R.K PARTITION BY NOPE EMIT CHANGES;",
     "PARTITION BY column 'NOPE' cannot be resolved."),
    ("SELECT L.A, COUNT(*) FROM L JOIN T ON L.K = T.K GROUP BY L.A HAVING NOPE > 1 EMIT CHANGES;",
     "HAVING column 'NOPE' cannot be resolved."),
])
def test_push_joins_are_refused_as_persistent_joins_are(engine: Engine, sql: str, message: str) -> None:
    registry = TransientQueries()
    with pytest.raises(KsqlError, match=re.escape(message)):
        _start(engine, registry, sql)
    assert len(registry) == 0


def test_foreign_key_joins_of_windowed_tables_are_refused(engine: Engine) -> None:
    engine.execute(
        "CREATE TABLE WL (K STRING PRIMARY KEY, F STRING) WITH (KAFKA_TOPIC='wl', PARTITIONS=1, "
        "VALUE_FORMAT='JSON', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND');"
        "CREATE TABLE WR (K STRING PRIMARY KEY, I INT) WITH (KAFKA_TOPIC='wr', PARTITIONS=1, "
        "VALUE_FORMAT='JSON', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 SECOND');")
    with pytest.raises(KsqlError, match="Foreign-key table-table joins are not supported on windowed tables."):
        _start(engine, TransientQueries(), "SELECT * FROM WL JOIN WR ON WL.F = WR.K EMIT CHANGES;")


def test_group_by_over_a_stream_table_join_streams_each_update_in_select_order(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT COUNT(*) AS N, T.C, SUM(L.A) FROM L JOIN T ON L.K = T.K "
                                     "WHERE L.A > 0 GROUP BY T.C HAVING SUM(L.A) > 1 EMIT CHANGES;")
    assert query.schema == "`N` BIGINT, `C` INTEGER, `KSQL_COL_0` INTEGER"
    engine.execute("INSERT INTO T (K, C, ROWTIME) VALUES ('a', 7, 1000);"
                   "INSERT INTO T (K, C, ROWTIME) VALUES ('b', 7, 1000);"
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('a', 1, 2000);"  # SUM 1: HAVING holds it back
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('b', 2, 3000);"
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('b', -5, 4000);"  # filtered by WHERE
                   "INSERT INTO L (K, A, ROWTIME) VALUES ('c', 4, 5000);")  # no table row: no join
    rows = _drain(query)
    assert [(r.columns, r.tombstone) for r in rows] == [([2, 7, 3], False)]


def test_group_by_over_a_table_table_join_retracts_a_row_from_its_old_group(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT V.E, COUNT(*) AS N FROM T JOIN V ON T.K = V.K GROUP BY V.E "
                                     "EMIT CHANGES;")
    assert query.schema == "`E` INTEGER, `N` BIGINT"
    engine.execute("INSERT INTO T (K, C) VALUES ('a', 1);"
                   "INSERT INTO T (K, C) VALUES ('b', 1);"
                   "INSERT INTO V (K, E) VALUES ('a', 10);"
                   "INSERT INTO V (K, E) VALUES ('b', 10);"
                   "INSERT INTO V (K, E) VALUES ('a', 20);")  # row 'a' moves from group 10 to group 20
    assert [r.columns for r in _drain(query)] == [[10, 1], [10, 2], [10, 1], [20, 1]]


def test_aggregates_without_group_by_over_a_join_count_every_joined_row(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT COUNT(*) AS N, MAX(R.B) AS TOP FROM L JOIN R WITHIN 1 MINUTE "
                                     "ON L.K = R.K EMIT CHANGES;", EARLIEST)
    assert query.schema == "`N` BIGINT, `TOP` INTEGER"
    engine.execute("INSERT INTO L (K, A, ROWTIME) VALUES ('x', 1, 1000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 5, 2000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 3, 3000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('y', 9, 3000);")
    assert [r.columns for r in _drain(query)] == [[1, 5], [2, 5]]


def test_windowed_aggregation_over_a_join_projects_the_window_bounds(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT L.K, WINDOWSTART AS WS, WINDOWEND, COUNT(*) AS N FROM L JOIN R "
                                     "WITHIN 1 MINUTE ON L.K = R.K WINDOW TUMBLING (SIZE 10 SECONDS) "
                                     "GROUP BY L.K EMIT CHANGES;")
    assert query.schema == "`L_K` STRING, `WS` BIGINT, `WINDOWEND` BIGINT, `N` BIGINT"
    engine.execute("INSERT INTO L (K, A, ROWTIME) VALUES ('x', 1, 1000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 5, 2000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 6, 12000);")
    assert [r.columns for r in _drain(query)] == [["x", 0, 10000, 1], ["x", 10000, 20000, 1]]


def test_partition_by_over_a_stream_stream_join_streams_the_select_list(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT R.B, L.A, L.K FROM L JOIN R WITHIN 1 MINUTE ON L.K = R.K "
                                     "PARTITION BY R.B EMIT CHANGES;")
    assert query.schema == "`B` INTEGER, `A` INTEGER, `L_K` STRING"
    engine.execute("INSERT INTO L (K, A, ROWTIME) VALUES ('x', 1, 1000);"
                   "INSERT INTO R (K, B, ROWTIME) VALUES ('x', 5, 2000);")
    assert [r.columns for r in _drain(query)] == [[5, 1, "x"]]


def test_partition_by_over_a_join_expands_star_as_the_repartitioned_row(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT * FROM L JOIN T ON L.K = T.K PARTITION BY L.A EMIT CHANGES;")
    assert query.schema == ("`L_A` INTEGER, `L_ROWTIME` BIGINT, `L_ROWPARTITION` INTEGER, `L_ROWOFFSET` BIGINT, "
                            "`L_K` STRING, `T_C` INTEGER, `T_ROWTIME` BIGINT, `T_ROWPARTITION` INTEGER, "
                            "`T_ROWOFFSET` BIGINT, `T_K` STRING")


def test_windowed_table_join_deletions_carry_the_keys_window(engine: Engine) -> None:
    window = WindowInfo("SESSION")
    for name, column in (("WA", "X"), ("WB", "Y")):
        engine.execute(f"CREATE TABLE {name} (K INT PRIMARY KEY, {column} INT) WITH (KAFKA_TOPIC='{name.lower()}', "
                       "PARTITIONS=1, VALUE_FORMAT='JSON', WINDOW_TYPE='SESSION');")

    def record(value: bytes | None, ts: int) -> Record:
        return Record(encode_window(struct.pack(">i", 1), window, 100, 900), value, ts, [])

    engine.log.append("wa", 0, [record(b'{"X": 1}', 100)])
    engine.log.append("wb", 0, [record(b'{"Y": 2}', 200), record(None, 300)])
    query = _start(engine, TransientQueries(), "SELECT WA.K, WB.WINDOWSTART AS WS, WA.WINDOWEND AS WE, X, Y "
                                               "FROM WA JOIN WB ON WA.K = WB.K EMIT CHANGES;", EARLIEST)
    assert [(r.columns, r.tombstone) for r in _drain(query)] == [
        ([1, 100, 900, 1, 2], False), ([1, 100, 900, None, None], True)]
