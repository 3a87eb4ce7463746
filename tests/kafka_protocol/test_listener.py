"""The Kafka listener's start-up: where it listens, and one clear line when it cannot."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from tests.server.harness import ServerProcess, free_port
from tests.server.test_startup_errors import assert_refused, start_server


def test_kafka_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                              "--kafka-listener", f"127.0.0.1:{port}")
    assert_refused(result, f"Kafka listener port {port}", "already in use", "--kafka-listener")
    assert not (tmp_path / "d").exists()


def test_bad_kafka_listener_value(tmp_path: Path) -> None:
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                          "--kafka-listener", "localhost")
    assert_refused(result, "--kafka-listener expects HOST:PORT", "'localhost'")


def _request(sock: socket.socket, api_key: int, version: int, body: bytes = b"") -> bytes:
    client_id = b"test"
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    size = struct.unpack(">i", _read(sock, 4))[0]
    return _read(sock, size)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_api_versions_and_unknown_requests(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "data", extra_args=["--kafka-listener", f"127.0.0.1:{port}"]).start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reply = _request(sock, 18, 0)  # ApiVersions v0
            correlation_id, error, count = struct.unpack_from(">ihi", reply)
            assert (correlation_id, error) == (7, 0)
            keys = {struct.unpack_from(">hhh", reply, 10 + 6 * i)[0] for i in range(count)}
            assert {0, 1, 2, 3, 18, 19, 20, 22} <= keys  # Produce, Fetch, ListOffsets, Metadata, ApiVersions...
            reply = _request(sock, 18, 99)  # a newer client: UNSUPPORTED_VERSION, with our versions
            assert struct.unpack_from(">ih", reply) == (7, 35)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(10)
            try:  # an API nobody serves: the connection is closed, as Kafka does
                _request(sock, 999, 0)
                raise AssertionError("expected the connection to be closed")
            except ConnectionError:
                pass
        assert server.proc is not None and server.proc.poll() is None
    finally:
        server.kill()


def test_malformed_request_closes_only_that_connection(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "data", extra_args=["--kafka-listener", f"127.0.0.1:{port}"]).start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(10)
            try:  # Metadata v9 whose body stops after one byte
                _request(sock, 3, 9, b"\x05")
                raise AssertionError("expected the connection to be closed")
            except ConnectionError:
                pass
        with socket.create_connection(("127.0.0.1", port)) as sock:
            assert struct.unpack_from(">ih", _request(sock, 18, 0)) == (7, 0)  # others are served
        assert "malformed MetadataRequest v9 request" in server.output()
        assert "Traceback" not in server.output()
    finally:
        server.kill()
