"""CoalescingTCPServer: what one turn of the event loop sends leaves in one write, in order."""

from __future__ import annotations

import asyncio

from hypercorn.config import Config
from hypercorn.events import Closed, RawData

from server.write_coalescing import WRITE_NOW_BYTES, CoalescingTCPServer


class RecordingTransport:
    def __init__(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered


class RecordingWriter:
    """Records each write, as the socket would see them; drain() counts the waits."""

    def __init__(self) -> None:
        self.transport = RecordingTransport()
        self.writes: list[bytes] = []
        self.drains = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def drain(self) -> None:
        self.drains += 1

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass


def _server(writer: RecordingWriter) -> CoalescingTCPServer:
    return CoalescingTCPServer(None, asyncio.get_running_loop(), Config(), None, None, None, writer)


def test_what_one_turn_sends_is_one_write_after_it() -> None:
    async def scenario() -> list[list[bytes]]:
        writer = RecordingWriter()
        server = _server(writer)
        for piece in (b"headers", b"data", b"end"):
            await server.protocol_send(RawData(data=piece))
        before = list(writer.writes)
        await asyncio.sleep(0)
        return [before, writer.writes]

    before, after = asyncio.run(scenario())
    assert before == []
    assert after == [b"headersdataend"]


def test_large_output_is_written_at_once_after_what_was_pending_and_drained() -> None:
    async def scenario() -> RecordingWriter:
        writer = RecordingWriter()
        server = _server(writer)
        await server.protocol_send(RawData(data=b"small"))
        await server.protocol_send(RawData(data=b"x" * WRITE_NOW_BYTES))
        await asyncio.sleep(0)
        return writer

    writer = asyncio.run(scenario())
    assert writer.writes == [b"small" + b"x" * WRITE_NOW_BYTES]
    assert writer.drains == 1


def test_a_slow_reader_is_waited_on_for_each_send() -> None:
    async def scenario() -> RecordingWriter:
        writer = RecordingWriter()
        writer.transport.buffered = 1  # the transport still holds output the client has not read
        server = _server(writer)
        await server.protocol_send(RawData(data=b"a"))
        await server.protocol_send(RawData(data=b"b"))
        return writer

    writer = asyncio.run(scenario())
    assert writer.writes == [b"a", b"b"]
    assert writer.drains == 2


def test_pending_output_is_written_before_the_connection_closes() -> None:
    class Protocol:
        async def handle(self, event: object) -> None:
            pass

    async def scenario() -> RecordingWriter:
        writer = RecordingWriter()
        server = _server(writer)
        server.protocol = Protocol()
        server.idle_task = type("Idle", (), {"stop": staticmethod(lambda: asyncio.sleep(0))})()
        await server.protocol_send(RawData(data=b"goodbye"))
        await server.protocol_send(Closed())
        return writer

    writer = asyncio.run(scenario())
    assert writer.writes == [b"goodbye"]
    assert writer.closed
