"""/inserts-stream requests share rounds: the rows every request hands over while a round runs are
encoded and appended together in the next one (one thread hop, one group commit), and each request gets
its own lines' outcomes, or its own failure."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from ksql.engine.engine import Engine
from ksql.engine.log import LogError, Record
from ksql.engine.log.embedded import EmbeddedLog
from server.insert_rounds import InsertRounds
from server.inserts import RowInserter


class _Inserter:
    """A RowInserter's encode: a line b"bad" is refused, others become a record of partition 0."""

    calls: list[list[list[bytes]]] = []  # the batches of each encode call

    def __init__(self, topic: str) -> None:
        self.target = SimpleNamespace(topic=topic)
        self.encoding = (topic, 1)

    def encode(self, batches: list[list[bytes]]) -> list[tuple[list[str | None], dict[int, list[Record]]]]:
        self.calls.append(batches)
        out: list[tuple[list[str | None], dict[int, list[Record]]]] = []
        for lines in batches:
            records = [Record(None, line, 1, []) for line in lines if line != b"bad"]
            out.append((["bad row" if line == b"bad" else None for line in lines], {0: records} if records else {}))
        return out


class _Server:
    """append_many as the group committer: the first round is held until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.rounds: list[list[tuple[str, list[bytes]]]] = []

    def append_many(self, writes: list[tuple[str, dict[int, list[Record]]]]) -> list[object]:
        self.release.wait(10)
        self.rounds.append([(topic, [r.value for r in records[0]]) for topic, records in writes])
        outcomes: list[object] = []
        for topic, records in writes:
            if topic == "full":
                outcomes.append(OSError(28, "No space left on device"))
            elif topic == "gone":
                outcomes.append(LogError("unknown topic 'gone'"))
            else:
                outcomes.append({0: list(range(len(records[0])))})
        return outcomes


def test_requests_arriving_during_a_round_share_the_next_one() -> None:
    server = _Server()
    rounds = InsertRounds(server)  # type: ignore[arg-type]

    async def scenario() -> list[object]:
        first = asyncio.create_task(rounds.insert(_Inserter("s"), [b"a"]))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # the first round has taken its rows and waits in its thread
        others = [asyncio.create_task(rounds.insert(_Inserter(topic), lines))  # type: ignore[arg-type]
                  for topic, lines in (("s", [b"b", b"bad", b"c"]), ("t", [b"d"]), ("full", [b"e"]),
                                       ("gone", [b"f", b"bad"]), ("s", [b"bad"]))]
        await asyncio.sleep(0.05)
        server.release.set()
        return await asyncio.gather(first, *others, return_exceptions=True)

    _Inserter.calls.clear()
    first, mixed, other_topic, full, gone, refused = asyncio.run(scenario())
    # the rows of the requests into one target are encoded together
    assert sorted(_Inserter.calls) == sorted([[[b"a"]], [[b"b", b"bad", b"c"], [b"bad"]], [[b"d"]], [[b"e"]],
                                              [[b"f", b"bad"]]])
    assert server.rounds == [[("s", [b"a"])],
                             [("s", [b"b", b"c"]), ("t", [b"d"]), ("full", [b"e"]), ("gone", [b"f"])]]
    assert rounds.rounds == 2
    assert first == [None] and mixed == [None, "bad row", None] and other_topic == [None]
    assert isinstance(full, OSError)
    assert gone == ["Failed to insert values: unknown topic 'gone'", "bad row"]
    assert refused == ["bad row"]  # nothing to append: no write of its own


def test_a_failing_round_fails_its_requests_and_the_next_round_runs() -> None:
    class Broken(_Server):
        def append_many(self, writes: list[tuple[str, dict[int, list[Record]]]]) -> list[object]:
            if not self.rounds:
                self.rounds.append([])
                raise RuntimeError("a bug")
            return super().append_many(writes)

    server = Broken()
    server.release.set()
    rounds = InsertRounds(server)  # type: ignore[arg-type]

    async def scenario() -> list[object]:
        with pytest.raises(RuntimeError):
            await rounds.insert(_Inserter("s"), [b"a"])  # type: ignore[arg-type]
        return await rounds.insert(_Inserter("s"), [b"b"])  # type: ignore[arg-type]

    assert asyncio.run(scenario()) == [None]


def test_rows_of_several_requests_encoded_together_stay_with_their_request(tmp_path: Path) -> None:
    engine = Engine(EmbeddedLog(str(tmp_path / "log"), fsync="never"))
    engine.execute("CREATE STREAM S (K STRING KEY, N INT) WITH (KAFKA_TOPIC='s', PARTITIONS=2, VALUE_FORMAT='JSON');")

    @contextmanager
    def writing():  # type: ignore[no-untyped-def]
        yield engine

    inserter = RowInserter(SimpleNamespace(writing=writing), "S")  # type: ignore[arg-type]
    first, second = inserter.encode([[b'{"K": "a", "N": 1}', b'{"N": "x"}', b'{"K": "b", "N": 2}'],
                                     [b'not json', b'{"K": "a", "N": 3}']])
    assert [e is None for e in first[0]] == [True, False, True]
    assert second[0][0] is not None and second[0][1] is None
    values = {p: [r.value for r in records] for p, records in first[1].items()}
    assert sorted(v for vs in values.values() for v in vs) == [b'{"N":1}', b'{"N":2}']
    assert [r.value for records in second[1].values() for r in records] == [b'{"N":3}']
    partition_of_a = next(p for p, vs in values.items() if b'{"N":1}' in vs)
    assert list(second[1]) == [partition_of_a]  # the same key, the same partition
    engine.log.close()
