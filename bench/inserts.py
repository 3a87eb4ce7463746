"""Benchmark: concurrent writers against a real server with ksql.log.fsync=always.

Two phases, each timed from the first request to the last acknowledgement:
  - /inserts-stream: `--clients` connections, each sending `--stream-rows` rows one per HTTP chunk;
  - INSERT VALUES: `--clients` clients, each sending `--values-rows` requests of one row.
Prints rows/s per phase. `--repo` runs the server of another checkout (to compare with a baseline).

    python bench/inserts.py [--clients 8] [--stream-rows 2000] [--values-rows 200] [--repo DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(repo: Path, data_dir: str, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--listeners", f"http://127.0.0.1:{port}", "--state-dir", data_dir,
         "--log-level", "warning", "--kafka-listener", "none", "-D", "ksql.log.fsync=always"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(repo)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=1).status_code in (200, 503):
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def _rows(writer: int, count: int) -> Iterator[bytes]:
    yield orjson.dumps({"target": "S"}) + b"\n"
    for n in range(count):
        yield orjson.dumps({"W": writer, "N": n}) + b"\n"


def _timed(clients: int, work: Callable[[httpx.Client, int], int], url: str) -> tuple[int, float]:
    """(rows acknowledged, seconds) of `clients` threads each running `work` once."""
    counts = [0] * clients

    def run(writer: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as client:
            counts[writer] = work(client, writer)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stream-rows", type=int, default=2000, help="rows per /inserts-stream client")
    parser.add_argument("--values-rows", type=int, default=200, help="INSERT VALUES requests per client")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose server runs")
    args = parser.parse_args()

    def stream(client: httpx.Client, writer: int) -> int:
        acks = client.post("/inserts-stream", content=_rows(writer, args.stream_rows)).text.splitlines()
        return sum(orjson.loads(a)["status"] == "ok" for a in acks)

    def values(client: httpx.Client, writer: int) -> int:
        ok = 0
        for n in range(args.values_rows):
            response = client.post("/ksql", json={"ksql": f"INSERT INTO S (W, N) VALUES ({writer}, {n});"})
            ok += response.status_code == 200
        return ok

    with tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start_server(args.repo, data_dir, port)
        try:
            created = httpx.post(f"{url}/ksql", json={"ksql": "CREATE STREAM S (W INT, N INT) WITH "
                                                      "(KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');"})
            created.raise_for_status()
            for name, work in (("/inserts-stream, 1 row per chunk", stream), ("INSERT VALUES", values)):
                rows, seconds = _timed(args.clients, work, url)
                print(f"{name:34} {args.clients} clients: {rows:7} rows in {seconds:6.2f}s = "
                      f"{rows / seconds:9.0f} rows/s")
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
