"""FileStreamSink writes each record once across a crash: what followed the last flush is cut off the
file, and consumption resumes at the offsets of that flush, whatever the group had committed."""

from __future__ import annotations

from collections.abc import Mapping

from ksql.connect.api import SinkRecord, SinkTaskContext
from ksql.connect.file import FileStreamSinkTask


class Context(SinkTaskContext):
    def __init__(self) -> None:
        self.rewinds: dict[tuple[str, int], int] = {}

    def assignment(self) -> list[tuple[str, int]]:
        return [("t", 0)]

    def offset(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.rewinds.update(offsets)

    def request_commit(self) -> None:
        pass

    def report(self, record: SinkRecord, error: BaseException) -> None:
        raise error


def records(values: range) -> list[SinkRecord]:
    return [SinkRecord("t", 0, None, None, None, f"line {v}", kafka_offset=v) for v in values]


def start(path) -> tuple[FileStreamSinkTask, Context]:
    task, context = FileStreamSinkTask(), Context()
    task.initialize(context)
    task.start({"file": str(path)})
    return task, context


def test_a_crash_after_a_flush_neither_loses_nor_repeats_lines(tmp_path):
    path = tmp_path / "out.txt"
    task, context = start(path)
    assert context.rewinds == {}
    task.put(records(range(0, 3)))
    task.flush({("t", 0): 3})  # the runtime crashes before it commits offset 3
    task.put(records(range(3, 5)))  # written, never flushed
    task.out.flush()

    restarted, context = start(path)  # no stop(): a kill -9
    assert path.read_text() == "line 0\nline 1\nline 2\n"
    assert context.rewinds == {("t", 0): 3}
    restarted.put(records(range(3, 5)))
    restarted.flush({("t", 0): 5})
    restarted.stop()
    assert path.read_text().splitlines() == [f"line {v}" for v in range(5)]


def test_an_unreadable_checkpoint_or_a_replaced_file_is_left_alone(tmp_path):
    path = tmp_path / "out.txt"
    task, _ = start(path)
    task.put(records(range(0, 3)))
    task.flush({("t", 0): 3})
    task.stop()
    path.write_text("new\n")  # the user replaced the file with a shorter one
    _, context = start(path)
    assert path.read_text() == "new\n" and context.rewinds == {}
    (tmp_path / "out.txt.offsets").write_bytes(b"{not json")
    _, context = start(path)
    assert context.rewinds == {}
