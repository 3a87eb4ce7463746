"""Benchmark: persistent queries end to end through a running server, in-process vs in worker processes.

For each ksql.query.workers value (default: 0 and 2) a fresh `python -m server`
gets its input topics written into its data directory beforehand, then runs

- two GROUP BY queries (COUNT and SUM per key), one over each of two
  1-partition streams, and
- one filter-and-project query over a 2-partition stream,

each started from the earliest offset. Time runs from the CREATE statement
until /clusterStatus reports no offset lag (every result committed). The
workers are started by a small warm-up query before the clock starts. Beside
records/s it prints the CPU time the server process and its workers used per
million records (from /proc): on a machine shared with other work, wall-clock
rates move with the load, while the CPU split shows where the work runs.

    python bench/parallel.py [--records 200000] [--workers 0,2] [--fsync always]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from ksql.engine.log import Record, TopicConfig, open_log

REPO = Path(__file__).resolve().parent.parent


def _write_topics(data_dir: Path, records: int) -> None:
    """Topics g1, g2 (1 partition, `records` each) and f (2 partitions, `records` in all)."""
    log = open_log(str(data_dir), fsync="never")
    for topic, partitions in (("g1", 1), ("g2", 1), ("f", 2), ("warm", 1)):
        log.create_topic(topic, TopicConfig(partitions=partitions))
    for start in range(0, records, 5000):
        chunk = range(start, min(start + 5000, records))
        for topic in ("g1", "g2"):
            log.append(topic, 0, [Record(None, orjson.dumps({"USER_ID": f"user-{i % 1000}", "AMOUNT": i % 100}),
                                         1_700_000_000_000 + i, []) for i in chunk])
        for partition in range(2):
            log.append("f", partition, [Record(None, orjson.dumps({"USER_ID": f"user-{i % 1000}", "AMOUNT": i % 100}),
                                               1_700_000_000_000 + i, []) for i in chunk if i % 2 == partition])
    log.append("warm", 0, [Record(None, b'{"V": 1}', 0, [])])
    log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, data_dir: Path, workers: int, fsync: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "server", "--listeners", self.url, "--state-dir", str(data_dir),
                "--log-level", "warning", "-D", f"ksql.query.workers={workers}", "-D", f"ksql.log.fsync={fsync}"]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthcheck", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def ksql(self, sql: str) -> None:
        response = httpx.post(self.url + "/ksql", json={"ksql": sql, "streamsProperties": {
            "auto.offset.reset": "earliest"}}, timeout=60)
        response.raise_for_status()

    def wait_idle(self) -> None:
        while True:
            status = httpx.get(self.url + "/clusterStatus", timeout=30).json()["clusterStatus"]
            lags = [q["offsetLag"] for host in status.values()
                    for q in host["hostStoreLags"]["stateStoreLags"].values()]
            if not any(lags):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


SCENARIOS = {
    "2 GROUP BY queries (1 partition each)": (
        "CREATE TABLE T1 AS SELECT USER_ID, COUNT(*) AS N, SUM(AMOUNT) AS S FROM G1 GROUP BY USER_ID;"
        "CREATE TABLE T2 AS SELECT USER_ID, COUNT(*) AS N, SUM(AMOUNT) AS S FROM G2 GROUP BY USER_ID;", 2),
    "1 filter over 2 partitions": (
        "CREATE STREAM FILTERED AS SELECT USER_ID, AMOUNT * 2 AS DOUBLED FROM F WHERE AMOUNT > 10;", 1),
}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by process `pid` and by its descendants still running
    (the forkserver and the workers)."""
    def cpu(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return cpu(pid), sum(cpu(c) for c in _descendants(pid))


def run(workers: int, records: int, fsync: str) -> dict[str, tuple[float, float, float]]:
    """Per scenario on a fresh server with `workers` worker processes: records/s, and CPU seconds
    of the server process and of its workers per million records."""
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        _write_topics(data_dir, records)
        server = _Server(data_dir, workers, fsync)
        try:
            server.ksql("CREATE STREAM G1 (USER_ID STRING, AMOUNT INT) WITH (KAFKA_TOPIC='g1', VALUE_FORMAT='JSON');"
                        "CREATE STREAM G2 (USER_ID STRING, AMOUNT INT) WITH (KAFKA_TOPIC='g2', VALUE_FORMAT='JSON');"
                        "CREATE STREAM F (USER_ID STRING, AMOUNT INT) WITH (KAFKA_TOPIC='f', VALUE_FORMAT='JSON');"
                        "CREATE STREAM WARM (V INT) WITH (KAFKA_TOPIC='warm', VALUE_FORMAT='JSON');"
                        "CREATE STREAM WARMED AS SELECT V FROM WARM;")
            server.wait_idle()
            # the workers start with the first query: children of the forkserver, a child of the server
            while workers and len(set(_descendants(server.proc.pid)) - set(_children(server.proc.pid))) < workers:
                time.sleep(0.1)
            time.sleep(0.5)  # the warm-up query is handed to them
            for name, (sql, queries) in SCENARIOS.items():
                start, (main_cpu, worker_cpu) = time.perf_counter(), _cpu_seconds(server.proc.pid)
                server.ksql(sql)
                server.wait_idle()
                elapsed = time.perf_counter() - start
                main_after, workers_after = _cpu_seconds(server.proc.pid)
                millions = queries * records / 1e6
                rates[name] = (queries * records / elapsed, (main_after - main_cpu) / millions,
                               (workers_after - worker_cpu) / millions)
        finally:
            server.stop()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="records per query input")
    parser.add_argument("--workers", default="0,2", help="ksql.query.workers values to compare")
    parser.add_argument("--fsync", default="always", help="the server's ksql.log.fsync")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.records:,} records per query input; ksql.log.fsync={args.fsync}")
    for workers in (int(w) for w in args.workers.split(",")):
        for name, (rate, main_cpu, worker_cpu) in run(workers, args.records, args.fsync).items():
            print(f"workers={workers}: {name}: {rate:,.0f} records/s; CPU s per million records: "
                  f"server process {main_cpu:.2f}, workers {worker_cpu:.2f}")


if __name__ == "__main__":
    main()
