"""A push query's round of rows goes to Hypercorn in one send, and still leaves as one HTTP/2 DATA frame or
one HTTP/1.1 chunk per row (the wire itself is checked end to end in test_wire.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import h11
from hypercorn.asyncio.worker_context import EventWrapper
from hypercorn.protocol.events import Body

from server import h2frames


def test_each_batch_is_one_send_carrying_its_message_sizes() -> None:
    h2frames.install()
    sent: list[tuple[bytes, list[int] | None]] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            sent.append((message["body"], h2frames.MESSAGE_SIZES.get()))

    async def body() -> AsyncIterator[list[bytes]]:
        yield [b"header\n"]
        yield [b"[1]\n", b"[22]\n", b"[333]\n"]

    asyncio.run(h2frames.BatchedStreamingResponse(body()).stream_response(send))
    assert sent == [(b"header\n", None), (b"[1]\n[22]\n[333]\n", [4, 5, 6]), (b"", None)]


def test_the_http2_buffer_hands_out_one_message_at_a_time() -> None:
    async def scenario() -> list[bytes]:
        buffer = h2frames.ChunkBuffer(EventWrapper)
        token = h2frames.MESSAGE_SIZES.set([4, 5, 6])
        try:
            await buffer.push(b"[1]\n[22]\n[333]\n")
        finally:
            h2frames.MESSAGE_SIZES.reset(token)
        await buffer.push(b"tail")
        return [await buffer.pop(1000) for _ in range(4)]

    assert asyncio.run(scenario()) == [b"[1]\n", b"[22]\n", b"[333]\n", b"tail"]


def test_the_http11_protocol_writes_one_chunk_per_message_in_one_write() -> None:
    written: list[bytes] = []

    class Protocol(h2frames._H11Protocol):  # noqa: SLF001 - only the body framing is under test
        def __init__(self) -> None:
            self.connection = h11.Connection(h11.SERVER)
            self.connection.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.connection.next_event()
            self.connection.send(h11.Response(status_code=200, headers=[]))

        async def send(self, event) -> None:
            written.append(event.data)

    async def scenario() -> None:
        token = h2frames.MESSAGE_SIZES.set([4, 5])
        try:
            await Protocol().stream_send(Body(stream_id=1, data=b"[1]\n[22]\n"))
        finally:
            h2frames.MESSAGE_SIZES.reset(token)

    asyncio.run(scenario())
    assert written == [b"4\r\n[1]\n\r\n5\r\n[22]\n\r\n"]
