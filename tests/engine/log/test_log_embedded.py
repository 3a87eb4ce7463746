"""EmbeddedLog specifics: persistence, crash recovery, segments and index, retention, kill -9."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import ksql.engine.log.embedded as embedded_mod
from ksql.engine.log import EmbeddedLog, LogLockedError, Record, TopicConfig

REPO = Path(__file__).resolve().parents[3]


def recs(n, start=0, ts=1000, size=20):
    return [
        Record(f"k{i}".encode(), (f"value-{i}-".encode() * size)[:size], ts + i, [("i", str(i).encode())])
        for i in range(start, start + n)
    ]


def check(lg, topic, partition, offsets):
    """Every offset holds exactly the record recs() generates for it."""
    for o in offsets:
        got = lg.read(topic, partition, o, max_records=1)
        assert got and got[0].offset == o, (o, got)
        exp = recs(1, start=o)[0]
        assert (got[0].key, got[0].value, got[0].timestamp, got[0].headers) == (
            exp.key,
            exp.value,
            exp.timestamp,
            exp.headers,
        )


def seg_files(root, topic="t", partition=0, ext=".log"):
    d = Path(root) / "topics" / topic / str(partition)
    return sorted(p for p in d.iterdir() if p.suffix == ext)


def open_(root, **kw):
    kw.setdefault("fsync", "never")
    return EmbeddedLog(str(root), **kw)


def test_reopen_restores_everything(tmp_path):
    root = tmp_path / "log"
    lg = open_(root, segment_bytes=2000)
    lg.create_topic("t", TopicConfig(partitions=3, retention_bytes=10**9, cleanup_policy="compact"))
    lg.create_topic("gone")
    lg.create_topic("u")
    for p in range(3):
        lg.append("t", p, recs(40 + p))
    lg.append("u", 0, [Record(None, None, 7, [("n", None)])])
    lg.commit("grp", {("t", 0): 10, ("t", 2): 3})
    lg.commit("weird/group name ü", {("u", 0): 1})
    lg.delete_topic("gone")
    lg.close()

    lg = open_(root, segment_bytes=2000)
    assert lg.list_topics() == ["t", "u"]
    assert lg.topic_config("t") == TopicConfig(partitions=3, retention_bytes=10**9, cleanup_policy="compact")
    for p in range(3):
        assert lg.end_offset("t", p) == 40 + p
        check(lg, "t", p, range(40 + p))
    assert [(r.key, r.value, r.timestamp, r.headers) for r in lg.read("u", 0, 0)] == [
        (None, None, 7, [("n", None)])
    ]
    assert lg.committed("grp", "t", 0) == 10
    assert lg.committed("grp", "t", 2) == 3
    assert lg.committed("weird/group name ü", "u", 0) == 1
    # appends continue where they stopped
    assert lg.append("t", 0, recs(2, start=40)) == [40, 41]
    lg.close()
    lg = open_(root)
    check(lg, "t", 0, range(42))
    lg.close()


def test_directory_lock(tmp_path):
    lg = open_(tmp_path)
    with pytest.raises(LogLockedError):
        open_(tmp_path)
    lg.close()
    open_(tmp_path).close()


def _append_batches(lg, n_batches, per=5):
    o = 0
    for _ in range(n_batches):
        assert lg.append("t", 0, recs(per, start=o)) == list(range(o, o + per))
        o += per
    return o


@pytest.mark.parametrize("garbage", [b"\x00", b"\xff" * 7, b"\x00" * 100, os.urandom(5000)])
def test_torn_tail_garbage_is_truncated(tmp_path, garbage):
    lg = open_(tmp_path, segment_bytes=3000)
    lg.create_topic("t")
    n = _append_batches(lg, 20)
    lg.close()
    active = seg_files(tmp_path)[-1]
    size = active.stat().st_size
    with open(active, "ab") as f:
        f.write(garbage)
    lg = open_(tmp_path, segment_bytes=3000)
    assert active.stat().st_size == size
    assert lg.end_offset("t", 0) == n
    check(lg, "t", 0, range(n))
    assert lg.append("t", 0, recs(3, start=n)) == [n, n + 1, n + 2]
    lg.close()
    lg = open_(tmp_path)
    check(lg, "t", 0, range(n + 3))
    lg.close()


def test_torn_partial_batch_is_truncated(tmp_path):
    lg = open_(tmp_path)
    lg.create_topic("t")
    lg.append("t", 0, recs(10))
    lg.append("t", 0, recs(10, start=10))
    lg.close()
    seg = seg_files(tmp_path)[-1]
    with open(seg, "r+b") as f:
        f.truncate(seg.stat().st_size - 13)  # kill mid-write: the second batch is cut
    lg = open_(tmp_path)
    assert lg.end_offset("t", 0) == 10
    check(lg, "t", 0, range(10))
    assert lg.append("t", 0, recs(10, start=10)) == list(range(10, 20))
    check(lg, "t", 0, range(20))
    lg.close()


def test_corrupt_tail_batch_detected_by_crc(tmp_path):
    lg = open_(tmp_path)
    lg.create_topic("t")
    lg.append("t", 0, recs(10))
    lg.append("t", 0, recs(10, start=10))
    lg.close()
    seg = seg_files(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x40  # flip a bit inside the last batch's payload
    seg.write_bytes(bytes(data))
    lg = open_(tmp_path)
    assert lg.end_offset("t", 0) == 10
    check(lg, "t", 0, range(10))
    lg.close()


def test_damaged_or_missing_index_is_rebuilt(tmp_path):
    lg = open_(tmp_path, segment_bytes=3000, index_interval_bytes=200)
    lg.create_topic("t")
    n = _append_batches(lg, 40)
    lg.close()
    idx = seg_files(tmp_path, ext=".index")
    assert len(idx) >= 3
    idx[0].unlink()  # closed segment: no sentinel → rescanned
    with open(idx[1], "r+b") as f:  # closed segment: garbage index
        f.seek(24)
        f.write(os.urandom(40))
    with open(idx[-1], "ab") as f:  # active segment: torn index entry
        f.write(b"\x01\x02\x03")
    lg = open_(tmp_path, segment_bytes=3000, index_interval_bytes=200)
    assert lg.end_offset("t", 0) == n
    check(lg, "t", 0, range(n))
    assert lg.append("t", 0, recs(5, start=n)) == list(range(n, n + 5))
    lg.close()
    lg = open_(tmp_path)
    check(lg, "t", 0, range(n + 5))
    lg.close()


def test_segment_roll_and_index_lookups(tmp_path, monkeypatch):
    lg = open_(tmp_path, segment_bytes=4000, index_interval_bytes=256)
    lg.create_topic("t")
    n = _append_batches(lg, 100, per=4)
    logs = seg_files(tmp_path)
    assert len(logs) > 5
    # segments are named by their base offset and hold at most segment_bytes (a batch never splits)
    bases = [int(p.stem) for p in logs]
    assert bases[0] == 0 and bases == sorted(bases)
    assert all(p.stat().st_size <= 4000 for p in logs)
    for lgx in (lg, None):
        if lgx is None:
            lg.close()
            lg = open_(tmp_path, segment_bytes=4000, index_interval_bytes=256)
        check(lg, "t", 0, range(n))
        # reads spanning segment boundaries
        for b in bases[1:]:
            got = lg.read("t", 0, b - 3, max_records=7)
            assert [r.offset for r in got] == list(range(b - 3, min(b + 4, n)))
    # a point read uses the index: bytes read are bounded, not the whole segment
    lg.close()
    monkeypatch.setattr(embedded_mod, "_READ_CHUNK", 512)
    lg = open_(tmp_path, segment_bytes=1 << 20, index_interval_bytes=256)
    base = lg.end_offset("t", 0)
    lg.append("t", 0, recs(1000, start=base, size=100))  # one big batch: one index entry...
    for i in range(200):  # ...and many small ones in the same (active) segment
        lg.append("t", 0, recs(2, start=base + 1000 + 2 * i, size=100))
    end = lg.end_offset("t", 0)
    read_bytes = []
    real_pread = os.pread

    def counting_pread(fd, n, pos):
        data = real_pread(fd, n, pos)
        read_bytes.append(len(data))
        return data

    monkeypatch.setattr(embedded_mod.os, "pread", counting_pread)
    got = lg.read("t", 0, end - 150, max_records=1)
    assert got[0].offset == end - 150
    seg_size = seg_files(tmp_path)[-1].stat().st_size
    assert sum(read_bytes) < 4 * 256 + 2 * 512 < seg_size // 20
    lg.close()


def test_retention_by_bytes(tmp_path):
    lg = open_(tmp_path, segment_bytes=1500)
    lg.create_topic("t", TopicConfig(retention_bytes=5000))
    n = _append_batches(lg, 60)
    total_before = sum(p.stat().st_size for p in seg_files(tmp_path))
    assert total_before > 5000
    lg.enforce_retention()
    files = seg_files(tmp_path)
    total = sum(p.stat().st_size for p in files)
    assert total <= 5000
    assert len(seg_files(tmp_path, ext=".index")) == len(files)
    start = lg.start_offset("t", 0)
    assert start == int(files[0].stem) > 0
    assert lg.end_offset("t", 0) == n
    assert lg.read("t", 0, 0, max_records=1)[0].offset == start
    check(lg, "t", 0, range(start, n))
    lg.close()
    lg = open_(tmp_path, segment_bytes=1500)
    assert lg.start_offset("t", 0) == start
    check(lg, "t", 0, range(start, n))
    lg.close()


def test_retention_runs_on_append(tmp_path):
    lg = open_(tmp_path, segment_bytes=1000, retention_check_interval_ms=0)
    lg.create_topic("t", TopicConfig(retention_bytes=3000))
    _append_batches(lg, 100)
    assert sum(p.stat().st_size for p in seg_files(tmp_path)) <= 3000 + 1000
    assert lg.start_offset("t", 0) > 0
    lg.close()


def test_retention_by_time_never_deletes_active_segment(tmp_path):
    lg = open_(tmp_path, segment_bytes=1500, clock=lambda: 0)  # nothing expires while appending
    lg.create_topic("t", TopicConfig(retention_ms=10_000))
    o = 0
    # old records, then new ones, then old again (a segment is judged by its newest record)
    for ts in [1_000] * 20 + [100_000] * 20 + [2_000] * 10:
        lg.append("t", 0, recs(5, start=o, ts=ts))
        o += 5
    lg.enforce_retention(now_ms=50_000)  # cutoff 40_000: only the all-old prefix segments go
    start = lg.start_offset("t", 0)
    assert 0 < start <= 100
    first_new = lg.read("t", 0, 0, max_records=1)[0]
    assert first_new.offset == start
    lg.enforce_retention(now_ms=10**9)  # everything expired: all but the active segment go
    files = seg_files(tmp_path)
    assert len(files) == 1
    assert lg.start_offset("t", 0) == int(files[0].stem)
    assert lg.end_offset("t", 0) == o
    assert lg.read("t", 0, 0)[-1].offset == o - 1
    lg.close()
    lg = open_(tmp_path, segment_bytes=1500)
    assert lg.start_offset("t", 0) == int(files[0].stem)
    assert lg.end_offset("t", 0) == o
    lg.close()


def test_fsync_always_mode(tmp_path):
    lg = EmbeddedLog(str(tmp_path), fsync="always", segment_bytes=2000)
    lg.create_topic("t")
    n = _append_batches(lg, 10)
    lg.commit("g", {("t", 0): n})
    lg.close()
    lg = EmbeddedLog(str(tmp_path), fsync="interval")
    check(lg, "t", 0, range(n))
    assert lg.committed("g", "t", 0) == n
    lg.close()
    with pytest.raises(ValueError):
        EmbeddedLog(str(tmp_path), fsync="sometimes")


_WRITER = textwrap.dedent(
    """
    import sys
    from ksql.engine.log import EmbeddedLog, Record, TopicConfig
    root, mode = sys.argv[1], sys.argv[2]
    lg = EmbeddedLog(root, fsync=mode, segment_bytes=8192)
    lg.create_topic("t", TopicConfig(partitions=2))
    o = 0
    i = 0
    while True:
        n = 1 + i % 13
        i += 1
        part = i % 2
        batch = [
            Record(f"k{j}".encode(), (f"value-{j}-".encode() * 30)[: 30 + j % 50], 1000 + j, [("i", str(j).encode())])
            for j in range(o, o + n)
        ]
        offs = lg.append("t", part, batch)
        sys.stdout.write(f"{part} {offs[0]} {n} {o}\\n")
        sys.stdout.flush()
        o += n
    """
)


@pytest.mark.parametrize("mode", ["never", "always"])
def test_kill_minus_9_loses_nothing_acknowledged(tmp_path, mode):
    root = str(tmp_path / "log")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, root, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    lines: queue.Queue[bytes] = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    acked: list[tuple[int, int, int, int]] = []
    # up to 4 s for the interpreter to start; once acks flow, 150 of them (or 0.5 s) is plenty
    deadline = time.monotonic() + 4.0
    try:
        while len(acked) < 150 and time.monotonic() < deadline:
            if len(acked) == 1:
                deadline = min(deadline, time.monotonic() + 0.5)
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if not line:
                break
            acked.append(tuple(map(int, line.split())))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    # lines written before the kill were acknowledged too; only complete lines count
    while True:
        line = lines.get(timeout=5)
        if not line:
            break
        if line.endswith(b"\n"):
            acked.append(tuple(map(int, line.split())))
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 20, proc.stderr.read().decode()

    lg = EmbeddedLog(root, fsync="never")
    for part, first, n, seq in acked:
        got = lg.read("t", part, first, max_records=n)
        assert [r.offset for r in got] == list(range(first, first + n))
        for r, j in zip(got, range(seq, seq + n), strict=True):
            assert r.key == f"k{j}".encode()
            assert r.value == (f"value-{j}-".encode() * 30)[: 30 + j % 50]
            assert (r.timestamp, r.headers) == (1000 + j, [("i", str(j).encode())])
    # whatever is in the log past the last ack is whole batches, readable end to end
    for part in (0, 1):
        end = lg.end_offset("t", part)
        assert len(lg.read("t", part, 0, max_records=end + 1)) == end
        assert end >= max((f + n for p, f, n, _ in acked if p == part), default=0)
    lg.close()


def test_fsync_interval_background_flush(tmp_path, monkeypatch):
    synced = []
    real = embedded_mod._fdatasync
    monkeypatch.setattr(embedded_mod, "_fdatasync", lambda fd: (synced.append(fd), real(fd)))
    lg = EmbeddedLog(str(tmp_path), fsync="interval", fsync_interval_ms=20)
    lg.create_topic("t")
    lg.append("t", 0, recs(1))
    lg.append("t", 0, recs(1, start=1))  # within the interval: left dirty...
    deadline = time.monotonic() + 2
    while not synced and time.monotonic() < deadline:
        time.sleep(0.01)
    assert synced  # ...and flushed by the background thread
    lg.close()
