"""TransactionalLog: a query's appends and its commit are one transaction, rolled forward after a crash."""

from __future__ import annotations

import logging
import struct

import orjson
import pytest

from ksql.engine.log import MemoryLog, Record, TopicConfig
from server.txlog import TransactionalLog

JOURNAL = "_journal"


def _journal_entry(doc: dict, rows: bytes) -> bytes:
    header = orjson.dumps(doc)
    return struct.pack("<I", len(header)) + header + rows


class Crash(Exception):
    """The process dies here."""


class CrashingLog(MemoryLog):
    """A MemoryLog that 'dies' on the n-th append to a topic (the append does not happen)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_on: tuple[str, int] | None = None
        self.crash_commit = False

    def append(self, topic, partition, records):
        if self.crash_on is not None and self.crash_on[0] == topic:
            remaining = self.crash_on[1]
            if remaining == 0:
                self.crash_on = None
                raise Crash()
            self.crash_on = (topic, remaining - 1)
        return super().append(topic, partition, records)

    def commit(self, group, offsets):
        if self.crash_commit:
            self.crash_commit = False
            raise Crash()
        super().commit(group, offsets)


def _values(log, topic: str, partition: int = 0) -> list[bytes]:
    return [r.value for r in log.read(topic, partition, 0, 1000)]


@pytest.fixture
def inner() -> CrashingLog:
    log = CrashingLog()
    log.create_topic("in", TopicConfig(partitions=1))
    log.append("in", 0, [Record(None, b"input", 1, [])] * 10)  # what the queries below consume
    log.create_topic("out", TopicConfig(partitions=2))
    return log


def _poll(tx: TransactionalLog, values: list[bytes], offset: int) -> None:
    """What a query's poll does: append output to two partitions, then commit its input offset."""
    with tx.transactions():
        tx.append("out", 0, [Record(None, v, 1, []) for v in values])
        tx.append("out", 1, [Record(None, v + b"!", 1, []) for v in values])
        assert _values(tx, "out") == [] or True  # held until the commit
        tx.commit("g", {("in", 0): offset})


def test_appends_and_commits_are_held_until_the_flush(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    with tx.transactions():
        offsets = tx.append("out", 0, [Record(None, b"a", 1, [])])
        tx.commit("g", {("in", 0): 1})
        assert offsets == [0] and _values(inner, "out") == [] and inner.committed("g", "in", 0) is None
        assert tx.committed("g", "in", 0) == 1  # the thread sees its own commit
        tx.flush()
        assert _values(inner, "out") == [b"a"] and inner.committed("g", "in", 0) == 1


def test_a_commit_without_appends_is_a_plain_commit(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    with tx.transactions():
        tx.commit("g", {("in", 0): 5})
    assert inner.committed("g", "in", 0) == 5 and inner.end_offset(JOURNAL, 0) == 0


def test_appends_outside_transactions_and_leftovers_are_written_directly(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    tx.append("out", 0, [Record(None, b"direct", 1, [])])
    with tx.transactions():
        tx.append("out", 0, [Record(None, b"leftover", 1, [])])
    assert _values(inner, "out") == [b"direct", b"leftover"]


@pytest.mark.parametrize("crash", ["first output", "second output", "commit"])
def test_a_crash_inside_a_transaction_is_rolled_forward_exactly_once(inner: CrashingLog, crash: str) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    _poll(tx, [b"1", b"2"], 2)
    if crash == "commit":
        inner.crash_commit = True
    else:
        inner.crash_on = ("out", 0 if crash == "first output" else 1)
    with pytest.raises(Crash):
        _poll(tx, [b"3"], 3)
    for _ in range(2):  # restart, twice: recovery is idempotent
        TransactionalLog(inner, JOURNAL)
        assert _values(inner, "out", 0) == [b"1", b"2", b"3"]
        assert _values(inner, "out", 1) == [b"1!", b"2!", b"3!"]
        assert inner.committed("g", "in", 0) == 3


def test_a_crash_before_the_journal_loses_the_uncommitted_batch_only(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    _poll(tx, [b"1"], 1)
    inner.crash_on = (JOURNAL, 0)
    with pytest.raises(Crash):
        _poll(tx, [b"2"], 2)
    TransactionalLog(inner, JOURNAL)
    assert _values(inner, "out") == [b"1"] and inner.committed("g", "in", 0) == 1  # reprocessed later


def test_headers_keys_and_nulls_survive_the_journal(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    record = Record(b"k", None, 42, [("h", b"v"), ("n", None)])
    inner.crash_on = ("out", 0)
    with pytest.raises(Crash), tx.transactions():
        tx.append("out", 0, [record])
        tx.commit("g", {("in", 0): 1})
    TransactionalLog(inner, JOURNAL)
    [got] = inner.read("out", 0, 0, 10)
    assert (got.key, got.value, got.timestamp, list(got.headers)) == (b"k", None, 42, [("h", b"v"), ("n", None)])


def test_rollback_drops_a_failed_querys_output_only(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    with tx.transactions():
        tx.append("out", 0, [Record(None, b"failed", 1, [])])
        tx.commit("g1", {("in", 0): 9})
        tx.rollback()  # that query raised
        tx.append("out", 0, [Record(None, b"next", 1, [])])
        tx.commit("g2", {("in", 0): 1})
    assert _values(inner, "out") == [b"next"] and inner.committed("g1", "in", 0) is None


def test_several_groups_commit_in_one_transaction(inner: CrashingLog) -> None:
    """A join commits one consumer group per input: all of them or none, with the output."""
    tx = TransactionalLog(inner, JOURNAL)
    inner.crash_commit = True  # dies committing the first group
    with pytest.raises(Crash), tx.transactions():
        tx.append("out", 0, [Record(None, b"joined", 1, [])])
        tx.commit("left", {("in", 0): 4})
        tx.commit("right", {("in", 0): 7})
    TransactionalLog(inner, JOURNAL)
    assert _values(inner, "out") == [b"joined"]
    assert (inner.committed("left", "in", 0), inner.committed("right", "in", 0)) == (4, 7)


def _journal_record(doc: object, blob: bytes = b"") -> bytes:
    """A journal record as flush() lays it out: header length, JSON header, then the record blobs."""
    text = orjson.dumps(doc)
    return struct.pack("<I", len(text)) + text + blob


@pytest.mark.parametrize("value", [
    None, b"", b"\x00", b"\x80\x04\x95junk", b"\xff\xff\xff\xff{}", _journal_record({"x": 1}),
    _journal_record([1, 2]), _journal_record({"appends": [["out", 0, 0, 5]], "commits": []}),
    _journal_record({"appends": [["out", 0, 0, 1]], "commits": []}, b"\x00" * 18 + b"\xff\xff"),
    _journal_record({"appends": [["out", "0", 0, 1]], "commits": []}),
    _journal_record({"appends": [], "commits": [["g", [["in", 0, "9"]]]]}),
    _journal_record({"appends": [], "commits": []}, b"trailing"),
], ids=lambda v: repr(v)[:40])
def test_a_journal_record_it_did_not_write_is_reported_and_not_applied(inner: CrashingLog, value, caplog) -> None:
    """The journal is a topic anyone could write to: junk as its last record must not stop a start."""
    tx = TransactionalLog(inner, JOURNAL)
    _poll(tx, [b"1"], 1)
    inner.append(JOURNAL, 0, [Record(None, value, 0, [])])
    with caplog.at_level("ERROR", logger="ksql.server.txlog"):
        TransactionalLog(inner, JOURNAL)
    assert _values(inner, "out") == [b"1"] and inner.committed("g", "in", 0) == 1
    assert "is not a transaction this server wrote" in caplog.text


def test_a_journal_entry_for_a_partition_that_does_not_exist_is_skipped(inner: CrashingLog) -> None:
    TransactionalLog(inner, JOURNAL)
    inner.append(JOURNAL, 0, [Record(None, _journal_record(
        {"appends": [], "commits": [["g", [["in", 7, 3], ["in", 0, 2]]]]}), 0, [])])
    TransactionalLog(inner, JOURNAL)
    assert inner.committed("g", "in", 0) == 2


def test_recovery_never_commits_past_the_end_of_a_partition(inner: CrashingLog) -> None:
    """A torn tail cut the input after the journal's last transaction committed beyond it."""
    tx = TransactionalLog(inner, JOURNAL)
    _poll(tx, [b"1"], 15)  # the input had 15 records then; 5 of them were lost with a torn tail
    inner.commit("g", {("in", 0): 10})  # what the log's open did with the committed offset
    TransactionalLog(inner, JOURNAL)
    assert inner.committed("g", "in", 0) == 10


@pytest.mark.parametrize("value", [
    b"", b"\x05\x00", struct.pack("<I", 1000) + b"{}", struct.pack("<I", 2) + b"[]",
    struct.pack("<I", 5) + b"\xff\xfe\xfd\xfc\xfb", struct.pack("<I", 200_002) + b"[" * 100_001 + b"]" * 100_001,
    struct.pack("<I", 2) + b"{}", _journal_entry({"commits": [], "appends": [["out", 0, 0, 3]]}, b"\x01" * 10),
    _journal_entry({"commits": [["g", [["in", 0]]]], "appends": []}, b""),
    _journal_entry({"commits": [5], "appends": []}, b""), _journal_entry({"commits": [], "appends": [7]}, b""),
    _journal_entry({"commits": [], "appends": [["out", 0, 0, 1]]},
                   struct.pack("<qiiH", 1, -1, -1, 1) + struct.pack("<Hi", 2, -1) + b"\xff\xff"),
])
def test_an_undecodable_journal_entry_is_reported_and_skipped(inner: CrashingLog, caplog, value: bytes) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    _poll(tx, [b"1"], 1)
    inner.append(JOURNAL, 0, [Record(None, value, 1, [])])
    with caplog.at_level(logging.ERROR):
        TransactionalLog(inner, JOURNAL)
    assert _values(inner, "out") == [b"1"] and inner.committed("g", "in", 0) == 1
    [report] = [r.getMessage() for r in caplog.records if r.name == "ksql.server.txlog"]
    assert JOURNAL in report and "offset 1" in report, report


def test_a_flush_failing_after_the_journal_is_finished_before_the_next_write(inner: CrashingLog) -> None:
    """The transaction is decided once journaled: a later write (an insert) must not take its offsets."""
    tx = TransactionalLog(inner, JOURNAL)
    inner.crash_on = ("out", 1)  # out/0 is written, out/1 fails
    with pytest.raises(Crash):
        _poll(tx, [b"a"], 1)
    tx.append("out", 1, [Record(None, b"insert", 1, [])])
    assert _values(inner, "out", 0) == [b"a"] and _values(inner, "out", 1) == [b"a!", b"insert"]
    assert inner.committed("g", "in", 0) == 1


def test_commits_of_several_groups_are_journaled_even_without_output(inner: CrashingLog) -> None:
    tx = TransactionalLog(inner, JOURNAL)
    inner.crash_commit = True  # the first group's commit fails
    with pytest.raises(Crash):
        with tx.transactions():
            tx.commit("g1", {("in", 0): 3})
            tx.commit("g2", {("in", 0): 4})
    tx.finish()
    assert inner.committed("g1", "in", 0) == 3 and inner.committed("g2", "in", 0) == 4
