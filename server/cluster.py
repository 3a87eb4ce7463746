"""Which servers form this one's cluster: heartbeats on a shared topic, for /clusterStatus.

On Kafka, every server with the same ksql.service.id appends `{"host", "timeMs"}`
(keyed by its host:port) to the compacted topic `_confluent-ksql-<service id>_heartbeat`
every `ksql.server.heartbeat.interval.ms` and reads everyone's; a server is alive
while its last heartbeat is younger than three intervals (ksqlDB also reports
hosts it lost touch with, as not alive). An embedded server is alone: its data
directory cannot be shared.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ksql.engine.log import Log, LogError, Record, TopicConfig

log = logging.getLogger("ksql.server")

INTERVAL_PROPERTY = "ksql.server.heartbeat.interval.ms"
DEFAULT_INTERVAL_MS = 2000
MISSED_BEATS = 3  # a server silent for this many intervals is reported dead
HISTORY = 1000  # heartbeats read back at start: enough to see every server that beat recently


def heartbeat_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_heartbeat"


@dataclass(frozen=True)
class Member:
    host: str
    last_heartbeat_ms: int
    alive: bool


class Heartbeats:
    """Appends this server's heartbeats and follows the others'; `members()` is the cluster as known now.

    `locked` serializes access to the log with the rest of the server."""

    def __init__(self, log_: Log, service_id: str, host: str, interval_ms: int, locked: Callable):
        self.log = log_
        self.topic = heartbeat_topic(service_id)
        self.host = host
        self.interval_ms = interval_ms
        self.locked = locked
        self.last_seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ksql-heartbeat", daemon=True)
        with locked():
            if not log_.topic_exists(self.topic):
                log_.create_topic(self.topic, TopicConfig(partitions=1, cleanup_policy="compact"))
            self.position = max(log_.start_offset(self.topic, 0), log_.end_offset(self.topic, 0) - HISTORY)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def beat(self) -> None:
        """Append this server's heartbeat, then read every heartbeat appended since the last call."""
        now = int(time.time() * 1000)
        value = orjson.dumps({"host": self.host, "timeMs": now})
        with self.locked():
            self.log.append(self.topic, 0, [Record(self.host.encode(), value, now, [])])
            while records := self.log.read(self.topic, 0, self.position, 1000):
                for record in records:
                    self._seen(record)
                self.position = records[-1].offset + 1

    def _seen(self, record: Record) -> None:
        try:
            doc = orjson.loads(record.value or b"")
            host, time_ms = str(doc["host"]), int(doc["timeMs"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("unreadable heartbeat at offset %d of %s skipped", record.offset, self.topic)
            return
        self.last_seen[host] = max(time_ms, self.last_seen.get(host, 0))

    def members(self) -> list[Member]:
        now = int(time.time() * 1000)
        return [Member(host, seen, now - seen < MISSED_BEATS * self.interval_ms)
                for host, seen in sorted(self.last_seen.items())]

    def _run(self) -> None:
        while not self._stop.wait(self.interval_ms / 1000):
            try:
                self.beat()
            except (LogError, OSError) as err:
                log.warning("heartbeat failed: %s", err)
