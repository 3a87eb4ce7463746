"""How push rows reach the connections: each row rendered once for all its subscribers, in the bytes each
wire format expects, and one wakeup of the event loop per round however many subscribers it reached."""

from __future__ import annotations

import asyncio
import threading

import orjson
import pytest

from ksql.engine.transient import PushRow
from ksql.types import DOUBLE, INTEGER
from server.queries import LoopWakeups
from server.rows import RowWriter, dumps, query_row


def test_a_shared_row_is_rendered_once_for_every_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[list] = []
    writer = RowWriter([INTEGER, DOUBLE])
    values = writer.values

    def counting(row: list) -> list:
        rendered.append(row)
        return values(row)

    monkeypatch.setattr(writer, "values", counting)
    row = PushRow([1, 2.0], 0, 7)
    first = writer.push_json(row)
    assert all(writer.push_json(row) is first for _ in range(99))
    assert rendered == [[1, 2.0]] and orjson.loads(first) == [1, 2.0]


@pytest.mark.parametrize("tombstone", [False, True])
def test_query_row_messages_are_the_bytes_dumps_writes(tombstone: bool) -> None:
    values = [1, "a", None, {"X": [1.5]}]
    expected: dict = {"row": {"columns": values}}
    if tombstone:
        expected["row"]["tombstone"] = True
    assert query_row(dumps(values), tombstone) == dumps(expected)


def test_one_round_of_wakeups_costs_one_call_into_the_loop() -> None:
    async def scenario() -> tuple[int, int, list[bool]]:
        loop = asyncio.get_running_loop()
        calls = [0]
        call_soon_threadsafe = loop.call_soon_threadsafe

        def counting(*args):  # type: ignore[no-untyped-def]
            calls[0] += 1
            return call_soon_threadsafe(*args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        wakeups = LoopWakeups(loop)
        events = [asyncio.Event() for _ in range(100)]
        runner = threading.Thread(target=lambda: [wakeups.wake(e) for e in events])  # as the runner does
        runner.start()
        runner.join()
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 10)
        first_round = calls[0]
        woken = [e.is_set() for e in events]
        wakeups.wake(events[0])  # the next round: a call of its own
        return first_round, calls[0], woken

    first_round, both_rounds, woken = asyncio.run(scenario())
    assert first_round == 1 and both_rounds == 2 and all(woken)


def test_wakeups_for_a_closed_loop_raise_every_time() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    wakeups = LoopWakeups(loop)
    for _ in range(2):  # each push query woken after its loop is gone learns it (and closes itself)
        with pytest.raises(RuntimeError):
            wakeups.wake(asyncio.Event())
