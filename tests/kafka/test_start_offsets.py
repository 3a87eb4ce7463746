"""On Kafka, a persistent query starts where its statement fixed it: every record written after
CREATE ... AS SELECT returned is processed, also when written while the server is down after a kill -9."""

from __future__ import annotations

import json
import time

import httpx

from tests.server.harness import ServerProcess, ksql

KEYS = 5


def _insert(server: ServerProcess, values: range) -> None:
    lines = [json.dumps({"target": "EVENTS"})] + [json.dumps({"K": f"k{v % KEYS}", "V": v}) for v in values]
    response = httpx.post(server.url + "/inserts-stream", content="\n".join(lines) + "\n", timeout=60)
    assert response.status_code == 200 and '"error"' not in response.text, response.text[:300]


def _wait_for_counts(server: ServerProcess, expected: dict[str, int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        response = httpx.post(server.url + "/query", json={"ksql": "SELECT K, N FROM COUNTS;"}, timeout=30)
        if response.status_code == 200:
            counts = {m["row"]["columns"][0]: m["row"]["columns"][1] for m in response.json() if "row" in m}
            if counts == expected:
                return
        time.sleep(0.2)
    raise AssertionError(f"counts {counts}, expected {expected}\n{server.output()}")


def _expected(n: int) -> dict[str, int]:
    return {f"k{k}": sum(1 for v in range(n) if v % KEYS == k) for k in range(KEYS)}


def test_records_written_right_after_ctas_and_around_a_kill_are_counted(kafka_bootstrap, unique, tmp_path):
    args = ["--bootstrap-servers", kafka_bootstrap, "--service-id", f"start_{unique}_"]
    server = ServerProcess(tmp_path / "a", extra_args=args).start(timeout=60)
    try:
        with server.client(timeout=60) as client:
            ksql(client, f"CREATE STREAM EVENTS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='events_{unique}', "
                         "PARTITIONS=2, FORMAT='JSON');"
                         "CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM EVENTS GROUP BY K;")
        _insert(server, range(0, 100))  # at once: the query's consumer may not have its partitions yet
        _wait_for_counts(server, _expected(100))
    finally:
        server.kill()
    restarted = ServerProcess(tmp_path / "b", extra_args=args).start(timeout=60)
    try:
        _insert(restarted, range(100, 200))
        _wait_for_counts(restarted, _expected(200))
    finally:
        restarted.kill()
