"""What ksqlDB's clients see on the wire: HTTP/2 DATA frames, connection reuse, h2c upgrade, ack formats.

The frame-level checks speak HTTP/2 with the `h2` library over a plain socket, so
each DATA frame the server sends is seen as sent (an HTTP client would merge them).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.server.harness import ServerProcess, ksql


class H2Client:
    """A minimal HTTP/2 cleartext (prior knowledge) client that records every DATA frame per stream."""

    def __init__(self, sock: socket.socket, conn: h2.connection.H2Connection):
        self.sock = sock
        self.conn = conn
        self.frames: dict[int, list[bytes]] = {}
        self.headers: dict[int, dict[str, str]] = {}
        self.ended: set[int] = set()
        self.closed = False
        self.sock.sendall(self.conn.data_to_send())

    @classmethod
    def connect(cls, port: int) -> H2Client:
        """HTTP/2 with prior knowledge."""
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        return cls(socket.create_connection(("127.0.0.1", port), timeout=10), conn)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(":method", method), (":path", path), (":scheme", "http"),
                                           (":authority", "localhost"), *(headers or {}).items()],
                               end_stream=body is None)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        return stream_id

    def receive(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self.headers[event.stream_id] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                self.frames.setdefault(event.stream_id, []).append(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.closed = True
        self.sock.sendall(self.conn.data_to_send())

    def wait(self, stream_id: int) -> list[bytes]:
        """The stream's non-empty DATA frames, once it ended."""
        while stream_id not in self.ended:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the server closed the connection")
            self.receive(data)
        return [frame for frame in self.frames.get(stream_id, []) if frame]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def h2_client(server: ServerProcess) -> Iterator[H2Client]:
    client = H2Client.connect(server.port)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def rows_stream(server: ServerProcess) -> str:
    with server.client() as client:
        ksql(client, "CREATE STREAM WIRE_ROWS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='wire_rows', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        for v in range(4):
            ksql(client, f"INSERT INTO WIRE_ROWS (K, V) VALUES ('k{v}', {v});")
    return "WIRE_ROWS"


def _query_stream(h2_client: H2Client, sql: str, accept: str | None = None) -> list[bytes]:
    headers = {"content-type": "application/json"} | ({"accept": accept} if accept else {})
    body = json.dumps({"sql": sql, "properties": {"auto.offset.reset": "earliest"}}).encode()
    stream_id = h2_client.request("POST", "/query-stream", body, headers)
    frames = h2_client.wait(stream_id)
    assert h2_client.headers[stream_id][":status"] == "200", frames
    return frames


@pytest.mark.parametrize("sql", ["SELECT K, V FROM WIRE_ROWS;", "SELECT K, V FROM WIRE_ROWS EMIT CHANGES LIMIT 4;"],
                         ids=["pull", "push"])
def test_query_stream_sends_the_header_alone_then_one_data_frame_per_row(h2_client: H2Client, rows_stream: str,
                                                                         sql: str) -> None:
    frames = _query_stream(h2_client, sql)
    header = json.loads(frames[0])
    assert header["columnNames"] == ["K", "V"]
    assert [json.loads(frame) for frame in frames[1:]] == [["k0", 0], ["k1", 1], ["k2", 2], ["k3", 3]]
    assert all(frame.endswith(b"\n") and frame.count(b"\n") == 1 for frame in frames)


def _http11_chunks(port: int, path: str, body: bytes) -> list[bytes]:
    """The chunks of a chunked HTTP/1.1 response, as the server framed them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 200")
        headers = []
        while (line := reader.readline()) != b"\r\n":
            headers.append(line.lower())
        assert b"transfer-encoding: chunked\r\n" in headers
        chunks = []
        while size := int(reader.readline().strip(), 16):
            chunks.append(reader.read(size))
            assert reader.read(2) == b"\r\n"
        return chunks


@pytest.mark.parametrize("sql", ["SELECT K, V FROM WIRE_ROWS;", "SELECT K, V FROM WIRE_ROWS EMIT CHANGES LIMIT 4;"],
                         ids=["pull", "push"])
def test_query_stream_over_http11_sends_one_chunk_per_row(server: ServerProcess, rows_stream: str, sql: str) -> None:
    body = json.dumps({"sql": sql, "properties": {"auto.offset.reset": "earliest"}}).encode()
    chunks = _http11_chunks(server.port, "/query-stream", body)
    assert json.loads(chunks[0])["columnNames"] == ["K", "V"]
    assert [json.loads(chunk) for chunk in chunks[1:]] == [["k0", 0], ["k1", 1], ["k2", 2], ["k3", 3]]


def test_query_stream_as_a_json_array_also_sends_one_frame_per_row(h2_client: H2Client, rows_stream: str) -> None:
    frames = _query_stream(h2_client, "SELECT K, V FROM WIRE_ROWS EMIT CHANGES LIMIT 2;", "application/json")
    assert json.loads(b"".join(frames))[1:] == [["k0", 0], ["k1", 1]]
    assert frames[0].startswith(b"[{") and frames[1] == b',["k0",0]' and frames[2] == b',["k1",1]'


def test_query_sends_each_message_as_its_own_frame(h2_client: H2Client, rows_stream: str) -> None:
    body = json.dumps({"ksql": "SELECT K, V FROM WIRE_ROWS EMIT CHANGES LIMIT 2;",
                       "streamsProperties": {"auto.offset.reset": "earliest"}}).encode()
    frames = h2_client.wait(h2_client.request("POST", "/query", body, {"content-type": "application/json"}))
    assert len(frames) == 4  # header, two rows, final message
    messages = json.loads(b"".join(frames))
    assert [m["row"]["columns"] for m in messages[1:3]] == [["k0", 0], ["k1", 1]]


def test_an_answer_larger_than_the_flow_control_window_arrives_whole_one_message_a_frame(
        server: ServerProcess, h2_client: H2Client) -> None:
    # 200 rows of ~600 bytes: past HTTP/2's initial 65,535-byte window, so part of the answer waits for the
    # client's WINDOW_UPDATEs while the rest went out at once
    rows = [{"K": f"k{i}", "V": i, "S": f"{i:04d}" + "x" * 600} for i in range(200)]
    with server.client() as client:
        ksql(client, "CREATE STREAM WIRE_BIG (K STRING KEY, V INT, S STRING) WITH (KAFKA_TOPIC='wire_big', "
                     "PARTITIONS=1, VALUE_FORMAT='JSON');")
        body = b"\n".join(json.dumps(r).encode() for r in [{"target": "WIRE_BIG"}, *rows])
        assert client.post("/inserts-stream", content=body).status_code == 200
    request = json.dumps({"ksql": "SELECT V, S FROM WIRE_BIG;"}).encode()
    frames = h2_client.wait(h2_client.request("POST", "/query", request, {"content-type": "application/json"}))
    # no frame holds parts of two messages (one may span two frames where the window ran out)
    assert all(b"\n" not in frame[:-1] for frame in frames)
    assert sum(frame.endswith(b"\n") for frame in frames) == 1 + 200 + 1  # header, rows, final message
    messages = json.loads(b"".join(frames))
    assert [m["row"]["columns"] for m in messages[1:-1]] == [[r["V"], r["S"]] for r in rows]
    chunks = _http11_chunks(server.port, "/query", request)
    assert len(chunks) == 1 + 200 + 1 and json.loads(b"".join(chunks))[1:] == messages[1:]


def test_inserts_stream_acks_as_a_json_array_or_delimited(server: ServerProcess, rows_stream: str) -> None:
    rows = b'{"target": "WIRE_ROWS"}\n{"K": "a", "V": 10}\n{"K": "b", "V": "x"}\n'
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=10) as client:
        as_json = client.post("/inserts-stream", content=rows, headers={"accept": "application/json"})
        delimited = client.post("/inserts-stream", content=rows,
                                headers={"accept": "application/vnd.ksqlapi.delimited.v1"})
    assert as_json.headers["content-type"].startswith("application/json")
    acks = as_json.json()
    assert [(a["status"], a["seq"]) for a in acks] == [("ok", 0), ("error", 1)]
    assert delimited.headers["content-type"].startswith("application/vnd.ksqlapi.delimited.v1")
    assert [json.loads(line)["status"] for line in delimited.text.splitlines()] == ["ok", "error"]


def test_many_requests_share_one_http2_connection(h2_client: H2Client) -> None:
    # Hypercorn's default closes a connection after 1000 requests; ksqlDB never does
    for _ in range(1005):
        stream_id = h2_client.request("GET", "/healthcheck")
        h2_client.wait(stream_id)
        assert h2_client.headers[stream_id][":status"] == "200"
    assert not h2_client.closed


def test_many_requests_share_one_http11_connection(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(1005):
            sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                assert not (name.lower() == "connection" and value.strip().lower() == "close")
            reader.read(length)


def test_http11_status_lines_carry_the_standard_reason_phrase(server: ServerProcess) -> None:
    # an empty phrase ("HTTP/1.1 200 \r\n") is valid HTTP, but some clients' parsers drop such responses
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        status_lines = []
        for request in (b"GET /healthcheck", b"GET /no-such-endpoint", b"POST /ksql"):
            sock.sendall(request + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            status_lines.append(reader.readline())
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reader.read(length)
    assert status_lines == [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 404 Not Found\r\n", b"HTTP/1.1 400 Bad Request\r\n"]


def test_h2c_upgrade_from_http11(server: ServerProcess) -> None:
    settings = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    http2_settings = settings.initiate_upgrade_connection().decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     f"Upgrade: h2c\r\nHTTP2-Settings: {http2_settings}\r\n\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        head, _, rest = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        client = H2Client(sock, settings)
        if rest:
            client.receive(rest)
        info = json.loads(b"".join(client.wait(1)))  # the upgraded request is stream 1
        assert info["KsqlServerInfo"]["version"]
        stream_id = client.request("GET", "/healthcheck")  # and the connection goes on in HTTP/2
        assert json.loads(b"".join(client.wait(stream_id)))["isHealthy"] is True


def test_idle_connections_are_closed_after_the_configured_timeout(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", {"ksql.log.fsync": "never",
                                               "ksql.idle.connection.timeout.seconds": "1"}).start()
    try:
        client = H2Client.connect(server.port)
        stream_id = client.request("GET", "/healthcheck")
        client.wait(stream_id)
        client.sock.settimeout(30)
        while not client.closed:  # the server ends the idle connection: GOAWAY, then EOF
            data = client.sock.recv(65536)
            if not data:
                break
            client.receive(data)
        client.close()
    finally:
        server.kill()
