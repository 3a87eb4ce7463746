"""Kafka transactions on the embedded log: which records are a transaction's, and its outcome.

Kafka clients write transactions: records of a producer id that only count once the
producer's transaction coordinator writes a commit marker (a control record) into each
partition the transaction touched; an abort marker makes them void. The embedded log
stores those records like any other; this index says, per partition:

- the open transactions (producer id -> first offset): the last stable offset (LSO) is the
  first offset of the oldest one, and read_committed readers stop there;
- the aborted transactions (producer id, first offset, marker offset) and the offsets of
  their records, which read_committed readers skip;
- the offset of every marker (producer id, epoch, commit or abort), which no reader sees as
  a record: Kafka consumers get it as a control batch, the engine never.

It also keeps, for the transaction coordinator, the state of each transactional id
(`coordinator_state`): one opaque JSON document per id, so both survive a crash together.

Durability: everything goes into one journal file, a JSON document per line, fsynced
before the records it describes are appended (the log calls `intend_*` under the
partition's lock, so the offsets it names are exact). On open, entries naming offsets at or
past a partition's end (the append never happened) are dropped. The journal is rewritten
compactly on open: committed transactions leave only their markers.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_log = logging.getLogger(__name__)

JOURNAL = "transactions.jsonl"
ABORT, COMMIT = 0, 1  # control record types


@dataclass(frozen=True)
class Marker:
    offset: int
    producer_id: int
    producer_epoch: int
    commit: bool


@dataclass
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the abort marker's offset
    ranges: list[tuple[int, int]]  # [start, end) of its records


@dataclass
class _Partition:
    open: dict[int, int] = field(default_factory=dict)  # producer id -> first offset of its open txn
    open_ranges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # pid -> [(start, end)]
    aborted: list[AbortedTxn] = field(default_factory=list)  # by last_offset
    hidden: list[tuple[int, int]] = field(default_factory=list)  # sorted [start, end): aborted data, markers
    markers: dict[int, Marker] = field(default_factory=dict)
    marker_offsets: list[int] = field(default_factory=list)  # sorted
    aborted_last: list[int] = field(default_factory=list)  # the aborted transactions' last offsets, sorted

    def hide(self, start: int, end: int) -> None:
        bisect.insort(self.hidden, (start, end))

    def add_aborted(self, txn: AbortedTxn) -> None:
        i = bisect.bisect_right(self.aborted_last, txn.last_offset)
        self.aborted.insert(i, txn)
        self.aborted_last.insert(i, txn.last_offset)


class TransactionIndex:
    """The transactions of one log directory (see the module docstring)."""

    def __init__(self, root: str, sync: bool) -> None:
        self.path = os.path.join(root, JOURNAL)
        self._sync = sync
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, int], _Partition] = {}
        self.coordinator_state: dict[str, dict] = {}
        self._fd: int | None = None

    # ---------------------------------------------------------------- open / journal

    def load(self, end_offset: Callable[[str, int], int | None]) -> None:
        """Replay the journal (`end_offset` of a partition, None if it no longer exists), then
        rewrite it compactly."""
        entries: list[dict] = []
        try:
            with open(self.path, "rb") as f:
                for n, line in enumerate(f, 1):
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        _log.warning("%s: line %d is torn (a crash mid-write?): ignored", self.path, n)
        except FileNotFoundError:
            pass
        for entry in entries:
            kind = entry.get("e")
            if kind == "state":
                self.coordinator_state[entry["id"]] = entry["doc"]
                continue
            tp = (entry["t"], entry["p"])
            end = end_offset(*tp)
            if end is None:
                continue
            if kind == "data" and entry["base"] + entry["n"] <= end:
                self._add_data(tp, entry["pid"], entry["base"], entry["n"])
            elif kind == "marker" and entry["offset"] < end:
                self._add_marker(tp, Marker(entry["offset"], entry["pid"], entry["epoch"], entry["commit"]))
            elif kind == "aborted":  # from a compacted journal
                part = self._parts.setdefault(tp, _Partition())
                ranges = [(start, stop) for start, stop in entry["ranges"] if stop <= end]
                part.add_aborted(AbortedTxn(entry["pid"], entry["first"], entry["last"], ranges))
                for start, stop in ranges:
                    part.hide(start, stop)
        self._rewrite()

    def _compact_entries(self) -> Iterator[dict]:
        for tid, doc in sorted(self.coordinator_state.items()):
            yield {"e": "state", "id": tid, "doc": doc}
        for (topic, partition), part in sorted(self._parts.items()):
            for txn in part.aborted:
                yield {"e": "aborted", "t": topic, "p": partition, "pid": txn.producer_id,
                       "first": txn.first_offset, "last": txn.last_offset, "ranges": txn.ranges}
            for pid, ranges in part.open_ranges.items():
                for start, stop in ranges:
                    yield {"e": "data", "t": topic, "p": partition, "pid": pid, "base": start, "n": stop - start}
            for m in part.markers.values():
                yield {"e": "marker", "t": topic, "p": partition, "pid": m.producer_id, "epoch": m.producer_epoch,
                       "offset": m.offset, "commit": m.commit}

    def _rewrite(self) -> None:
        self.close()
        tmp = self.path + ".tmp"
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self._compact_entries()).encode()
        with open(tmp, "wb") as f:
            f.write(data)
            if self._sync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)
        if self._sync:
            fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _write(self, entry: dict) -> None:
        """Append one entry durably (before what it describes happens)."""
        if self._fd is None:
            raise OSError(f"{self.path} is not open")
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]
        if self._sync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ---------------------------------------------------------------- writes (the log calls these)

    def intend_data(self, topic: str, partition: int, producer_id: int, base: int, count: int) -> None:
        """Records [base, base+count) of `producer_id`'s open transaction are about to be appended."""
        with self._lock:
            self._write({"e": "data", "t": topic, "p": partition, "pid": producer_id, "base": base, "n": count})
            self._add_data((topic, partition), producer_id, base, count)

    def intend_marker(self, topic: str, partition: int, marker: Marker) -> None:
        """The control record `marker` is about to be appended at marker.offset: the transaction ends."""
        with self._lock:
            self._write({"e": "marker", "t": topic, "p": partition, "pid": marker.producer_id,
                         "epoch": marker.producer_epoch, "offset": marker.offset, "commit": marker.commit})
            self._add_marker((topic, partition), marker)

    def forget(self, base: int, topic: str, partition: int, count: int) -> None:
        """An intended append failed: nothing was written at [base, base+count)."""
        with self._lock:
            part = self._parts.get((topic, partition))
            if part is None:
                return
            for pid, ranges in list(part.open_ranges.items()):
                if (base, base + count) in ranges:
                    ranges.remove((base, base + count))
                    if not ranges:
                        del part.open_ranges[pid]
                        del part.open[pid]
            if part.markers.pop(base, None) is not None:
                part.marker_offsets.remove(base)
            if (base, base + count) in part.hidden:
                part.hidden.remove((base, base + count))

    def _add_data(self, tp: tuple[str, int], pid: int, base: int, count: int) -> None:
        part = self._parts.setdefault(tp, _Partition())
        part.open.setdefault(pid, base)
        part.open_ranges.setdefault(pid, []).append((base, base + count))

    def _add_marker(self, tp: tuple[str, int], marker: Marker) -> None:
        part = self._parts.setdefault(tp, _Partition())
        part.markers[marker.offset] = marker
        bisect.insort(part.marker_offsets, marker.offset)
        part.hide(marker.offset, marker.offset + 1)
        pid = marker.producer_id
        first = part.open.pop(pid, None)
        ranges = part.open_ranges.pop(pid, [])
        if not marker.commit and first is not None:
            part.add_aborted(AbortedTxn(pid, first, marker.offset, ranges))
            for start, stop in ranges:
                part.hide(start, stop)

    def set_coordinator_state(self, transactional_id: str, doc: dict) -> None:
        """Durably record the coordinator's state of one transactional id."""
        with self._lock:
            self._write({"e": "state", "id": transactional_id, "doc": doc})
            self.coordinator_state[transactional_id] = doc

    # ---------------------------------------------------------------- reads

    def active(self, topic: str, partition: int) -> bool:
        """Whether the partition ever had transactional records (else reads need no filtering)."""
        return (topic, partition) in self._parts

    def stable_end(self, topic: str, partition: int, end: int) -> int:
        """The last stable offset: readers of committed data stop before the oldest open transaction."""
        part = self._parts.get((topic, partition))
        if part is None or not part.open:
            return end
        return min(end, min(part.open.values()))

    def first_open(self, topic: str, partition: int, producer_id: int) -> int | None:
        part = self._parts.get((topic, partition))
        return None if part is None else part.open.get(producer_id)

    def hidden_ranges(self, topic: str, partition: int, start: int, end: int) -> list[tuple[int, int]]:
        """The [start, end) ranges of offsets within [start, end) that committed readers skip."""
        part = self._parts.get((topic, partition))
        if part is None:
            return []
        hidden = part.hidden
        i = bisect.bisect_left(hidden, (start, start))
        if i > 0 and hidden[i - 1][1] > start:
            i -= 1
        out = []
        while i < len(hidden) and hidden[i][0] < end:
            out.append(hidden[i])
            i += 1
        return out

    def aborted(self, topic: str, partition: int, start: int, end: int) -> list[AbortedTxn]:
        """The aborted transactions with records in [start, end) (Fetch's aborted_transactions)."""
        part = self._parts.get((topic, partition))
        if part is None:
            return []
        i = bisect.bisect_left(part.aborted_last, start)
        return [t for t in part.aborted[i:] if t.first_offset < end]

    def aborted_ranges(self, topic: str, partition: int, start: int,
                       end: int) -> list[tuple[int, int, int]]:
        """(producer id, first, end) of the aborted transactions' records within [start, end), so a
        Fetch can put them in batches of their producer, marked transactional."""
        part = self._parts.get((topic, partition))
        if part is None:
            return []
        out = []
        for t in self.aborted(topic, partition, start, end):
            out += [(t.producer_id, r_start, r_end) for r_start, r_end in t.ranges if r_end > start and r_start < end]
        return sorted(out, key=lambda r: r[1])

    def markers(self, topic: str, partition: int, start: int, end: int) -> list[Marker]:
        part = self._parts.get((topic, partition))
        if part is None:
            return []
        offsets = part.marker_offsets
        return [part.markers[o] for o in offsets[bisect.bisect_left(offsets, start):bisect.bisect_left(offsets, end)]]

    def open_transactions(self, topic: str, partition: int) -> dict[int, int]:
        part = self._parts.get((topic, partition))
        return dict(part.open) if part is not None else {}

    def drop_topic(self, topic: str) -> None:
        """A deleted topic's transactions are gone with it (a topic of that name starts afresh)."""
        with self._lock:
            gone = [tp for tp in self._parts if tp[0] == topic]
            for tp in gone:
                del self._parts[tp]
            if gone:
                self._rewrite()
