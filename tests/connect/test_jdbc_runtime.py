"""The JDBC connectors in the connector runtime: records of a topic upserted into PostgreSQL/SQLite with
bad records in the dead letter queue (with their reasons), and tables read into topics, resuming after a
restart without duplicates."""

from __future__ import annotations

import time

import orjson

from ksql.connect.runtime import ConnectRuntime
from ksql.engine.log import MemoryLog, Record, TopicConfig
from tests.connect.jdbc_helpers import execute, table_rows, unique_table


def wait_until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def all_records(log_, topic: str) -> list[Record]:
    if not log_.topic_exists(topic):
        return []
    out = []
    for p in range(log_.partitions(topic)):
        out += log_.read(topic, p, log_.start_offset(topic, p), 10_000)
    return out


def json_record(key: str, value) -> Record:
    return Record(key.encode(), None if value is None else orjson.dumps(value), 1000, [])


def test_sink_upserts_deletes_and_sends_bad_records_to_the_dlq(db_url):
    topic = unique_table("orders")
    log_ = MemoryLog()
    log_.create_topic(topic, TopicConfig(partitions=1))
    log_.append(topic, 0, [json_record("1", {"ID": 1, "AMOUNT": 10, "ITEM": "a"}),
                           json_record("2", {"ID": 2, "AMOUNT": 20, "ITEM": "b"}),
                           Record(b"3", b"{not json", 1000, [("trace", b"x")]),
                           json_record("1", {"ID": 1, "AMOUNT": 11, "ITEM": "a2"}),
                           json_record("4", {"ID": None, "AMOUNT": 40, "ITEM": "d"}),
                           json_record("2", None),
                           json_record("5", {"ID": 5, "AMOUNT": 50, "ITEM": "e"})])
    runtime = ConnectRuntime(log_)
    runtime.create("pg-sink", {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": db_url,
        "topics": topic, "insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "ID",
        "delete.enabled": "false", "auto.create": "true", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": f"{topic}-dlq",
        "errors.deadletterqueue.context.headers.enable": "true"})
    try:
        dead = wait_until(lambda: len(all_records(log_, f"{topic}-dlq")) == 3 and all_records(log_, f"{topic}-dlq"),
                          "three dead letters")
        assert table_rows(db_url, topic, "ID") == [(1, 11, "a2"), (2, 20, "b"), (5, 50, "e")]
    finally:
        runtime.close()
    reasons = [(r.key, dict(r.headers)["__connect.errors.stage"], dict(r.headers)["__connect.errors.offset"])
               for r in dead]
    assert reasons == [(b"3", b"VALUE_CONVERTER", b"2"), (b"4", b"TASK_PUT", b"4"), (b"2", b"TASK_PUT", b"5")]
    messages = [dict(r.headers)["__connect.errors.exception.message"].decode() for r in dead]
    assert "serialization error" in messages[0]
    assert "primary key field" in messages[1] and "is null" in messages[1]
    assert "delete.enabled=false" in messages[2]
    assert dict(dead[0].headers)["trace"] == b"x" and dead[0].value == b"{not json"


def test_source_reads_a_table_and_resumes_after_a_restart(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'src.db'}"
    execute(url, 'CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT)')
    for i in (1, 2):
        execute(url, 'INSERT INTO "users" VALUES (?, ?)', (i, f"u{i}"))
    log_ = MemoryLog()
    config = {"connector.class": "JdbcSourceConnector", "connection.url": url, "mode": "incrementing",
              "incrementing.column.name": "id", "table.whitelist": "users", "topic.prefix": "db_",
              "poll.interval.ms": "50"}
    runtime = ConnectRuntime(log_)
    runtime.create("sqlite-source", config)
    try:
        wait_until(lambda: len(all_records(log_, "db_users")) == 2, "two rows")
    finally:
        runtime.close()
    execute(url, 'INSERT INTO "users" VALUES (?, ?)', (3, "u3"))
    restarted = ConnectRuntime(log_)
    restarted.create("sqlite-source", config)
    try:
        wait_until(lambda: len(all_records(log_, "db_users")) >= 3, "the third row")
        time.sleep(0.3)  # more polls: nothing read twice
        values = [orjson.loads(r.value) for r in all_records(log_, "db_users")]
    finally:
        restarted.close()
    assert values == [{"id": 1, "name": "u1"}, {"id": 2, "name": "u2"}, {"id": 3, "name": "u3"}]
