"""Persistent queries under disk faults: a failed poll leaves no trace, the query retries by itself.

The engine runs on the real embedded log wrapped in the server's TransactionalLog;
the faults come from the seam at the log's OS calls (tests/disk_faults.py), so
the log, the journal, the queries and the supervisor all run their own code.
"""

from __future__ import annotations

import errno
import pickle

import orjson
import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog, Record
from server.supervisor import ERROR, Backoff, QuerySupervisor
from server.txlog import TransactionalLog
from tests.disk_faults import DiskFaults

CLICKS = ("CREATE STREAM CLICKS (USER STRING KEY, MS INT) "
          "WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);")
USERS = ("CREATE TABLE USERS (USER STRING PRIMARY KEY, NAME STRING) "
         "WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON', PARTITIONS=1);")
VIEWS = ("CREATE STREAM VIEWS (USER STRING KEY, MS INT) "
         "WITH (KAFKA_TOPIC='views', VALUE_FORMAT='JSON', PARTITIONS=1);")
PER_USER = "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N, SUM(MS) AS TOTAL FROM CLICKS GROUP BY USER;"


class Clock:
    """The supervisor's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """What the server's runner does, in-process: an engine on a TransactionalLog, polled by a supervisor."""

    def __init__(self, path, fsync: str = "never") -> None:
        self.inner = EmbeddedLog(str(path), fsync=fsync)
        self.log = TransactionalLog(self.inner, "_journal")
        self.engine = Engine(self.log, EngineConfig(properties={"auto.offset.reset": "earliest"}))
        self.clock = Clock()
        self.supervisor = QuerySupervisor(self.log, Backoff(initial_ms=100, max_ms=400), clock=self.clock)

    def execute(self, *sql: str) -> None:
        for statement in sql:
            self.engine.execute(statement)

    def poll(self) -> int:
        return self.supervisor.poll_all(list(self.engine.queries.values()))

    def drain(self) -> None:
        while self.poll():
            pass

    def click(self, users: list[str], start_ts: int = 0, topic: str = "clicks") -> None:
        self.log.append(topic, 0, [Record(u.encode(), orjson.dumps({"MS": 1}), start_ts + i, [])
                                   for i, u in enumerate(users)])

    def query(self):
        [query] = self.engine.queries.values()
        return query

    def sink(self, topic: str) -> list[tuple[bytes | None, object]]:
        records = self.inner.read(topic, 0, 0, 1_000_000)
        return [(r.key, None if r.value is None else orjson.loads(r.value)) for r in records]

    def close(self) -> None:
        self.engine.close()
        self.log.close()


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> DiskFaults:
    return DiskFaults(monkeypatch)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.close()


def aggregate_state(query) -> tuple:
    """Everything an aggregation holds in memory between polls (a deep copy)."""
    p = query.processor
    return pickle.loads(pickle.dumps((p.state, p.pending_final, p.table_rows, p.stream_time, p.origins,
                                      {k: sorted(v) for k, v in p.sessions.items()})))


def join_state(query) -> list:
    """Everything a join holds in memory between polls: buffers, table sides, stream time (a deep copy)."""
    return pickle.loads(pickle.dumps([(dict(s.left_buf), dict(s.right_buf), s.left_tab, s.right_tab, s.emitted,
                          s.stream_time) for s in query.steps]))


USERS_10 = [f"u{i % 10}" for i in range(100)]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_a_failed_poll_leaves_state_output_and_offsets_as_before(server: Server, faults: DiskFaults,
                                                                   error: int) -> None:
    server.execute(CLICKS, PER_USER)
    server.click(USERS_10)
    server.drain()
    query = server.query()
    before = aggregate_state(query)
    output = server.sink("PER_USER")
    committed = server.inner.committed(query.group, "clicks", 0)

    server.click(USERS_10, start_ts=1000)
    faults.arm(error)
    assert server.poll() == 0
    assert query.state == ERROR
    assert aggregate_state(query) == before
    assert server.sink("PER_USER") == output
    assert server.inner.committed(query.group, "clicks", 0) == committed == 100
    assert faults.failures >= 1


def test_an_aggregation_is_exact_after_the_fault_clears(server: Server, faults: DiskFaults) -> None:
    server.execute(CLICKS, PER_USER)
    server.click(USERS_10)
    server.drain()
    faults.arm()
    for round_ in range(4):  # the fault lasts several polls; new input keeps arriving
        faults.clear()
        server.click(USERS_10, start_ts=1000 * (round_ + 1))
        faults.arm()
        server.clock.now += 10
        server.poll()
        assert server.query().state == ERROR
    faults.clear()
    assert server.poll() == 0  # not yet: the retry waits for its backoff
    server.clock.now += 1
    server.drain()
    assert server.query().state == "RUNNING"
    assert not server.supervisor.failed()
    output = server.sink("PER_USER")
    assert len(output) == 500  # one update per input record: none lost, none twice
    counts = {r[0]: (r[1], r[2]) for r in server.engine.pull_query("SELECT USER, N, TOTAL FROM PER_USER;").rows}
    assert counts == {f"u{i}": (50, 50) for i in range(10)}


@pytest.mark.parametrize("emit", ["EMIT CHANGES", "EMIT FINAL"])
def test_a_windowed_aggregation_is_exact_after_the_fault_clears(server: Server, faults: DiskFaults,
                                                                 emit: str) -> None:
    server.execute(CLICKS, "CREATE TABLE PER_SECOND AS SELECT USER, COUNT(*) AS N FROM CLICKS "
                           f"WINDOW TUMBLING (SIZE 1 SECOND, RETENTION 1 HOUR, GRACE PERIOD 0 SECONDS) "
                           f"GROUP BY USER {emit};")
    for second in range(6):
        server.click([f"u{i % 3}" for i in range(30)], start_ts=second * 1000)
        faulty = 2 <= second < 5
        if faulty:  # the fault lasts three polls (the retries due then fail too)
            faults.arm()
            server.clock.now += 10
        before = aggregate_state(server.query())
        server.poll()
        if faulty:
            assert server.query().state == ERROR and aggregate_state(server.query()) == before
        faults.clear()
    server.clock.now += 10
    server.drain()
    final: dict = {}
    for key, value in server.sink("PER_SECOND"):
        final[key] = value["N"]
    closed = 5 if emit == "EMIT FINAL" else 6  # the last second's window is still open
    assert len(final) == 3 * closed and set(final.values()) == {10}


def test_a_fault_after_the_journal_is_rolled_forward_not_repeated(server: Server,
                                                                  faults: DiskFaults) -> None:
    server.execute(CLICKS, PER_USER)
    server.click(USERS_10)
    server.drain()
    server.click(USERS_10, start_ts=1000)
    faults.arm(after=1)  # the journal's write succeeds, the output's fails: the transaction is decided
    server.poll()
    assert server.query().state == ERROR
    faults.clear()
    server.clock.now += 1
    server.drain()
    assert len(server.sink("PER_USER")) == 200
    counts = {r[0]: r[1] for r in server.engine.pull_query("SELECT USER, N FROM PER_USER;").rows}
    assert counts == {f"u{i}": 20 for i in range(10)}


def test_joins_are_exact_after_the_fault_clears(server: Server, faults: DiskFaults) -> None:
    server.execute(CLICKS, USERS,
                   "CREATE STREAM NAMED AS SELECT C.USER, C.MS, U.NAME FROM CLICKS C "
                   "JOIN USERS U ON C.USER = U.USER;",
                   VIEWS,
                   "CREATE STREAM PAIRS AS SELECT C.USER, C.MS, V.MS AS MS2 FROM CLICKS C "
                   "JOIN VIEWS V WITHIN 5 MILLISECONDS ON C.USER = V.USER;")
    server.log.append("users", 0, [Record(f"u{i}".encode(), orjson.dumps({"NAME": f"n{i}"}), 0, [])
                                   for i in range(10)])
    for round_ in range(4):  # the first round runs without faults
        for topic in ("clicks", "views"):
            server.click(USERS_10, start_ts=1000 * round_ + 10, topic=topic)
        if round_ == 0:
            server.drain()
            assert len(server.sink("PAIRS")) == 100  # each click meets the view of the same ms
            continue
        before = [join_state(q) for q in server.engine.queries.values()]
        faults.arm()
        server.clock.now += 10
        server.poll()
        assert {q.state for q in server.engine.queries.values()} == {ERROR}
        assert [join_state(q) for q in server.engine.queries.values()] == before
        faults.clear()
    server.clock.now += 1
    server.drain()
    assert {q.state for q in server.engine.queries.values()} == {"RUNNING"}
    assert len(server.sink("NAMED")) == 400
    assert len(server.sink("PAIRS")) == 400


def test_retries_back_off_exponentially_up_to_the_maximum(server: Server, faults: DiskFaults) -> None:
    server.execute(CLICKS, PER_USER)
    server.click(USERS_10)
    query = server.query()
    faults.arm(errno.EIO)
    server.poll()
    delays = []
    for _ in range(4):
        failure = server.supervisor.failures[query.query_id]
        delays.append(round(failure.retry_at - server.clock.now, 3))
        server.clock.now = failure.retry_at - 0.001
        server.poll()
        assert server.supervisor.failures[query.query_id].attempts == failure.attempts  # not yet
        server.clock.now = failure.retry_at
        server.poll()
    assert delays == [0.1, 0.2, 0.4, 0.4]
    reason = server.supervisor.failed()[query.query_id]
    assert "I/O error" in reason and "retry" in reason
    assert query.query_errors and query.query_errors[-1]["errorMessage"] == reason
    faults.clear()
    server.clock.now += 1
    server.drain()
    assert query.state == "RUNNING" and not server.supervisor.failed()


def test_pause_and_resume_of_a_failed_query(server: Server, faults: DiskFaults) -> None:
    """A PAUSEd query is not in ERROR; RESUME retries at once, without waiting for the backoff."""
    server.execute(CLICKS, PER_USER)
    server.click(USERS_10)
    query = server.query()
    faults.arm()
    server.poll()
    faults.clear()
    server.execute(f"PAUSE {query.query_id};")
    assert server.poll() == 0 and not server.supervisor.failed()
    server.execute(f"RESUME {query.query_id};")
    assert server.poll() == 100 and query.state == "RUNNING" and not server.supervisor.failures
