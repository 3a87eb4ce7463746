"""The behavioural contract of Log, run against MemoryLog and EmbeddedLog."""

from __future__ import annotations

import threading

import pytest

from ksql.engine.log import (
    EmbeddedLog,
    InvalidTopicError,
    Log,
    LogClosedError,
    LogError,
    MemoryLog,
    PartitionOutOfRangeError,
    Record,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
    open_log,
)


@pytest.fixture(params=["memory", "embedded"])
def log(request, tmp_path):
    if request.param == "memory":
        lg: Log = MemoryLog()
    else:
        # small segments so the suite also exercises rolls and cross-segment reads
        lg = EmbeddedLog(str(tmp_path / "log"), fsync="never", segment_bytes=1024, index_interval_bytes=128)
    yield lg
    lg.close()


def recs(n, start=0, ts=1000):
    return [Record(f"k{i}".encode(), f"value-{i}".encode(), ts + i) for i in range(start, start + n)]


def test_open_log_factory(tmp_path):
    m = open_log(None)
    assert isinstance(m, MemoryLog)
    e = open_log(str(tmp_path / "x"), fsync="never")
    assert isinstance(e, EmbeddedLog)
    e.close()


def test_create_list_exists_config_delete(log):
    assert log.list_topics() == []
    assert not log.topic_exists("a")
    cfg = TopicConfig(partitions=3, retention_ms=5000, cleanup_policy="compact")
    log.create_topic("b", cfg)
    log.create_topic("a")
    assert log.list_topics() == ["a", "b"]
    assert log.topic_exists("a") and log.topic_exists("b")
    assert log.topic_config("b") == cfg
    assert log.topic_config("a") == TopicConfig()
    assert log.partitions("b") == 3
    with pytest.raises(TopicExistsError):
        log.create_topic("a")
    log.delete_topic("a")
    assert log.list_topics() == ["b"]
    assert not log.topic_exists("a")
    with pytest.raises(UnknownTopicError):
        log.delete_topic("a")


def test_recreated_topic_starts_empty(log):
    log.create_topic("t")
    log.append("t", 0, recs(5))
    log.delete_topic("t")
    log.create_topic("t", TopicConfig(partitions=2))
    assert log.end_offset("t", 0) == 0
    assert log.read("t", 0, 0) == []
    assert log.append("t", 1, recs(2)) == [0, 1]


def test_unknown_topic_and_partition_errors(log):
    log.create_topic("t", TopicConfig(partitions=2))
    for call in (
        lambda: log.append("nope", 0, recs(1)),
        lambda: log.read("nope", 0, 0),
        lambda: log.start_offset("nope", 0),
        lambda: log.end_offset("nope", 0),
        lambda: log.topic_config("nope"),
        lambda: log.partitions("nope"),
        lambda: log.commit("g", {("nope", 0): 1}),
    ):
        with pytest.raises(UnknownTopicError, match="nope"):
            call()
    for bad in (-1, 2, 99, "0", None):
        for call in (
            lambda bad=bad: log.append("t", bad, recs(1)),
            lambda bad=bad: log.read("t", bad, 0),
            lambda bad=bad: log.start_offset("t", bad),
            lambda bad=bad: log.end_offset("t", bad),
            lambda bad=bad: log.commit("g", {("t", bad): 1}),
        ):
            with pytest.raises(PartitionOutOfRangeError, match="out of range"):
                call()
    # all are LogErrors, none is a bare KeyError / IndexError
    assert issubclass(UnknownTopicError, LogError) and not issubclass(UnknownTopicError, KeyError)
    assert not issubclass(PartitionOutOfRangeError, IndexError)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a b", "x" * 250, "é"])
def test_invalid_topic_names(log, name):
    with pytest.raises(InvalidTopicError):
        log.create_topic(name)


def test_invalid_config(log):
    with pytest.raises(InvalidTopicError):
        log.create_topic("t", TopicConfig(partitions=0))
    assert not log.topic_exists("t")


def test_append_and_read_offsets(log):
    log.create_topic("t")
    assert log.start_offset("t", 0) == 0
    assert log.end_offset("t", 0) == 0
    assert log.read("t", 0, 0) == []
    assert log.append("t", 0, recs(3)) == [0, 1, 2]
    assert log.append("t", 0, []) == []
    assert log.append("t", 0, recs(2, start=3)) == [3, 4]
    assert log.end_offset("t", 0) == 5
    got = log.read("t", 0, 0)
    assert [r.offset for r in got] == [0, 1, 2, 3, 4]
    assert [r.value for r in got] == [f"value-{i}".encode() for i in range(5)]
    assert [r.key for r in got] == [f"k{i}".encode() for i in range(5)]
    assert [r.timestamp for r in got] == [1000 + i for i in range(5)]
    assert all(r.partition == 0 for r in got)
    assert [r.offset for r in log.read("t", 0, 2)] == [2, 3, 4]
    assert [r.offset for r in log.read("t", 0, 1, max_records=2)] == [1, 2]
    assert log.read("t", 0, 0, max_records=0) == []


def test_read_beyond_end_and_below_start(log):
    log.create_topic("t")
    log.append("t", 0, recs(3))
    assert log.read("t", 0, 3) == []
    assert log.read("t", 0, 1000) == []
    assert [r.offset for r in log.read("t", 0, -5)] == [0, 1, 2]


def test_input_records_not_mutated(log):
    log.create_topic("t", TopicConfig(partitions=2))
    rs = recs(2)
    log.append("t", 1, rs)
    assert [(r.offset, r.partition) for r in rs] == [(-1, -1), (-1, -1)]
    rs[0].headers.append(("late", b"x"))
    assert log.read("t", 1, 0)[0].headers == []


def test_headers_and_nulls_round_trip(log):
    log.create_topic("t")
    sent = [
        Record(None, None, 0),
        Record(b"", b"", 1),
        Record(b"k", None, 2, [("h1", b"v1"), ("h1", b"dup"), ("nul", None), ("empty", b"")]),
        Record(None, b"v" * 100_000, -5, [("ünï", b"\x00\xff")]),
        Record(b"\x00\x01\x02", b"\xff" * 3, 2**62, []),
    ]
    log.append("t", 0, sent)
    got = log.read("t", 0, 0)
    assert len(got) == len(sent)
    for i, (s, g) in enumerate(zip(sent, got, strict=True)):
        assert (g.key, g.value, g.timestamp, g.headers, g.offset, g.partition) == (
            s.key,
            s.value,
            s.timestamp,
            s.headers,
            i,
            0,
        )
    assert got[0].key is None and got[1].key == b""
    assert isinstance(got[2].headers, list)


def test_multiple_partitions_are_independent(log):
    log.create_topic("t", TopicConfig(partitions=4))
    for p in range(4):
        assert log.append("t", p, recs(p + 1, start=100 * p)) == list(range(p + 1))
    for p in range(4):
        got = log.read("t", p, 0)
        assert [r.partition for r in got] == [p] * (p + 1)
        assert [r.key for r in got] == [f"k{100 * p + i}".encode() for i in range(p + 1)]
        assert log.end_offset("t", p) == p + 1


def test_many_batches_and_random_access(log):
    log.create_topic("t")
    total = 0
    for b in range(60):
        n = 1 + b % 9
        assert log.append("t", 0, recs(n, start=total)) == list(range(total, total + n))
        total += n
    for o in range(0, total, 7):
        got = log.read("t", 0, o, max_records=3)
        assert [r.offset for r in got] == list(range(o, min(o + 3, total)))
        assert got[0].value == f"value-{o}".encode()
    everything = []
    o = 0
    while True:
        chunk = log.read("t", 0, o, max_records=50)
        if not chunk:
            break
        everything += chunk
        o = chunk[-1].offset + 1
    assert [r.offset for r in everything] == list(range(total))


def test_commit_and_committed(log):
    log.create_topic("t", TopicConfig(partitions=2))
    log.create_topic("u")
    assert log.committed("g", "t", 0) is None
    log.commit("g", {("t", 0): 5, ("t", 1): 7})
    log.commit("g", {("u", 0): 1})
    log.commit("h", {("t", 0): 2})
    assert log.committed("g", "t", 0) == 5
    assert log.committed("g", "t", 1) == 7
    assert log.committed("g", "u", 0) == 1
    assert log.committed("h", "t", 0) == 2
    assert log.committed("h", "t", 1) is None
    assert log.committed("other", "t", 0) is None
    assert log.committed("g", "nope", 0) is None
    log.commit("g", {("t", 0): 9})
    assert log.committed("g", "t", 0) == 9
    assert log.committed("g", "t", 1) == 7
    with pytest.raises(ValueError):
        log.commit("g", {("t", 0): -1})
    # offsets of a deleted topic are dropped
    log.delete_topic("u")
    assert log.committed("g", "u", 0) is None
    log.create_topic("u")
    assert log.committed("g", "u", 0) is None


def test_groups_offsets_and_delete_group(log, tmp_path):
    log.create_topic("t", TopicConfig(partitions=2))
    assert log.groups() == []
    assert log.group_offsets("g") == {}
    log.commit("g", {("t", 0): 5, ("t", 1): 7})
    log.commit("h", {("t", 0): 2})
    assert log.groups() == ["g", "h"]
    assert log.group_offsets("g") == {("t", 0): 5, ("t", 1): 7}
    assert log.delete_group("g") is True
    assert log.delete_group("g") is False
    assert log.groups() == ["h"]
    assert log.committed("g", "t", 0) is None
    log.commit("g", {("t", 1): 3})  # a deleted group can start again
    assert log.group_offsets("g") == {("t", 1): 3}


def test_deleted_group_stays_deleted_after_reopen(tmp_path):
    root = str(tmp_path / "log")
    with EmbeddedLog(root, fsync="never") as lg:
        lg.create_topic("t")
        lg.commit("g", {("t", 0): 4})
        lg.commit("h", {("t", 0): 1})
        lg.delete_group("g")
    with EmbeddedLog(root, fsync="never") as lg:
        assert lg.groups() == ["h"]
        assert lg.committed("g", "t", 0) is None


def test_concurrent_appends(log):
    log.create_topic("t")
    results: list[list[int]] = []
    lock = threading.Lock()

    def worker(w):
        for i in range(50):
            offs = log.append("t", 0, recs(3, start=w * 1000 + i * 3))
            with lock:
                results.append(offs)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_offsets = sorted(o for offs in results for o in offs)
    assert all_offsets == list(range(600))
    for offs in results:
        assert offs == list(range(offs[0], offs[0] + 3))
    assert len(log.read("t", 0, 0, max_records=10_000)) == 600


def test_closed_log_raises(log):
    log.create_topic("t")
    log.close()
    with pytest.raises(LogClosedError):
        log.append("t", 0, recs(1))
    with pytest.raises(LogClosedError):
        log.read("t", 0, 0)
    with pytest.raises(LogClosedError):
        log.create_topic("u")


def test_bad_record_types_raise_typeerror(log):
    log.create_topic("t")
    with pytest.raises(TypeError):
        log.append("t", 0, [Record("str-key", b"v", 1)])
    # a failed append leaves the partition usable and unchanged
    assert log.append("t", 0, recs(1)) == [0]
    assert len(log.read("t", 0, 0)) == 1


def test_memory_retention():
    lg = MemoryLog()
    lg.create_topic("t", TopicConfig(retention_ms=1000))
    lg.append("t", 0, [Record(None, b"x", ts) for ts in (100, 200, 5000, 6000)])
    lg.enforce_retention(now_ms=5500)
    assert lg.start_offset("t", 0) == 2
    assert [r.offset for r in lg.read("t", 0, 0)] == [2, 3]
    assert lg.end_offset("t", 0) == 4


def test_read_returns_fresh_records_and_coerces_bytes_like(log):
    log.create_topic("t")
    log.append("t", 0, [Record(bytearray(b"k"), memoryview(b"v"), 1, [("h", bytearray(b"x"))])])
    first = log.read("t", 0, 0)
    assert (first[0].key, first[0].value, first[0].headers) == (b"k", b"v", [("h", b"x")])
    assert type(first[0].key) is bytes and type(first[0].headers[0][1]) is bytes
    first[0].headers.append(("mutated", None))
    first[0].value = b"changed"
    again = log.read("t", 0, 0)[0]
    assert (again.value, again.headers) == (b"v", [("h", b"x")])
