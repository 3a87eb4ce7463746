"""An HTTP/1.1 request body's chunks that have already arrived, handed to the application as one.

A client streaming /inserts-stream rows one per HTTP chunk sends tens of thousands
of chunks a second, and many arrive in each socket read. h11 returns each as its
own Data event, parsed by several calls and passed by Hypercorn through its
stream, the ASGI receive queue and the middleware to the endpoint: most of what a
row costs the server. `CoalescingConnection.next_event` instead returns every
chunk it can read from what was received as one Data event. Chunk boundaries
carry no meaning in HTTP/1.1 (the endpoints split bodies on newlines), and the
events that end the body (EndOfMessage, or a protocol error) are held back and
returned on the next call, in the order h11 produced them.

Whole chunks of the plain form `<hex size>\\r\\n<data>\\r\\n` are read here in one
pass over the buffer, where h11 would make an event of each: only while h11's
chunked reader stands between chunks (its state is checked, and this pass is off
if that reader ever changes shape). Anything else, a partial chunk, an extension,
the last chunk, a malformed one, is left to h11.
"""

from __future__ import annotations

import re
from typing import Any

import h11
from h11._readers import ChunkedReader

_CHUNK_HEAD = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")
# the state of h11's ChunkedReader read (and, for the discarded CRLF, written) here
_READER_STATE = ("_bytes_in_chunk", "_bytes_to_discard", "_reading_trailer")
_FAST_CHUNKS = all(hasattr(ChunkedReader(), name) for name in _READER_STATE)


class CoalescingConnection(h11.Connection):
    """h11's connection, joining the body Data events parsable from what was received into one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: Any = None  # the event (or RemoteProtocolError) that followed the joined Data

    def next_event(self) -> Any:
        held = self._held
        if held is not None:
            self._held = None
            if isinstance(held, BaseException):
                raise held
            return held
        parts: list[bytes] = []
        while True:
            whole = self._whole_chunks()
            if whole:
                parts.append(whole)
            try:
                event = super().next_event()
            except h11.RemoteProtocolError as err:
                if not parts:
                    raise
                self._held = err  # after the data that came before it
                break
            if type(event) is h11.Data:
                parts.append(event.data)
                continue
            if not parts:
                return event
            if event is not h11.NEED_DATA:
                self._held = event
            break
        return h11.Data(data=parts[0] if len(parts) == 1 else b"".join(parts))

    def _whole_chunks(self) -> bytes:
        """The data of the whole plain chunks at the front of the receive buffer, taken from it."""
        reader = self._reader
        if (not _FAST_CHUNKS or type(reader) is not ChunkedReader or self.their_state is not h11.SEND_BODY
                or reader._bytes_in_chunk or reader._reading_trailer):
            return b""
        received = bytes(self._receive_buffer)
        pending = reader._bytes_to_discard  # the CRLF after the chunk h11 read last
        if not received.startswith(pending):
            return b""
        end = len(pending)
        parts = []
        while (head := _CHUNK_HEAD.match(received, end)) is not None:
            size = int(head[1], 16)
            after = head.end() + size
            if size == 0 or received[after:after + 2] != b"\r\n":
                break  # the last chunk, or one not wholly received (or malformed): h11's
            parts.append(received[head.end():after])
            end = after + 2
        if not parts:
            return b""
        self._receive_buffer.maybe_extract_at_most(end)
        reader._bytes_to_discard = b""
        self.client_is_waiting_for_100_continue = False  # as h11 does on the client's Data
        return b"".join(parts)
