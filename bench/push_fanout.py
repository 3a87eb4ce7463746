"""Benchmark: many push-query subscribers over one stream, through a real server.

Starts `python -m server` on a temporary data directory, opens N /query-stream
subscribers to `SELECT * FROM S EMIT CHANGES LIMIT <records>`, then writes the
records through /inserts-stream. Reports how far behind the last subscriber is
when the writer is done (seconds until it received its last row), the rows per
second delivered to all subscribers together, and the server's CPU time per row
delivered (the figure that holds on a loaded machine).

    python bench/push_fanout.py [--subscribers 100] [--records 100000] [--buffer-rows 1000]

The subscribers speak raw HTTP/1.1 and only count rows (each row of the delimited
format ends with "]\\n"), so the client side costs little next to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from serve import process_cpu_seconds  # bench/ is this script's directory

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, port: int, buffer_rows: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "server", "--listeners", f"http://127.0.0.1:{port}", "--state-dir", data_dir,
            "--log-level", "warning", "--kafka-listener", "none", "-D", "ksql.max.push.queries=1000",
            "-D", f"ksql.server.push.buffer.rows={buffer_rows}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


async def subscriber(port: int, records: int, ready: asyncio.Event, counter: list[int]) -> float:
    """Count the rows of one /query-stream push query; the time its last row arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    body = orjson.dumps({"sql": f"SELECT * FROM S EMIT CHANGES LIMIT {records};"})
    writer.write(b"POST /query-stream HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 b"Accept: application/vnd.ksqlapi.delimited.v1\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    seen = b""
    while b"}\n" not in seen:  # the header: the query runs
        seen += await reader.read(65536)
    counter[0] += 1
    if counter[0] >= counter[1]:
        ready.set()
    rows = seen.count(b"]\n")
    tail = b""
    while rows < records:
        chunk = await reader.read(1 << 20)
        if not chunk:
            raise RuntimeError(f"connection closed after {rows} rows")
        data = tail + chunk
        rows += data.count(b"]\n")
        tail = data[-1:]
    done = time.perf_counter()
    writer.close()
    return done


def insert(port: int, records: int) -> None:
    def body():
        yield orjson.dumps({"target": "S"}) + b"\n"
        for first in range(0, records, 1000):  # big chunks: the writer is not what is measured
            yield b"".join(orjson.dumps({"ID": i, "NAME": f"name-{i % 100}", "AMOUNT": i * 0.5}) + b"\n"
                           for i in range(first, min(first + 1000, records)))

    with httpx.Client(timeout=600) as client:
        response = client.post(f"http://127.0.0.1:{port}/inserts-stream", content=body(),
                               headers={"Content-Type": "application/vnd.ksqlapi.delimited.v1"})
        assert response.status_code == 200, response.text[:300]


async def run(port: int, server_pid: int, subscribers: int, records: int) -> None:
    ready = asyncio.Event()
    counter = [0, subscribers]
    tasks = [asyncio.create_task(subscriber(port, records, ready, counter)) for _ in range(subscribers)]
    await asyncio.wait_for(ready.wait(), 120)
    start = time.perf_counter()
    cpu_start = process_cpu_seconds(server_pid)
    await asyncio.to_thread(insert, port, records)
    written = time.perf_counter()
    ends = await asyncio.gather(*tasks)
    last = max(ends)
    total = subscribers * records
    print(f"subscribers={subscribers} records={records}")
    print(f"writer done after {written - start:.2f}s; last subscriber done {last - written:.2f}s later "
          f"(first {min(ends) - written:.2f}s)")
    print(f"delivered {total} rows in {last - start:.2f}s: {total / (last - start):,.0f} rows/s")
    cpu_end = process_cpu_seconds(server_pid)
    if cpu_start is not None and cpu_end is not None:
        print(f"server CPU {cpu_end - cpu_start:.2f}s: {(cpu_end - cpu_start) / total * 1e6:.2f} us per row delivered "
              f"(writes included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--buffer-rows", type=int, default=1000, help="ksql.server.push.buffer.rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        proc = start_server(data_dir, port, args.buffer_rows)
        try:
            response = httpx.post(f"http://127.0.0.1:{port}/ksql", timeout=30, json={
                "ksql": "CREATE STREAM S (ID BIGINT, NAME STRING, AMOUNT DOUBLE) "
                        "WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"})
            assert response.status_code == 200, response.text
            asyncio.run(run(port, proc.pid, args.subscribers, args.records))
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
