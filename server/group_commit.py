"""Group commit: concurrent writers share one append (and so one fsync) per partition per round.

With ksql.log.fsync=always every append costs an fsync, so writers appending one
row each (an /inserts-stream client sending a row per chunk, INSERT VALUES requests)
would be held to the disk's fsync rate. Instead a writer encodes its records
without the engine lock, queues them and waits. The first writer to find no round
in progress leads one: under the engine lock it takes everything queued, appends
all the records of each partition in one append, then wakes every writer of the
round with its own offsets or its own error. Writers that queued meanwhile are
led by the first of them in the next round. A writer returns only once its
records are appended as durably as the log's fsync policy makes any append, and
the records of one writer keep their order (the queue is first come, first served).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from ksql.engine.log import Log, Record


class _Write:
    """One writer's records of one topic, and what became of them."""

    def __init__(self, topic: str, records: dict[int, list[Record]]) -> None:
        self.topic = topic
        self.records = records
        self.offsets: dict[int, list[int]] = {}
        self.error: BaseException | None = None
        self.leads = False  # set (with `done`) when this writer is to lead the next round
        self.done = threading.Event()


class GroupCommitter:
    """Appends writers' records in shared rounds; `writing()` gives the log under the engine lock."""

    def __init__(self, writing: Callable[[], AbstractContextManager[Log]]) -> None:
        self._writing = writing
        self._state = threading.Lock()
        self._queue: list[_Write] = []
        self._round_open = False
        self.rounds = 0  # rounds committed (for tests and metrics)

    def queued(self) -> int:
        """How many writes wait for a round."""
        with self._state:
            return len(self._queue)

    def append(self, topic: str, records: dict[int, list[Record]]) -> dict[int, list[int]]:
        """Append `records` (partition -> records in order) to `topic`; returns the offsets per partition.

        Raises what the append raised (LogError, OSError for a full disk, ...) for this writer only;
        if the records span partitions, those of partitions appended before the failing one stay."""
        outcome = self.append_many([(topic, records)])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def append_many(self, writes: list[tuple[str, dict[int, list[Record]]]]
                    ) -> list[dict[int, list[int]] | BaseException]:
        """Several writers' appends (topic, partition -> records), made by one caller in one round: per
        write its offsets per partition, or what its append raised (each write fails on its own)."""
        mine = [_Write(topic, records) for topic, records in writes]
        if not mine:
            return []
        with self._state:
            self._queue.extend(mine)
            lead = not self._round_open
            self._round_open = True
        if not lead:  # queued together, so taken by the same round: done (or leads) are set on all
            mine[0].done.wait()
            lead = mine[0].leads
        if lead:
            self._lead(mine)
        return [write.error if write.error is not None else write.offsets for write in mine]

    def _lead(self, mine: list[_Write]) -> None:
        """Run one round (taking every queued write, `mine` included), then hand the lead on."""
        batch: list[_Write] = []
        try:
            with self._writing() as log:
                with self._state:
                    batch, self._queue = self._queue, []
                self._commit(log, batch)
        except BaseException as err:  # noqa: BLE001 - no engine lock (client gone, shutting down): mine fail
            if not batch:
                with self._state:
                    for write in mine:
                        self._queue.remove(write)
                for write in mine:
                    write.error = err
            else:  # _commit stores errors per write; anything else fails the writes it did not append
                for write in batch:
                    if write.error is None and not write.offsets:
                        write.error = err
        finally:
            if batch:
                self.rounds += 1
            for write in batch:
                if write not in mine:
                    write.done.set()
            self._hand_on()

    def _hand_on(self) -> None:
        """Wake the first queued writer to lead the next round, or close the round."""
        with self._state:
            if not self._queue:
                self._round_open = False
                return
            nxt = self._queue[0]
        nxt.leads = True
        nxt.done.set()

    @staticmethod
    def _commit(log: Log, batch: list[_Write]) -> None:
        """Per partition, one append of every write's records (in queue order); a failed shared
        append is retried write by write, so the failure is told to the writers it concerns."""
        shares: dict[tuple[str, int], list[_Write]] = {}
        for write in batch:
            for partition in write.records:
                shares.setdefault((write.topic, partition), []).append(write)
        for (topic, partition), writes in shares.items():
            writes = [w for w in writes if w.error is None]  # a write stops at its first failure
            if not writes:
                continue
            try:
                offsets = log.append(topic, partition, [r for w in writes for r in w.records[partition]])
            except Exception as err:  # noqa: BLE001 - told to the writer(s) whose records failed
                if len(writes) == 1:
                    writes[0].error = err
                    continue
                for write in writes:
                    try:
                        write.offsets[partition] = log.append(topic, partition, write.records[partition])
                    except Exception as own:  # noqa: BLE001 - this writer's own failure
                        write.error = own
                continue
            start = 0
            for write in writes:
                n = len(write.records[partition])
                write.offsets[partition] = list(offsets[start:start + n])
                start += n
