"""Fixtures for the client-library tests: one real `ksql-server` subprocess per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.harness import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("ksql-clients") / "data",
                            {"ksql.log.fsync": "never", "ksql.max.push.queries": "10"}).start()
    try:
        yield process
    finally:
        process.kill()
