"""HTTP/2 DATA frames that keep a response's chunks apart, as ksqlDB writes them.

ksqlDB (on Vert.x) sends each chunk a response writes as its own DATA frame: the
/query-stream header alone, then one frame per row. Clients rely on it: the Node
client parses each frame as one JSON message and crashes or hangs on a frame that
holds several. Hypercorn instead gathers whatever a response wrote into one buffer
per stream and sends it in frames as large as flow control allows, so rows written
one by one can leave together. `install()` gives Hypercorn a stream buffer that
hands out at most one chunk at a time (a chunk larger than a frame still spans
several frames, as with Vert.x).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from hypercorn.protocol import h2 as hypercorn_h2

log = logging.getLogger("ksql.server")


class ChunkBuffer(hypercorn_h2.StreamBuffer):
    """Hypercorn's per-stream send buffer, popping no further than the end of the oldest chunk."""

    def __init__(self, event_class: Any) -> None:
        super().__init__(event_class)
        self.chunk_sizes: deque[int] = deque()  # bytes left of each chunk still in the buffer

    async def push(self, data: bytes) -> None:
        if not data:
            return
        self.chunk_sizes.append(len(data))
        try:
            await super().push(data)
        except hypercorn_h2.BufferCompleteError:
            self.chunk_sizes.pop()  # refused before any of it was buffered
            raise

    async def pop(self, max_length: int) -> bytes:
        limit = min(self.chunk_sizes[0], max_length) if self.chunk_sizes else max_length
        data = await super().pop(limit)
        if data:
            self.chunk_sizes[0] -= len(data)
            if self.chunk_sizes[0] == 0:
                self.chunk_sizes.popleft()
        return data

    async def close(self) -> None:
        self.chunk_sizes.clear()
        await super().close()


def install() -> None:
    """Make Hypercorn's HTTP/2 connections use ChunkBuffer (idempotent)."""
    if not hasattr(hypercorn_h2, "StreamBuffer") or not hasattr(hypercorn_h2, "BufferCompleteError"):
        log.warning("this Hypercorn version has no StreamBuffer: HTTP/2 responses may merge chunks in one frame")
        return
    hypercorn_h2.StreamBuffer = ChunkBuffer
