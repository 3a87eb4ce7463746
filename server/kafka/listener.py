"""The Kafka listener: a TCP server on its own thread and event loop, framing and dispatching requests.

Each request is a 4-byte big-endian size and then the request: a header (api key,
api version, correlation id, client id, and tagged fields in flexible versions) and
the body. Requests of one connection are answered in order, one at a time, as Kafka
brokers do. A request for an API or version this broker does not serve, or one that
does not decode, is logged and the connection closed (what Kafka does), except
ApiVersions, which answers an unsupported version with UNSUPPORTED_VERSION and the
versions it does support so the client can retry.
"""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import socket
import struct
import threading

from kafka.protocol.api_header import RequestHeader
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse

from ksql.errors import KsqlError
from server.kafka import handlers  # noqa: F401 - registers every API this broker serves
from server.kafka.broker import Broker
from server.kafka.dispatch import HANDLERS, Connection, supported_versions
from server.kafka.sasl import OPEN_API_KEYS, PRINCIPAL

log = logging.getLogger("ksql.server.kafka")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # socket.request.max.bytes of Kafka
READ_BUFFER_BYTES = 16 * 1024 * 1024  # a connection's next requests are received while one is handled
UNSUPPORTED_VERSION = 35
_HEAD = struct.Struct(">hhi")  # api key, api version, correlation id


class ProtocolError(Exception):
    """A request this broker cannot answer: the connection is closed."""


def parse_listener(value: str) -> tuple[str, int] | None:
    """'HOST:PORT' -> (host, port); 'none' -> None (no listener). Raises KsqlError saying what is wrong."""
    if value.strip().lower() == "none":
        return None
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KsqlError(f"--kafka-listener expects HOST:PORT (e.g. localhost:9092) or none, got {value!r}")
    return host, int(port)


def advertised_host(host: str) -> str:
    """The host clients are told to connect to: this machine's name for a wildcard listener."""
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


def bind(host: str, port: int) -> socket.socket:
    """Bind the listener's socket now, so a port in use is one clear error before the server starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise KsqlError(f"Cannot listen for Kafka clients on {host}:{port}: {err.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise KsqlError(f"Kafka listener port {port} on {host} is already in use (by a Kafka broker?): "
                            "choose another with --kafka-listener HOST:PORT, or --kafka-listener none") from None
        raise KsqlError(f"Cannot listen for Kafka clients on {host}:{port}: {err.strerror or err}") from None
    return sock


class KafkaListener:
    """Serves the Kafka protocol on a bound socket from a thread of its own until stop()."""

    def __init__(self, sock: socket.socket, broker: Broker) -> None:
        self.sock = sock
        self.broker = broker
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kafka-listener", daemon=True)
        self._started = threading.Event()
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.broker.appended = asyncio.Event()
        self._loop.run_until_complete(self.broker.transactions.recover())
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self.sock, limit=READ_BUFFER_BYTES))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = Connection(peer=f"{peer[0]}:{peer[1]}" if peer else "?")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
                if not 12 <= size <= MAX_REQUEST_BYTES:
                    raise ProtocolError(f"request size {size} outside 12..{MAX_REQUEST_BYTES} bytes "
                                        "(not a Kafka client?)")
                response = await self.handle(await reader.readexactly(size), conn)
                if response is not None:
                    writer.write(response)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except (ProtocolError, KsqlError) as err:  # KsqlError: the server is shutting down
            log.warning("Kafka client %s (%s): %s; closing the connection", conn.peer, conn.client_id, err)
        except asyncio.CancelledError:
            pass  # the listener is stopping (re-raising makes asyncio log the cancelled connection)
        except Exception:  # noqa: BLE001 - a bug answering one request must not stop the listener
            log.exception("Kafka client %s: request failed; closing the connection", conn.peer)
        finally:
            writer.close()

    async def handle(self, frame: bytes, conn: Connection) -> bytes | None:
        """The framed response to one request (None when the client expects no response)."""
        api_key, version, correlation_id = _HEAD.unpack_from(frame)
        handler = HANDLERS.get(api_key)
        if handler is None:
            raise ProtocolError(f"unsupported API key {api_key}")
        if not handler.min_version <= version <= handler.max_version:
            if api_key == ApiVersionsRequest.API_KEY:
                return _unsupported_api_versions(correlation_id)
            raise ProtocolError(f"unsupported version {version} of {handler.request.name} "
                                f"(this broker serves {handler.min_version}..{handler.max_version})")
        if self.broker.sasl is not None and PRINCIPAL not in conn.state and api_key not in OPEN_API_KEYS:
            raise ProtocolError(f"{handler.request.name} before SASL authentication, which this server requires")
        flexible = handler.request.flexible_version_q(version)
        try:
            data = io.BytesIO(frame)
            header = RequestHeader.decode(data, flexible=flexible)
            request = handler.request.decode(memoryview(frame)[data.tell():], version=version)
        except Exception as err:  # noqa: BLE001 - whatever the library raised for malformed bytes
            raise ProtocolError(f"malformed {handler.request.name} v{version} request: {err!r}") from None
        conn.client_id = header.client_id
        response = await handler.handle(self.broker, request, conn)
        if response is None:
            return None
        response.API_VERSION = version  # before the header: setting it later would touch the header
        response.with_header(correlation_id=correlation_id)
        return bytes(response.encode(header=True, framed=True))


def _unsupported_api_versions(correlation_id: int) -> bytes:
    """ApiVersions v0 with UNSUPPORTED_VERSION and the supported versions (Kafka's answer to a newer client)."""
    response = ApiVersionsResponse(error_code=UNSUPPORTED_VERSION, api_keys=[
        ApiVersionsResponse.ApiVersion(api_key=key, min_version=lo, max_version=hi)
        for key, lo, hi in supported_versions()])
    response.API_VERSION = 0
    response.with_header(correlation_id=correlation_id)
    return bytes(response.encode(header=True, framed=True))
