"""Connections that break, and Basic authentication, against a stand-in server in this process.

The stand-in answers like ksqlDB's REST API but can break a query's stream in
the middle, disappear altogether, or require credentials, which a real server
does not do on demand.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pexpect
import pytest

from tests.cli.helpers import REPO, Repl, cli_command, cli_env, plain

INFO = {"KsqlServerInfo": {"version": "0.29.0", "kafkaClusterId": "x", "ksqlServiceId": "default_",
                           "serverStatus": "RUNNING"}}
STREAMS = [{"@type": "streams", "statementText": "SHOW STREAMS;", "warnings": [], "streams": [
    {"type": "STREAM", "name": "FAKE", "topic": "fake", "keyFormat": "KAFKA", "valueFormat": "JSON",
     "isWindowed": False}]}]


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, credentials: tuple[str, str] | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.credentials = credentials
        self.seen_auth: list[str | None] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization")
        self.server.seen_auth.append(header)
        if self.server.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.server.credentials).encode()).decode()
        if header == expected:
            return True
        self._json(401, {"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"})
        return False

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self._authorized():
            self._json(200, INFO)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorized():
            return
        if self.path != "/query":
            self._json(200, STREAMS if self.path == "/ksql" else {})
            return
        # a push query whose connection breaks after one row
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b'[{"header":{"queryId":"q1","schema":"`ID` INTEGER"}},\n{"row":{"columns":[41]}},\n'
        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.stop()


def test_dropped_connection_is_reported_and_the_prompt_stays(stand_in: StandIn, tmp_path: Path):
    r = Repl([stand_in.url], tmp_path)
    try:
        r.prompt()
        out = r.run("SELECT * FROM fake EMIT CHANGES;")
        assert "|41" in out
        assert f"Lost the connection to the server at {stand_in.url}" in out
        stand_in.stop()  # the server goes away altogether
        out = r.run("SHOW STREAMS;")
        assert f"Could not connect to the server at {stand_in.url}" in out
        out = r.run("SHOW STREAMS;")
        assert "Could not connect" in out
        r.line("exit")
        rest = plain(r.expect(pexpect.EOF))
        assert "Exiting ksqlDB." in rest
        r.child.close()
        assert r.child.exitstatus == 0
        assert "Traceback" not in out + rest
    finally:
        r.close()


def test_basic_authentication_asks_for_the_password(tmp_path: Path):
    server = StandIn(("alice", "s3cret"))
    try:
        r = Repl([server.url, "-u", "alice"], tmp_path)
        r.expect("Enter password: ")
        r.child.sendline("s3cret")
        r.prompt()
        assert "FAKE" in r.run("SHOW STREAMS;")
        r.line("exit")
        r.expect(pexpect.EOF)
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        assert server.seen_auth and set(server.seen_auth) == {expected}

        wrong = subprocess.run([*cli_command(), server.url, "-u", "alice", "-p", "nope", "-e", "SHOW STREAMS;"],
                               cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1
        assert "Unauthorized" in wrong.stdout and "user name or password" in wrong.stdout
    finally:
        server.stop()
