"""The DuckDB mirror behind table pull queries equals the table's view, and is filled in bulk.

Range and scan predicates read the mirror; key lookups read the view's dict. After upserts, tombstones,
re-inserts and windowed keys the mirror must hold exactly the view's rows (values exact, DECIMAL too), in
the order their keys first appeared, whatever the column names.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from ksql.engine.materialization import TableView
from ksql.engine.pull import PullPlan
from ksql.engine.schema import SchemaColumn
from ksql.types import INTEGER
from tests.engine.test_pull_safety import hostile_names, pull, quoted

BIG = "1234567890123456789012345678.0123456789"  # 38 digits: a DOUBLE would round it


def mirror(view: TableView) -> list[tuple]:
    """The mirror's rows without their row ids, in row id order."""
    return [r[1:] for r in view.db.execute("SELECT * FROM t ORDER BY rid").fetchall()]


def expected_mirror(view: TableView) -> list[tuple]:
    """What the mirror must hold: the view's rows, mirrored columns then window bounds and ROWTIME."""
    slots = [i for i, _ in view.mirrored] + [view.window_slot, view.window_slot + 1, view.n_cols]
    return [tuple(row[s] for s in slots) for row in view.scan()]


@pytest.mark.parametrize("index", range(13))
def test_mirror_equals_the_view_after_upserts_deletes_and_reinserts(driver, tmp_path, index):
    name = hostile_names(tmp_path / "pwned")[index]
    key, dec, num = quoted("k " + name), quoted(name), quoted("n " + name)
    driver.execute(f"CREATE SOURCE TABLE M ({key} STRING PRIMARY KEY, {dec} DECIMAL(38, 10), {num} INT, "
                   "D DOUBLE, B BOOLEAN, L BIGINT, A ARRAY<INT>) WITH (KAFKA_TOPIC='m', FORMAT='JSON');")

    def put(k: str, d: str | None, n: int | None, ts: int) -> None:
        driver.pipe("m", k, {name: d, "n " + name: n, "D": 0.1 * ts, "B": ts % 2 == 0, "L": 2**40 + ts,
                             "A": [ts]}, timestamp=ts)

    for i, k in enumerate("abcd"):
        put(k, BIG if k == "b" else f"{i}.5", i, i)
    view = driver.engine.table_view(driver.engine.metastore.get("M"))
    assert [r[0] for r in pull(driver, f"SELECT {key} FROM M WHERE {num} >= 0;")] == ["a", "b", "c", "d"]
    assert mirror(view) == expected_mirror(view)
    assert mirror(view)[1][1] == Decimal(BIG)

    put("b", "2.25", None, 10)          # update
    driver.pipe("m", "a", None)         # tombstone
    driver.pipe("m", "z", None)         # tombstone of a key never seen
    put("a", "7", 7, 11)                # re-insert: now last
    driver.pipe("m", "c", None)
    put("c", "8", 8, 12)
    put("c", "9", 9, 13)                # re-inserted and updated within one sync
    put("e", None, 5, 14)
    driver.pipe("m", "e", None)         # inserted and deleted within one sync
    put("f", BIG, 6, 15)
    assert pull(driver, f"SELECT {key}, {dec}, {num} FROM M WHERE {dec} IS NOT NULL;") == \
        [["b", Decimal("2.25"), None], ["d", Decimal("3.5"), 3], ["a", Decimal("7"), 7],
         ["c", Decimal("9"), 9], ["f", Decimal(BIG), 6]]
    assert mirror(view) == expected_mirror(view)
    assert pull(driver, f"SELECT {key} FROM M WHERE {dec} = {BIG};") == [["f"]]
    assert pull(driver, f"SELECT {key} FROM M WHERE {dec} = {BIG[:-1]}8;") == []
    assert pull(driver, f"SELECT {key} FROM M WHERE {num} > 0 LIMIT 2;") == [["d"], ["a"]]
    assert pull(driver, f"SELECT {key} FROM M WHERE {key} = 'c';") == [["c"]]
    assert not (tmp_path / "pwned").exists()


def test_mirror_equals_the_view_of_a_windowed_table(driver):
    driver.execute("CREATE SOURCE TABLE W (K STRING PRIMARY KEY, N INT) "
                   "WITH (KAFKA_TOPIC='w', FORMAT='JSON', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 MINUTE');")

    def put(k: str, n: int | None, start: int) -> None:
        driver.pipe("w", k, None if n is None else {"N": n}, window={"start": start, "end": start + 60_000},
                    timestamp=start + 1)

    put("a", 1, 0)
    put("a", 2, 60_000)
    put("b", 3, 0)
    view = driver.engine.table_view(driver.engine.metastore.get("W"))
    assert pull(driver, "SELECT K, WINDOWSTART, N FROM W WHERE N > 0;") == \
        [["a", 0, 1], ["a", 60_000, 2], ["b", 0, 3]]
    put("a", None, 0)      # tombstone of one window of key a
    put("b", 4, 0)
    put("a", 5, 0)         # that window again
    put("b", 6, 120_000)
    assert pull(driver, "SELECT K, WINDOWSTART, N FROM W WHERE WINDOWSTART >= 0;") == \
        [["a", 60_000, 2], ["b", 0, 4], ["a", 0, 5], ["b", 120_000, 6]]
    assert mirror(view) == expected_mirror(view)
    assert pull(driver, "SELECT K, N FROM W WHERE WINDOWEND > 60000 AND N < 6;") == [["a", 2]]


class RecordingConnection:
    """A DuckDB connection that notes the SQL it runs."""

    def __init__(self, db):
        self.db = db
        self.statements: list[str] = []

    def execute(self, sql: str, *args):
        self.statements.append(sql)
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_the_first_range_pull_mirrors_the_view_in_one_batch(driver, monkeypatch):
    driver.execute("CREATE SOURCE TABLE R (K INT PRIMARY KEY, N INT) WITH (KAFKA_TOPIC='r', FORMAT='JSON');")
    for k in range(50):
        driver.pipe("r", k, {"N": k})
    view = driver.engine.table_view(driver.engine.metastore.get("R"))
    recording = RecordingConnection(view.db)
    monkeypatch.setattr(view, "db", recording)
    statements = recording.statements
    assert pull(driver, "SELECT K FROM R WHERE N >= 48;") == [[48], [49]]
    assert [s.split()[0] for s in statements] == ["INSERT", "SELECT"]
    statements.clear()
    for k in range(10):
        driver.pipe("r", k, {"N": 100 + k})
    driver.pipe("r", 20, None)
    assert pull(driver, "SELECT K FROM R WHERE N >= 108;") == [[8], [9]]
    assert [s.split()[0] for s in statements] == ["DELETE", "INSERT", "SELECT"]
    statements.clear()
    assert pull(driver, "SELECT K FROM R WHERE K = 3;") == [[3]]  # key lookups never touch DuckDB
    assert statements == []


def test_limit_fetches_more_candidates_when_the_exact_where_rejects_some():
    batches: list[tuple[int | None, int]] = []
    rows = [(i,) for i in range(5000)]

    def candidates(limit: int | None, after: int) -> list[tuple[int, tuple]]:
        batches.append((limit, after))
        chosen = rows[after + 1:] if limit is None else rows[after + 1:after + 1 + limit]
        return [(r[0], r) for r in chosen]

    def odd_only(batch: list) -> list:
        return [r for r in batch if r[0] % 2]

    plan = PullPlan([SchemaColumn("X", INTEGER, "VALUE")], odd_only, 3, lambda: candidates)
    assert plan.run().rows == [[1], [3], [5]]
    assert batches == [(3, -1), (1000, 2)]
    batches.clear()
    plan.limit = None
    assert len(plan.run().rows) == 2500 and batches == [(None, -1)]


def test_the_engine_does_not_wait_for_a_view_another_thread_is_catching_up(driver):
    driver.execute("CREATE SOURCE TABLE R (K INT PRIMARY KEY, N INT) WITH (KAFKA_TOPIC='r', FORMAT='JSON');")
    driver.execute("CREATE STREAM S (K INT KEY, N INT) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    driver.execute("CREATE STREAM OUT AS SELECT K, N + 1 AS M FROM S;")
    view = driver.engine.table_view(driver.engine.metastore.get("R"))
    driver.pipe("r", 1, {"N": 1})
    done = threading.Event()
    with view._lock:  # a pull query decoding the table's records right now
        worker = threading.Thread(target=lambda: (driver.pipe("s", 5, {"N": 41}), done.set()))
        worker.start()
        worker.join(10)
        assert done.is_set(), "the engine waited for the view's catch-up"
    assert [r["value"] for r in driver.read_output("OUT")] == [{"M": 42}]
    assert pull(driver, "SELECT K FROM R WHERE N > 0;") == [[1]]
