"""read_undecoded() hands over the records read_batch() would return, still encoded: decoded, they are the same."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ksql.engine.log import EmbeddedLog, MemoryLog, Record, RecordBatch, TopicConfig


def _same(a: RecordBatch, b: RecordBatch) -> None:
    assert list(a.keys) == list(b.keys) and list(a.values) == list(b.values)
    assert list(a.timestamps) == list(b.timestamps) and list(a.offsets) == list(b.offsets)
    assert [list(h) for h in a.headers] == [list(h) for h in b.headers] and a.partition == b.partition


@pytest.fixture
def log(tmp_path: Path):
    log = EmbeddedLog(str(tmp_path / "log"), fsync="never", segment_bytes=4096)  # several segments
    log.create_topic("t", TopicConfig(partitions=2))
    for start in range(0, 300, 37):  # stored batches of 37 records: reads start and stop inside them
        log.append("t", 1, [Record(None if i % 5 == 0 else b"k%d" % i, None if i % 7 == 0 else b"v" * (i % 13),
                                   1_000 + i, [("h", b"x"), ("n", None)] if i % 11 == 0 else [])
                            for i in range(start, min(start + 37, 300))])
    yield log
    log.close()


@pytest.mark.parametrize("offset", [0, 1, 36, 37, 100, 299, 300])
@pytest.mark.parametrize("max_records", [1, 10, 37, 74, 1000])
def test_decoded_it_is_read_batch(log: EmbeddedLog, offset: int, max_records: int) -> None:
    undecoded = log.read_undecoded("t", 1, offset, max_records)
    expected = log.read_batch("t", 1, offset, max_records)
    assert len(undecoded) == len(expected)
    _same(pickle.loads(pickle.dumps(undecoded)).decoded(), expected)


def test_consecutive_reads_resume_where_the_last_stopped(log: EmbeddedLog) -> None:
    offset, seen = 0, []
    while batch := log.read_undecoded("t", 1, offset, 10).decoded():
        seen += list(batch.offsets)
        offset = batch.offsets[-1] + 1
    assert seen == list(range(300))


def test_other_logs_hand_over_their_batch(tmp_path: Path) -> None:
    log = MemoryLog()
    log.create_topic("t", TopicConfig(partitions=1))
    log.append("t", 0, [Record(b"k", b"v", 1, [])])
    batch = log.read_undecoded("t", 0, 0, 10)
    _same(batch.decoded(), log.read_batch("t", 0, 0, 10))
