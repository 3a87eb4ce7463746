"""Push queries in the engine (ksql.engine.transient): rows, LIMIT, tombstones, positions, backpressure;
and over HTTP, a push query over a join."""

from __future__ import annotations

import httpx
import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record
from ksql.engine.transient import (
    LIMIT_REACHED,
    TooManyPushQueries,
    TransientQueries,
    format_position,
    parse_position,
)
from ksql.errors import KsqlError
from tests.server.harness import ksql

EARLIEST = {"auto.offset.reset": "earliest"}


@pytest.fixture
def engine() -> Engine:
    engine = Engine(MemoryLog(), EngineConfig())
    engine.execute("CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=2, VALUE_FORMAT='JSON');"
                   "CREATE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', PARTITIONS=1, "
                   "VALUE_FORMAT='JSON');")
    return engine


def _start(engine: Engine, registry: TransientQueries, sql: str, properties=None, **kwargs):
    [stmt] = engine.prepare(sql)
    return registry.start(engine, stmt, properties or {}, **kwargs)


def _insert(engine: Engine, target: str, rows: list[tuple]) -> None:
    for k, v in rows:
        engine.execute(f"INSERT INTO {target} (K, V) VALUES ({'NULL' if k is None else repr(k)}, {v});")


def _drain(query) -> list:
    while query.poll():
        pass
    return query.take(10_000)


def test_rows_from_the_latest_offsets_in_select_order(engine: Engine) -> None:
    registry = TransientQueries()
    _insert(engine, "S", [("before", 0)])
    query = _start(engine, registry, "SELECT V * 2 AS D, K FROM S WHERE V > 1 EMIT CHANGES;")
    assert query.schema == "`D` INTEGER, `K` STRING" and query.query_id.startswith("transient_S_")
    _insert(engine, "S", [("a", 1), ("b", 2), ("c", 3)])
    assert sorted(r.columns for r in _drain(query)) == [[4, "b"], [6, "c"]]


def test_limit_and_earliest(engine: Engine) -> None:
    registry = TransientQueries()
    _insert(engine, "S", [("a", 1), ("a", 2), ("a", 3)])
    query = _start(engine, registry, "SELECT * FROM S EMIT CHANGES LIMIT 2;", EARLIEST)
    rows = _drain(query)
    assert [r.columns for r in rows] == [["a", 1], ["a", 2]] and query.finished == LIMIT_REACHED
    assert _start(engine, registry, "SELECT * FROM S EMIT CHANGES LIMIT 0;").finished == LIMIT_REACHED


def test_table_deletions_are_tombstones(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT * FROM T EMIT CHANGES;")
    _insert(engine, "T", [("a", 1)])
    engine.log.append("t", 0, [Record(b"a", None, 5, [])])  # a deletion
    rows = _drain(query)
    assert [(r.columns, r.tombstone) for r in rows] == [(["a", 1], False), (["a", None], True)]


def test_positions_resume_exactly_after_the_last_row(engine: Engine) -> None:
    registry = TransientQueries()
    _insert(engine, "S", [(f"k{i}", i) for i in range(10)])
    first = _start(engine, registry, "SELECT V FROM S EMIT CHANGES LIMIT 4;", EARLIEST)
    seen = _drain(first)
    frontier = dict(first.start_positions)
    for row in seen:
        frontier[row.partition] = row.offset + 1
    token = format_position(frontier)
    assert parse_position(token) == frontier
    rest = _drain(_start(engine, registry, "SELECT V FROM S EMIT CHANGES;", resume=parse_position(token)))
    assert sorted(r.columns[0] for r in seen + rest) == list(range(10))
    with pytest.raises(KsqlError):
        parse_position("0:x")


def test_a_full_buffer_pauses_reading(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;", capacity=3)
    _insert(engine, "S", [("same", i) for i in range(10)])
    while query.poll():
        pass
    assert len(query.buffer) == 3  # stopped reading, not dropping
    got = []
    while len(got) < 10:
        got += [r.columns[0] for r in query.take(2)]
        query.poll()
    assert got == list(range(10))


def test_the_number_of_push_queries_is_bounded(engine: Engine) -> None:
    registry = TransientQueries(max_queries=1)
    first = _start(engine, registry, "SELECT * FROM S EMIT CHANGES;")
    with pytest.raises(TooManyPushQueries, match="ksql.max.push.queries"):
        _start(engine, registry, "SELECT * FROM S EMIT CHANGES;")
    assert registry.close(first.query_id) and not registry.close(first.query_id)
    _start(engine, registry, "SELECT * FROM S EMIT CHANGES;")


def test_push_aggregation_in_select_order(engine: Engine) -> None:
    registry = TransientQueries()
    query = _start(engine, registry, "SELECT COUNT(*) AS N, K FROM S GROUP BY K EMIT CHANGES;")
    assert query.schema == "`N` BIGINT, `K` STRING"
    _insert(engine, "S", [("a", 1), ("a", 2)])
    assert [r.columns for r in _drain(query)] == [[1, "a"], [2, "a"]]
    total = _start(engine, registry, "SELECT SUM(V) AS TOTAL FROM S EMIT CHANGES;", EARLIEST)
    assert [r.columns for r in _drain(total)][-1] == [3]


def test_refusals(engine: Engine) -> None:
    registry = TransientQueries()
    with pytest.raises(KsqlError, match="NOPE does not exist"):
        _start(engine, registry, "SELECT * FROM NOPE EMIT CHANGES;")
    with pytest.raises(KsqlError, match="Not a push query"):
        _start(engine, registry, "SELECT * FROM S;")
    with pytest.raises(KsqlError, match="cannot be resolved"):
        _start(engine, registry, "SELECT NOPE FROM S EMIT CHANGES;")
    assert len(registry) == 0


def test_scalable_push_query_ids(engine: Engine) -> None:
    engine.execute("CREATE STREAM S2 AS SELECT * FROM S;")
    registry = TransientQueries()
    v2 = {"ksql.query.push.v2.enabled": "true"}
    assert _start(engine, registry, "SELECT * FROM S2 EMIT CHANGES;", v2).query_id.startswith(
        "SCALABLE_PUSH_QUERY_")
    assert _start(engine, registry, "SELECT * FROM S EMIT CHANGES;", v2).query_id.startswith("transient_S_")


def test_push_query_over_a_stream_table_join_over_http(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM JS (K STRING KEY, A INT) WITH (KAFKA_TOPIC='js', PARTITIONS=2, VALUE_FORMAT='JSON');"
                 "CREATE TABLE JT (K STRING PRIMARY KEY, C STRING) WITH (KAFKA_TOPIC='jt', PARTITIONS=2, "
                 "VALUE_FORMAT='JSON');"
                 "INSERT INTO JT (K, C, ROWTIME) VALUES ('a', 'one', 1000);"
                 "INSERT INTO JS (K, A, ROWTIME) VALUES ('a', 1, 2000);"
                 "INSERT INTO JS (K, A, ROWTIME) VALUES ('b', 2, 3000);")
    topics = ksql(client, "SHOW TOPICS;")[0]["topics"]
    response = client.post("/query-stream", headers={"accept": "application/json"},
                           json={"sql": "SELECT A, JT.C, JS.K FROM JS LEFT JOIN JT ON JS.K = JT.K EMIT CHANGES LIMIT 2;",
                                 "properties": EARLIEST})
    body = response.json()
    assert body[0]["columnNames"] == ["A", "C", "JS_K"] and body[0]["columnTypes"] == ["INTEGER", "STRING", "STRING"]
    assert body[1:] == [[1, "one", "a"], [2, None, "b"]]
    assert ksql(client, "SHOW TOPICS;")[0]["topics"] == topics  # the push query left nothing behind
    assert not [q for q in ksql(client, "SHOW QUERIES;")[0]["queries"] if q["queryType"] == "PUSH"]


def test_push_queries_aggregating_and_repartitioning_a_join_over_http(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM GS (K STRING KEY, A INT) WITH (KAFKA_TOPIC='gs', PARTITIONS=1, VALUE_FORMAT='JSON');"
                 "CREATE TABLE GT (K STRING PRIMARY KEY, C STRING) WITH (KAFKA_TOPIC='gt', PARTITIONS=1, "
                 "VALUE_FORMAT='JSON');"
                 "INSERT INTO GT (K, C, ROWTIME) VALUES ('a', 'one', 1000);"
                 "INSERT INTO GT (K, C, ROWTIME) VALUES ('b', 'one', 1000);"
                 "INSERT INTO GS (K, A, ROWTIME) VALUES ('a', 1, 2000);"
                 "INSERT INTO GS (K, A, ROWTIME) VALUES ('b', 2, 3000);")
    grouped = client.post("/query", json={"ksql": "SELECT C, SUM(A) AS TOTAL FROM GS JOIN GT ON GS.K = GT.K "
                                                  "GROUP BY C EMIT CHANGES LIMIT 2;",
                                          "streamsProperties": EARLIEST})
    assert grouped.status_code == 200, grouped.text
    body = grouped.json()
    assert body[0]["header"]["schema"] == "`C` STRING, `TOTAL` INTEGER"
    assert [m["row"]["columns"] for m in body if "row" in m] == [["one", 1], ["one", 3]]
    repartitioned = client.post("/query-stream", headers={"accept": "application/json"},
                                json={"sql": "SELECT A, GS.K FROM GS JOIN GT ON GS.K = GT.K PARTITION BY A "
                                             "EMIT CHANGES LIMIT 2;", "properties": EARLIEST})
    assert repartitioned.status_code == 200, repartitioned.text
    assert repartitioned.json()[1:] == [[1, "a"], [2, "b"]]
