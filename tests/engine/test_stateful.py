"""Aggregations, their state across restarts, and pull queries over materialized tables."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import orjson
import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog, Record
from ksql.testing import TestDriver

STREAM = "CREATE STREAM CLICKS (USER STRING KEY, PAGE STRING, MS INT) " \
         "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);"
TABLE = "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N, SUM(MS) AS TOTAL FROM CLICKS GROUP BY USER;"


@pytest.fixture
def driver():
    d = TestDriver()
    d.execute(STREAM)
    d.execute(TABLE)
    yield d
    d.close()


def changelog_rows(driver: TestDriver) -> dict:
    """The table as replaying its topic gives it: key -> last value (tombstones delete)."""
    rows: dict = {}
    for rec in driver.read_output("PER_USER"):
        if rec["value"] is None:
            rows.pop(rec["key"], None)
        else:
            rows[rec["key"]] = rec["value"]
    return rows


def test_count_and_sum_per_key(driver):
    for user, ms in [("ann", 10), ("bob", 5), ("ann", 7)]:
        driver.pipe("clicks", user, {"PAGE": "/", "MS": ms})
    assert [(r["key"], r["value"]) for r in driver.read_output("PER_USER")] == [
        ("ann", {"N": 1, "TOTAL": 10}), ("bob", {"N": 1, "TOTAL": 5}), ("ann", {"N": 2, "TOTAL": 17})]


def test_pull_queries_match_changelog_replay(driver):
    for i in range(30):
        driver.pipe("clicks", f"u{i % 7}", {"PAGE": "/", "MS": i})
    replayed = changelog_rows(driver)

    point = driver.engine.pull_query("SELECT * FROM PER_USER WHERE USER = 'u3';")
    assert [tuple(r) for r in point.rows] == [("u3", replayed["u3"]["N"], replayed["u3"]["TOTAL"])]
    assert point.schema == "`USER` STRING KEY, `N` BIGINT, `TOTAL` INTEGER"

    in_range = driver.engine.pull_query("SELECT USER, TOTAL FROM PER_USER WHERE TOTAL >= 60 AND N > 1;")
    expected = {u for u, v in replayed.items() if v["TOTAL"] >= 60 and v["N"] > 1}
    assert {r[0] for r in in_range.rows} == expected and expected

    scan = driver.engine.pull_query("SELECT * FROM PER_USER;")
    assert {r[0]: {"N": r[1], "TOTAL": r[2]} for r in scan.rows} == replayed

    limited = driver.engine.pull_query("SELECT * FROM PER_USER LIMIT 2;")
    assert len(limited.rows) == 2


def test_windowed_aggregation_and_pull_by_window_bounds():
    d = TestDriver()
    d.execute(STREAM)
    d.execute("CREATE TABLE PER_MINUTE AS SELECT USER, COUNT(*) AS N FROM CLICKS "
              "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY USER;")
    for ts in (1_000, 2_000, 61_000):
        d.pipe("clicks", "ann", {"PAGE": "/", "MS": 1}, timestamp=ts)
    out = d.read_output("PER_MINUTE")
    assert [(r["value"]["N"], r["window"]["start"]) for r in out] == [(1, 0), (2, 0), (1, 60_000)]
    rows = d.engine.pull_query("SELECT * FROM PER_MINUTE WHERE USER = 'ann' AND WINDOWSTART >= 60000;").rows
    assert rows == [["ann", 60_000, 120_000, 1]]
    d.close()


WORKER = textwrap.dedent("""
    import sys, time
    from ksql.engine.engine import Engine, EngineConfig
    from ksql.engine.log import EmbeddedLog, Record
    log = EmbeddedLog(sys.argv[1], fsync="never")
    engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"}))
    engine.execute(sys.argv[2])
    engine.execute(sys.argv[3])
    query = next(iter(engine.queries.values()))
    while True:
        query.poll(max_records=200)
        print(query.processed, flush=True)
        time.sleep(0.002)
""")


def test_restart_after_kill_rebuilds_exact_aggregates(tmp_path):
    """kill -9 mid-stream; the restarted query counts every input exactly once."""
    data = str(tmp_path)
    log = EmbeddedLog(data, fsync="never")
    Engine(log, EngineConfig()).execute(STREAM)
    for start in range(0, 20_000, 1000):
        log.append("clicks", 0, [Record(f"u{i % 10}".encode(), orjson.dumps({"PAGE": "/", "MS": 1}), i, [])
                                 for i in range(start, start + 1000)])
    log.close()

    proc = subprocess.Popen([sys.executable, "-c", WORKER, data, STREAM, TABLE], stdout=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if int(line) >= 3000:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    log = EmbeddedLog(data, fsync="never")
    engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"}))
    engine.execute(STREAM)
    engine.execute(TABLE)
    engine.run_until_idle()
    counts = {r[0]: r[1] for r in engine.pull_query("SELECT USER, N FROM PER_USER;").rows}
    assert counts == {f"u{i}": 2000 for i in range(10)}
    log.close()


def test_stream_table_join_after_restart_still_sees_the_table(tmp_path):
    """A restarted join rebuilds its table side from what it had consumed."""
    ddl = ["CREATE TABLE USERS (ID STRING PRIMARY KEY, NAME STRING) "
           "WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON', PARTITIONS=1);",
           "CREATE STREAM VISITS (ID STRING KEY, PAGE STRING) "
           "WITH (KAFKA_TOPIC='visits', VALUE_FORMAT='JSON', PARTITIONS=1);",
           "CREATE STREAM NAMED AS SELECT V.ID, V.PAGE, U.NAME FROM VISITS V JOIN USERS U ON V.ID = U.ID;"]
    props = {"auto.offset.reset": "earliest"}
    log = EmbeddedLog(str(tmp_path), fsync="never")
    engine = Engine(log, EngineConfig(properties=props))
    for sql in ddl:
        engine.execute(sql)
    engine.execute("INSERT INTO USERS (ID, NAME) VALUES ('u1', 'Ann');")
    engine.run_until_idle()
    log.close()

    log = EmbeddedLog(str(tmp_path), fsync="never")
    engine = Engine(log, EngineConfig(properties=props))
    for sql in ddl:
        engine.execute(sql)
    engine.execute("INSERT INTO VISITS (ID, PAGE) VALUES ('u1', '/home');")
    engine.run_until_idle()
    rows = engine.pull_query("SELECT * FROM NAMED;").rows
    assert rows == [["u1", "/home", "Ann"]]
    log.close()
