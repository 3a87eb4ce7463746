"""Pull queries are planned once per statement text: the plan cache is bounded, serves a plan only at the
engine generation it was made at (a DROP and CREATE of the source makes a new one), and key lookups read
a committed state of the table (a transaction written over several partitions is seen whole or not)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ksql.engine.log import Record
from ksql.engine.log.memory import MemoryLog
from server.config import ServerConfig
from server.core import KsqlServer
from server.pull_plans import CachedPull, PullPlanCache, plan_key
from server.txlog import TransactionalLog
from tests.server.harness import ServerProcess, ksql, query_rows


def _entry(generation: int) -> CachedPull:
    return CachedPull(None, None, generation)  # type: ignore[arg-type] - the cache never looks inside


def test_the_cache_is_a_bounded_lru_and_drops_entries_of_another_generation() -> None:
    cache = PullPlanCache(capacity=2)
    a, b, c = (plan_key(sql, None, {}) for sql in ("A", "B", "C"))
    assert a is not None and b is not None and c is not None
    cache.put(a, _entry(1))
    cache.put(b, _entry(1))
    assert cache.get(a, 1) is not None  # A is now the most recently used
    cache.put(c, _entry(1))
    assert cache.get(b, 1) is None and cache.get(a, 1) is not None and cache.get(c, 1) is not None
    assert cache.get(a, 2) is None and cache.get(a, 1) is None  # stale: dropped
    assert len(cache) == 1


def test_the_key_names_the_text_the_session_variables_and_the_properties() -> None:
    plain = plan_key("SELECT * FROM T WHERE K = ${k};", {"k": "1"}, {})
    assert plain != plan_key("SELECT * FROM T WHERE K = ${k};", {"k": "2"}, {})
    assert plain != plan_key("SELECT * FROM T WHERE K = ${k};", {"k": "1"}, {"ksql.query.pull.table.scan.enabled": False})
    assert plan_key("SELECT 1;", {"k": {"an": "object"}}, {}) is None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("plans") / "data", {"ksql.log.fsync": "never"}).start()
    try:
        yield process
    finally:
        process.kill()


def test_a_dropped_and_recreated_table_is_planned_anew(server: ServerProcess) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM PS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='ps', PARTITIONS=2, VALUE_FORMAT='JSON');"
                     "CREATE SOURCE TABLE PT (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='ps', VALUE_FORMAT='JSON');"
                     "INSERT INTO PS (K, V) VALUES ('a', 1);")
        lookup = "SELECT * FROM PT WHERE K = 'a';"
        assert query_rows(client, lookup) == [["a", 1]]
        assert query_rows(client, lookup) == [["a", 1]]
        ksql(client, "DROP TABLE PT;"
                     "CREATE SOURCE TABLE PT (K STRING PRIMARY KEY, V STRING) WITH (KAFKA_TOPIC='ps', VALUE_FORMAT='JSON');")
        response = client.post("/query", json={"ksql": lookup})
        assert response.json()[0]["header"]["schema"] == "`K` STRING KEY, `V` STRING"
        assert [m["row"]["columns"] for m in response.json() if "row" in m] == [["a", "1"]]
        ksql(client, "DROP TABLE PT;")
        response = client.post("/query", json={"ksql": lookup})
        assert response.status_code == 400 and "PT does not exist" in response.json()["message"]


def test_multi_column_keys_and_in_lists_are_looked_up(server: ServerProcess) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM MS (A INT KEY, B STRING KEY, V INT) WITH (KAFKA_TOPIC='ms', PARTITIONS=3, "
                     "FORMAT='JSON');"
                     "CREATE SOURCE TABLE MT (A INT PRIMARY KEY, B STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='ms', "
                     "FORMAT='JSON');")
        for a, b, v in ((1, "x", 10), (1, "y", 11), (2, "x", 20)):
            ksql(client, f"INSERT INTO MS (A, B, V) VALUES ({a}, '{b}', {v});")
        assert query_rows(client, "SELECT V FROM MT WHERE A = 1 AND B = 'y';") == [[11]]
        assert query_rows(client, "SELECT A, B, V FROM MT WHERE A IN (1, 2) AND B = 'x';") == [[1, "x", 10], [2, "x", 20]]
        assert query_rows(client, "SELECT V FROM MT WHERE A = 3 AND B = 'x';") == []


def test_a_view_never_sees_part_of_a_transaction(tmp_path: Path) -> None:
    inner = MemoryLog()
    txlog = TransactionalLog(inner, "journal")
    for topic in ("a", "b"):
        inner.create_topic(topic)
    seen: list[list[int]] = []
    append = inner.append

    def watching_append(topic: str, partition: int, records: list[Record]) -> list[int]:
        offsets = append(topic, partition, records)
        if topic == "a":  # written, but "b" of the same transaction not yet
            seen.append(txlog.visible_end_offsets("a") + txlog.visible_end_offsets("b"))
        return offsets

    inner.append = watching_append  # type: ignore[method-assign]
    with txlog.transactions():
        txlog.append("a", 0, [Record(b"k", b"1", 0, [])])
        txlog.append("b", 0, [Record(b"k", b"2", 0, [])])
    assert seen == [[0, 0]]
    assert txlog.visible_end_offsets("a") + txlog.visible_end_offsets("b") == [1, 1]


def test_pull_queries_plan_without_the_engine_lock(tmp_path: Path) -> None:
    embedded = KsqlServer(ServerConfig({"state.dir": str(tmp_path / "data"), "ksql.log.fsync": "never"}))
    embedded.start()
    try:
        for stmt in embedded.prepare("CREATE STREAM S (K INT KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                                     "FORMAT='JSON'); CREATE SOURCE TABLE T (K INT PRIMARY KEY, V INT) WITH "
                                     "(KAFKA_TOPIC='s', FORMAT='JSON'); INSERT INTO S (K, V) VALUES (7, 70);"):
            embedded.execute(stmt, {})
        answers: list = []
        with embedded.lock:  # held by "a long statement": the pull query runs in another thread regardless
            thread = threading.Thread(target=lambda: answers.append(
                embedded.pull_query(embedded.prepare("SELECT V FROM T WHERE K = 7;")[0], {}).rows))
            thread.start()
            thread.join(10)
        assert answers == [[[70]]]
    finally:
        embedded.stop()


def test_a_quick_key_lookup_never_waits_for_a_catch_up(tmp_path: Path) -> None:
    embedded = KsqlServer(ServerConfig({"state.dir": str(tmp_path / "data"), "ksql.log.fsync": "never"}))
    embedded.start()
    try:
        for stmt in embedded.prepare("CREATE STREAM S (K INT KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                                     "FORMAT='JSON'); CREATE SOURCE TABLE T (K INT PRIMARY KEY, V INT) WITH "
                                     "(KAFKA_TOPIC='s', FORMAT='JSON'); INSERT INTO S (K, V) VALUES (7, 70);"):
            embedded.execute(stmt, {})
        plan = embedded.plan_pull(embedded.prepare("SELECT V FROM T WHERE K = 7;")[0], {}).plan
        assert plan.run_quick() is None  # the view has not read the topic yet: a worker thread does it
        assert plan.run().rows == [[70]]
        assert plan.view is not None
        with plan.view._lock:  # noqa: SLF001 - a catch-up in progress
            assert plan.run_quick() is None
        result = plan.run_quick()
        assert result is not None and result.rows == [[70]]
    finally:
        embedded.stop()
