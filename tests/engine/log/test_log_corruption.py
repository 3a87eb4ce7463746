"""EmbeddedLog and damaged files: torn tails, corrupt batches mid-segment, bad metadata, index and group files.

Every damage is reported when the log opens (what, where, which offsets), only the damaged
range is lost, and offsets stay where they were.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import struct
from pathlib import Path

import pytest

from ksql.engine.log import CorruptLogError, EmbeddedLog, Record, TopicConfig

LENGTH = struct.Struct("<I")


def recs(n: int, start: int = 0) -> list[Record]:
    return [Record(f"k{i}".encode(), f"value-{i}".encode() * 3, 1000 + i, [("i", str(i).encode())])
            for i in range(start, start + n)]


def open_(root: Path, **kw) -> EmbeddedLog:
    kw.setdefault("fsync", "never")
    return EmbeddedLog(str(root), **kw)


def segments(root: Path, topic: str = "t", partition: int = 0, ext: str = ".log") -> list[Path]:
    d = root / "topics" / topic / str(partition)
    return sorted(p for p in d.iterdir() if p.suffix == ext)


def batch_positions(segment: Path) -> list[int]:
    """File positions of the batches of an intact segment."""
    data = segment.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        out.append(pos)
        pos += 4 + LENGTH.unpack_from(data, pos)[0]
    return out


def offsets(lg: EmbeddedLog, topic: str = "t", partition: int = 0, start: int = 0) -> list[int]:
    return [r.offset for r in lg.read(topic, partition, start, 100_000)]


def assert_records(lg: EmbeddedLog, expected: list[int], topic: str = "t") -> None:
    """The log holds exactly the records recs() made for `expected`, at their original offsets."""
    got = lg.read(topic, 0, 0, 100_000)
    want = [r for o in expected for r in recs(1, start=o)]
    assert [(r.offset, r.key, r.value, r.timestamp, r.headers) for r in got] == [
        (o, w.key, w.value, w.timestamp, w.headers) for o, w in zip(expected, want, strict=True)]
    batch = lg.read_batch(topic, 0, 0, 100_000)
    assert list(batch.offsets) == expected and batch.keys == [w.key for w in want]


def fill(root: Path, batches: int, per: int = 5, **kw) -> None:
    lg = open_(root, **kw)
    lg.create_topic("t")
    for b in range(batches):
        lg.append("t", 0, recs(per, start=b * per))
    lg.close()


def damage(segment: Path, position: int, data: bytes) -> None:
    with open(segment, "r+b") as f:
        f.seek(position)
        f.write(data)


# ---------------------------------------------------------------- corrupt batches mid-segment

@pytest.mark.parametrize("how", ["payload bit flip", "crc", "length too big", "length too small",
                                 "zeroed header"])
def test_a_corrupt_batch_mid_segment_loses_only_its_range(tmp_path: Path, caplog, how: str) -> None:
    fill(tmp_path, 10)
    [seg] = segments(tmp_path)
    pos = batch_positions(seg)[4]  # offsets 20..24
    size = seg.stat().st_size
    if how == "payload bit flip":
        damage(seg, pos + 40, b"\xff")
    elif how == "crc":
        damage(seg, pos + 4, b"\x00\x00\x00\x00")
    elif how == "length too big":
        damage(seg, pos, LENGTH.pack(10_000_000))
    elif how == "length too small":
        damage(seg, pos, LENGTH.pack(30))
    else:
        damage(seg, pos, bytes(28))
    with caplog.at_level(logging.WARNING):
        lg = open_(tmp_path)
    expected = [o for o in range(50) if not 20 <= o < 25]
    assert_records(lg, expected)
    assert lg.end_offset("t", 0) == 50 and seg.stat().st_size == size  # nothing truncated
    [report] = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
    assert "t-0" in report and "offsets 20..24" in report and str(seg) in report, report
    [damaged] = lg.damaged
    assert (damaged.topic, damaged.partition, damaged.start, damaged.end, damaged.path) == ("t", 0, 20, 25, str(seg))
    # appends go on after the end; readers starting inside the lost range get the next good record
    assert lg.append("t", 0, recs(5, start=50)) == list(range(50, 55))
    assert offsets(lg, start=22)[:2] == [25, 26]
    assert [r.offset for r in lg.read("t", 0, 17, 5)] == [17, 18, 19, 25, 26]
    lg.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        lg = open_(tmp_path)  # reopening: the same single report, the same records
    assert [d.start for d in lg.damaged] == [20]
    assert_records(lg, expected + list(range(50, 55)))
    lg.close()


def test_corruption_in_closed_segments_is_found_at_open_and_skipped(tmp_path: Path) -> None:
    fill(tmp_path, 30, segment_bytes=1500, index_interval_bytes=200)
    segs = segments(tmp_path)
    assert len(segs) >= 4
    damage(segs[0], 0, b"\xde\xad\xbe\xef")  # the very first batch of the partition
    damage(segs[1], batch_positions(segs[1])[-1] + 60, b"\x00\x01")  # last batch of a closed segment
    damage(segs[2], batch_positions(segs[2])[1], LENGTH.pack(3))  # bad length mid closed segment
    lg = open_(tmp_path, segment_bytes=1500, index_interval_bytes=200)
    lost = {(d.start, d.end) for d in lg.damaged}
    assert len(lost) == 3 and (0, 5) in lost
    expected = [o for o in range(150) if not any(a <= o < b for a, b in lost)]
    assert len(expected) == 150 - 15
    assert_records(lg, expected)
    for o in range(150):  # every start offset reads the next good record
        assert offsets(lg, start=o)[0] == next(e for e in expected if e >= o)
    lg.close()


def test_several_damaged_batches_and_a_torn_tail_in_the_active_segment(tmp_path: Path) -> None:
    fill(tmp_path, 12)
    [seg] = segments(tmp_path)
    pos = batch_positions(seg)
    damage(seg, pos[2] + 50, b"\x00")
    damage(seg, pos[3] + 50, b"\x00")  # two neighbours: one range
    damage(seg, pos[7], LENGTH.pack(2**31))
    with open(seg, "r+b") as f:  # and the last batch torn
        f.truncate(pos[11] + 20)
    lg = open_(tmp_path)
    assert sorted((d.start, d.end) for d in lg.damaged) == [(10, 20), (35, 40)]
    assert lg.end_offset("t", 0) == 55  # the torn batch (55..59) is gone: its offsets are reused
    assert seg.stat().st_size == pos[11]
    assert_records(lg, [o for o in range(55) if not (10 <= o < 20 or 35 <= o < 40)])
    assert lg.append("t", 0, recs(1, start=55)) == [55]
    lg.close()


def test_a_batch_that_changes_on_disk_after_open_is_skipped_on_read(tmp_path: Path, caplog) -> None:
    fill(tmp_path, 6)
    lg = open_(tmp_path)
    [seg] = segments(tmp_path)
    damage(seg, batch_positions(seg)[2] + 45, b"\xee")
    with caplog.at_level(logging.WARNING):
        assert offsets(lg) == [o for o in range(30) if not 10 <= o < 15]
    assert any("offsets 10..14" in r.getMessage() for r in caplog.records)
    lg.close()


# ---------------------------------------------------------------- torn tails and committed offsets

def test_committed_offsets_past_a_truncated_tail_are_clamped_and_persisted(tmp_path: Path, caplog) -> None:
    fill(tmp_path, 4)
    lg = open_(tmp_path)
    lg.create_topic("u")
    lg.commit("q", {("t", 0): 20, ("u", 0): 0})
    lg.commit("r", {("t", 0): 12})
    lg.close()
    [seg] = segments(tmp_path)
    with open(seg, "r+b") as f:
        f.truncate(batch_positions(seg)[2] + 7)  # power loss mid-write: batches 2 and 3 gone
    with caplog.at_level(logging.WARNING):
        lg = open_(tmp_path)
    assert lg.end_offset("t", 0) == 10
    assert lg.committed("q", "t", 0) == 10 and lg.committed("r", "t", 0) == 10
    assert lg.committed("q", "u", 0) == 0
    assert any("q" in r.getMessage() and "20" in r.getMessage() and "10" in r.getMessage()
               for r in caplog.records)
    assert lg.append("t", 0, recs(10, start=10)) == list(range(10, 20))
    lg.close()
    lg = open_(tmp_path)  # the clamp was written: the new records are not skipped after a restart
    assert lg.committed("q", "t", 0) == 10
    lg.close()


# ---------------------------------------------------------------- metadata, index and group files

@pytest.mark.parametrize(("content", "problem"), [
    (b'{"partitions": 2, "repl', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"partitions": "two"}', "partitions"),
    (b'{"partitions": 0}', "partitions"),
    (b'{"partitions": 1, "retention_ms": null}', "retention_ms"),
])
def test_a_damaged_topic_json_refuses_to_open_naming_the_file(tmp_path: Path, content: bytes,
                                                              problem: str) -> None:
    lg = open_(tmp_path)
    lg.create_topic("good")
    lg.create_topic("t", TopicConfig(partitions=2))
    lg.close()
    meta = tmp_path / "topics" / "t" / "topic.json"
    meta.write_bytes(content)
    with pytest.raises(CorruptLogError) as info:
        open_(tmp_path)
    assert str(meta) in str(info.value) and problem in str(info.value), info.value
    meta.write_text(json.dumps({"partitions": 2}))  # repaired: the log opens again
    open_(tmp_path).close()


def test_a_missing_topic_json_refuses_to_open(tmp_path: Path) -> None:
    fill(tmp_path, 2)
    meta = tmp_path / "topics" / "t" / "topic.json"
    meta.unlink()
    with pytest.raises(CorruptLogError, match="topic.json"):
        open_(tmp_path)


@pytest.mark.parametrize("content", [
    b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"group": ["x"], "offsets": []}',
    b'{"group": "g", "offsets": [["t", 0]]}', b'{"group": "g", "offsets": [[1, "a", {}]]}',
    b'{"group": "g", "offsets": 7}', b"[]",
])
def test_unreadable_group_files_are_reported_and_ignored(tmp_path: Path, caplog, content: bytes) -> None:
    fill(tmp_path, 1)
    lg = open_(tmp_path)
    lg.commit("ok", {("t", 0): 3})
    lg.close()
    (tmp_path / "groups" / f"bad.{7:020d}.json").write_bytes(content)
    with caplog.at_level(logging.WARNING):
        lg = open_(tmp_path)
    assert lg.committed("ok", "t", 0) == 3
    assert any("bad." in r.getMessage() for r in caplog.records)
    lg.close()


def test_garbage_index_files_are_rebuilt(tmp_path: Path) -> None:
    fill(tmp_path, 40, segment_bytes=1500, index_interval_bytes=100)
    for idx in segments(tmp_path, ext=".index"):
        data = bytearray(idx.read_bytes())
        for i in range(0, len(data), 7):
            data[i] ^= 0x5A
        idx.write_bytes(bytes(data[: len(data) - 5]))
    lg = open_(tmp_path, segment_bytes=1500, index_interval_bytes=100)
    assert lg.damaged == []
    assert_records(lg, list(range(200)))
    for o in range(0, 200, 7):
        assert offsets(lg, start=o)[0] == o
    lg.close()


@pytest.mark.parametrize("seed", range(40))
def test_random_damage_loses_exactly_the_damaged_batches(tmp_path: Path, seed: int) -> None:
    """Whatever bytes are damaged, the log opens, every record it returns is the one written at that
    offset, and every intact batch is there (but the active segment's after its last damage: torn)."""
    rng = random.Random(seed)
    per = rng.randint(1, 6)
    fill(tmp_path, 40, per=per, segment_bytes=2500, index_interval_bytes=rng.choice([1, 300, 4096]))
    segs = segments(tmp_path)
    intact_offsets = []
    for n, seg in enumerate(segs):
        positions = batch_positions(seg)
        size = seg.stat().st_size
        data = bytearray(seg.read_bytes())
        hits = sorted(rng.randrange(size) for _ in range(rng.randint(0, 3)))
        for h in hits:
            data[h] ^= rng.randint(1, 255)
        seg.write_bytes(bytes(data))
        base = int(seg.stem)
        bounds = [*positions, size]
        for i, (start, end) in enumerate(itertools.pairwise(bounds)):
            damaged = any(start <= h < end for h in hits)
            torn = n == len(segs) - 1 and any(h >= start for h in hits)
            if not damaged and not torn:
                intact_offsets += range(base + i * per, base + (i + 1) * per)
    lg = open_(tmp_path, segment_bytes=2500)
    got = lg.read("t", 0, 0, 100_000)
    for r in got:
        [want] = recs(1, start=r.offset)
        assert (r.key, r.value, r.timestamp, r.headers) == (want.key, want.value, want.timestamp, want.headers)
    assert set(intact_offsets) <= {r.offset for r in got}
    assert [r.offset for r in got] == sorted({r.offset for r in got})
    lg.close()

