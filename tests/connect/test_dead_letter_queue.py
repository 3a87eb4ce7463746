"""Exactly once across a crash, in the connector runtime: a JDBC sink in insert mode writes each good
record once and its dead letter queue holds each bad record once, when the process died after the
rows and dead letters were written but before the consumer group's commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ksql.connect.dead_letter import (
    ERROR_HEADER_CONNECTOR_NAME,
    ERROR_HEADER_ORIG_OFFSET,
    ERROR_HEADER_ORIG_PARTITION,
    ERROR_HEADER_ORIG_TOPIC,
    ERROR_HEADER_STAGE,
)
from ksql.connect.dead_letter_queue import DeadLetterQueue
from ksql.connect.runtime import ConnectRuntime, direct_writer
from ksql.engine.log import Log, Record, TopicConfig, open_log
from tests.connect.jdbc_helpers import execute, unique_table
from tests.connect.test_jdbc_runtime import all_records, wait_until

RECORDS = 600


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    log_ = open_log(str(tmp_path / "log"), fsync="never")
    yield log_
    log_.close()


def line(i: int) -> bytes:
    """Record i's value: a row, or every 50th a value that is not JSON, every 50th (+25) one that is no row."""
    if i % 50 == 49:
        return b'{"ID": %d, "ITEM": ' % i
    if i % 50 == 24:
        return b'"just a string"'
    return orjson.dumps({"ID": i, "ITEM": f"item {i}"})


def append(log_: Log, topic: str, numbers: range) -> None:
    for i in numbers:
        log_.append(topic, i % 2, [Record(str(i).encode(), line(i), 1000 + i, [])])


def sink_config(db_url: str, table: str, topic: str) -> dict[str, str]:
    return {"connector.class": "JdbcSinkConnector", "connection.url": db_url, "topics": topic,
            "table.name.format": table, "insert.mode": "insert", "auto.create": "true", "tasks.max": "2",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": f"{topic}-dlq",
            "errors.deadletterqueue.context.headers.enable": "true"}


def dead_letters(log_: Log, topic: str) -> list[tuple[int, str]]:
    """(number, stage) of each dead letter."""
    return sorted((int(r.key), dict(r.headers)[ERROR_HEADER_STAGE].decode()) for r in all_records(log_, topic))


def ids(db_url: str, table: str) -> list[int]:
    try:
        return [i for (i,) in execute(db_url, f'SELECT "ID" FROM "{table}" ORDER BY "ID"')]
    except Exception:  # noqa: BLE001 - the table does not exist before the sink's first write
        return []


def consumed(log_: Log, topic: str) -> bool:
    """Whether the sink's consumer group committed the end of every partition."""
    return all(log_.committed("connect-eo-sink", topic, p) == log_.end_offset(topic, p)
               for p in range(log_.partitions(topic)))


def crash(runtime: ConnectRuntime) -> None:
    """Stop the runtime as a process death would: no commit of consumer offsets after what it wrote."""
    runtime._commit_sink = lambda *args, **kwargs: None  # type: ignore[method-assign]
    runtime.close()


def test_a_crash_before_the_commit_neither_repeats_rows_nor_dead_letters(db_url, log):
    topic = unique_table("eo")
    log.create_topic(topic, TopicConfig(partitions=2))
    append(log, topic, range(RECORDS // 2))
    good = [i for i in range(RECORDS) if i % 50 not in (24, 49)]
    bad = sorted([(i, "VALUE_CONVERTER") for i in range(49, RECORDS, 50)] +
                 [(i, "TASK_PUT") for i in range(24, RECORDS, 50)])
    first = ConnectRuntime(log, flush_interval_ms=50)
    first.create("eo-sink", sink_config(db_url, topic, topic))
    try:  # a first part commits normally, so the restart starts past it
        wait_until(lambda: ids(db_url, topic) == good[:len(good) // 2], "the first half of the rows")
        wait_until(lambda: len(dead_letters(log, f"{topic}-dlq")) == len(bad) // 2, "the first dead letters")
        wait_until(lambda: consumed(log, topic), "the commit of the first half")
        first._commit_sink = lambda *args, **kwargs: None  # from here on the process dies before it commits
        append(log, topic, range(RECORDS // 2, RECORDS))
        wait_until(lambda: ids(db_url, topic) == good, "every row")
        wait_until(lambda: len(dead_letters(log, f"{topic}-dlq")) == len(bad), "every dead letter")
    finally:
        crash(first)

    restarted = ConnectRuntime(log, flush_interval_ms=50)
    restarted.create("eo-sink", sink_config(db_url, topic, topic))
    try:
        wait_until(lambda: consumed(log, topic), "the restarted sink to consume everything")
    finally:
        restarted.close()
    assert ids(db_url, topic) == good
    assert dead_letters(log, f"{topic}-dlq") == bad


def test_dead_letters_appended_before_a_restart_are_not_appended_again(log):
    connector, dlq = "c", "dlq"

    def letter(offset: int, name: str = connector) -> Record:
        return Record(b"k", b"v", 0, [(ERROR_HEADER_ORIG_TOPIC, b"in"), (ERROR_HEADER_ORIG_PARTITION, b"0"),
                                      (ERROR_HEADER_ORIG_OFFSET, str(offset).encode()),
                                      (ERROR_HEADER_CONNECTOR_NAME, name.encode())])

    write = direct_writer()
    write.log = log  # type: ignore[attr-defined]
    log.create_topic(dlq, TopicConfig(partitions=1))
    log.append(dlq, 0, [letter(1), letter(2), letter(3, "another connector"), letter(4)])
    queue = DeadLetterQueue(log, write, dlq, connector, identified=True)
    queue.recover([{"ends": [1]}, {"ends": [2]}])  # the task marks: offset 1 of the queue on, offset 2 on
    for offset in (2, 3, 4, 5):
        queue.produce(dlq, letter(offset))
    appended = [int(dict(r.headers)[ERROR_HEADER_ORIG_OFFSET]) for r in log.read(dlq, 0, 4, 100)]
    assert appended == [3, 5]  # 2 and 4 were there (after the lowest mark); 3 only of another connector

    unmarked = DeadLetterQueue(log, write, dlq, connector, identified=True)
    unmarked.recover([])  # no mark: the whole queue is read
    unmarked.produce(dlq, letter(1))
    assert log.end_offset(dlq, 0) == 6


def test_without_context_headers_every_dead_letter_is_appended(log):
    write = direct_writer()
    write.log = log  # type: ignore[attr-defined]
    queue = DeadLetterQueue(log, write, "dlq", "c", identified=False)
    queue.recover([])
    queue.produce("dlq", Record(b"k", b"v", 0, []))
    queue.produce("dlq", Record(b"k", b"v", 0, []))
    assert log.end_offset("dlq", 0) == 2
