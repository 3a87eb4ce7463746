"""Connectors in a real server, end to end: datagen -> stream -> CTAS -> JDBC sink upserting into a real
PostgreSQL, with exact rows after a kill -9 of the server; a dead letter queue receives the bad records
of a sink with their reasons in Connect's headers; a JDBC sink inserting into PostgreSQL or SQLite,
killed mid-work, writes each record once and each bad one to its dead letter queue once."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx

from tests.connect.jdbc_helpers import execute
from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

RECORDS = 2000
LINES = 6000


def converged(check, what: str, timeout: float = 90.0):
    """Wait (bounded) until check() gives a truthy value; that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _pg_rows(url: str, table: str) -> list[tuple]:
    try:
        return execute(url, f'SELECT "USERID", "VIEWS", "LAST_VIEW" FROM "{table}" ORDER BY "USERID"')
    except Exception:  # noqa: BLE001 - the table does not exist until the sink's first write
        return []


def _viewtimes(c: httpx.Client) -> list[int]:
    """Every record of the PAGEVIEWS stream (a pull query over a stream reads its whole topic)."""
    return [v for [v] in query_rows(c, "SELECT VIEWTIME FROM PAGEVIEWS;")]


def test_datagen_to_postgres_upserts_exact_rows_after_kill_9(tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "data"
    table = f"views_{tmp_path.name[-8:].lower()}"
    server = ServerProcess(data).start()
    with server.client(timeout=30) as c:
        ksql(c, """
            CREATE STREAM PAGEVIEWS (VIEWTIME BIGINT, USERID STRING, PAGEID STRING)
                WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=1);
            CREATE TABLE VIEWS_PER_USER AS
                SELECT USERID, COUNT(*) AS VIEWS, MAX(VIEWTIME) AS LAST_VIEW FROM PAGEVIEWS GROUP BY USERID;
        """)
        ksql(c, f"""
            CREATE SINK CONNECTOR PG_VIEWS WITH (
                'connector.class'='io.confluent.connect.jdbc.JdbcSinkConnector',
                'connection.url'='{postgres_url}', 'connection.user'='ksql',
                'topics'='VIEWS_PER_USER', 'table.name.format'='{table}',
                'insert.mode'='upsert', 'pk.mode'='record_key', 'pk.fields'='USERID', 'auto.create'='true');
            CREATE SOURCE CONNECTOR PAGEVIEW_GEN WITH (
                'connector.class'='DatagenConnector', 'kafka.topic'='pageviews', 'quickstart'='pageviews',
                'messages.per.second'='500', 'iterations'='{RECORDS}', 'random.seed'='17');
        """)
        converged(lambda: _pg_rows(postgres_url, table), "the first rows in PostgreSQL")
    server.kill()  # SIGKILL while datagen, the aggregation and the sink are all mid-flight

    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client(timeout=30) as c:
            converged(lambda: len(_viewtimes(c)) >= RECORDS, "datagen's records")
            wait_idle(c)
            expected = sorted(tuple(r) for r in query_rows(c, "SELECT USERID, VIEWS, LAST_VIEW FROM VIEWS_PER_USER;"))
            assert sum(views for _, views, _ in expected) == RECORDS  # datagen neither lost nor repeated one
            viewtimes = _viewtimes(c)
            assert len(viewtimes) == len(set(viewtimes)) == RECORDS
            converged(lambda: _pg_rows(postgres_url, table) == expected, "PostgreSQL to hold the table's rows")
            status = c.get("/connectors/PG_VIEWS/status").json()
            assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "RUNNING"
    finally:
        server.kill()


def test_dead_letter_queue_receives_bad_records_with_their_reasons(tmp_path: Path, postgres_url: str) -> None:
    table = f"orders_{tmp_path.name[-8:].lower()}"
    server = ServerProcess(tmp_path / "data").start()
    try:
        with server.client(timeout=30) as c:
            ksql(c, """
                CREATE STREAM RAW (ID STRING KEY, LINE STRING) WITH (KAFKA_TOPIC='raw', VALUE_FORMAT='KAFKA',
                    PARTITIONS=1);
                CREATE STREAM DLQ (ID STRING KEY, LINE STRING, H ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS)
                    WITH (KAFKA_TOPIC='orders_dlq', VALUE_FORMAT='KAFKA', PARTITIONS=1);
                INSERT INTO RAW (ID, LINE) VALUES ('1', '{"ID": 1, "ITEM": "tea"}');
                INSERT INTO RAW (ID, LINE) VALUES ('2', '{"ID": 2, "ITEM": ');
                INSERT INTO RAW (ID, LINE) VALUES ('3', '{"ID": 3, "ITEM": "jam"}');
                INSERT INTO RAW (ID, LINE) VALUES ('4', '"just a string"');
            """)
            ksql(c, f"""
                CREATE SINK CONNECTOR PG_ORDERS WITH (
                    'connector.class'='JdbcSinkConnector', 'connection.url'='{postgres_url}',
                    'topics'='raw', 'table.name.format'='{table}', 'insert.mode'='upsert',
                    'pk.mode'='record_value', 'pk.fields'='ID', 'auto.create'='true',
                    'errors.tolerance'='all', 'errors.deadletterqueue.topic.name'='orders_dlq',
                    'errors.deadletterqueue.context.headers.enable'='true');
            """)
            dead = converged(lambda: len(rows := query_rows(c, "SELECT ID, LINE, H FROM DLQ LIMIT 2;")) == 2 and rows,
                             "two dead letters")
            assert execute(postgres_url, f'SELECT "ID", "ITEM" FROM "{table}" ORDER BY "ID"') == [
                (1, "tea"), (3, "jam")]
    finally:
        server.kill()
    by_key = {key: (line, {h["KEY"]: base64.b64decode(h["VALUE"]).decode() for h in headers})
              for key, line, headers in dead}
    line, headers = by_key["2"]
    assert line == '{"ID": 2, "ITEM": '
    assert headers["__connect.errors.stage"] == "VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == "org.apache.kafka.connect.json.JsonConverter"
    assert headers["__connect.errors.topic"] == "raw" and headers["__connect.errors.offset"] == "1"
    assert "serialization error" in headers["__connect.errors.exception.message"]
    line, headers = by_key["4"]
    assert headers["__connect.errors.stage"] == "TASK_PUT"
    assert "needs a struct" in headers["__connect.errors.exception.message"]


def _ids(url: str, table: str) -> list[int]:
    try:
        return [i for (i,) in execute(url, f'SELECT "ID" FROM "{table}" ORDER BY "ID"')]
    except Exception:  # noqa: BLE001 - the table does not exist until the sink's first write
        return []


def _line(i: int) -> str:
    """Line i of the RAW stream: a row, or every 100th (+99) one that is not JSON, every 100th (+42) no row."""
    if i % 100 == 99:
        return f'{{"ID": {i}, "ITEM": '
    if i % 100 == 42:
        return f'"no row {i}"'
    return json.dumps({"ID": i, "ITEM": f"item {i}"})


def test_a_sink_killed_mid_work_writes_each_record_once_and_each_bad_one_to_the_dlq_once(
        tmp_path: Path, db_url: str) -> None:
    data = tmp_path / "data"
    table = f"raw_{tmp_path.name[-8:].lower()}"
    good = [i for i in range(LINES) if i % 100 not in (42, 99)]
    bad = sorted([(str(i), "VALUE_CONVERTER") for i in range(99, LINES, 100)] +
                 [(str(i), "TASK_PUT") for i in range(42, LINES, 100)])
    # the first server never commits its consumer offsets before it is killed: every row it wrote is past them
    server = ServerProcess(data, properties={"offset.flush.interval.ms": "600000"}).start()
    with server.client(timeout=60) as c:
        ksql(c, """
            CREATE STREAM RAW (ID STRING KEY, LINE STRING) WITH (KAFKA_TOPIC='raw', VALUE_FORMAT='KAFKA',
                PARTITIONS=2);
            CREATE STREAM DLQ (ID STRING KEY, LINE STRING, H ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS)
                WITH (KAFKA_TOPIC='raw_dlq', VALUE_FORMAT='KAFKA', PARTITIONS=1);
        """)
        lines = [json.dumps({"target": "RAW"})] + [json.dumps({"ID": str(i), "LINE": _line(i)}) for i in range(LINES)]
        acks = c.post("/inserts-stream", content="\n".join(lines) + "\n").text.splitlines()
        assert len(acks) == LINES and all(json.loads(a)["status"] == "ok" for a in acks)
        ksql(c, f"""
            CREATE SINK CONNECTOR RAW_ROWS WITH (
                'connector.class'='JdbcSinkConnector', 'connection.url'='{db_url}', 'topics'='raw',
                'table.name.format'='{table}', 'insert.mode'='insert', 'auto.create'='true', 'batch.size'='200',
                'errors.tolerance'='all', 'errors.deadletterqueue.topic.name'='raw_dlq',
                'errors.deadletterqueue.context.headers.enable'='true');
        """)
        converged(lambda: _ids(db_url, table), "the first rows")
    server.kill()  # SIGKILL while the sink writes (its first batches are in, at least)

    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client(timeout=30) as c:
            converged(lambda: _ids(db_url, table) == good, "each good record once in the table")
            dead = converged(lambda: len(rows := query_rows(c, "SELECT ID, H FROM DLQ;")) >= len(bad) and rows,
                             "the dead letters")
            time.sleep(2)  # past the next offset commits: nothing more arrives
            assert _ids(db_url, table) == good
            assert len(query_rows(c, "SELECT ID FROM DLQ;")) == len(bad)
    finally:
        server.kill()
    reasons = sorted((key, {h["KEY"]: base64.b64decode(h["VALUE"]).decode() for h in headers})
                     for key, headers in dead)
    assert [(key, h["__connect.errors.stage"]) for key, h in reasons] == bad
    for key, headers in reasons:
        assert headers["__connect.errors.topic"] == "raw" and headers["__connect.errors.connector.name"] == "RAW_ROWS"
        reason = headers["__connect.errors.exception.message"]
        assert ("serialization error" in reason) if int(key) % 100 == 99 else ("needs a struct" in reason)
