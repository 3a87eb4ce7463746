"""Benchmark: how long a server takes to restart after kill -9, with a long history over few keys.

Writes N records over K keys straight into the data directory's log (not timed), starts
`python -m server` on it, runs `CREATE TABLE C AS SELECT K, COUNT(*) ... GROUP BY K`, waits
until the query has counted every record, lets the log compact its changelog (--settle
seconds), kills the server with SIGKILL and starts it again. Timed: from the new process's
start to the first pull query that answers with the right count, and how many records
the query's changelog holds on disk at that point.

    python bench/restart.py [--records 1000000] [--keys 100000] [--settle 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout this bench belongs to, not whichever one is installed

from ksql.engine.log import Record, TopicConfig, open_log  # noqa: E402

PULL_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, port: int, properties: list[str] = ()) -> subprocess.Popen:
    args = [sys.executable, "-m", "server", "--listeners", f"http://127.0.0.1:{port}", "--state-dir", data_dir,
            "--log-level", "warning", "--kafka-listener", "none", "-D", "ksql.log.fsync=never"]
    for prop in properties:
        args += ["-D", prop]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_history(data_dir: str, records: int, keys: int) -> None:
    log = open_log(data_dir, fsync="never")
    try:
        log.create_topic("events", TopicConfig(partitions=1))
        batch = []
        for i in range(records):
            batch.append(Record(orjson.dumps(f"k{i % keys}"), orjson.dumps({"V": i}), 1_700_000_000_000 + i, []))
            if len(batch) == 10_000:
                log.append("events", 0, batch)
                batch = []
        if batch:
            log.append("events", 0, batch)
    finally:
        log.close()


def pull_count(client: httpx.Client, url: str, key: str) -> int | None:
    try:
        r = client.post(f"{url}/query", json={"ksql": f"SELECT N FROM C WHERE K = '{key}';"}, timeout=30)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    rows = [item["row"]["columns"] for item in r.json() if isinstance(item, dict) and "row" in item]
    return rows[0][0] if rows else None


def wait_for_count(client: httpx.Client, url: str, key: str, expected: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if pull_count(client, url, key) == expected:
            return True
        time.sleep(0.05)
    return False


def changelog_records(data_dir: str) -> int:
    """Records in the compacted changelog's segment files (counted by reading them)."""
    log = open_log(data_dir, fsync="never")
    try:
        total = 0
        for topic in log.list_topics():
            if topic.endswith("-changelog"):
                for p in range(log.partitions(topic)):
                    offset = log.start_offset(topic, p)
                    while batch := log.read_batch(topic, p, offset, 100_000):
                        total += len(batch)
                        offset = batch.offsets[-1] + 1
        return total
    finally:
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to leave the log to compact")
    parser.add_argument("-D", dest="properties", action="append", default=[], metavar="NAME=VALUE",
                        help="a server property (e.g. ksql.query.workers=0)")
    args = parser.parse_args()
    last_key = f"k{(args.records - 1) % args.keys}"
    expected = args.records // args.keys + (1 if (args.records - 1) % args.keys < args.records % args.keys else 0)

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as data_dir, httpx.Client() as client:
        write_history(data_dir, args.records, args.keys)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(data_dir, port, args.properties)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for sql in ("CREATE STREAM E (K STRING KEY, V BIGINT) WITH (KAFKA_TOPIC='events', FORMAT='JSON');",
                        "CREATE TABLE C AS SELECT K, COUNT(*) AS N FROM E GROUP BY K;"):
                r = client.post(f"{url}/ksql", json={"ksql": sql,
                                                     "streamsProperties": {"auto.offset.reset": "earliest"}},
                                timeout=60)
                r.raise_for_status()
            start = time.monotonic()
            if not wait_for_count(client, url, last_key, expected, time.monotonic() + PULL_TIMEOUT_S):
                raise SystemExit("the query did not count every record in time")
            print(f"{args.records} records over {args.keys} keys counted in {time.monotonic() - start:.1f} s")
            time.sleep(args.settle)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

        held = changelog_records(data_dir)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        start = time.monotonic()
        proc = start_server(data_dir, port, args.properties)
        try:
            if not wait_for_count(client, url, last_key, expected, time.monotonic() + PULL_TIMEOUT_S):
                raise SystemExit("the restarted server did not answer the pull in time")
            print(f"restart after kill -9: first correct pull {time.monotonic() - start:.2f} s "
                  f"(changelog holds {held} records)")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            os.sync()


if __name__ == "__main__":
    main()
