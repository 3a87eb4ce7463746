"""Fixtures for the `ksql` CLI tests.

The server runs once for all of them (`python -m server` on a free port, data in
a temporary directory); every test spawns its own CLI with pexpect and uses its
own stream names, so tests do not depend on each other's order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import Repl, Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for every CLI test; at most one push query at a time, so a query the CLI failed to
    close would make the next push query fail."""
    base = tmp_path_factory.mktemp("ksql-cli-server")
    try:
        srv = Server(base / "data", {"ksql.max.push.queries": "1"})
    except OSError as err:
        pytest.skip(f"cannot start ksql-server: {err}")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def repl(server: Server, tmp_path: Path) -> Iterator[Callable[..., Repl]]:
    """Start the CLI against the test server (`repl()`, or `repl(extra args)`); the banner is consumed."""
    started: list[Repl] = []

    def start(*args: str) -> Repl:
        r = Repl([server.url, *args], tmp_path)
        started.append(r)
        r.prompt()
        return r

    yield start
    for r in started:
        r.close()
