"""Group commit on the embedded log: concurrent writers share appends and fsyncs, each writer's records
land exactly once and in its order, and a failure is told to the writer whose records failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ksql.engine.log import Log, Record, TopicConfig
from ksql.engine.log import embedded as embedded_log
from ksql.engine.log.embedded import EmbeddedLog
from server.group_commit import GroupCommitter

TOPIC = "events"


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EmbeddedLog]:
    opened = EmbeddedLog(str(tmp_path / "log"), fsync="always")
    opened.create_topic(TOPIC, TopicConfig(partitions=2))
    yield opened
    opened.close()


def _committer(log: Log, lock: threading.Lock) -> GroupCommitter:
    @contextmanager
    def writing() -> Iterator[Log]:
        with lock:
            yield log

    return GroupCommitter(writing)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the writers did not queue"
        time.sleep(0.001)


def _record(writer: int, seq: int) -> Record:
    return Record(f"w{writer}".encode(), f"{writer}:{seq}".encode(), 1, [])


def _run_writers(count: int, write: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            write(writer)
        except BaseException as err:  # noqa: BLE001 - collected for the test's assertion
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_writers_share_one_fsync(log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    real_sync = embedded_log._fdatasync
    monkeypatch.setattr(embedded_log, "_fdatasync", lambda fd: (syncs.append(fd), real_sync(fd)))
    lock = threading.Lock()
    committer = _committer(log, lock)
    writers = 16
    offsets: dict[int, dict[int, list[int]]] = {}
    with lock:  # the first writer leads a round but waits for the engine lock: the others queue meanwhile
        threads = [threading.Thread(target=lambda w=w: offsets.__setitem__(
            w, committer.append(TOPIC, {0: [_record(w, 0), _record(w, 1)]}))) for w in range(writers)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: committer.queued() == writers)
    for thread in threads:
        thread.join()
    assert len(syncs) == 1, f"{writers} writers caused {len(syncs)} fsyncs"
    assert committer.rounds == 1
    written = log.read(TOPIC, 0, 0, 1000)
    assert len(written) == 2 * writers
    for writer, (first, second) in ((w, offsets[w][0]) for w in range(writers)):
        assert second == first + 1
        assert [written[first].value, written[second].value] == [f"{writer}:0".encode(), f"{writer}:1".encode()]


def test_many_writers_rows_land_once_in_writer_order(log: EmbeddedLog) -> None:
    committer = _committer(log, threading.Lock())
    writers, appends = 8, 40

    def write(writer: int) -> None:
        for seq in range(appends):  # each append spans both partitions
            committer.append(TOPIC, {0: [_record(writer, 2 * seq)], 1: [_record(writer, 2 * seq + 1)]})

    assert _run_writers(writers, write) == []
    for partition, parity in ((0, 0), (1, 1)):
        values = [r.value.decode() for r in log.read(TOPIC, partition, 0, 10_000)]
        assert len(values) == writers * appends
        for writer in range(writers):
            mine = [int(v.split(":")[1]) for v in values if v.startswith(f"{writer}:")]
            assert mine == [2 * seq + parity for seq in range(appends)]
    assert committer.rounds <= writers * appends


def test_a_failed_write_is_refused_alone(log: EmbeddedLog) -> None:
    lock = threading.Lock()
    committer = _committer(log, lock)
    results: dict[int, object] = {}

    def write(writer: int) -> None:
        record = Record(b"k", 12345, 1, []) if writer == 1 else _record(writer, 0)  # type: ignore[arg-type]
        try:
            results[writer] = committer.append(TOPIC, {0: [record]})
        except TypeError as err:  # the log refuses a record that is not bytes
            results[writer] = err

    with lock:  # all three in one round
        threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: committer.queued() == 3)
    for thread in threads:
        thread.join()
    assert isinstance(results[1], TypeError)
    assert isinstance(results[0], dict) and isinstance(results[2], dict)
    assert sorted(r.value for r in log.read(TOPIC, 0, 0, 10)) == [b"0:0", b"2:0"]


def test_a_leader_without_the_lock_hands_the_round_on(log: EmbeddedLog) -> None:
    """A writer whose request is cancelled while it waits for the engine lock fails alone; the writers
    queued behind it are still appended."""
    lock = threading.Lock()
    refused = threading.Event()

    @contextmanager
    def writing() -> Iterator[Log]:
        if threading.current_thread().name == "cancelled":
            with lock:  # waits behind the test, then gives up as a cancelled request does
                pass
            refused.set()
            raise RuntimeError("The client disconnected")
        with lock:
            yield log

    committer = GroupCommitter(writing)
    outcome: dict[str, object] = {}

    def write(name: str) -> None:
        try:
            outcome[name] = committer.append(TOPIC, {0: [Record(None, name.encode(), 1, [])]})
        except RuntimeError as err:
            outcome[name] = err

    with lock:
        leader = threading.Thread(target=write, args=("cancelled",), name="cancelled")
        leader.start()
        _wait_until(lambda: committer.queued() == 1)
        follower = threading.Thread(target=write, args=("follower",))
        follower.start()
        _wait_until(lambda: committer.queued() == 2)
    leader.join()
    follower.join()
    assert refused.is_set() and isinstance(outcome["cancelled"], RuntimeError)
    assert outcome["follower"] == {0: [0]}
    assert [r.value for r in log.read(TOPIC, 0, 0, 10)] == [b"follower"]


def test_writes_given_together_share_a_round_and_fail_alone(log: EmbeddedLog) -> None:
    """append_many (one caller for many /inserts-stream requests): its writes and a concurrent writer's
    share one round; each write gets its own offsets, or its own error."""
    lock = threading.Lock()
    committer = _committer(log, lock)
    other: dict[str, object] = {}
    with lock:
        thread = threading.Thread(target=lambda: other.__setitem__("offsets", committer.append(
            TOPIC, {0: [_record(9, 0)]})))
        thread.start()
        _wait_until(lambda: committer.queued() == 1)
        many = threading.Thread(target=lambda: other.__setitem__("many", committer.append_many([
            (TOPIC, {0: [_record(0, 0), _record(0, 1)], 1: [_record(0, 2)]}),
            (TOPIC, {0: [Record(b"k", 12345, 1, [])]}),  # type: ignore[list-item] - refused by the log
            (TOPIC, {1: [_record(2, 0)]})])))
        many.start()
        _wait_until(lambda: committer.queued() == 4)
    thread.join()
    many.join()
    first, refused, third = other["many"]  # type: ignore[misc]
    assert committer.rounds == 1
    assert other["offsets"] == {0: [0]}
    assert first == {0: [1, 2], 1: [0]} and third == {1: [1]}
    assert isinstance(refused, TypeError)
    assert [r.value for r in log.read(TOPIC, 0, 0, 10)] == [b"9:0", b"0:0", b"0:1"]
    assert [r.value for r in log.read(TOPIC, 1, 0, 10)] == [b"0:2", b"2:0"]
