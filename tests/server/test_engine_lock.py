"""No request stalls the engine: the lock is handed over first come first served, a request whose client
left gives up waiting for it, stream pull queries do not take it, and while a long /ksql script runs the
health check answers and a persistent query keeps processing new input."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from ksql.parser import ast
from server.app import create_app
from server.config import ServerConfig
from server.core import KsqlServer
from server.engine_lock import CANCELLED, EngineLock, RequestCancelled
from server.http import in_worker
from server.statements import run_script
from tests.server.harness import ServerProcess, ksql


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def _waiters(lock: EngineLock) -> int:
    return len(lock._waiting)  # noqa: SLF001 - the test waits for a thread to be queued


def test_a_released_lock_goes_to_the_thread_that_waited_first() -> None:
    lock = EngineLock()
    order: list[str] = []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_until(lambda: _waiters(lock) == 1)
    lock.release()
    with lock:  # taking it straight back: the waiter goes first
        order.append("holder again")
    thread.join(5)
    assert order == ["waiter", "holder again"]


def test_the_lock_is_reentrant_and_a_cancelled_request_stops_waiting() -> None:
    lock = EngineLock()
    outcome: list[str] = []
    gone = threading.Event()

    def request() -> None:
        CANCELLED.set(gone)
        try:
            with lock:
                outcome.append("ran")
        except RequestCancelled:
            outcome.append("cancelled")

    with lock, lock:
        thread = threading.Thread(target=request)
        thread.start()
        _wait_until(lambda: _waiters(lock) == 1)
        gone.set()  # the client disconnects while the request waits
        thread.join(5)
    assert outcome == ["cancelled"] and _waiters(lock) == 0
    with lock:  # still usable
        pass


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[KsqlServer]:
    server = KsqlServer(ServerConfig({"state.dir": str(tmp_path / "data"), "ksql.log.fsync": "never"}))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _run(server: KsqlServer, sql: str) -> None:
    for stmt in server.prepare(sql):
        server.execute(stmt, {})


def test_while_a_stream_pull_query_scans_the_runner_keeps_processing_input(embedded: KsqlServer) -> None:
    _run(embedded, "CREATE STREAM BIG (K STRING KEY, V INT) WITH (KAFKA_TOPIC='big', PARTITIONS=1, "
                   "VALUE_FORMAT='JSON'); INSERT INTO BIG (K, V) VALUES ('a', 1);"
                   "CREATE STREAM SRC (K STRING KEY, V INT) WITH (KAFKA_TOPIC='src', PARTITIONS=1, "
                   "VALUE_FORMAT='JSON');"
                   "CREATE STREAM OUT WITH (KAFKA_TOPIC='out') AS SELECT K, V + 1 AS W FROM SRC;")
    [select] = embedded.prepare("SELECT V FROM BIG;")
    assert isinstance(select, ast.SelectStatement)
    log = embedded.log
    assert log is not None
    read = log.read
    scanning, finish_scan = threading.Event(), threading.Event()

    def slow_read(topic: str, *args, **kwargs):  # the scan of a big topic, paused midway
        if topic == "big" and threading.current_thread().name == "pull":
            scanning.set()
            finish_scan.wait(30)
        return read(topic, *args, **kwargs)

    log.read = slow_read  # type: ignore[method-assign]
    rows: list = []
    pull = threading.Thread(target=lambda: rows.append(embedded.pull_query(select, {}).rows), name="pull")
    pull.start()
    try:
        assert scanning.wait(10)
        writer = threading.Thread(target=_run, args=(embedded, "INSERT INTO SRC (K, V) VALUES ('k', 41);"))
        writer.start()
        writer.join(10)
        assert not writer.is_alive(), "the insert waited for the pull query"
        _wait_until(lambda: log.end_offset("out", 0) == 1)  # the persistent query processed it meanwhile
        assert pull.is_alive() and not rows
    finally:
        finish_scan.set()
        pull.join(10)
    assert rows == [[[1]]]


def test_health_and_pull_queries_answer_while_a_long_statement_holds_the_engine_lock(embedded: KsqlServer) -> None:
    _run(embedded, "CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', PARTITIONS=2, "
                   "VALUE_FORMAT='JSON'); CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='t', "
                   "VALUE_FORMAT='JSON'); INSERT INTO S (K, V) VALUES ('a', 1); INSERT INTO S (K, V) VALUES ('b', 2);")
    app = create_app(embedded)
    order: list[str] = []

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            health = await client.get("/healthcheck")
            order.append(f"health {health.status_code}")
            for sql in ("SELECT V FROM T WHERE K = 'b';", "SELECT V FROM T WHERE K = 'b';",
                        "SELECT K, V FROM T WHERE K IN ('a', 'b');", "SELECT * FROM NOPE;"):
                response = await client.post("/query", json={"ksql": sql})
                order.append(f"{sql} {response.status_code} {[m['row']['columns'] for m in response.json() if 'row' in m]}")
            streamed = await client.post("/query-stream", json={"sql": "SELECT V FROM T WHERE K = 'a';"})
            order.append(f"query-stream {streamed.status_code} {streamed.text.splitlines()[1:]}")
        release.set()

    release = threading.Event()

    def long_statement() -> None:
        with embedded.lock:
            locked.set()
            release.wait(10)
            order.append("lock released")

    locked = threading.Event()
    holder = threading.Thread(target=long_statement)
    holder.start()
    assert locked.wait(10)
    asyncio.run(scenario())
    holder.join(10)
    assert order == ["health 200",
                     "SELECT V FROM T WHERE K = 'b'; 200 [[2]]",
                     "SELECT V FROM T WHERE K = 'b'; 200 [[2]]",  # the cached plan
                     "SELECT K, V FROM T WHERE K IN ('a', 'b'); 200 [['a', 1], ['b', 2]]",
                     "SELECT * FROM NOPE; 400 []",
                     "query-stream 200 ['[1]']",
                     "lock released"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("lock") / "data", {"ksql.log.fsync": "never"}).start()
    try:
        yield process
    finally:
        process.kill()


def test_a_long_script_neither_stalls_ingest_nor_other_requests(server: ServerProcess) -> None:
    with server.client(timeout=60) as client:
        ksql(client, "CREATE STREAM LK_SRC (K STRING KEY, V INT) WITH (KAFKA_TOPIC='lk_src', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        ksql(client, "CREATE STREAM LK_OUT AS SELECT K, V * 10 AS V10 FROM LK_SRC;")
    events: list[tuple] = []  # in the order things happened
    statements = 400
    script = "".join(f"CREATE STREAM LK_X{i} (K STRING KEY, V INT) WITH (KAFKA_TOPIC='lk_x{i}', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');" for i in range(statements))

    def read_output() -> None:
        with server.client(timeout=60) as c, c.stream("POST", "/query-stream", json={
                "sql": "SELECT V10 FROM LK_OUT EMIT CHANGES LIMIT 3;",
                "properties": {"auto.offset.reset": "earliest"}}) as response:
            for line in list(response.iter_lines())[1:]:
                if line.strip():
                    events.append(("output", json.loads(line)[0]))

    def run_script() -> None:
        with server.client(timeout=300) as c:
            response = c.post("/ksql", json={"ksql": script})
            events.append(("script done", response.status_code, len(response.json())))

    reader = threading.Thread(target=read_output)
    reader.start()
    runner = threading.Thread(target=run_script)
    runner.start()
    with server.client(timeout=60) as client:
        # the script is under way: its first stream exists (and this /ksql request got its turn)
        _wait_until(lambda: any(s["name"] == "LK_X0" for s in ksql(client, "SHOW STREAMS;")[0]["streams"]), 60)
        events.append(("script started",))
        for v in range(1, 4):
            body = b'{"target": "LK_SRC"}\n' + json.dumps({"K": f"k{v}", "V": v}).encode() + b"\n"
            assert json.loads(client.post("/inserts-stream", content=body).text)["status"] == "ok"
        assert client.get("/healthcheck").json()["isHealthy"] is True
        events.append(("healthy",))
    reader.join(120)
    runner.join(300)
    done = events.index(("script done", 200, statements))
    assert [e for e in events[:done] if e[0] == "output"] == [("output", 10), ("output", 20), ("output", 30)]
    assert events.index(("script started",)) < events.index(("healthy",)) < done


def test_work_of_a_request_whose_client_disconnected_is_cancelled_before_it_takes_the_lock() -> None:
    lock = EngineLock()
    ran: list[str] = []

    async def receive() -> dict:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    def work() -> None:
        with lock:
            ran.append("work")

    async def scenario() -> None:
        request = Request({"type": "http", "method": "POST", "path": "/ksql", "headers": []}, receive)
        with pytest.raises(RequestCancelled):
            await in_worker(request, work)

    with lock:  # held by a long statement meanwhile
        asyncio.run(scenario())
    assert ran == []


def test_a_script_whose_client_left_stops_at_the_next_statement(embedded: KsqlServer) -> None:
    gone = threading.Event()
    prepare = embedded.prepare

    def prepare_then_disconnect(sql: str, variables=None):
        statements = prepare(sql, variables)
        gone.set()  # the client disconnects while this statement waits for the lock
        return statements

    embedded.prepare = prepare_then_disconnect  # type: ignore[method-assign]
    outcome: list[object] = []

    def request() -> None:
        CANCELLED.set(gone)
        try:
            outcome.append(run_script(embedded, "CREATE STREAM GONE (V INT) WITH (KAFKA_TOPIC='gone', "
                                                "PARTITIONS=1, VALUE_FORMAT='JSON');", {}))
        except RequestCancelled:
            outcome.append("cancelled")

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(10)
    assert outcome == ["cancelled"]
    assert embedded.engine is not None and embedded.engine.metastore.get("GONE") is None
