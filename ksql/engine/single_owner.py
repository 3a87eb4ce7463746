"""Queries whose state spans every input partition, on a cluster of servers sharing Kafka.

A join keeps its state in memory for all partitions at once, so on Kafka it runs
on one server at a time: the one the query's consumer group gives partition 0
of its first source. The others stand by; when the owner goes away, the group
hands partition 0 to another server, which rebuilds the query's state (a join
replays the input it had consumed) and carries on from the committed offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ksql.engine.log import Ownership

RUNNING, TERMINATED = "RUNNING", "TERMINATED"


class SingleOwner:
    """Runs the wrapped query only while this server owns partition 0 of `topic` in its group."""

    def __init__(self, query: Any, rebuild: Callable[[], Any], ownership: Ownership, topic: str):
        self.inner = query
        self.rebuild = rebuild
        self.ownership = ownership
        self.topic = topic
        self.active = False
        self.state = RUNNING

    def poll(self) -> int:
        if self.state != RUNNING:
            return 0
        gained, lost = self.ownership.changes()
        if (self.topic, 0) in lost:
            self.active = False
        if (self.topic, 0) in gained:
            self.inner = self.rebuild()  # state as the last owner left it, from the committed input
            self.active = True
        return self.inner.poll() if self.active else 0

    def recover(self) -> None:
        """After a failed poll: the query's state rebuilt from the committed input."""
        if self.active:
            self.inner = self.rebuild()

    def terminate(self, drop_state: bool = True) -> None:
        self.state = TERMINATED
        self.inner.state = TERMINATED
        self.ownership.close()

    def __getattr__(self, name: str) -> Any:  # query_id, sql, sink, plan, lag(), ... of the query
        return getattr(self.inner, name)
