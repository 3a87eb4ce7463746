"""A sink task's dead letter queue, written once per failed record across crashes.

A dead letter is appended (durably) as soon as its record fails, so it is in the queue before any
offset past its record is committed, wherever the sink commits offsets (the consumer group, or
the target database in the transaction of its rows). A crash before that commit makes the
restarted task consume the record again, and fail it again: so the task first reads the dead
letters this connector appended since its last commit, identified by Connect's error context
headers (connector name, and the topic, partition and offset the record was consumed at), and
does not append those again.

How far back to read: at each commit the task records the queue's end offsets (`mark`), and a
record consumed after that commit can only have been dead-lettered after it. The marks live in the
connector runtime's offsets topic, one per connector, queue and task; a task reads from the
lowest mark of its connector (partitions move between tasks when tasks.max changes).

Without errors.deadletterqueue.context.headers.enable the dead letters carry no coordinates: they
are still appended before the offsets that pass them are committed (none is lost), but one
appended between the last commit and a crash is appended again after the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ksql.connect.dead_letter import (
    ERROR_HEADER_CONNECTOR_NAME,
    ERROR_HEADER_ORIG_OFFSET,
    ERROR_HEADER_ORIG_PARTITION,
    ERROR_HEADER_ORIG_TOPIC,
)
from ksql.engine.log import Log, Record, TopicConfig
from ksql.engine.log.partitioner import default_partition

log = logging.getLogger("ksql.connect.errors")

Append = Callable[[Callable[[Log], None]], None]  # runs a write on the log (the runtime's Writer)
Coordinates = tuple[str, int, int]  # (topic, partition, offset) a record was consumed at

_READ_BATCH = 1000


def consumed_at(record: Record, connector: str) -> Coordinates | None:
    """Where the record of a dead letter of `connector` was consumed, from its error context headers."""
    headers: dict[str, bytes] = {}
    for key, value in record.headers or ():
        if value is not None:
            headers[key] = bytes(value)
    try:
        if headers.get(ERROR_HEADER_CONNECTOR_NAME, b"").decode() != connector:
            return None
        return (headers[ERROR_HEADER_ORIG_TOPIC].decode(), int(headers[ERROR_HEADER_ORIG_PARTITION]),
                int(headers[ERROR_HEADER_ORIG_OFFSET]))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def mark_partition(topic: str, task_id: int) -> dict[str, Any]:
    """The source partition (offsets topic key) under which a task's mark of queue `topic` is stored."""
    return {"dead-letter-queue": topic, "task": task_id}


class DeadLetterQueue:
    """The dead letters of one sink task: appended at once, and once (see the module docstring)."""

    def __init__(self, log_: Log, write: Append, topic: str, connector: str, *, identified: bool):
        self.log = log_
        self.write = write
        self.topic = topic
        self.connector = connector
        self.identified = identified  # the dead letters carry the error context headers
        self.appended_since_mark = True  # a task's first commit records a mark
        self._already: set[Coordinates] = set()

    def recover(self, marks: list[Mapping[str, Any]]) -> None:
        """Learn which dead letters the connector appended since the lowest of its `marks` (all from the start
        of the queue without any)."""
        if not self.identified or not self.log.topic_exists(self.topic):
            return
        ends = [m.get("ends") or [] for m in marks]
        for partition in range(self.log.partitions(self.topic)):
            position = self.log.start_offset(self.topic, partition)
            if ends and all(partition < len(e) for e in ends):  # a mark without it: the partition is newer
                position = max(position, min(int(e[partition]) for e in ends))
            while records := self.log.read(self.topic, partition, position, _READ_BATCH):
                position = records[-1].offset + 1
                for record in records:
                    where = consumed_at(record, self.connector)
                    if where is not None:
                        self._already.add(where)
        if self._already:
            log.info("connector %s: %d dead letters were appended before the restart; they are not appended "
                     "again", self.connector, len(self._already))

    def produce(self, topic: str, record: Record) -> None:
        """Append a dead letter durably now, unless it was appended before a restart."""
        where = consumed_at(record, self.connector) if self.identified else None
        if where is not None and where in self._already:
            self._already.discard(where)
            return

        def append(log_: Log) -> None:
            if not log_.topic_exists(topic):
                log_.create_topic(topic, TopicConfig(partitions=1))
            log_.append(topic, default_partition(record.key, log_.partitions(topic)), [record])

        self.write(append)
        self.appended_since_mark = True

    def mark(self, log_: Log) -> dict[str, Any] | None:
        """The queue's end offsets now (the value of the task's mark), or None when nothing changed since the
        last mark; call it inside the write that commits the task's offsets, after the commit."""
        if not self.appended_since_mark:
            return None
        self.appended_since_mark = False
        if not log_.topic_exists(self.topic):
            return {"ends": []}
        return {"ends": [log_.end_offset(self.topic, p) for p in range(log_.partitions(self.topic))]}
