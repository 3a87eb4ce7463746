"""HTTP/2 DATA frames and HTTP/1.1 chunks that keep a response's messages apart, as ksqlDB writes them;
and several messages handed to the server in one send.

ksqlDB (on Vert.x) sends each chunk a response writes as its own DATA frame: the
/query-stream header alone, then one frame per row. Clients rely on it: the Node
client parses each frame as one JSON message and crashes or hangs on a frame that
holds several. Hypercorn instead gathers whatever a response wrote into one buffer
per stream and sends it in frames as large as flow control allows, so rows written
one by one can leave together. `install()` gives Hypercorn a stream buffer that
hands out at most one chunk at a time (a chunk larger than a frame still spans
several frames, as with Vert.x).

Sending each row through ASGI, Hypercorn and the transport on its own costs more
than rendering it: a hundred push subscribers at a thousand rows a second would be
a hundred thousand sends a second. `BatchedStreamingResponse` sends each batch of
messages (a push query's round) in one ASGI send, telling Hypercorn where the
messages end (the contextvar MESSAGE_SIZES, set around the send, which runs in the
same task down to Hypercorn's protocol): each still leaves as its own DATA frame,
or its own HTTP/1.1 chunk. Without Hypercorn's framing installed (uvicorn, tests
over ASGI) the messages are sent one by one, as before.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import AsyncIterable
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

import h2.exceptions
import h11
import hypercorn.protocol as hypercorn_protocol
from h11._writers import ChunkedWriter
from hypercorn.events import RawData
from hypercorn.protocol import h2 as hypercorn_h2
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol.events import Body, Data, EndBody, EndData
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Send

from server.h11_body import CoalescingConnection

log = logging.getLogger("ksql.server")

# the sizes of the messages the body being sent right now is made of (None: one message)
MESSAGE_SIZES: ContextVar[list[int] | None] = ContextVar("ksql_message_sizes", default=None)
_installed = False


def _message_sizes(data: bytes) -> list[int] | None:
    sizes = MESSAGE_SIZES.get()
    return sizes if sizes is not None and sum(sizes) == len(data) else None


class ChunkBuffer(hypercorn_h2.StreamBuffer):
    """Hypercorn's per-stream send buffer, popping no further than the end of the oldest chunk."""

    def __init__(self, event_class: Any) -> None:
        super().__init__(event_class)
        self.chunk_sizes: deque[int] = deque()  # bytes left of each chunk still in the buffer

    async def push(self, data: bytes) -> None:
        if not data:
            return
        sizes = _message_sizes(data) or [len(data)]
        self.chunk_sizes.extend(size for size in sizes if size)
        try:
            await super().push(data)
        except hypercorn_h2.BufferCompleteError:
            for size in sizes:  # refused before any of it was buffered
                if size:
                    self.chunk_sizes.pop()
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

    @property
    def idle(self) -> bool:
        """Nothing queued and not ended: the stream's next data may go out at once."""
        return not self.buffer and not self._complete


class _H2Protocol(hypercorn_h2.H2Protocol):
    """Hypercorn's HTTP/2 protocol, sending a stream's data (and its end) at once when nothing of that
    stream is queued and flow control allows it, instead of handing it to the connection's send task.

    The hand-over costs a task switch per piece and a write each for the data and the end of the stream;
    a small response (a key lookup) sent at once leaves with its headers in one write (see
    server.write_coalescing). Data the window does not admit, or that follows queued data, still goes
    through the stream's buffer and the send task, in order and under flow control.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Hypercorn has validated the response headers already (build_and_validate_headers)
        self.connection.config.validate_outbound_headers = False

    async def stream_send(self, event: Any) -> None:
        if isinstance(event, Body | Data):
            if self._send_at_once(event.stream_id, event.data):
                await self._flush()
                return
        elif isinstance(event, EndBody | EndData):
            if self._end_at_once(event.stream_id):
                await self._flush()
                return
        await super().stream_send(event)

    def _idle_buffer(self, stream_id: int) -> ChunkBuffer | None:
        buffer = self.stream_buffers.get(stream_id)
        return buffer if isinstance(buffer, ChunkBuffer) and buffer.idle else None

    def _send_at_once(self, stream_id: int, data: bytes) -> bool:
        if self._idle_buffer(stream_id) is None:
            return False
        sizes = _message_sizes(data) or [len(data)]
        connection = self.connection
        try:
            if (len(data) > connection.local_flow_control_window(stream_id)
                    or max(sizes) > connection.max_outbound_frame_size):
                return False
            start = 0
            for size in sizes:
                if size:
                    connection.send_data(stream_id, data[start:start + size])
                    start += size
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return False  # the queued path meets the same error and closes the stream as Hypercorn does
        return True

    def _end_at_once(self, stream_id: int) -> bool:
        if self._idle_buffer(stream_id) is None:
            return False
        try:
            self.connection.end_stream(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return False
        del self.stream_buffers[stream_id]
        self.priority.remove_stream(stream_id)
        return True


class _H11Protocol(hypercorn_h11.H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, writing a body of several messages as one chunk each (one write), and
    passing a request body's chunks received together to the application as one (server.h11_body)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = CoalescingConnection(h11.SERVER, max_incomplete_event_size=self.config.h11_max_incomplete_size)

    async def _send_h11_event(self, event: Any) -> None:
        # Hypercorn leaves the reason phrase empty ("HTTP/1.1 200 \r\n"): valid, but some clients'
        # parsers (h2load's, for one) then drop the response; ksqlDB sends the standard phrase
        if isinstance(event, h11.Response | h11.InformationalResponse) and not event.reason:
            event = type(event)(status_code=event.status_code, headers=event.headers,
                                reason=_reason_phrase(event.status_code))
        await super()._send_h11_event(event)

    async def stream_send(self, event: Any) -> None:
        sizes = _message_sizes(event.data) if isinstance(event, Body) else None
        if sizes is None or len(sizes) < 2:
            await super().stream_send(event)
            return
        data, wire, start = event.data, [], 0
        if isinstance(getattr(self.connection, "_writer", None), ChunkedWriter):
            # h11 frames a chunk as "<size hex>\r\n<data>\r\n" and keeps no other state for it: framing
            # a round of rows here saves an h11 event per row
            for size in sizes:
                if size:
                    wire.append(b"%x\r\n%b\r\n" % (size, data[start:start + size]))
                    start += size
        else:
            try:
                for size in sizes:
                    if size:
                        wire.append(self.connection.send(h11.Data(data=data[start:start + size])))
                        start += size
            except h11.LocalProtocolError:  # as Hypercorn's own: the client broke the connection
                if self.connection.their_state != h11.ERROR:
                    raise
                return
        await self.send(RawData(data=b"".join(wire)))


@functools.cache
def _reason_phrase(status_code: int) -> bytes:
    try:
        return HTTPStatus(status_code).phrase.encode()
    except ValueError:
        return b""


def install() -> None:
    """Make Hypercorn's HTTP/2 connections use ChunkBuffer and send idle streams' data at once, and its
    HTTP/1.1 ones write a batch of messages as separate chunks, read request body chunks together and
    name the reason phrase of each status (idempotent)."""
    global _installed
    if not hasattr(hypercorn_h2, "StreamBuffer") or not hasattr(hypercorn_h2, "BufferCompleteError"):
        log.warning("this Hypercorn version has no StreamBuffer: HTTP/2 responses may merge chunks in one frame")
        return
    hypercorn_h2.StreamBuffer = ChunkBuffer
    hypercorn_protocol.H11Protocol = _H11Protocol  # the names its connections are made by
    hypercorn_protocol.H2Protocol = _H2Protocol
    _installed = True


class BatchedStreamingResponse(StreamingResponse):
    """A streaming response whose body yields lists of messages: each list is one send, each message its
    own DATA frame or chunk on the wire (one send per message where Hypercorn's framing is not installed)."""

    body_iterator: AsyncIterable[list[bytes]]  # type: ignore[assignment]

    def __init__(self, content: AsyncIterable[list[bytes]], media_type: str | None = None,
                 finite: bool = False) -> None:
        super().__init__(content, media_type=media_type)
        self.finite = finite  # a pull query's answer: all known, sent at once

    async def __call__(self, scope: Any, receive: Any, send: Send) -> None:
        if not self.finite:
            await super().__call__(scope, receive, send)
            return
        # nothing to stop early for: no task watching for the client's disconnect (two tasks a request)
        try:
            await self.stream_response(send)
        except OSError:
            raise ClientDisconnect() from None

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.finite and _installed:
            # all of it in the send that ends the body: one pass through the middleware and the protocol
            messages = [message async for batch in self.body_iterator for message in batch if message]
            await _send_messages(send, messages, more_body=False)
            return
        async for messages in self.body_iterator:
            if len(messages) > 1 and _installed:
                await _send_messages(send, messages, more_body=True)
                continue
            for message in messages:
                await send({"type": "http.response.body", "body": message, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_messages(send: Send, messages: list[bytes], more_body: bool) -> None:
    """Several messages in one ASGI send, telling Hypercorn's framing where each ends (MESSAGE_SIZES)."""
    token = MESSAGE_SIZES.set([len(m) for m in messages])
    try:
        await send({"type": "http.response.body", "body": b"".join(messages), "more_body": more_body})
    finally:
        MESSAGE_SIZES.reset(token)
