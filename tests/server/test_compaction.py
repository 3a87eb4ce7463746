"""A server's compacted topics shrink in the background, and after kill -9 its tables are intact."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

KEYS = 40
ROWS = 6_000  # of ~2 KB: a few of the 4 MiB segments the engine gives compacted topics
PAYLOAD = "x" * 2_000


def topic_bytes(data_dir: Path, topic: str) -> int:
    return sum(f.stat().st_size for f in (data_dir / "topics" / topic).rglob("*.log"))


def test_tables_topics_and_changelogs_shrink_and_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    properties = {"log.cleaner.backoff.ms": "100", "ksql.log.fsync": "never"}
    server = ServerProcess(data, properties).start()
    try:
        with server.client(timeout=60) as client:
            ksql(client, "CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT, P STRING) WITH (KAFKA_TOPIC='t', "
                         "PARTITIONS=1, FORMAT='JSON');"
                         "CREATE STREAM TW (K STRING KEY, V INT, P STRING) WITH (KAFKA_TOPIC='t', FORMAT='JSON');"
                         "CREATE STREAM S (K STRING KEY, V INT, P STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                         "FORMAT='JSON');"
                         "CREATE TABLE C AS SELECT K, COUNT(*) AS N, LATEST_BY_OFFSET(P) AS P FROM S GROUP BY K;")
            for target in ("TW", "S"):  # TW writes the table's topic
                for start in range(0, ROWS, 1_000):
                    lines = [json.dumps({"target": target})] + [
                        json.dumps({"K": f"k{v % KEYS}", "V": v, "P": PAYLOAD}) for v in range(start, start + 1_000)]
                    response = client.post("/inserts-stream", content="\n".join(lines) + "\n")
                    assert response.status_code == 200 and '"error"' not in response.text, response.text[:300]
            wait_idle(client)
            written = ROWS * len(PAYLOAD)  # into t by the inserts, into C and its changelog by the query
            [changelog] = [d.name for d in (data / "topics").iterdir() if d.name.endswith("-changelog")]
            compacted = ("t", "C", changelog)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(topic_bytes(data, t) > written / 2 for t in compacted):
                time.sleep(0.2)
            assert all(topic_bytes(data, t) < written / 2 for t in compacted)
            assert topic_bytes(data, "s") >= ROWS * len(PAYLOAD)  # a stream's topic is never compacted
    finally:
        server.kill()

    server = ServerProcess(data, properties).start()
    try:
        with server.client(timeout=60) as client:
            table = sorted(query_rows(client, "SELECT K, V FROM T;"))
            counts = sorted(query_rows(client, "SELECT K, N FROM C;"))
            latest = {f"k{k}": max(v for v in range(ROWS) if v % KEYS == k) for k in range(KEYS)}
            assert table == sorted([k, v] for k, v in latest.items())
            assert counts == sorted([f"k{k}", ROWS // KEYS] for k in range(KEYS))
    finally:
        server.kill()
