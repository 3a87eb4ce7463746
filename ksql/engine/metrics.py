"""Throughput counters of a persistent query, and the figures derived from them.

A query updates its QueryMetrics once per polled batch (records and bytes read, records and bytes
written, how long the poll took), never per record. Everything else (rates, lag, processing errors,
the ksqlDB statistics strings of DESCRIBE EXTENDED) is computed when someone asks: at a /metrics
scrape or a DESCRIBE, off the hot path.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

# upper bounds (seconds) of the poll-latency histogram's buckets (+Inf is the last)
POLL_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                                   5.0, 10.0)
RATE_WINDOW_S = 60.0  # messages-per-sec is the rate over about the last minute
_SAMPLE_EVERY_S = 1.0


def batch_bytes(keys: Sequence[bytes | None], values: Sequence[bytes | None]) -> int:
    """The key and value bytes of a batch (one C-level pass per column, no Python loop per record)."""
    return sum(map(len, filter(None, keys))) + sum(map(len, filter(None, values)))


@dataclass
class QueryMetrics:
    """What one persistent query has read, written and how long its polls took."""

    records_in: int = 0
    bytes_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    last_in_ms: int | None = None
    last_out_ms: int | None = None
    poll_buckets: list[int] = field(default_factory=lambda: [0] * (len(POLL_BUCKETS) + 1))
    poll_seconds: float = 0.0
    polls: int = 0
    # (monotonic time, records_in, records_out) about once a second, for the rates
    samples: deque = field(default_factory=lambda: deque(maxlen=int(RATE_WINDOW_S / _SAMPLE_EVERY_S) + 1))

    def read(self, records: int, nbytes: int) -> None:
        self._sample()  # the counts before this batch, so a rate counts it
        self.records_in += records
        self.bytes_in += nbytes
        self.last_in_ms = int(time.time() * 1000)

    def wrote(self, records: int, nbytes: int) -> None:
        self.records_out += records
        self.bytes_out += nbytes
        self.last_out_ms = int(time.time() * 1000)

    def polled(self, seconds: float) -> None:
        """A poll that read records took `seconds`."""
        self.poll_buckets[bisect_left(POLL_BUCKETS, seconds)] += 1
        self.poll_seconds += seconds
        self.polls += 1

    def _sample(self) -> None:
        now = time.monotonic()
        if not self.samples or now - self.samples[-1][0] >= _SAMPLE_EVERY_S:
            self.samples.append((now, self.records_in, self.records_out))

    def rates(self) -> tuple[float, float]:
        """(records in, records out) per second over the last RATE_WINDOW_S."""
        now = time.monotonic()
        recent = [s for s in self.samples if now - s[0] <= RATE_WINDOW_S]
        if not recent:
            return 0.0, 0.0
        t0, in0, out0 = recent[0]
        elapsed = max(now - t0, _SAMPLE_EVERY_S)
        return (self.records_in - in0) / elapsed, (self.records_out - out0) / elapsed

    def cumulative_buckets(self) -> list[tuple[str, int]]:
        """The poll-latency histogram as Prometheus wants it: (le, polls at or under it), +Inf last."""
        out, running = [], 0
        for bound, count in zip([*map(str, POLL_BUCKETS), "+Inf"], self.poll_buckets, strict=True):
            running += count
            out.append((bound, running))
        return out


# --- ksqlDB's statistics strings -----------------------------------------------------------------

def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_stats(stats: Iterable[tuple[str, float]], last_name: str, last_ms: int | None) -> str:
    """ksqlDB's format (MetricCollectors.format): each `name:` and its value, then the time of the last
    event; "" when there is nothing to say."""
    parts = [f"{name:>16}:{value:>10.2f}" if isinstance(value, float) else f"{name:>16}:{value:>10}"
             for name, value in stats]
    if not parts:
        return ""
    if last_ms is not None:
        parts.append(f"{last_name + ':':>16} {_timestamp(last_ms)}")
    return " ".join(parts).strip()


@dataclass
class TopicTraffic:
    """A source's traffic through the persistent queries that read and write it."""

    consumed: int = 0
    consumed_bytes: int = 0
    consumed_rate: float = 0.0
    last_consumed_ms: int | None = None
    produced: int = 0
    produced_rate: float = 0.0
    last_produced_ms: int | None = None
    failed: int = 0
    last_failed_ms: int | None = None
    readers: int = 0
    writers: int = 0

    def statistics(self) -> str:
        """DESCRIBE EXTENDED's `statistics`: what queries consumed from and produced to the source."""
        stats: list[tuple[str, float]] = []
        if self.readers:
            stats += [("consumer-messages-per-sec", self.consumed_rate),
                      ("consumer-total-bytes", self.consumed_bytes), ("consumer-total-messages", self.consumed)]
        if self.writers:
            stats += [("messages-per-sec", self.produced_rate), ("total-messages", self.produced)]
        last = max((t for t in (self.last_consumed_ms, self.last_produced_ms) if t is not None), default=None)
        return format_stats(stats, "last-message", last)

    def error_stats(self) -> str:
        """DESCRIBE EXTENDED's `errorStats`: the records the reading queries could not process."""
        if not self.readers:
            return ""
        return format_stats([("consumer-failed-messages", self.failed)], "last-failed", self.last_failed_ms)


def latest(*times: int | None) -> int | None:
    return max((t for t in times if t is not None), default=None)
