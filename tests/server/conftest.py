"""Fixtures for the server tests: a real `ksql-server` subprocess per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.harness import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql") / "data",
                            {"ksql.log.fsync": "never", "ksql.max.push.queries": "5",
                             "ksql.server.max.request.bytes": "100000"}).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def client(server: ServerProcess):
    with server.client() as c:
        yield c
