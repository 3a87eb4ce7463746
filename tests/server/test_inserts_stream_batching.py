"""/inserts-stream reads its body ahead: rows that arrived one per chunk while a batch was being
inserted come as one batch (and so one group commit round), in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from server.inserts import _Lines


class _ChunkedBody:
    """A request whose body's first chunk arrives, then the others once `more` is set."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.more = asyncio.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        yield self.chunks[0]
        await self.more.wait()
        for chunk in self.chunks[1:]:
            yield chunk


def test_rows_that_arrived_one_per_chunk_come_as_one_batch() -> None:
    async def scenario() -> list[list[bytes] | None]:
        rows = [b'{"N": %d}\n' % n for n in range(5)]
        body = _ChunkedBody([b'{"target": "S"}\n', *rows])
        lines = _Lines(body, 1000)  # type: ignore[arg-type]
        batches = [await lines.next_batch()]
        body.more.set()
        for _ in range(1000):  # the rows arrive while the first batch is being inserted
            if lines.chunks.qsize() == len(rows) + 1:  # every row and the end of the body
                break
            await asyncio.sleep(0)
        batches.append(await lines.next_batch())
        batches.append(await lines.next_batch())
        lines.close()
        return batches

    assert asyncio.run(scenario()) == [[b'{"target": "S"}'], [b'{"N": %d}' % n for n in range(5)], None]
