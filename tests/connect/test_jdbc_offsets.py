"""The JDBC sink keeps its consumed offsets in the target database, in the transaction of its rows, and a
restarted task resumes from them: each record is written once even when the consumer group's commit
never happened (a crash between the two)."""

from __future__ import annotations

from ksql.connect import data
from ksql.connect.api import SinkRecord, SinkTaskContext
from ksql.connect.jdbc_dialect import DatabaseError
from ksql.connect.jdbc_offsets import OFFSETS_TABLE
from ksql.connect.jdbc_source import JdbcSourceReader
from ksql.connect.plugins import default_plugins
from tests.connect.jdbc_helpers import execute, table_rows, unique_table

SCHEMA = data.struct([("ID", data.primitive("int64", True)), ("V", data.OPTIONAL_STRING)])


class Context(SinkTaskContext):
    """Records what a task asks of the runtime: its rewinds and its errant records."""

    def __init__(self) -> None:
        self.rewinds: dict = {}
        self.errant: list = []

    def assignment(self):
        return []

    def offset(self, offsets):
        self.rewinds.update(offsets)

    def request_commit(self):
        pass

    def report(self, record, error):
        self.errant.append(record.kafka_offset)


def start_task(config: dict) -> tuple:
    task = default_plugins().get("JdbcSink")().task_class()()
    context = Context()
    task.initialize(context)
    task.start(config)
    return task, context


def row(topic: str, offset: int, value, partition: int = 0) -> SinkRecord:
    return SinkRecord(topic, partition, None, None, SCHEMA if isinstance(value, dict) else None, value,
                      kafka_offset=offset)


def stored(url: str, connector: str) -> list[tuple]:
    return execute(url, f'SELECT "topic", "partition", "offset" FROM "{OFFSETS_TABLE}" WHERE "connector" = ? '
                        'ORDER BY "topic", "partition"', (connector,))


def test_rows_and_their_offsets_commit_together_and_a_new_task_resumes_after_them(db_url):
    topic = unique_table("eo")
    config = {"name": f"sink-{topic}", "connection.url": db_url, "insert.mode": "insert", "auto.create": "true",
              "table.name.format": topic}
    task, context = start_task(config)
    assert context.rewinds == {}  # nothing stored yet: the consumer group's offsets rule
    task.put([row(topic, 0, {"ID": 1, "V": "a"}), row(topic, 1, "not a row"), row(topic, 2, {"ID": 2, "V": "b"}),
              row(topic, 7, {"ID": 3, "V": "c"}, partition=1)])
    task.stop()  # no flush(), no commit of the consumer group: as when the process dies here
    assert table_rows(db_url, topic, "ID") == [(1, "a"), (2, "b"), (3, "c")]
    assert context.errant == [1]
    assert stored(db_url, config["name"]) == [(topic, 0, 3), (topic, 1, 8)]

    restarted, context = start_task(config)
    assert context.rewinds == {(topic, 0): 3, (topic, 1): 8}
    other, other_context = start_task({**config, "name": "another-connector"})
    assert other_context.rewinds == {}  # offsets are the connector's own
    restarted.stop()
    other.stop()


def test_a_batch_the_database_refuses_in_part_stores_the_offsets_of_the_whole_batch(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    execute(url, 'CREATE TABLE "t" ("ID" INTEGER PRIMARY KEY, "V" TEXT)')
    task, context = start_task({"name": "s", "connection.url": url, "insert.mode": "insert",
                                "table.name.format": "t"})
    task.put([row("in", 10, {"ID": 1, "V": "a"}), row("in", 11, {"ID": 1, "V": "dup"}),
              row("in", 12, {"ID": 2, "V": "b"}), row("in", 13, {"ID": 2, "V": "dup"})])
    task.stop()
    assert table_rows(url, "t", "ID") == [(1, "a"), (2, "b")]
    assert context.errant == [11, 13]  # refused by the primary key, one by one
    assert stored(url, "s") == [("in", 0, 14)]


def test_flush_stores_the_offsets_of_records_that_wrote_no_row(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    task, context = start_task({"name": "s", "connection.url": url, "auto.create": "true"})
    task.put([row("in", 0, {"ID": 1, "V": "a"})])
    task.flush({("in", 0): 5, ("other", 2): 40})  # offsets 1-4 were dropped before put()
    task.stop()
    assert stored(url, "s") == [("in", 0, 5), ("other", 2, 40)]


def test_a_routed_record_stores_the_offset_of_the_partition_it_was_consumed_from(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    task, _ = start_task({"name": "s", "connection.url": url, "auto.create": "true"})
    routed = SinkRecord("archive", 0, None, None, SCHEMA, {"ID": 1, "V": "a"}, kafka_offset=4,
                        original_topic="orders", original_kafka_partition=3)  # as a RegexRouter leaves it
    task.put([routed])
    task.stop()
    assert table_rows(url, "archive", "ID") == [(1, "a")]
    assert stored(url, "s") == [("orders", 3, 5)]


def test_upsert_and_delete_store_their_offsets_too(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    key = data.primitive("int64")
    task, _ = start_task({"name": "s", "connection.url": url, "auto.create": "true", "insert.mode": "upsert",
                          "pk.mode": "record_key", "pk.fields": "K", "delete.enabled": "true",
                          "table.name.format": "t"})
    value = data.struct([("V", data.OPTIONAL_STRING)])
    task.put([SinkRecord("in", 0, key, 1, value, {"V": "a"}, kafka_offset=0),
              SinkRecord("in", 0, key, 2, value, {"V": "b"}, kafka_offset=1),
              SinkRecord("in", 0, key, 1, None, None, kafka_offset=2)])
    task.stop()
    assert table_rows(url, "t", "K") == [(2, "b")]
    assert stored(url, "s") == [("in", 0, 3)]


def test_a_source_reading_every_table_leaves_the_sinks_offsets_table_alone(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    task, _ = start_task({"name": "s", "connection.url": url, "auto.create": "true", "table.name.format": "t"})
    task.put([row("in", 0, {"ID": 1, "V": "a"})])
    task.stop()
    reader = JdbcSourceReader({"connection.url": url, "mode": "bulk", "topic.prefix": "db_"})
    assert reader.partitions() == [{"table": "t"}]


def test_a_retry_after_rows_were_written_one_by_one_goes_on_after_them(tmp_path):
    url = f"jdbc:sqlite:{tmp_path / 'db.sqlite'}"
    execute(url, 'CREATE TABLE "t" ("ID" INTEGER PRIMARY KEY, "V" TEXT)')
    task, context = start_task({"name": "s", "connection.url": url, "insert.mode": "insert",
                                "table.name.format": "t", "retry.backoff.ms": "1"})
    writer = task._writer
    execute_rows = writer._execute
    statements: list[int] = []

    def connection_drops_once(rows):
        statements.append(len(rows))
        if len(statements) == 4:  # the batch, then rows 10 and 11 alone, then 12: the connection drops
            raise DatabaseError("the connection dropped")
        return execute_rows(rows)

    writer._execute = connection_drops_once
    task.put([row("in", 10, {"ID": 1, "V": "a"}), row("in", 11, {"ID": 1, "V": "dup"}),
              row("in", 12, {"ID": 2, "V": "b"}), row("in", 13, {"ID": 3, "V": "c"})])
    task.stop()
    assert table_rows(url, "t", "ID") == [(1, "a"), (2, "b"), (3, "c")]
    assert context.errant == [11]  # reported once: the retry began after it
    assert stored(url, "s") == [("in", 0, 14)]
