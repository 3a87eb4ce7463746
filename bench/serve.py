"""Benchmark: the serving layer of a running `ksql-server` (pull queries, inserts, push fan-out), in one run.

    python bench/serve.py                      starts a server on a free loopback port in a temp dir
    python bench/serve.py --url http://127.0.0.1:8088   against a running server (it creates BENCH_* sources)
    python bench/serve.py --big-keys 100000 --seconds 2  a quicker run
    python bench/serve.py --only push --subscribers 100   only the push fan-out, at 100 subscribers

Measures, each for a bounded time or amount of work:
  - the /healthcheck ceiling and key-lookup pull queries (qps, p50, p99) at concurrency 1, 8 and 32,
    over HTTP/1.1 (keep-alive connections, one per client) and HTTP/2 (httpx, one connection);
  - range pull queries (DuckDB over the table's mirror) at concurrency 8;
  - /inserts-stream rows/s from 16 concurrent clients, 1 row per HTTP chunk and 1,000 rows per chunk;
  - push delivery latency (insert sent -> row received) p50/p99 to 1, 10 and 100 /query-stream
    subscribers while a writer inserts 1,000 rows/s (and, for a server on this machine, its CPU time per
    row delivered: the figure that holds on a loaded machine);
  - the time to the first key pull (and the first range pull) on a fresh table of --big-keys keys;
  - a table's update rate (a GROUP BY count absorbing new input) without and with a pull mirror built.

The pull matrix drives the server with h2load (Debian's nghttp2-client) when it is on the PATH: a C
load generator costs the 2 cores little next to the server, so the figures are the server's. Without
it (or with --python-clients) the clients are Python: raw HTTP/1.1 over asyncio sockets and httpx
for HTTP/2, which take a share of the CPU the server would otherwise have. Everything runs on loopback. The machine's other load shows in the figures: run it on a quiet
machine and repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
TABLE_KEYS = 10_000
DELIMITED = "application/vnd.ksqlapi.delimited.v1"
SENT_ROW = re.compile(rb"\[([-0-9.E]+)\]\n")
PARTS = ("pull", "insert", "push", "first-pull", "update")


# --- a minimal HTTP/1.1 client -----------------------------------------------------------------

class Http11:
    """One keep-alive HTTP/1.1 connection: request() sends a request and reads the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Http11:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        return cls(reader, writer, host)

    def encode(self, method: str, path: str, body: bytes | None = None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + (body or b"")

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readline()).strip(), 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readexactly(2)
        return status, b"".join(parts)

    def close(self) -> None:
        self.writer.close()


# --- load loops ------------------------------------------------------------------------------------

def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def closed_loop(workers: int, seconds: float, one: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    """`workers` clients each calling one(worker) back to back for `seconds`: (qps, latencies in s)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        while (now := time.perf_counter()) < deadline:
            await one(i)
            latencies.append(time.perf_counter() - now)

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return len(latencies) / (time.perf_counter() - start), latencies


async def http11_load(host: str, port: int, workers: int, seconds: float, method: str, path: str,
                      bodies: Callable[[int], bytes | None]) -> tuple[float, list[float]]:
    connections = [await Http11.open(host, port) for _ in range(workers)]
    counter = [0]

    async def one(i: int) -> None:
        counter[0] += 1
        status, body = await connections[i].send(connections[i].encode(method, path, bodies(counter[0])))
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")

    try:
        return await closed_loop(workers, seconds, one)
    finally:
        for c in connections:
            c.close()


async def http2_load(url: str, workers: int, seconds: float, method: str, path: str,
                     bodies: Callable[[int], bytes | None]) -> tuple[float, list[float]]:
    counter = [0]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, http1=False, http2=True, limits=limits, timeout=60) as client:
        async def one(i: int) -> None:
            counter[0] += 1
            body = bodies(counter[0])
            response = await client.request(method, path, content=body,
                                            headers={"content-type": "application/json"} if body else None)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")

        await one(0)  # the connection (h2 prior knowledge) is up before the clock starts
        return await closed_loop(workers, seconds, one)


def h2load_load(url: str, clients: int, seconds: float, method: str, path: str,
                body: bytes | None, http1: bool) -> tuple[float, list[float]]:
    """h2load for `seconds`: over HTTP/1.1 `clients` keep-alive connections with one request each in
    flight; over HTTP/2 one connection with `clients` concurrent streams (as the Python client does)."""
    with tempfile.TemporaryDirectory() as scratch:
        log_file = Path(scratch, "requests.log")
        args = ["h2load", f"--duration={seconds:g}s", "--warm-up-time=500ms", f"--log-file={log_file}",
                "--clients", str(clients) if http1 else "1", "--max-concurrent-streams", "1" if http1 else str(clients)]
        if http1:
            args.append("--h1")
        if method == "POST":
            data_file = Path(scratch, "body.json")
            data_file.write_bytes(body or b"")
            args += ["--data", str(data_file), "--header", "content-type: application/json"]
        done = subprocess.run([*args, url.rstrip("/") + path], capture_output=True, text=True, check=True)
        # each line: request start (us since the epoch), status (-1: no response), response time (us)
        requests = [line.split() for line in log_file.read_text().splitlines() if line.strip()]
    # a request still in flight when the time is up is logged without a status: at most one per stream
    answered = [(status, took) for _, status, took in requests if status not in ("0", "-1")]
    if len(requests) - len(answered) > clients or any(status != "200" for status, _ in answered):
        raise RuntimeError(f"{path}: of {len(requests)} requests, {sum(s != '200' for s, _ in answered)} failed "
                           f"and {len(requests) - len(answered)} got no answer")
    latencies = [int(took) / 1e6 for _, took in answered]
    measured = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", done.stdout)
    if measured is None:
        raise RuntimeError(f"h2load printed no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(measured.group(2)), latencies


# --- the scenarios ---------------------------------------------------------------------------------

def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a local process (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class Bench:
    def __init__(self, url: str, seconds: float, server_pid: int | None = None, python_clients: bool = False):
        self.server_pid = server_pid
        self.use_h2load = not python_clients and shutil.which("h2load") is not None
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.seconds = seconds
        self.client = httpx.Client(base_url=self.url, timeout=600)
        self.table: list[str] = []

    def ksql(self, sql: str) -> list:
        response = self.client.post("/ksql", json={"ksql": sql})
        if response.status_code != 200:
            raise RuntimeError(f"{sql}: {response.text[:500]}")
        return response.json()

    def pull(self, sql: str) -> list:
        response = self.client.post("/query", json={"ksql": sql})
        if response.status_code != 200:
            raise RuntimeError(f"{sql}: {response.text[:500]}")
        return [m["row"]["columns"] for m in response.json() if "row" in m]

    def insert(self, target: str, rows: list[dict], chunk: int = 1000) -> None:
        def body():
            yield orjson.dumps({"target": target}) + b"\n"
            for first in range(0, len(rows), chunk):
                yield b"".join(orjson.dumps(r) + b"\n" for r in rows[first:first + chunk])
        response = self.client.post("/inserts-stream", content=body(), headers={"content-type": DELIMITED})
        if response.status_code != 200 or b'"error"' in response.content:
            raise RuntimeError(f"inserts into {target}: {response.text[:500]}")

    def wait_idle(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.client.get("/clusterStatus").json()["clusterStatus"]
            if not any(q["offsetLag"] for host in status.values()
                       for q in host["hostStoreLags"]["stateStoreLags"].values()):
                return
            time.sleep(0.02)
        raise RuntimeError("queries did not catch up")

    def report(self, line: str) -> None:
        self.table.append(line)
        print(line, flush=True)

    # -- pull queries -----------------------------------------------------------------------------

    def setup_table(self) -> None:
        self.ksql("CREATE STREAM BENCH_KV (K STRING KEY, V INT, S STRING) WITH (KAFKA_TOPIC='bench_kv', "
                  "PARTITIONS=2, VALUE_FORMAT='JSON');"
                  "CREATE SOURCE TABLE BENCH_T (K STRING PRIMARY KEY, V INT, S STRING) WITH (KAFKA_TOPIC='bench_kv', "
                  "VALUE_FORMAT='JSON');")
        self.insert("BENCH_KV", [{"K": f"k{i}", "V": i, "S": f"s{i % 97}"} for i in range(TABLE_KEYS)])
        assert self.pull("SELECT V FROM BENCH_T WHERE K = 'k7';") == [[7]]

    def key_body(self, n: int) -> bytes:
        # a few distinct statement texts, as a service doing lookups of its hot keys sends
        return orjson.dumps({"ksql": f"SELECT * FROM BENCH_T WHERE K = 'k{n % 64 * 151 % TABLE_KEYS}';"})

    async def pull_matrix(self) -> None:
        start = time.perf_counter()
        for n in range(64):  # each statement text planned once (then served from the plan cache)
            self.client.post("/query", content=self.key_body(n), headers={"content-type": "application/json"})
        self.report(f"64 key-lookup statement texts planned (first requests) in {time.perf_counter() - start:.2f} s")
        self.report("load generator: " + ("h2load (one statement text)" if self.use_h2load else
                                          "Python clients (64 statement texts; they share the server's cores)"))
        self.report("| protocol | clients | /healthcheck qps | key pull qps | ratio | key pull p50 ms | p99 ms |")
        self.report("|---|---|---|---|---|---|---|")
        for protocol in ("HTTP/1.1", "HTTP/2"):
            for clients in (1, 8, 32):
                if self.use_h2load:
                    http1 = protocol == "HTTP/1.1"
                    health, _ = h2load_load(self.url, clients, self.seconds, "GET", "/healthcheck", None, http1)
                    qps, lat = h2load_load(self.url, clients, self.seconds, "POST", "/query", self.key_body(1), http1)
                elif protocol == "HTTP/1.1":
                    health, _ = await http11_load(self.host, self.port, clients, self.seconds, "GET", "/healthcheck",
                                                  lambda n: None)
                    qps, lat = await http11_load(self.host, self.port, clients, self.seconds, "POST", "/query",
                                                 self.key_body)
                else:
                    health, _ = await http2_load(self.url, clients, self.seconds, "GET", "/healthcheck", lambda n: None)
                    qps, lat = await http2_load(self.url, clients, self.seconds, "POST", "/query", self.key_body)
                self.report(f"| {protocol} | {clients} | {health:,.0f} | {qps:,.0f} | {qps / health:.0%} | "
                            f"{percentile(lat, 50) * 1000:.1f} | {percentile(lat, 99) * 1000:.1f} |")

    async def range_pulls(self) -> None:
        def body(n: int) -> bytes:
            low = n * 37 % (TABLE_KEYS - 100)
            return orjson.dumps({"ksql": f"SELECT K, V FROM BENCH_T WHERE V BETWEEN {low} AND {low + 9};"})
        qps, lat = await http11_load(self.host, self.port, 8, self.seconds, "POST", "/query", body)
        self.report(f"range pull (10 of {TABLE_KEYS:,} rows by DuckDB), 8 clients, HTTP/1.1: {qps:,.0f} qps, "
                    f"p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms")

    # -- inserts ------------------------------------------------------------------------------------

    async def inserts(self, clients: int, rows_per_chunk: int, chunks: int) -> None:
        self.ksql("CREATE STREAM IF NOT EXISTS BENCH_IN (ID BIGINT, NAME STRING) WITH (KAFKA_TOPIC='bench_in', "
                  "PARTITIONS=4, VALUE_FORMAT='JSON');")

        async def client(c: int) -> int:
            conn = await Http11.open(self.host, self.port)
            conn.writer.write(f"POST /inserts-stream HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {DELIMITED}\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n".encode())

            def chunk(data: bytes) -> bytes:
                return f"{len(data):x}\r\n".encode() + data + b"\r\n"

            conn.writer.write(chunk(orjson.dumps({"target": "BENCH_IN"}) + b"\n"))
            row = orjson.dumps({"ID": c, "NAME": "n"}) + b"\n"
            for _ in range(chunks):
                conn.writer.write(chunk(row * rows_per_chunk))
                await conn.writer.drain()
            conn.writer.write(b"0\r\n\r\n")
            status, body = await conn.response()
            conn.close()
            if status != 200 or body.count(b'"ok"') != chunks * rows_per_chunk:
                raise RuntimeError(f"/inserts-stream: {status} {body[-300:]!r}")
            return chunks * rows_per_chunk

        start = time.perf_counter()
        total = sum(await asyncio.gather(*(client(c) for c in range(clients))))
        elapsed = time.perf_counter() - start
        self.report(f"/inserts-stream, {clients} clients, {rows_per_chunk} row(s) per chunk: "
                    f"{total / elapsed:,.0f} rows/s ({total:,} rows in {elapsed:.1f} s)")

    # -- push fan-out ---------------------------------------------------------------------------------

    async def push_latency(self, subscribers: int, rate: int, seconds: float) -> None:
        name = f"BENCH_PUSH{subscribers}"
        self.ksql(f"CREATE STREAM {name} (SENT DOUBLE) WITH (KAFKA_TOPIC='{name.lower()}', PARTITIONS=1, "
                  "VALUE_FORMAT='JSON');")
        latencies: list[float] = []
        total = int(rate * seconds)
        ready = [0]
        all_ready = asyncio.Event()

        async def subscriber() -> int:
            conn = await Http11.open(self.host, self.port)
            body = orjson.dumps({"sql": f"SELECT SENT FROM {name} EMIT CHANGES LIMIT {total};"})
            conn.writer.write(f"POST /query-stream HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                              f"Accept: {DELIMITED}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            while (await conn.reader.readline()) != b"\r\n":  # status and headers
                pass
            received, tail = 0, b""
            while b"}\n" not in tail:  # the header: the query runs
                tail += await conn.reader.read(65536)
            tail = tail[tail.index(b"}\n") + 2:]
            ready[0] += 1
            if ready[0] == subscribers:
                all_ready.set()
            while received < total:
                data = tail + await conn.reader.read(1 << 20)
                if data == tail:
                    break
                now = time.time()
                cut = data.rfind(b"]\n") + 2  # rows are "[<sent>]\n", between chunk-size lines
                sent = SENT_ROW.findall(data, 0, cut)
                latencies.extend(now - float(v) for v in sent)
                received += len(sent)
                tail = data[cut:]
            conn.close()
            return received

        tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
        await asyncio.wait_for(all_ready.wait(), 60)
        writer = await Http11.open(self.host, self.port)
        writer.writer.write(f"POST /inserts-stream HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {DELIMITED}\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n".encode())
        head = orjson.dumps({"target": name}) + b"\n"
        writer.writer.write(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        start, sent, tick = time.perf_counter(), 0, 0.01
        cpu_start = time.process_time()
        server_cpu_start = process_cpu_seconds(self.server_pid)
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                data = b"".join(orjson.dumps({"SENT": time.time()}) + b"\n" for _ in range(due - sent))
                writer.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                await writer.writer.drain()
                sent = due
            await asyncio.sleep(tick)
        writer.writer.write(b"0\r\n\r\n")
        await writer.response()
        writer.close()
        received = await asyncio.wait_for(asyncio.gather(*tasks), 120)
        client_cpu = time.process_time() - cpu_start
        server_cpu_end = process_cpu_seconds(self.server_pid)
        server_cpu = ""
        if server_cpu_start is not None and server_cpu_end is not None:
            used = server_cpu_end - server_cpu_start
            server_cpu = (f", server CPU {used / (time.perf_counter() - start):.0%} of a core, "
                          f"{used / (total * subscribers) * 1e6:.1f} us per row delivered")
        complete = all(r == total for r in received)
        self.report(f"push, {subscribers} subscriber(s) at {rate:,} rows/s for {seconds:.0f} s: "
                    f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms, "
                    f"{'every row received' if complete else f'rows received {min(received)}..{max(received)} of {total}'}"
                    f" (bench client CPU {client_cpu / (time.perf_counter() - start):.0%} of a core{server_cpu})")

    # -- first pull on a big table, update rate with and without a mirror ------------------------------

    def first_pull(self, keys: int) -> None:
        self.ksql("CREATE STREAM BENCH_BIG_IN (K BIGINT KEY, V BIGINT) WITH (KAFKA_TOPIC='bench_big', PARTITIONS=2, "
                  "VALUE_FORMAT='JSON');")
        start = time.perf_counter()
        step = 100_000
        for first in range(0, keys, step):
            self.insert("BENCH_BIG_IN", [{"K": i, "V": i} for i in range(first, min(first + step, keys))])
        loaded = time.perf_counter() - start
        self.ksql("CREATE SOURCE TABLE BENCH_BIG (K BIGINT PRIMARY KEY, V BIGINT) WITH (KAFKA_TOPIC='bench_big', "
                  "VALUE_FORMAT='JSON');")
        start = time.perf_counter()
        rows = self.pull(f"SELECT V FROM BENCH_BIG WHERE K = {keys // 2};")
        first_key = time.perf_counter() - start
        assert rows == [[keys // 2]], rows
        start = time.perf_counter()
        rows = self.pull("SELECT K FROM BENCH_BIG WHERE V < 5;")
        first_range = time.perf_counter() - start
        assert len(rows) == 5, rows
        start = time.perf_counter()
        self.pull(f"SELECT V FROM BENCH_BIG WHERE K = {keys // 3};")
        second_key = time.perf_counter() - start
        self.report(f"fresh table of {keys:,} keys (loaded in {loaded:.1f} s): first key pull {first_key:.2f} s, "
                    f"first range pull (fills the DuckDB mirror) {first_range:.2f} s, next key pull "
                    f"{second_key * 1000:.1f} ms")

    def update_rate(self, rows: int) -> None:
        self.ksql("CREATE STREAM BENCH_UP_IN (K BIGINT KEY, V BIGINT) WITH (KAFKA_TOPIC='bench_up_in', PARTITIONS=1, "
                  "VALUE_FORMAT='JSON');"
                  "CREATE TABLE BENCH_UP AS SELECT K, COUNT(*) AS N FROM BENCH_UP_IN GROUP BY K;")
        keys = 10_000

        def absorb(round_: int) -> float:
            data = [{"K": (round_ * rows + i) % keys, "V": i} for i in range(rows)]
            self.wait_idle()
            start = time.perf_counter()
            self.insert("BENCH_UP_IN", data)
            self.wait_idle()
            return rows / (time.perf_counter() - start)

        without = absorb(0)
        self.pull("SELECT K, N FROM BENCH_UP WHERE N > 1000000;")  # builds the view and its DuckDB mirror
        with_view = absorb(1)
        self.pull("SELECT K, N FROM BENCH_UP WHERE N > 1000000;")  # the mirror takes the updates in
        self.report(f"GROUP BY table absorbing {rows:,} updates: {without:,.0f} rows/s without a pull view, "
                    f"{with_view:,.0f} rows/s with its view and mirror built ({with_view / without:.0%})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "server", "--listeners", f"http://127.0.0.1:{port}", "--state-dir", data_dir,
            "--log-level", "warning", "--kafka-listener", "none", "-D", "ksql.max.push.queries=1000"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def run(url: str, args: argparse.Namespace, server_pid: int | None = None) -> None:
    bench = Bench(url, args.seconds, server_pid, args.python_clients)
    print(f"server {url}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    parts = set(args.only or PARTS)
    if "pull" in parts:
        bench.setup_table()
        asyncio.run(bench.pull_matrix())
        asyncio.run(bench.range_pulls())
    if "insert" in parts:
        asyncio.run(bench.inserts(16, 1, args.insert_chunks))
        asyncio.run(bench.inserts(16, 1000, max(1, args.insert_chunks // 100)))
    if "push" in parts:
        for subscribers in args.subscribers:
            asyncio.run(bench.push_latency(subscribers, 1000, args.push_seconds))
    if "first-pull" in parts:
        bench.first_pull(args.big_keys)
    if "update" in parts:
        bench.update_rate(args.update_rows)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("\n".join(bench.table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running ksql-server (default: start one in a temporary directory)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each pull measurement")
    parser.add_argument("--push-seconds", type=float, default=5.0, help="duration of each push measurement")
    parser.add_argument("--insert-chunks", type=int, default=2000, help="1-row chunks per insert client")
    parser.add_argument("--big-keys", type=int, default=1_000_000, help="keys of the fresh table")
    parser.add_argument("--update-rows", type=int, default=50_000, help="updates per update-rate round")
    parser.add_argument("--python-clients", action="store_true",
                        help="measure pulls with the Python clients even when h2load is installed")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts (default: all)")
    parser.add_argument("--server-pid", type=int,
                        help="with --url: the server's process id, to report its CPU time per pushed row")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 10, 100],
                        help="push subscriber counts to measure")
    args = parser.parse_args()
    if args.url:
        run(args.url, args, args.server_pid)
        return
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        proc = start_server(data_dir, port)
        try:
            run(f"http://127.0.0.1:{port}", args, proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
