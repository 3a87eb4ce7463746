"""Compaction of the embedded log: the latest record per key survives, offsets stay, reopen reads the same."""

from __future__ import annotations

import os

import pytest

from ksql.engine.log import Record, TopicConfig
from ksql.engine.log.embedded import EmbeddedLog

DAY_MS = 86_400_000


def open_log(root, **options) -> EmbeddedLog:
    return EmbeddedLog(str(root), fsync="never", cleaner_interval_ms=0, **options)


def fill(log: EmbeddedLog, topic: str, rows: list[tuple[bytes | None, bytes | None]], per_append: int = 3) -> None:
    for i in range(0, len(rows), per_append):
        log.append(topic, 0, [Record(k, v, 1_000 + i + j, []) for j, (k, v) in enumerate(rows[i:i + per_append])])


def everything(log: EmbeddedLog, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    out, offset = [], log.start_offset(topic, 0)
    while batch := log.read(topic, 0, offset, 7):
        out += [(r.offset, r.key, r.value) for r in batch]
        offset = batch[-1].offset + 1
    return out


def latest_per_key(rows: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, tuple[int, bytes | None]]:
    return {k: (o, v) for o, k, v in rows}


@pytest.fixture
def history() -> list[tuple[bytes | None, bytes | None]]:
    """300 updates of 20 keys, some deleted, a few records without a key."""
    rows: list[tuple[bytes | None, bytes | None]] = []
    for i in range(300):
        key = f"k{i * 7 % 20}".encode()
        value = None if i % 41 == 0 else f"v{i}".encode()
        rows.append((None, b"keyless") if i % 97 == 0 else (key, value))
    return rows


def test_compaction_keeps_the_latest_record_of_each_key_at_its_offset(tmp_path, history):
    log = open_log(tmp_path, segment_bytes=600)
    log.create_topic("t", TopicConfig(cleanup_policy="compact"))
    fill(log, "t", history)
    before = everything(log, "t")
    end = log.end_offset("t", 0)
    active_base = log._topics["t"].parts[0].segs[-1].base

    removed = log.compact(now_ms=0, force=True)

    after = everything(log, "t")
    assert removed > 0 and len(after) == len(before) - removed
    assert log.end_offset("t", 0) == end
    closed = [row for row in before if row[0] < active_base]
    survivors = {o for o, _ in latest_per_key([r for r in closed if r[1] is not None]).values()}
    expected = [r for r in before if r[0] >= active_base or r[1] is None or r[0] in survivors]
    assert after == expected
    # what a consumer that reads the topic to its end rebuilds is unchanged
    assert latest_per_key([r for r in after if r[1] is not None]) == \
        latest_per_key([r for r in before if r[1] is not None])
    # reads from any offset, including one that compaction removed, continue at the next record kept
    for start in range(0, end, 13):
        assert log.read("t", 0, start, 1)[0].offset == min(o for o, _, _ in after if o >= start)
    log.close()

    reopened = open_log(tmp_path, segment_bytes=600)
    assert reopened.damaged == []
    assert everything(reopened, "t") == after
    reopened.append("t", 0, [Record(b"k1", b"new", 5_000, [])])
    assert reopened.end_offset("t", 0) == end + 1
    reopened.close()


def test_tombstones_stay_until_delete_retention_has_passed(tmp_path):
    log = open_log(tmp_path, segment_bytes=200)
    log.create_topic("t", TopicConfig(cleanup_policy="compact", delete_retention_ms=DAY_MS))
    fill(log, "t", [(b"a", b"1"), (b"b", b"1"), (b"a", None)] * 5 + [(b"c", b"1")] * 20)
    written_ms = int(os.stat(log._topics["t"].parts[0].segs[0].log_path).st_mtime * 1000)

    log.compact(now_ms=written_ms + 1_000, force=True)
    kept = {k: v for _, k, v in everything(log, "t")}
    assert kept[b"a"] is None and kept[b"b"] == b"1"

    log.compact(now_ms=written_ms + DAY_MS + 1_000, force=True)
    assert b"a" not in {k for _, k, _ in everything(log, "t")}
    log.close()


def test_delete_policy_topics_and_the_active_segment_are_never_compacted(tmp_path):
    log = open_log(tmp_path, segment_bytes=10**9)
    log.create_topic("stream", TopicConfig())
    log.create_topic("table", TopicConfig(cleanup_policy="compact"))
    for topic in ("stream", "table"):
        fill(log, topic, [(b"k", b"v")] * 50)
    assert log.compact(now_ms=0, force=True) == 0
    assert len(everything(log, "stream")) == len(everything(log, "table")) == 50
    log.close()


def test_the_background_cleaner_compacts_dirty_partitions(tmp_path):
    log = EmbeddedLog(str(tmp_path), fsync="never", segment_bytes=300, cleaner_interval_ms=20)
    log.create_topic("t", TopicConfig(cleanup_policy="compact"))
    fill(log, "t", [(f"k{i % 3}".encode(), b"x" * 10) for i in range(200)])
    deadline = 200
    while len(everything(log, "t")) > 20 and deadline:
        log._stop.wait(0.05)
        deadline -= 1
    assert len(everything(log, "t")) <= 20
    log.close()


def test_a_compaction_cut_short_leaves_the_segment_whole(tmp_path):
    log = open_log(tmp_path, segment_bytes=300)
    log.create_topic("t", TopicConfig(cleanup_policy="compact"))
    fill(log, "t", [(f"k{i % 3}".encode(), b"x" * 10) for i in range(60)])
    before = everything(log, "t")
    first = log._topics["t"].parts[0].segs[0]
    log.close()
    with open(first.log_path + ".cleaned", "wb") as f:  # a copy that a crash left half written
        f.write(b"\x01\x02\x03")

    reopened = open_log(tmp_path, segment_bytes=300)
    assert everything(reopened, "t") == before and reopened.damaged == []
    assert not os.path.exists(first.log_path + ".cleaned")
    reopened.close()


def test_per_topic_segment_size(tmp_path):
    log = open_log(tmp_path, segment_bytes=10**9)
    log.create_topic("t", TopicConfig(segment_bytes=200))
    fill(log, "t", [(b"k", b"v" * 20)] * 30)
    assert len(log._topics["t"].parts[0].segs) > 3
    log.close()
    reopened = open_log(tmp_path)
    assert reopened.topic_config("t").segment_bytes == 200
    reopened.close()
