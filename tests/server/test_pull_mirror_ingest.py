"""The first range pull on a big table does not stall ingest: its DuckDB mirror is filled outside the engine
lock, so a persistent query on another stream keeps processing input meanwhile, and the answer is exact.

The server runs as a subprocess with a probe (a `sitecustomize` on its PYTHONPATH) that holds the mirror's
first bulk insert until the test has seen the persistent query make progress.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql

KEYS = 50_000

PROBE = '''
import os, pathlib, sys, time
sys.path.insert(0, os.getcwd())  # the server's repo (its cwd) before any installed copy, as `-m` would put it
from ksql.engine import materialization

GATE = pathlib.Path({gate!r})
_insert = materialization.TableView._run_with_batch


def _held(self, sql, batch):
    if sql.startswith("INSERT") and batch.num_rows >= {keys}:
        (GATE / "filling").touch()
        deadline = time.monotonic() + 60
        while not (GATE / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return _insert(self, sql, batch)


materialization.TableView._run_with_batch = _held
'''


def _wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    probe = tmp_path / "probe"
    probe.mkdir()
    gate = tmp_path / "gate"
    gate.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE.format(gate=str(gate), keys=KEYS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")])))
    process = ServerProcess(tmp_path / "data", {"ksql.log.fsync": "never"}).start()
    try:
        yield process, gate
    finally:
        process.kill()


def _insert_rows(client: httpx.Client, target: str, rows: list[dict]) -> None:
    body = json.dumps({"target": target}).encode() + b"\n" + b"\n".join(json.dumps(r).encode() for r in rows)
    response = client.post("/inserts-stream", content=body)
    assert response.status_code == 200, response.text
    assert all(json.loads(line)["status"] == "ok" for line in response.text.splitlines() if line.strip())


def _pull(client: httpx.Client, sql: str) -> list[list]:
    response = client.post("/query", json={"ksql": sql})
    assert response.status_code == 200, response.text
    return [item["row"]["columns"] for item in response.json()[1:] if "row" in item]


def test_persistent_queries_progress_while_the_first_range_pull_fills_its_mirror(server) -> None:
    process, gate = server
    with process.client(timeout=120) as client:
        ksql(client, "CREATE STREAM FEED (K INT KEY, V INT) WITH (KAFKA_TOPIC='big_t', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');"
                     "CREATE SOURCE TABLE BIG (K INT PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='big_t', "
                     "VALUE_FORMAT='JSON');"
                     "CREATE STREAM SRC (K STRING KEY, V INT) WITH (KAFKA_TOPIC='src', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');"
                     "CREATE STREAM OUT AS SELECT K, V * 10 AS V10 FROM SRC;")
        _insert_rows(client, "FEED", [{"K": k, "V": k % 1000} for k in range(KEYS)])

        answers: list[list[list]] = []
        pull = threading.Thread(target=lambda: answers.append(
            _pull(client, "SELECT K, V FROM BIG WHERE V >= 998 AND K < 5000;")))
        pull.start()
        try:
            _wait_until(lambda: (gate / "filling").exists())  # the mirror is being filled right now
            with process.client(timeout=30) as other:
                _insert_rows(other, "SRC", [{"K": "probe", "V": 7}])
                # the runner processed it, and a key lookup on the same table answered, meanwhile
                _wait_until(lambda: _pull(other, "SELECT V10 FROM OUT;") == [[70]])
                assert _pull(other, "SELECT V FROM BIG WHERE K = 4999;") == [[999]]
            assert pull.is_alive() and not answers
        finally:
            (gate / "release").touch()
            pull.join(120)
    assert answers == [[[k, k % 1000] for k in range(5000) if k % 1000 >= 998]]
