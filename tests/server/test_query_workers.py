"""Persistent queries computed in worker processes (ksql.query.workers): each query, and each partition of
a stateless one, runs in its own OS process, and results stay exact when a worker or the server is killed."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ksql.engine.log import EmbeddedLog, Record, TopicConfig
from server.config import ServerConfig
from server.core import KsqlServer, query_workers
from tests.server.harness import ServerProcess, ksql, query_rows, wait_idle

EARLIEST = {"auto.offset.reset": "earliest"}
SETUP = """
CREATE STREAM EVENTS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='events', PARTITIONS=2, VALUE_FORMAT='JSON');
CREATE TABLE TOTALS AS SELECT K, COUNT(*) AS N, SUM(V) AS S FROM EVENTS GROUP BY K;
CREATE STREAM BIG AS SELECT K, V * 10 AS W FROM EVENTS WHERE V % 3 <> 0;
"""


def _expected_totals(values: list[int]) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for v in values:
        n, s = totals.get(f"k{v % 7}", (0, 0))
        totals[f"k{v % 7}"] = (n + 1, s + v)
    return totals


# -- in-process server: which process computes what ------------------------------------------------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[KsqlServer]:
    server = KsqlServer(ServerConfig({"state.dir": str(tmp_path / "data"), "ksql.log.fsync": "never",
                                      "ksql.query.workers": "2"}))
    server.start(background=False)
    yield server
    server.stop()


def _setup(server: KsqlServer) -> None:
    """The queries, handed to the workers once these are up (until then the server computes them)."""
    server.engine.execute(SETUP, EARLIEST)
    server.run_until_idle()  # starts the workers
    deadline = time.monotonic() + 60
    while server.workers is not None and not server.workers.ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.run_until_idle()
    assert all(q.offload is server.workers for q in server.engine.queries.values())


def _produce(server: KsqlServer, values: range) -> None:
    for partition in range(2):
        server.log.append("events", partition, [
            Record(f"k{v % 7}".encode(), orjson.dumps({"V": v}), 1_000 + v, [])
            for v in values if v % 2 == partition])


def _settle(server: KsqlServer, timeout: float = 30.0) -> None:
    """Run rounds until every query is RUNNING with nothing left to read (a failed one retries)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.run_until_idle()
        queries = server.engine.queries.values()
        if all(q.state == "RUNNING" and q.lag() == 0 for q in queries):
            return
        time.sleep(0.02)
    raise AssertionError({q.query_id: (q.state, q.lag()) for q in server.engine.queries.values()})


def _check(server: KsqlServer, values: list[int]) -> None:
    rows = server.engine.pull_query("SELECT K, N, S FROM TOTALS;").rows
    assert {k: (n, s) for k, n, s in rows} == _expected_totals(values)
    big = []
    for partition in range(2):
        for record in server.log.read("BIG", partition, 0, 100_000):
            big.append(orjson.loads(record.value)["W"])
    assert sorted(big) == sorted(v * 10 for v in values if v % 3 != 0)


def _workers(server: KsqlServer) -> dict[str, dict[int, int]]:
    """Query id -> input partition -> pid of the process computing it."""
    assert server.workers is not None
    return {qid: server.workers.workers_of(q) for qid, q in server.engine.queries.items()}


def _dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_queries_and_partitions_run_in_different_processes(server: KsqlServer) -> None:
    _setup(server)
    _produce(server, range(2000))
    _settle(server)
    _check(server, list(range(2000)))
    placed = _workers(server)
    totals, big = placed["CTAS_TOTALS_1"], placed["CSAS_BIG_2"]
    assert len(set(totals.values())) == 1  # an aggregation's state lives in one worker
    assert big[0] != big[1]  # a stateless query's partitions run in two processes
    assert totals[0] != big[0]  # and two queries in two processes
    pids = set(totals.values()) | set(big.values())
    assert os.getpid() not in pids and pids <= set(server.workers.pids())


def test_a_killed_worker_is_replaced_and_results_stay_exact(server: KsqlServer) -> None:
    _setup(server)
    _produce(server, range(1000))
    _settle(server)
    killed = _workers(server)["CTAS_TOTALS_1"][0]
    os.kill(killed, signal.SIGKILL)
    assert _dead(killed)
    _produce(server, range(1000, 3000))
    _settle(server)
    _check(server, list(range(3000)))
    now = _workers(server)
    assert killed not in {pid for partitions in now.values() for pid in partitions.values()}
    assert len(server.workers.pids()) == 2


def test_a_restarted_aggregation_is_restored_by_its_worker_and_goes_on_exactly(server: KsqlServer,
                                                                                tmp_path: Path) -> None:
    """At restart the server process does not restore an aggregation's state (to ship it to a worker): the
    worker taking the query restores it from the changelog's records; pulls and counting go on exactly."""
    for stmt in server.prepare(SETUP):  # through the command log, which the restart replays
        server.execute(stmt, EARLIEST)
    _settle_with_workers(server)
    _produce(server, range(1000))
    _settle(server)
    server.stop()
    again = KsqlServer(ServerConfig(dict(server.config.properties)))
    again.start(background=False)
    try:
        query = again.engine.queries["CTAS_TOTALS_1"]
        assert query.awaiting_restore and query.processor.state == {}  # nothing decoded in the server
        assert query.poll() == 0  # nor counted from an empty state meanwhile
        rows = again.engine.pull_query("SELECT K, N, S FROM TOTALS;").rows  # the sink, before any worker
        assert {k: (n, s) for k, n, s in rows} == _expected_totals(list(range(1000)))
        _settle_with_workers(again)
        assert not query.awaiting_restore and query.offload is again.workers
        _produce(again, range(1000, 2000))
        _settle(again)
        _check(again, list(range(2000)))
    finally:
        again.stop()


def test_a_restarted_aggregation_without_a_readable_checkpoint_is_in_error_at_once(server: KsqlServer) -> None:
    """A changelog holding nothing readable is found at replay, before any worker is up: the query is in
    ERROR with the reason from the start, and the other query runs on."""
    for stmt in server.prepare(SETUP):
        server.execute(stmt, EARLIEST)
    _settle_with_workers(server)
    _produce(server, range(100))
    _settle(server)
    changelog = server.engine.queries["CTAS_TOTALS_1"].changelog
    server.stop()
    log = EmbeddedLog(server.config.data_dir, fsync="never")
    log.delete_topic(changelog)
    log.create_topic(changelog, TopicConfig(partitions=1))
    log.append(changelog, 0, [Record(b"junk", b"junk", 0, []), Record(b"more junk", None, 0, [])])
    log.close()
    again = KsqlServer(ServerConfig(dict(server.config.properties)))
    again.start(background=False)
    try:
        query = again.engine.queries["CTAS_TOTALS_1"]
        assert query.state == "ERROR" and not query.awaiting_restore
        assert "has 2 records and none it can read" in query.error and changelog in query.error
        assert again.engine.queries["CSAS_BIG_2"].state == "RUNNING"
    finally:
        again.stop()


def _settle_with_workers(server: KsqlServer) -> None:
    """Run rounds until the workers are up and have taken every query."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server.run_until_idle()
        if all(q.offload is server.workers for q in server.engine.queries.values()):
            return
        time.sleep(0.05)
    raise AssertionError("the workers did not take the queries")


def test_poison_records_logged_by_workers_reach_the_processing_log(server: KsqlServer,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    _setup(server)
    server.log.append("events", 0, [Record(b"k0", b"{not json", 1, [])])
    _produce(server, range(100))
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        _settle(server)
    _check(server, list(range(100)))
    skipped = [r for r in caplog.records if r.name == "ksql.processing" and "events" in r.getMessage()]
    assert {r.getMessage().split(":")[0] for r in skipped} == {"CTAS_TOTALS_1", "CSAS_BIG_2"}
    workers = _workers(server)
    assert {r.process for r in skipped} == {workers["CTAS_TOTALS_1"][0], workers["CSAS_BIG_2"][0]} != {os.getpid()}


def test_pause_and_resume(server: KsqlServer) -> None:
    _setup(server)
    _produce(server, range(100))
    _settle(server)
    server.engine.execute("PAUSE CTAS_TOTALS_1;")
    _produce(server, range(100, 200))
    server.run_until_idle()
    assert server.engine.queries["CTAS_TOTALS_1"].lag() == 100
    server.engine.execute("RESUME CTAS_TOTALS_1;")
    _settle(server)
    _check(server, list(range(200)))


def test_terminate_and_drop_release_the_worker_task(server: KsqlServer) -> None:
    _setup(server)
    _produce(server, range(100))
    _settle(server)
    query = server.engine.queries["CSAS_BIG_2"]
    server.engine.execute("DROP STREAM BIG DELETE TOPIC;")
    assert query.offload is None and server.workers.workers_of(query) == {}
    _produce(server, range(100, 200))
    _settle(server)
    rows = server.engine.pull_query("SELECT K, N, S FROM TOTALS;").rows
    assert {k: (n, s) for k, n, s in rows} == _expected_totals(list(range(200)))


def test_workers_property() -> None:
    assert query_workers(ServerConfig({"ksql.query.workers": "0"})) == 0
    assert query_workers(ServerConfig({"ksql.query.workers": "3"})) == 3
    cores = len(os.sched_getaffinity(0))
    assert query_workers(ServerConfig({})) == (cores if cores > 1 else 0)
    with pytest.raises(Exception, match="ksql.query.workers"):
        query_workers(ServerConfig({"ksql.query.workers": "-1"}))


# -- a server process killed with SIGKILL, and one of its workers -------------------------------------

def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _workers_of(server: ServerProcess) -> set[int]:
    """The server's worker processes: its grandchildren (the children of its forkserver)."""
    assert server.proc is not None
    children = _descendants(server.proc.pid)
    return {pid for pid in children if _parent(pid) not in (server.proc.pid, None)}


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _insert(client: httpx.Client, values: range) -> list[int]:
    lines = [orjson.dumps({"target": "EVENTS"})] + [orjson.dumps({"K": f"k{v % 7}", "V": v}) for v in values]
    acks = [orjson.loads(line) for line in client.post("/inserts-stream", content=b"\n".join(lines) + b"\n")
            .text.splitlines()]
    return [values[a["seq"]] for a in acks if a.get("status") == "ok"]


def _check_sinks(client: httpx.Client) -> list[int]:
    wait_idle(client)
    values = [v for [v] in query_rows(client, "SELECT V FROM EVENTS;")]
    assert len(values) == len(set(values)), "a source record twice"
    big = sorted(w for [w] in query_rows(client, "SELECT W FROM BIG;"))
    assert big == sorted(v * 10 for v in values if v % 3 != 0), "BIG lost or duplicated records"
    totals = {k: (n, s) for k, n, s in query_rows(client, "SELECT K, N, S FROM TOTALS;")}
    assert totals == _expected_totals(values), "TOTALS counted a record twice or missed one"
    return values


def _writing(server: ServerProcess, start: int, acked: list[int]) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()

    def write() -> None:
        value = start
        with server.client(timeout=5) as client:
            while not stop.is_set():
                try:
                    acked.extend(_insert(client, range(value, value + 200)))
                except httpx.HTTPError:
                    return  # the server died under us
                value += 200

    writer = threading.Thread(target=write)
    writer.start()
    return writer, stop


def test_sigkill_of_a_worker_and_of_the_server_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    properties = {"ksql.query.workers": "2", "ksql.query.retry.backoff.initial.ms": "100"}
    server = ServerProcess(data, properties).start()
    acked: list[int] = []
    try:
        with server.client(timeout=30) as c:
            ksql(c, SETUP, EARLIEST)
            acked += _insert(c, range(2000))
            _check_sinks(c)
            deadline = time.monotonic() + 60
            while len(workers := _workers_of(server)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # started in the background with the first query
            assert len(workers) == 2, workers
            writer, stop = _writing(server, 100_000, acked)
            time.sleep(0.5)
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)  # a worker dies while rows flow in
            time.sleep(0.5)
            stop.set()
            writer.join()
            values = _check_sinks(c)
            assert set(acked) <= set(values)
            assert victim not in _workers_of(server) and len(_workers_of(server)) == 2
            writer, stop = _writing(server, 200_000, acked)
            time.sleep(0.8)
        workers = _workers_of(server)
        server.kill()  # SIGKILL of the server while rows flow in and the workers compute
        stop.set()
        writer.join()
        assert all(_dead(pid) for pid in workers), "a worker outlived its server"
        server = ServerProcess(data, properties, port=server.port).start()
        with server.client(timeout=30) as c:
            values = _check_sinks(c)
            assert set(acked) <= set(values), "an acknowledged row was lost"
            assert len(acked) > 2000
    finally:
        server.kill()


def test_a_batch_encoded_by_a_worker_is_what_the_journal_and_the_log_would_write() -> None:
    """The journal writes a worker's encoded payload as its rows: the two encodings must be one."""
    from ksql.engine.log import RecordBatch, encode_batch
    from server.txlog import _encode_rows, _rows_of

    batch = RecordBatch([b"k", None, b""], [b'{"V":1}', b"", None], [5, -1, 2**40],
                        [(), (("h", b"x"), ("n", None)), ()])
    assert encode_batch(batch).payload == _encode_rows(_rows_of(batch))
