"""HTTP/1.1 request body chunks already received reach the application as one Data event, with the events
after them (the body's end, a protocol error) kept in order."""

from __future__ import annotations

import h11
import pytest

from server.h11_body import CoalescingConnection

HEAD = b"POST /inserts-stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _events(connection: h11.Connection) -> list[object]:
    events: list[object] = []
    while (event := connection.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        events.append(event)
    return events


def test_chunks_received_together_are_one_data_event_then_the_end() -> None:
    connection = CoalescingConnection(h11.SERVER)
    connection.receive_data(HEAD + _chunk(b'{"A": 1}\n') + _chunk(b'{"A": 2}\n'))
    request, data = _events(connection)
    assert isinstance(request, h11.Request) and isinstance(data, h11.Data)
    assert data.data == b'{"A": 1}\n{"A": 2}\n'
    connection.receive_data(_chunk(b'{"A": 3}\n') + _chunk(b'{"A": 4}\n') + b"0\r\n\r\n")
    data, end = _events(connection)
    assert isinstance(data, h11.Data) and data.data == b'{"A": 3}\n{"A": 4}\n'
    assert isinstance(end, h11.EndOfMessage)


def test_a_single_chunk_is_passed_as_it_is() -> None:
    connection = CoalescingConnection(h11.SERVER)
    connection.receive_data(HEAD + _chunk(b"one\n"))
    assert [e.data for e in _events(connection) if isinstance(e, h11.Data)] == [b"one\n"]


def test_a_protocol_error_comes_after_the_data_before_it() -> None:
    connection = CoalescingConnection(h11.SERVER)
    connection.receive_data(HEAD + _chunk(b"a\n") + _chunk(b"b\n") + b"zz\r\n")
    assert isinstance(connection.next_event(), h11.Request)
    data = connection.next_event()
    assert isinstance(data, h11.Data) and data.data == b"a\nb\n"
    with pytest.raises(h11.RemoteProtocolError):
        connection.next_event()


def test_chunks_split_anywhere_across_reads_give_the_body_unchanged() -> None:
    """Whole chunks are read in one pass, partial ones, extensions and the CRLF h11 had left to discard by
    h11: the body comes out the same wherever the socket reads split it."""
    rows = [b'{"N": %d}\n' % n for n in range(40)]
    wire = b"".join(_chunk(row) for row in rows[:20]) + b"5;ext=1\r\nabcde\r\n" + b"".join(
        _chunk(row) for row in rows[20:]) + b"0\r\n\r\n"
    for step in (1, 2, 7, 13, 64, len(wire)):
        connection = CoalescingConnection(h11.SERVER)
        connection.receive_data(HEAD)
        body, ended = b"", False
        for at in range(0, len(wire), step):
            connection.receive_data(wire[at:at + step])
            for event in _events(connection):
                if isinstance(event, h11.Data):
                    body += event.data
                else:
                    ended = isinstance(event, h11.EndOfMessage)
        assert body == b"".join(rows[:20]) + b"abcde" + b"".join(rows[20:]), step
        assert ended, step


def test_a_malformed_chunk_after_whole_ones_is_h11s_error() -> None:
    connection = CoalescingConnection(h11.SERVER)
    connection.receive_data(HEAD + _chunk(b"a\n") + b"2\r\nb\nXX")  # the second chunk ends without CRLF
    assert isinstance(connection.next_event(), h11.Request)
    data = connection.next_event()
    assert isinstance(data, h11.Data) and data.data == b"a\nb\n"
    with pytest.raises(h11.RemoteProtocolError):
        connection.next_event()
