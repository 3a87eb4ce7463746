"""`ksql-server`: start a ksqlDB-compatible server on port 8088 with its data in ./ksql-data.

    ksql-server                                   defaults: http://0.0.0.0:8088, ./ksql-data
    ksql-server --config-file ksql-server.properties
    ksql-server --listeners http://127.0.0.1:9000 --state-dir /var/lib/ksql -D ksql.service.id=prod_
    ksql-server --bootstrap-servers kafka1:9092     every topic in a Kafka cluster; servers with
                                                  the same ksql.service.id share the queries' work
    ksql-server --listeners https://0.0.0.0:8443 -D ssl.keystore.location=server.pem
                                                  TLS with a PEM certificate and key (see server.tls)
    ksql-server --kafka-listener 0.0.0.0:9093     Kafka clients on another port (default localhost:9092;
                                                  `none` turns the Kafka listener off)

HTTP/1.1, HTTP/2 cleartext (as ksqlDB's own clients use for /query-stream and
/inserts-stream) and WebSockets are served on the same port by Hypercorn, and
over TLS (HTTP/2 by ALPN) on https:// listeners;
`--http-server uvicorn` serves HTTP/1.1 only. SIGTERM or Ctrl-C end push
queries, let requests finish, then close the engine and the log.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

from hypercorn.config import Config as HypercornConfig

from ksql.engine.log import LogError
from ksql.errors import KsqlError
from server import h2frames, write_coalescing
from server.app import create_app
from server.auth import users_from_config
from server.config import Listener, ServerConfig
from server.core import KsqlServer
from server.gc_tuning import tune_for_serving
from server.kafka.broker import Broker
from server.kafka.listener import KafkaListener, advertised_host, parse_listener
from server.kafka.listener import bind as bind_kafka
from server.tls import TlsSettings

log = logging.getLogger("ksql.server")

GRACEFUL_SECONDS = 5
IDLE_TIMEOUT_PROPERTY = "ksql.idle.connection.timeout.seconds"
DEFAULT_IDLE_TIMEOUT_SECONDS = 600
DEFAULT_KAFKA_LISTENER = "localhost:9092"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser(prog="ksql-server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="a ksql-server.properties file (same as --config-file)")
    parser.add_argument("--config-file", help="a ksql-server.properties file")
    parser.add_argument("--listeners", help="comma-separated http:// or https:// host:port URLs "
                                                             "(default http://0.0.0.0:8088)")
    parser.add_argument("--service-id", help="ksql.service.id (default default_)")
    parser.add_argument("--state-dir", "--data-dir", dest="state_dir", help="data directory (default ./ksql-data)")
    parser.add_argument("--bootstrap-servers", help="host:port,... of a Kafka cluster to keep every topic in "
                                                    "(default: the embedded log in the data directory)")
    parser.add_argument("-D", "--property", action="append", default=[], metavar="NAME=VALUE",
                        help="any server, ksql.* or ksql.streams.* property; repeatable")
    parser.add_argument("--kafka-listener", default=DEFAULT_KAFKA_LISTENER, metavar="HOST:PORT",
                        help="where Kafka clients connect to the embedded log (default "
                             f"{DEFAULT_KAFKA_LISTENER}; none: no Kafka listener; off with --bootstrap-servers)")
    parser.add_argument("--http-server", choices=("hypercorn", "uvicorn"), default="hypercorn")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    if args.config and args.config_file:
        parser.error("give the properties file once (positional or --config-file)")
    overrides: dict[str, str] = {}
    for item in args.property:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"-D expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    for name, value in (("listeners", args.listeners), ("ksql.service.id", args.service_id),
                        ("state.dir", args.state_dir), ("bootstrap.servers", args.bootstrap_servers)):
        if value is not None:
            overrides[name] = value
    return args, overrides


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    sockets: list[socket.socket] = []
    try:
        config = ServerConfig.load(args.config_file or args.config, overrides)
        listeners = config.listeners
        if args.http_server == "uvicorn" and len(listeners) != 1:
            raise KsqlError("--http-server uvicorn serves one listener only")
        tls = _tls_settings(config, listeners)
        users_from_config(config)  # a bad authentication configuration: refused before anything starts
        kafka_address = parse_listener(args.kafka_listener) if config.bootstrap_servers is None else None
        sockets = bind_listeners(listeners)
        if kafka_address is not None:
            sockets.append(bind_kafka(*kafka_address))
        if config.bootstrap_servers is None:
            prepare_data_dir(config.data_dir)
        server = KsqlServer(config)
        server.start()
    except (KsqlError, LogError, OSError) as err:
        for sock in sockets:
            sock.close()
        print(f"ksql-server: {err}", file=sys.stderr)
        return 1
    kafka = None
    try:
        if kafka_address is not None:
            kafka_host, kafka_port = kafka_address
            kafka = KafkaListener(sockets.pop(), Broker(server, advertised_host(kafka_host), kafka_port))
            kafka.start()
            log.info("Kafka clients: listening on %s:%d", *kafka_address)
        app = create_app(server)
        urls = ", ".join(listener.url for listener in listeners)
        where = (f"Kafka at {config.bootstrap_servers}" if config.bootstrap_servers else config.data_dir)
        log.info("ksql-server listening on %s, data in %s", urls, where)
        tune_for_serving()
        if args.http_server == "uvicorn":
            _serve_uvicorn(app, server, sockets[0], tls, args.log_level)
        else:
            asyncio.run(_serve_hypercorn(app, server, listeners, sockets, tls))
    except KsqlError as err:
        print(f"ksql-server: {err}", file=sys.stderr)
        return 1
    finally:
        if kafka is not None:
            kafka.stop()
        server.stop()
    log.info("ksql-server stopped")
    return 0


def _tls_settings(config: ServerConfig, listeners: list[Listener]) -> TlsSettings | None:
    """The TLS settings when an https:// listener needs them, with their files checked now (KsqlError)."""
    if not any(listener.tls for listener in listeners):
        return None
    tls = TlsSettings.from_config(config)
    tls.context()
    return tls


def idle_timeout_seconds(server: KsqlServer) -> int:
    """How long an idle HTTP/1.1 or HTTP/2 connection is kept open (ksqlDB's property, default 600 s)."""
    return server.config.get_int(IDLE_TIMEOUT_PROPERTY, DEFAULT_IDLE_TIMEOUT_SECONDS)


def bind_listeners(listeners: list[Listener]) -> list[socket.socket]:
    """Bind every listener before the data directory is opened: a port in use is then one clear error,
    reported before anything claims to be listening."""
    sockets: list[socket.socket] = []
    for host, port, _ in listeners:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            for bound in sockets:
                bound.close()
            if err.errno == errno.EADDRINUSE:
                raise KsqlError(f"Port {port} on {host} is already in use (by another ksql-server?): "
                                "choose another with --listeners http://HOST:PORT") from None
            raise KsqlError(f"Cannot listen on {host}:{port}: {err.strerror or err}") from None
        sockets.append(sock)
    return sockets


def prepare_data_dir(path: str) -> None:
    """Create the data directory (not its parents: a mistyped parent should not silently become a new
    tree) and check that files can be written in it, so the log does not fail half-way."""
    directory = Path(path)
    hint = "choose another with --data-dir DIR"
    if directory.exists() and not directory.is_dir():
        raise KsqlError(f"The data directory {path} is a file, not a directory: {hint}")
    if not directory.exists():
        parent = directory.absolute().parent
        if not parent.is_dir():
            raise KsqlError(f"Cannot create the data directory {path}: its parent {parent} does not exist "
                            f"(create it, or {hint})")
        try:
            directory.mkdir()
        except OSError as err:
            raise KsqlError(f"Cannot create the data directory {path}: {err.strerror or err} ({hint})") from None
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise KsqlError(f"The data directory {path} is not writable: {err.strerror or err} ({hint})") from None


def _end_streams(server: KsqlServer) -> None:
    """Shutting down: stop serving new queries and end the running push queries' streams."""
    server.running = False
    server.push.close_all()


class ServingConfig(HypercornConfig):
    """Hypercorn's settings, building the headers it adds to every response (date, server) once a second
    rather than formatting the date for each response."""

    def __init__(self) -> None:
        super().__init__()
        self._response_headers: dict[str, tuple[int, list[tuple[bytes, bytes]]]] = {}

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        second = int(time.time())
        cached = self._response_headers.get(protocol)
        if cached is None or cached[0] != second:
            cached = self._response_headers[protocol] = (second, super().response_headers(protocol))
        return cached[1]  # Hypercorn copies it into each response's own header list


async def _serve_hypercorn(app, server: KsqlServer, listeners: list[Listener], sockets: list[socket.socket],
                           tls: TlsSettings | None) -> None:
    from hypercorn.asyncio import serve

    h2frames.install()
    write_coalescing.install()
    config = ServingConfig()
    # Hypercorn owns the bound sockets now: TLS ones on `bind`, cleartext ones on `insecure_bind`
    binds = [(listener.tls, f"fd://{sock.detach()}") for listener, sock in zip(listeners, sockets, strict=True)]
    if tls is None:
        config.bind = [fd for _, fd in binds]
    else:
        config.bind = [fd for is_tls, fd in binds if is_tls]
        config.insecure_bind = [fd for is_tls, fd in binds if not is_tls]
        for name, value in tls.hypercorn_options().items():
            setattr(config, name, value)
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = GRACEFUL_SECONDS
    config.keep_alive_timeout = idle_timeout_seconds(server)
    config.keep_alive_max_requests = sys.maxsize  # as ksqlDB: no connection is closed after N requests
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_tls_errors)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        log.info("shutting down")
        _end_streams(server)

    await serve(app, config, shutdown_trigger=shutdown_trigger)


def _quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client that fails the TLS handshake or speaks cleartext to an https:// port is the client's
    fault: one line in the log rather than asyncio's stack trace of the dropped connection."""
    error = context.get("exception")
    if isinstance(error, ssl.SSLError):
        log.info("TLS connection dropped: %s", error.reason or error)
        return
    loop.default_exception_handler(context)


def _serve_uvicorn(app, server: KsqlServer, sock: socket.socket, tls: TlsSettings | None,
                   log_level: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            _end_streams(server)
            super().handle_exit(sig, frame)

    # uvicorn re-raises the signal it caught once it has shut down: let that one do nothing, so the
    # engine and the log still get closed (main's finally) before the process exits
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    Server(uvicorn.Config(app, log_level=log_level, lifespan="off",
                          timeout_graceful_shutdown=GRACEFUL_SECONDS,
                          timeout_keep_alive=idle_timeout_seconds(server),
                          **(tls.uvicorn_options() if tls is not None else {}))).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
