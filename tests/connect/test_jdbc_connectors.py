"""The JDBC connectors as the runtime drives them: by Connect class name, validation, task configs,
source tasks resuming from their context's offsets, sink tasks reporting errant records."""

from __future__ import annotations

import threading

import pytest

from ksql.connect import data
from ksql.connect.api import SinkRecord, SinkTaskContext, SourceTaskContext
from ksql.connect.jdbc_dialect import DatabaseError
from ksql.connect.plugins import default_plugins
from tests.connect.jdbc_helpers import execute, table_rows, unique_table


class Offsets(SourceTaskContext):
    def __init__(self, committed: dict):
        self.committed = committed

    def offset(self, partition):
        return self.committed.get(tuple(sorted(partition.items())))


class Sink(SinkTaskContext):
    def __init__(self):
        self.errant: list = []

    def assignment(self):
        return []

    def offset(self, offsets):
        pass

    def request_commit(self):
        pass

    def report(self, record, error):
        self.errant.append((record, str(error)))


def test_connectors_are_found_by_confluent_class_name_and_alias():
    plugins = default_plugins()
    assert plugins.get("io.confluent.connect.jdbc.JdbcSourceConnector").type == "source"
    assert plugins.get("JdbcSinkConnector").type == "sink"


def test_validation_names_the_bad_property(tmp_path):
    source = default_plugins().get("JdbcSource")()
    url = f"jdbc:sqlite:{tmp_path / 'v.db'}"
    assert "mode" in source.validate({"connection.url": url})
    assert source.validate({"connection.url": url, "mode": "incrementing"}) == {
        "incrementing.column.name": ["mode=incrementing needs incrementing.column.name"]}
    assert source.validate({"connection.url": url, "mode": "bulk"}) == {}
    sink = default_plugins().get("JdbcSink")()
    assert list(sink.validate({"connection.url": url, "delete.enabled": "true"})) == ["delete.enabled"]
    assert list(sink.validate({"connection.url": "jdbc:oracle:thin:@x"})) == ["connection.url"]


def test_source_tables_are_shared_among_tasks(tmp_path):
    source = default_plugins().get("JdbcSource")()
    source.start({"connection.url": f"jdbc:sqlite:{tmp_path / 's.db'}", "mode": "bulk", "table.whitelist": "a,b,c"})
    assert [c["table.whitelist"] for c in source.task_configs(2)] == ["a,c", "b"]
    assert len(source.task_configs(1)) == 1


def test_source_task_resumes_from_committed_offsets(db_url):
    table = unique_table("task")
    execute(db_url, f'CREATE TABLE "{table}" ("id" INTEGER PRIMARY KEY, "v" TEXT)')
    for i in (1, 2, 3):
        execute(db_url, f'INSERT INTO "{table}" VALUES (?, ?)', (i, f"v{i}"))
    connector = default_plugins().get("JdbcSourceConnector")()
    config = {"connection.url": db_url, "mode": "incrementing", "incrementing.column.name": "id",
              "table.whitelist": table, "topic.prefix": "db-", "poll.interval.ms": "0"}
    connector.start(config)
    task = connector.task_class()()
    task.initialize(Offsets({(("table", table),): {"incrementing": 1}}))
    task.start(connector.task_configs(1)[0])
    records = task.poll()
    task.stop()
    assert [r.value["id"] for r in records] == [2, 3]
    assert records[0].topic == f"db-{table}" and records[-1].source_partition == {"table": table}
    assert records[-1].source_offset == {"incrementing": 3}
    assert records[0].value_schema.type == "struct" and records[0].key is None


def test_sink_task_writes_and_reports_errant_records(db_url):
    topic = unique_table("sinktask")
    connector = default_plugins().get("JdbcSink")()
    connector.start({"connection.url": db_url, "insert.mode": "upsert", "pk.mode": "record_key",
                     "pk.fields": "ID", "auto.create": "true"})
    task = connector.task_class()()
    context = Sink()
    task.initialize(context)
    task.start(connector.task_configs(1)[0])
    schema = data.struct([("V", data.OPTIONAL_STRING)])
    task.put([SinkRecord(topic, 0, None, 1, schema, {"V": "a"}, kafka_offset=0),
              SinkRecord(topic, 0, None, 2, None, "not a row", kafka_offset=1),
              SinkRecord(topic, 0, None, 1, schema, {"V": "b"}, kafka_offset=2)])
    task.flush({})
    task.stop()
    assert table_rows(db_url, topic, "ID") == [(1, "b")]
    assert [(r.kafka_offset, "needs a struct" in e) for r, e in context.errant] == [(1, True)]


def test_sink_retries_a_batch_while_the_database_is_unreachable(tmp_path):
    missing = tmp_path / "later"  # SQLite cannot open a file in a directory that does not exist yet
    url = f"jdbc:sqlite:{missing / 'db.sqlite'}"
    connector = default_plugins().get("JdbcSink")()
    connector.start({"connection.url": url, "pk.mode": "record_key", "pk.fields": "ID", "auto.create": "true",
                     "max.retries": "50", "retry.backoff.ms": "20"})
    task = connector.task_class()()
    context = Sink()
    task.initialize(context)
    task.start(connector.task_configs(1)[0])
    bad = SinkRecord("t", 0, None, 9, None, "not a row", kafka_offset=0)
    good = SinkRecord("t", 0, None, 1, data.struct([("V", data.OPTIONAL_STRING)]), {"V": "a"}, kafka_offset=1)
    timer = threading.Timer(0.2, missing.mkdir)
    timer.start()
    task.put([bad, good])
    timer.join()
    task.stop()
    assert table_rows(url, "t", "ID") == [(1, "a")]
    assert [r.kafka_offset for r, _ in context.errant] == [0]  # reported once, not once per attempt


def test_sink_gives_up_after_max_retries(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'never' / 'db.sqlite'}"
    task = default_plugins().get("JdbcSink")().task_class()()
    task.initialize(Sink())
    task.start({"connection.url": url, "auto.create": "true", "max.retries": "2", "retry.backoff.ms": "1"})
    with pytest.raises(DatabaseError, match="Cannot open SQLite database"):
        task.put([SinkRecord("t", 0, None, 1, None, {"V": 1}, kafka_offset=0)])


def test_source_task_tries_again_after_a_failed_poll(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'later' / 'db.sqlite'}"
    task = default_plugins().get("JdbcSource")().task_class()()
    task.initialize(Offsets({}))
    task.start({"connection.url": url, "mode": "incrementing", "incrementing.column.name": "id",
                "table.whitelist": "t", "poll.interval.ms": "0", "connection.attempts": "3",
                "connection.backoff.ms": "0"})
    assert task.poll() == [] and task.poll() == []  # two failed attempts
    (tmp_path / "later").mkdir()
    execute(url, 'CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)')
    execute(url, 'INSERT INTO "t" VALUES (?)', (1,))
    assert [r.value for r in task.poll()] == [{"id": 1}]
    task.stop()
    never = default_plugins().get("JdbcSource")().task_class()()
    never.initialize(Offsets({}))
    never.start({"connection.url": f"jdbc:sqlite:{tmp_path / 'never' / 'db.sqlite'}", "mode": "bulk",
                 "table.whitelist": "t", "poll.interval.ms": "0", "connection.attempts": "3",
                 "connection.backoff.ms": "0"})
    assert never.poll() == [] and never.poll() == []
    with pytest.raises(DatabaseError):
        never.poll()  # the third failure in a row fails the task
    never.stop()
