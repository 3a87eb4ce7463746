"""Aggregate state in changelog topics: restored exactly, and nothing foreign in them is ever executed.

Anyone who can produce to a changelog topic can put any bytes there, so a restore
must refuse (and log to the processing log) every record it did not write, and
the state it rebuilds from its own records must still be exact.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import orjson
import pytest

from ksql.engine.aggregate import changelog_topic
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog, Record, TopicConfig

PROPS = {"auto.offset.reset": "earliest"}
STREAM = ("CREATE STREAM CLICKS (USER STRING KEY, PAGE STRING, MS INT) "
          "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);")
TABLE = "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N, SUM(MS) AS TOTAL FROM CLICKS GROUP BY USER;"
CHANGELOG = changelog_topic("default_", "CTAS_PER_USER_1")


class CreatesFile:
    """A pickle payload that, once unpickled, has created the file at `path`."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pipe(log: EmbeddedLog, rows: list[tuple[str, int]]) -> None:
    log.append("clicks", 0, [Record(user.encode(), orjson.dumps({"PAGE": "/", "MS": ms}), i, [])
                             for i, (user, ms) in enumerate(rows)])


def _start(data: Path) -> tuple[EmbeddedLog, Engine]:
    log = EmbeddedLog(str(data), fsync="never")
    engine = Engine(log, EngineConfig(properties=PROPS))
    engine.execute(STREAM)
    engine.execute(TABLE)
    return log, engine


def _totals(engine: Engine) -> dict:
    return {r[0]: (r[1], r[2]) for r in engine.pull_query("SELECT USER, N, TOTAL FROM PER_USER;").rows}


def _foreign_records(marker: Path) -> list[Record]:
    """What a producer to the changelog could write: pickles that create `marker`, junk, plain JSON."""
    exploit = CreatesFile(marker)
    return [
        Record(pickle.dumps(exploit), pickle.dumps(exploit), 0, []),
        Record(pickle.dumps(("C",)), pickle.dumps(exploit), 0, []),
        Record(pickle.dumps(("A", (("ann",), None, None))), pickle.dumps(exploit, protocol=0), 0, []),
        Record(b"\x00\xff garbage", b"\x01\x02", 0, []),
        Record(b'{"USER": "ann"}', b'{"N": 1000}', 0, []),
        Record(b"\x01[\"C\"]", b'\x01{"positions": {"0": 0}}', 0, []),  # our version byte, a foreign shape
        Record(b"\x01[\"A\",[\"ann\"],null,null]", b"\x01[[{\"x\": 1}, 2], true, null, null]", 0, []),
        Record(None, None, 0, []),
    ]


def test_a_crafted_pickle_in_the_changelog_never_runs_and_state_stays_exact(tmp_path, caplog):
    marker = tmp_path / "pwned"
    data = tmp_path / "data"
    log, engine = _start(data)
    _pipe(log, [("ann", 10), ("bob", 5), ("ann", 7)])
    engine.run_until_idle()
    log.append(CHANGELOG, 0, _foreign_records(marker))
    _pipe(log, [("bob", 1)])  # a commit after the foreign records: they sit inside a committed group
    engine.run_until_idle()
    log.close()

    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        log, engine = _start(data)
        engine.run_until_idle()
    assert not marker.exists(), "a pickle payload in the changelog was executed"
    query = engine.queries["CTAS_PER_USER_1"]
    assert query.state == "RUNNING"
    assert _totals(engine) == {"ann": (2, 17), "bob": (2, 6)}
    refusals = [r.getMessage() for r in caplog.records
                if r.name == "ksql.processing" and "refused changelog record" in r.getMessage()]
    assert len(refusals) == len(_foreign_records(marker)), refusals
    assert all(CHANGELOG in message for message in refusals)

    _pipe(log, [("ann", 3)])  # and it goes on counting from where it stood
    engine.run_until_idle()
    assert _totals(engine) == {"ann": (3, 20), "bob": (2, 6)}
    log.close()


def test_a_changelog_that_cannot_be_read_puts_the_query_in_error_not_the_engine(tmp_path, monkeypatch):
    data = tmp_path / "data"
    log, engine = _start(data)
    engine.execute("CREATE TABLE PAGES AS SELECT PAGE, COUNT(*) AS N FROM CLICKS GROUP BY PAGE;")
    _pipe(log, [("ann", 10)])
    engine.run_until_idle()
    log.close()

    from ksql.engine.log import CorruptLogError

    real_read = EmbeddedLog.read

    def read(self, topic, partition, offset, max_records):
        if topic == CHANGELOG:
            raise CorruptLogError(f"{topic}/{partition}: checksum mismatch at offset {offset}")
        return real_read(self, topic, partition, offset, max_records)

    monkeypatch.setattr(EmbeddedLog, "read", read)
    log, engine = _start(data)
    engine.execute("CREATE TABLE PAGES AS SELECT PAGE, COUNT(*) AS N FROM CLICKS GROUP BY PAGE;")
    query = engine.queries["CTAS_PER_USER_1"]
    assert query.state == "ERROR"
    [explained] = engine.execute(f"EXPLAIN {query.query_id};")
    [error] = explained.entity["queryDescription"]["queryErrors"]
    assert error["type"] == "SYSTEM" and "checksum mismatch" in error["errorMessage"]
    assert f"changelog {CHANGELOG} (partition 0, offset 0)" in error["errorMessage"]
    _pipe(log, [("bob", 1)])
    engine.run_until_idle()  # the other query runs on
    assert engine.pull_query("SELECT PAGE, N FROM PAGES;").rows == [["/", 2]]
    assert [q.state for q in engine.queries.values() if q is not query] == ["RUNNING"]

    monkeypatch.setattr(EmbeddedLog, "read", real_read)  # readable again: RESUME restores and goes on
    engine.execute(f"RESUME {query.query_id};")
    engine.run_until_idle()
    assert query.state == "RUNNING"
    [past] = engine.execute(f"EXPLAIN {query.query_id};")[0].entity["queryDescription"]["queryErrors"]
    assert past == error  # EXPLAIN keeps recent errors, as ksqlDB's queue of query errors does
    assert _totals(engine) == {"ann": (1, 10), "bob": (1, 1)}
    log.close()


def test_a_changelog_with_nothing_readable_is_an_error_once_input_was_consumed(tmp_path, caplog):
    """A changelog of only foreign records (as one in an older format would be): with input already
    consumed the state is unknown, so the query stops with the reason; before any input it starts empty."""
    data = tmp_path / "data"
    log, engine = _start(data)
    _pipe(log, [("ann", 10)])
    engine.run_until_idle()
    log.delete_topic(CHANGELOG)
    log.create_topic(CHANGELOG, TopicConfig(partitions=1))
    log.append(CHANGELOG, 0, [Record(pickle.dumps(("C",)), pickle.dumps({"positions": {0: 1}}), 0, [])])
    log.close()

    log, engine = _start(data)
    query = engine.queries["CTAS_PER_USER_1"]
    assert query.state == "ERROR"
    assert "has 1 records and none it can read" in query.error and "Drop and re-create" in query.error
    engine.execute("CREATE TABLE PAGES AS SELECT PAGE, COUNT(*) AS N FROM CLICKS GROUP BY PAGE;")
    engine.run_until_idle()
    assert engine.pull_query("SELECT PAGE, N FROM PAGES;").rows == [["/", 1]]
    log.close()

    fresh = tmp_path / "fresh"
    log = EmbeddedLog(str(fresh), fsync="never")
    Engine(log, EngineConfig(properties=PROPS)).execute(STREAM)
    log.create_topic(CHANGELOG, TopicConfig(partitions=1))
    log.append(CHANGELOG, 0, [Record(b"junk", b"junk", 0, [])])
    _pipe(log, [("ann", 10)])
    log.close()
    log, engine = _start(fresh)
    engine.run_until_idle()
    assert engine.queries["CTAS_PER_USER_1"].state == "RUNNING"
    assert _totals(engine) == {"ann": (1, 10)}
    log.close()


def _start_deferring(data: Path) -> tuple[EmbeddedLog, Engine]:
    """As _start, for an engine whose aggregations are restored where a worker process computes them."""
    log = EmbeddedLog(str(data), fsync="never")
    engine = Engine(log, EngineConfig(properties=PROPS))
    engine.restore_where_computed = True
    engine.execute(STREAM)
    engine.execute(TABLE)
    return log, engine


def test_a_deferred_restore_is_kept_for_a_changelog_with_a_readable_checkpoint_only(tmp_path, caplog):
    """Whether a restore can wait for a worker is decided from the changelog's end: foreign records after
    the last checkpoint still let it wait (nothing decoded here); with no readable checkpoint once input
    was consumed the query is restored here at start, and fails with the reason."""
    data = tmp_path / "data"
    log, engine = _start(data)
    _pipe(log, [("ann", 10), ("bob", 5)])
    engine.run_until_idle()
    log.append(CHANGELOG, 0, _foreign_records(tmp_path / "pwned"))
    log.close()

    log, engine = _start_deferring(data)
    query = engine.queries["CTAS_PER_USER_1"]
    assert query.awaiting_restore and query.state == "RUNNING" and query.processor.state == {}
    assert "refused changelog record" not in caplog.text  # the records are read by the worker, once
    log.delete_topic(CHANGELOG)
    log.create_topic(CHANGELOG, TopicConfig(partitions=1))
    log.append(CHANGELOG, 0, _foreign_records(tmp_path / "pwned"))
    log.close()

    log, engine = _start_deferring(data)
    query = engine.queries["CTAS_PER_USER_1"]
    assert not query.awaiting_restore and query.state == "ERROR"
    assert "has 8 records and none it can read" in query.error
    assert not (tmp_path / "pwned").exists()
    log.close()


@pytest.mark.parametrize("select", [
    "COUNT(*) AS A, SUM(MS) AS B, AVG(MS) AS C, MIN(PAGE) AS D, MAX(MS) AS E",
    "COUNT_DISTINCT(PAGE) AS A, COLLECT_LIST(PAGE) AS B, COLLECT_SET(MS) AS C, HISTOGRAM(PAGE) AS D",
    "TOPK(MS, 2) AS A, TOPKDISTINCT(PAGE, 2) AS B, TOPK(MS, PAGE, 2) AS C",
    "EARLIEST_BY_OFFSET(PAGE) AS A, LATEST_BY_OFFSET(MS, 2) AS B, LATEST_BY_OFFSET(PAGE, false) AS C",
    "STDDEV_SAMP(MS) AS A, STDDEV_POP(CAST(MS AS DOUBLE)) AS B, STDDEV_SAMPLE(MS) AS C, "
    "CORRELATION(MS, CAST(MS AS DOUBLE) * 2) AS D",
    "SUM(CAST(MS AS DECIMAL(10, 2))) AS A, AVG(CAST(MS AS DECIMAL(6, 3))) AS B, "
    "COLLECT_LIST(STRUCT(P := PAGE, M := MAP(PAGE := MS))) AS C, COUNT_DISTINCT(ARRAY[PAGE]) AS D, "
    "COLLECT_SET(TO_BYTES(PAGE, 'utf8')) AS E, SUM(CAST(MS AS DOUBLE) / 0) AS F",
])
@pytest.mark.parametrize("window", ["", "WINDOW TUMBLING (SIZE 10 MILLISECONDS) ",
                                    "WINDOW SESSION (5 MILLISECONDS) "])
def test_every_aggregate_restores_exactly_in_the_middle_of_a_stream(tmp_path, select, window):
    """Half the input, restart, the other half: the same output as one uninterrupted run."""
    table = f"CREATE TABLE AGG AS SELECT USER, {select} FROM CLICKS {window}GROUP BY USER;"
    rows = [(f"u{i % 3}", i % 7) for i in range(40)]
    pages = ["/a", "/b", "/c"]

    def run(data: Path, restart_at: int | None) -> list:
        log = EmbeddedLog(str(data), fsync="never")
        engine = Engine(log, EngineConfig(properties=PROPS))
        engine.execute(STREAM)
        engine.execute(table)
        for i, (user, ms) in enumerate(rows):
            if i == restart_at:
                log.close()
                log = EmbeddedLog(str(data), fsync="never")
                engine = Engine(log, EngineConfig(properties=PROPS))
                engine.execute(STREAM)
                engine.execute(table)
            log.append("clicks", 0, [Record(user.encode(), orjson.dumps({"PAGE": pages[ms % 3], "MS": ms}),
                                            i * 3, [])])
            engine.run_until_idle()
        out = [(r.key, r.value, r.timestamp) for r in log.read("AGG", 0, 0, 10_000)]
        log.close()
        return out

    uninterrupted = run(tmp_path / "once", None)
    assert uninterrupted
    assert run(tmp_path / "twice", 20) == uninterrupted


def test_emit_final_and_table_aggregations_restore_their_pending_rows(tmp_path):
    """Pending EMIT FINAL windows and the rows of a table source survive a restart."""
    ddl = [STREAM,
           "CREATE TABLE FINAL AS SELECT USER, COUNT(*) AS N FROM CLICKS "
           "WINDOW TUMBLING (SIZE 10 MILLISECONDS) GROUP BY USER EMIT FINAL;",
           "CREATE TABLE LATEST AS SELECT USER, LATEST_BY_OFFSET(PAGE) AS PAGE, SUM(MS) AS MS FROM CLICKS "
           "GROUP BY USER;",
           "CREATE TABLE BY_PAGE AS SELECT PAGE, COUNT(*) AS N, SUM(MS) AS MS FROM LATEST GROUP BY PAGE;"]
    rows = [(f"u{i % 4}", i % 5) for i in range(30)]

    def run(data: Path, restart_at: int | None) -> dict:
        log = EmbeddedLog(str(data), fsync="never")
        engine = Engine(log, EngineConfig(properties=PROPS))
        for sql in ddl:
            engine.execute(sql)
        for i, (user, ms) in enumerate(rows):
            if i == restart_at:
                log.close()
                log = EmbeddedLog(str(data), fsync="never")
                engine = Engine(log, EngineConfig(properties=PROPS))
                for sql in ddl:
                    engine.execute(sql)
            log.append("clicks", 0, [Record(user.encode(), orjson.dumps({"PAGE": f"/{ms % 2}", "MS": ms}),
                                            i * 4, [])])
            engine.run_until_idle()
        out = {topic: [(r.key, r.value, r.timestamp) for r in log.read(topic, 0, 0, 10_000)]
               for topic in ("FINAL", "BY_PAGE")}
        log.close()
        return out

    uninterrupted = run(tmp_path / "once", None)
    assert uninterrupted["FINAL"] and uninterrupted["BY_PAGE"]
    assert run(tmp_path / "twice", 13) == uninterrupted
