"""Kafka transactions in the embedded log: committed readers see committed records only."""

from __future__ import annotations

import json

from ksql.engine.log import EmbeddedLog, Record, RecordBatch, TopicConfig


def batch(*values: str) -> RecordBatch:
    return RecordBatch([None] * len(values), [v.encode() for v in values], [1] * len(values),
                       [()] * len(values))


def values(records) -> list[str]:
    if isinstance(records, RecordBatch):
        return [v.decode() for v in records.values]
    return [r.value.decode() for r in records]


def open_log(path) -> EmbeddedLog:
    return EmbeddedLog(str(path), fsync="never")


def test_open_transaction_holds_readers_at_the_last_stable_offset(tmp_path):
    with open_log(tmp_path / "log") as log:
        log.create_topic("t")
        log.append("t", 0, [Record(None, b"before", 1)])
        assert log.append_transactional("t", 0, batch("t1", "t2"), producer_id=7) == range(1, 3)
        log.append("t", 0, [Record(None, b"after", 1)])
        assert values(log.read("t", 0, 0)) == ["before"]
        assert values(log.read_batch("t", 0, 0)) == ["before"]
        assert values(log.read("t", 0, 0, committed_only=False)) == ["before", "t1", "t2", "after"]
        assert log.txn_index.stable_end("t", 0, log.end_offset("t", 0)) == 1
        marker = log.append_marker("t", 0, 7, 0, commit=True)
        assert marker == 4
        assert values(log.read("t", 0, 0)) == ["before", "t1", "t2", "after"]
        got = log.read_batch("t", 0, 0)
        assert values(got) == ["before", "t1", "t2", "after"] and list(got.offsets) == [0, 1, 2, 3]
        assert [m.commit for m in log.txn_index.markers("t", 0, 0, 10)] == [True]
        assert log.txn_index.aborted("t", 0, 0, 10) == []


def test_aborted_records_and_markers_are_skipped(tmp_path):
    with open_log(tmp_path / "log") as log:
        log.create_topic("t", TopicConfig(partitions=2))
        log.append_transactional("t", 1, batch("a1"), producer_id=3)
        log.append("t", 1, [Record(None, b"plain", 1)])
        log.append_transactional("t", 1, batch("a2", "a3"), producer_id=3)
        log.append_marker("t", 1, 3, 0, commit=False)
        log.append_transactional("t", 1, batch("c1"), producer_id=3)
        log.append_marker("t", 1, 3, 0, commit=True)
        got = log.read_batch("t", 1, 0)
        assert values(got) == ["plain", "c1"] and list(got.offsets) == [1, 5]
        assert values(log.read("t", 1, 2)) == ["c1"]  # reads on past the hidden records
        assert values(log.read("t", 1, 0, max_records=1)) == ["plain"]
        [aborted] = log.txn_index.aborted("t", 1, 0, 10)
        assert (aborted.producer_id, aborted.first_offset, aborted.last_offset) == (3, 0, 4)
        assert log.txn_index.aborted_ranges("t", 1, 0, 10) == [(3, 0, 1), (3, 2, 4)]
        assert log.read("t", 0, 0) == []  # another partition is not affected


def test_transactions_survive_reopen_and_unwritten_intents_are_dropped(tmp_path):
    root = tmp_path / "log"
    with open_log(root) as log:
        log.create_topic("t")
        log.append_transactional("t", 0, batch("x"), producer_id=1)
        log.append_marker("t", 0, 1, 0, commit=False)
        log.append_transactional("t", 0, batch("open"), producer_id=2)
        log.append("t", 0, [Record(None, b"late", 1)])
        log.txn_index.set_coordinator_state("tx-a", {"pid": 2, "state": "Ongoing"})
        end = log.end_offset("t", 0)
    # a write-ahead entry whose append never happened (a crash in between)
    with open(root / "transactions.jsonl", "a") as f:
        f.write(json.dumps({"e": "data", "t": "t", "p": 0, "pid": 9, "base": end, "n": 5}) + "\n")
        f.write('{"e": "data", "t"')  # torn last line
    with open_log(root) as log:
        assert len(log.read("t", 0, 0, committed_only=False)) == 4  # x, its marker, open, late
        assert log.txn_index.open_transactions("t", 0) == {2: 2}
        assert log.txn_index.coordinator_state == {"tx-a": {"pid": 2, "state": "Ongoing"}}
        assert log.read("t", 0, 0) == []  # held at the open transaction; "x" was aborted
        log.append_marker("t", 0, 2, 0, commit=False)
        assert values(log.read("t", 0, 0)) == ["late"]
    with open_log(root) as log:
        assert values(log.read("t", 0, 0)) == ["late"]
        assert [a.producer_id for a in log.txn_index.aborted("t", 0, 0, 10)] == [1, 2]


def test_deleted_topic_forgets_its_transactions(tmp_path):
    root = tmp_path / "log"
    with open_log(root) as log:
        log.create_topic("t")
        log.append_transactional("t", 0, batch("x"), producer_id=1)
        log.delete_topic("t")
        log.create_topic("t")
        log.append("t", 0, [Record(None, b"new", 1)])
        assert values(log.read("t", 0, 0)) == ["new"]
    with open_log(root) as log:
        assert values(log.read("t", 0, 0)) == ["new"]
