"""Idempotent producers: producer ids, and per partition the sequence numbers each producer sent.

A producer with enable.idempotence gets an id and epoch from InitProducerId and numbers
its batches per partition. A batch whose sequence range was already appended (a retry
after a lost acknowledgement) is acknowledged again with its original offset rather
than appended twice; a gap or an older epoch is refused, as Kafka does. Kafka keeps the
five most recent batches per producer and partition; so does this. The state lives in
memory, so after a restart a producer's next batch is taken as it comes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from kafka.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError

RECENT_BATCHES = 5


@dataclass
class _Sequences:
    epoch: int
    # (first sequence, last sequence, base offset) of the most recent batches, oldest first
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=RECENT_BATCHES))


class SequenceError(Exception):
    """A batch refused for its producer epoch or sequence; `errno` is the Kafka error code."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


class ProducerIds:
    """Hands out producer ids: unique across restarts (they start from the clock, in ms, times 1000)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = int(time.time() * 1000) * 1000

    def new(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


class ProducerSequences:
    """Sequence numbers per (topic, partition, producer id). Callers serialize check() and appended()
    with the append itself (the broker holds the engine lock around all three)."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, int, int], _Sequences] = {}

    def check(self, topic: str, partition: int, producer_id: int, epoch: int, first: int, last: int
              ) -> int | None:
        """None if the batch is new and in order; the base offset it got if it is a duplicate.
        Raises SequenceError for a fenced epoch or a gap."""
        state = self._state.get((topic, partition, producer_id))
        if state is None:
            return None
        if epoch < state.epoch:
            raise SequenceError(InvalidProducerEpochError.errno,
                                f"producer {producer_id} epoch {epoch} is older than its epoch {state.epoch}")
        if epoch > state.epoch:
            if first != 0:
                raise SequenceError(OutOfOrderSequenceNumberError.errno,
                                    f"producer {producer_id}: a new epoch starts at sequence 0, not {first}")
            return None
        for seen_first, seen_last, base_offset in state.recent:
            if (seen_first, seen_last) == (first, last):
                return base_offset
        expected = state.recent[-1][1] + 1 if state.recent else 0
        if first != expected:
            raise SequenceError(OutOfOrderSequenceNumberError.errno,
                                f"producer {producer_id}: sequence {first} where {expected} was due")
        return None

    def appended(self, topic: str, partition: int, producer_id: int, epoch: int, first: int, last: int,
                 base_offset: int) -> None:
        key = (topic, partition, producer_id)
        state = self._state.get(key)
        if state is None or state.epoch != epoch:
            state = self._state[key] = _Sequences(epoch)
        state.recent.append((first, last, base_offset))

    def forget_topic(self, topic: str) -> None:
        for key in [k for k in self._state if k[0] == topic]:
            del self._state[key]
