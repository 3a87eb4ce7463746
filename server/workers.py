"""Worker processes: persistent queries computed on more than one core.

Python runs one thread at a time, so the server computes persistent queries in
worker processes (`ksql.query.workers` of them). The split keeps every guarantee
of the in-process runner because the workers never touch the log:

- The server process reads each query's next input batch from its committed
  offset, as the log stores it (`Log.read_undecoded`: no per-record work), and
  sends it to the worker that owns the query (an aggregation: one worker, which
  holds its state; a stateless query: one worker per input partition, so a
  2-partition filter runs on two cores).
- The worker runs the query's own code (`PersistentQuery.process_batch`: decode,
  filter/project or aggregate, encode, changelog) against a stand-in log that
  only hands it that batch and records what the query writes: sink batches and
  changelog records, already in the log's record encoding (`EncodedBatch`), and
  the offset commit; with the skipped records it reported and its metrics.
- The server process replays those writes into the query's log transaction
  (server.txlog), which writes the encoded payloads as they are: output,
  changelog and offsets still commit as one, and pull queries still read the
  committed sink.

The workers start in the background with the first query they can run; until
they are up, the server process computes a stateless query. An aggregation waits
for them, and the worker that takes it restores its state from the changelog's
records as stored, which the server sends (so a restart decodes the state once,
in the process that computes with it, and never ships it); one restored in the
server (a failover) is sent as it is.

While the workers compute, the server process writes the results of other
queries and reads the next batches (server.supervisor submits each query's
next batches as soon as its previous ones are committed).

A worker's state is never copied back. When a worker dies (killed, out of
memory) or a batch fails, its queries fail over to the supervisor, which
rebuilds their state from the changelog as a restart would and attaches them
again (to a new process for a dead worker); what the lost worker computed but
the server did not commit is computed again. Queries the workers cannot run
stay in the server process: joins, queries over schema-registry formats
(the registry lives in the server process) and queries on a Kafka cluster.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from ksql.engine.log import Record, RecordBatch, TopicConfig, encode_batch
from ksql.engine.log.ownership import OwnAll
from ksql.engine.metrics import QueryMetrics
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.properties import expression_options
from ksql.engine.query import OffloadLost, PersistentQuery, PlanInputs, Write
from ksql.errors import KsqlError
from ksql.planner.expressions.options import compiling_with

log = logging.getLogger("ksql.server.workers")

_POLL_SECONDS = 1.0  # how often a wait for a worker checks that it is still alive


# -- in the worker process ---------------------------------------------------------------------------

class _BatchLog:
    """The log a query sees in a worker: reads return the batch the server sent, writes are recorded.
    When the worker restores the query's state, it reads the changelog's records the server sent too."""

    distributed = False

    def __init__(self, partitions: dict[str, int], changelog: tuple[str, Any] | None = None, resumed: bool = False):
        self._partitions = partitions
        self.batch: RecordBatch | None = None
        self.writes: list[Write] = []
        self._resumed = resumed  # the query has consumed input (committed offsets, in the server's log)
        self._changelog, self._changelog_records = None, []
        if changelog is not None:
            self._changelog, stored = changelog
            self._partitions[self._changelog] = 1
            if stored is not None:
                self._changelog_records = stored.decoded().records()

    def topic_config(self, name: str) -> TopicConfig:
        return TopicConfig(partitions=self._partitions.get(name, 1))

    def partitions(self, name: str) -> int:
        return self._partitions.get(name, 1)

    def join_group(self, group: str, topics: Sequence[str]) -> OwnAll:
        return OwnAll({(t, p) for t in topics for p in range(self.partitions(t))})

    def topic_exists(self, name: str) -> bool:
        return name in self._partitions

    def create_topic(self, name: str, config: TopicConfig) -> None:
        self._partitions[name] = config.partitions

    def forget_changelog(self) -> None:
        """The state is restored: the changelog's records are not read again."""
        self._changelog_records = []

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        if self.batch is not None:
            return self.batch.offsets[0]
        return 0 if self._resumed else None  # only whether there is one matters outside a batch

    def start_offset(self, topic: str, partition: int) -> int:
        records = self._changelog_records
        return records[0].offset if topic == self._changelog and records else 0

    def end_offset(self, topic: str, partition: int) -> int:
        """No end to clamp a restored checkpoint to: the server clamps it to its log's (attach)."""
        return sys.maxsize

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        """The changelog's records from `offset` (the only topic a query reads record by record)."""
        assert topic == self._changelog
        records = self._changelog_records
        first = bisect.bisect_left(records, offset, key=lambda r: r.offset)
        return records[first:first + max_records]

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        assert self.batch is not None and self.batch.partition == partition
        return self.batch

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> range:
        self.writes.append(("batch", topic, partition, encode_batch(batch)))  # encoded here, not in the server
        return range(len(batch))

    def append(self, topic: str, partition: int, records: list) -> range:
        return self.append_batch(topic, partition, RecordBatch.of(records))

    def send_batch(self, topic: str, partition: int, batch: RecordBatch) -> None:
        self.append_batch(topic, partition, batch)

    def wait_for_sends(self) -> None:
        """The server process writes what was recorded, and waits for it there."""

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if self.batch is not None:  # a query's start-up commits mean nothing here
            self.writes.append(("commit", group, -1, dict(offsets)))


class _LogCapture(logging.Handler):
    """Keeps the worker's log records (the processing log: poison records) for the server to emit."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                             "msg": record.getMessage(), "created": record.created, "process": record.process,
                             "pathname": record.pathname, "filename": record.filename, "module": record.module,
                             "lineno": record.lineno, "funcName": record.funcName,
                             "exc_text": self.formatter.formatException(record.exc_info)
                             if record.exc_info and self.formatter else None})

    def take(self) -> list[dict[str, Any]]:
        taken, self.records = self.records, []
        return taken


@dataclass
class _Task:
    query: PersistentQuery
    log: _BatchLog


def _build(message: dict[str, Any]) -> _Task:
    """The worker's copy of a query: compiled from its plan inputs, over a _BatchLog."""
    inputs: PlanInputs = message["inputs"]
    batch_log = _BatchLog(dict(message["partitions"]), message["changelog"], message["resumed"])
    topic, include_rows = message["processing_log"]
    with compiling_with(expression_options(inputs.properties)):
        query = _compiled_query(message, inputs, batch_log, ProcessingLog(topic, include_rows))
    batch_log.forget_changelog()  # the query restored its state from `changelog`
    if message["state"] is not None:
        assert query.processor is not None
        query.processor.put_state(message["state"])
    return _Task(query, batch_log)


def _compiled_query(message: dict[str, Any], inputs: PlanInputs, batch_log: _BatchLog,
                    processing_log: ProcessingLog) -> PersistentQuery:
    """The worker's PersistentQuery of `message`, its plan compiled from `inputs`."""
    from ksql.functions import default_registry

    return PersistentQuery(message["query_id"], message["sql"], inputs.plan(default_registry()), message["sink"],
                            batch_log, throw_on_invalid_timestamp=message["throw"],  # type: ignore[arg-type]
                            service_id=message["service_id"], query_prefix=message["query_prefix"],
                            fail_on_deserialization_error=message["fail_on_deserialization_error"],
                            plan_inputs=inputs, processing_log=processing_log)


@dataclass
class _Done:
    """What a batch came to in a worker: the writes, and what the query counted on the way."""

    writes: list[Write]
    errors: int  # expression errors (PersistentQuery.errors)
    traffic: tuple[int, int, int, int]  # records and bytes read, records and bytes written


def _run(task: _Task, partition: int, batch: Any) -> _Done:
    batch = batch.decoded()  # read undecoded by the server: decoding is part of the work done here
    query = task.query
    task.log.batch, task.log.writes = batch, []
    query.errors, query.metrics = 0, QueryMetrics()
    try:
        query.process_batch(partition, len(batch))
        m = query.metrics
        return _Done(task.log.writes, query.errors, (m.records_in, m.bytes_in, m.records_out, m.bytes_out))
    finally:
        task.log.batch, task.log.writes = None, []


def _picklable(err: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - an exception of any shape is reported by its text
        return RuntimeError(f"{type(err).__name__}: {err}")


def serve(conn: Connection, log_level: int) -> None:
    """A worker's loop: one reply per request, in order, until the server closes the pipe (or dies).

    Replies go out from a thread of their own, so this loop keeps taking requests while a large
    reply waits for the server to read it: the server may be sending the next request at that
    moment, and with both sides blocked on a full pipe neither would ever go on."""
    capture = _LogCapture()
    capture.setFormatter(logging.Formatter())
    root = logging.getLogger()
    root.handlers[:] = [capture]
    root.setLevel(log_level)
    replies: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    threading.Thread(target=_send_replies, args=(conn, replies), name="ksql-worker-replies", daemon=True).start()
    tasks: dict[int, _Task] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the server closed the pipe or is gone
        op, key = request[0], request[1]
        try:
            if op == "run":
                reply: Any = _run(tasks[key], request[2], request[3])
            elif op == "attach":
                task = tasks[key] = _build(request[2])
                reply = (task.query.checkpoint, task.query.error)  # where a state restored here stands
            else:  # detach
                tasks.pop(key, None)
                reply = None
            status = "ok"
        except Exception as err:  # noqa: BLE001 - the server fails the query with it
            log.debug("worker request %s failed: %s", op, traceback.format_exc())
            status, reply = "error", _picklable(err)
        # the skipped records it reported, also those of a failed batch (as a failed poll's are)
        reported = tasks[key].query.reporter.hand_over() if op == "run" and key in tasks else None
        replies.put(ForkingPickler.dumps((status, reply, capture.take(), reported)))


def _send_replies(conn: Connection, replies: queue.SimpleQueue[bytes]) -> None:
    while True:
        reply = replies.get()
        try:
            conn.send_bytes(reply)
        except OSError:
            os._exit(0)  # the server is gone: so is the reason to run


# -- in the server process ---------------------------------------------------------------------------

class _Worker:
    """One worker process and its pipe; requests are answered in order, replies are matched by number."""

    def __init__(self, context: Any, index: int, log_level: int):
        self.index = index
        self.conn, child = multiprocessing.Pipe()
        self.process = context.Process(target=serve, args=(child, log_level), name=f"ksql-worker-{index}",
                                       daemon=True)
        self.process.start()
        child.close()  # the worker's end: once it exits, recv() here sees EOF
        self.alive = True
        self._sent = 0
        self._received = 0
        self._replies: dict[int, tuple] = {}
        self._dropped: set[int] = set()

    def request(self, message: tuple) -> int:
        """Send a request; its number, to wait for its reply with reply()."""
        data = ForkingPickler.dumps(message)  # a message that does not pickle fails here, the pipe intact
        try:
            self.conn.send_bytes(data)
        except OSError as err:
            raise self._lost(err) from None
        self._sent += 1
        return self._sent - 1

    def reply(self, number: int) -> tuple:
        """The reply to request `number` (replies before it are kept for their own wait)."""
        while number not in self._replies:
            if number < self._received:
                raise OffloadLost("its batch was dropped (the query was attached again)")
            if not self.alive:
                raise self._lost(None)
            try:
                while not self.conn.poll(_POLL_SECONDS):
                    if not self.process.is_alive():
                        raise EOFError
                reply = self.conn.recv()
            except (EOFError, OSError) as err:
                raise self._lost(err) from None
            if self._received in self._dropped:
                self._dropped.discard(self._received)
            else:
                self._replies[self._received] = reply
            self._received += 1
        return self._replies.pop(number)

    def drop(self, number: int) -> None:
        """Its reply will not be waited for."""
        if self._replies.pop(number, None) is None and number >= self._received:
            self._dropped.add(number)

    def _lost(self, err: BaseException | None) -> OffloadLost:
        if self.alive:
            self.alive = False
            self.process.join(1.0)
            log.error("query worker process %d (pid %s) exited (exit code %s)%s: its queries are restored "
                      "from their changelogs and go on in a new worker", self.index, self.process.pid,
                      self.process.exitcode, f": {err}" if err else "")
        return OffloadLost(f"the worker process computing it (pid {self.process.pid}) exited with code "
                           f"{self.process.exitcode}")

    def close(self) -> None:
        self.alive = False
        self.conn.close()
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)


@dataclass
class _Attached:
    """A query as the pool runs it: its key in the workers, which worker runs which partition."""

    key: int
    workers: dict[int, _Worker]  # input partition -> worker
    load: list[int]  # the worker indexes it keeps busy: one for an aggregation, one per partition else
    outstanding: set[tuple[_Worker, int]] = field(default_factory=set)


class WorkerPool:
    """Runs persistent queries' batches in `size` worker processes (an Offload for PersistentQuery)."""

    def __init__(self, size: int):
        self.size = size
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["server.workers"])  # forks start with the engine imported
        self._workers: list[_Worker | None] = [None] * size
        self._attached: dict[int, _Attached] = {}  # id(query) -> how it runs
        self._keys = itertools.count()
        self._starting = threading.Lock()  # _worker() from start()'s thread and from the runner
        self._closed = False
        self._start_requested = False
        self._ready = threading.Event()

    def ready(self) -> bool:
        """Whether the worker processes were started (see start())."""
        return self._ready.is_set()

    def start(self) -> None:
        """Start the worker processes in the background, once: queries are handed to the pool when
        they are up, so no caller (the runner holds the server's engine lock) waits for the
        forkserver to import the engine."""
        with self._starting:
            if self._start_requested:
                return
            self._start_requested = True
        threading.Thread(target=self._start_all, name="ksql-workers-start", daemon=True).start()

    def _start_all(self) -> None:
        try:
            for index in range(self.size):
                self._worker(index)
        except Exception as err:  # noqa: BLE001 - attaching a query tries again and reports it
            log.warning("query worker processes not started: %s", err)
        self._ready.set()

    def pids(self) -> list[int]:
        """The live worker processes (for operators and tests)."""
        return [w.process.pid for w in self._workers if w is not None and w.alive]

    def workers_of(self, query: PersistentQuery) -> dict[int, int]:
        """Input partition -> pid of the worker computing it."""
        attached = self._attached.get(id(query))
        return {} if attached is None else {p: w.process.pid for p, w in attached.workers.items()}

    def _worker(self, index: int) -> _Worker:
        with self._starting:
            if self._closed:
                raise OffloadLost("the server is stopping")
            worker = self._workers[index]
            if worker is None or not worker.alive:
                if worker is not None:
                    worker.close()
                worker = self._workers[index] = _Worker(self._context, index,
                                                        logging.getLogger().getEffectiveLevel())
            return worker

    # -- the Offload protocol --------------------------------------------------------------------------

    def attach(self, query: PersistentQuery) -> None:
        """Start computing for `query` from its state as it is now (restored from the log)."""
        self.detach(query)
        stateful = query.processor is not None
        load = Counter(index for attached in self._attached.values() for index in attached.load)
        slots: dict[int, int] = {}
        for partition in range(query.partitions):
            if stateful and slots:  # an aggregation's partitions share one state, in one worker
                slots[partition] = slots[0]
                continue
            slots[partition] = min(range(self.size), key=lambda i: (load[i], i))  # the least busy
            load[slots[partition]] += 1
        workers = {p: self._worker(slot) for p, slot in slots.items()}
        key = next(self._keys)
        message = {"inputs": query.plan_inputs, "sql": query.sql, "query_id": query.query_id,
                   "sink": query.sink, "throw": query.throw_on_invalid_timestamp,
                   "service_id": query.service_id, "query_prefix": query.query_prefix,
                   "fail_on_deserialization_error": query.fail_on_deserialization_error,
                   "processing_log": (query.reporter.topic, query.reporter.include_rows),
                   "partitions": {query.source_topic: query.partitions,
                                  query.sink.topic: query.log.topic_config(query.sink.topic).partitions},
                   # the state: restored here (replay, recover), or by the worker from the changelog as stored
                   "state": query.processor.held_state() if stateful and not query.awaiting_restore else None,
                   "changelog": (query.changelog, query.stored_changelog()) if query.awaiting_restore else None,
                   "resumed": query.resumed}
        distinct = {id(w): w for w in workers.values()}.values()
        numbers = [(w, w.request(("attach", key, message))) for w in distinct]
        restored = [self._check(worker.reply(number)) for worker, number in numbers]
        if query.awaiting_restore:
            checkpoint, error = restored[0]
            if error is not None:  # the changelog could not be read: the caller restores (and fails) it here
                self._attached[id(query)] = _Attached(key, workers, sorted(set(slots.values())))
                self.detach(query)
                raise KsqlError(error)
            query.awaiting_restore, query.checkpoint = False, checkpoint
            if checkpoint is not None:
                query._resume_at(query.source_topic, checkpoint)
        if stateful:
            query.processor.drop_state()  # the worker holds it now
        self._attached[id(query)] = _Attached(key, workers, sorted(set(slots.values())) if stateful
                                              else list(slots.values()))

    def submit(self, query: PersistentQuery, partition: int, batch: Any) -> tuple[_Worker, int, PersistentQuery]:
        attached = self._attached.get(id(query))
        if attached is None:
            raise OffloadLost("the query is not attached to a worker")
        worker = attached.workers[partition]
        if not worker.alive or self._workers[worker.index] is not worker:
            raise OffloadLost(f"the worker process computing it (pid {worker.process.pid}) exited")
        number = worker.request(("run", attached.key, partition, batch))
        attached.outstanding.add((worker, number))
        return worker, number, query

    def collect(self, ticket: tuple[_Worker, int, PersistentQuery]) -> Sequence[Write]:
        worker, number, query = ticket
        attached = self._attached.get(id(query))
        if attached is not None:
            attached.outstanding.discard((worker, number))
        done: _Done = self._check(worker.reply(number), query)
        query.errors += done.errors
        records_in, bytes_in, records_out, bytes_out = done.traffic
        if records_in:
            query.metrics.read(records_in, bytes_in)
        if records_out:
            query.metrics.wrote(records_out, bytes_out)
        return done.writes

    def detach(self, query: PersistentQuery) -> None:
        attached = self._attached.pop(id(query), None)
        if attached is None:
            return
        for worker, number in attached.outstanding:
            worker.drop(number)
        for worker in {id(w): w for w in attached.workers.values()}.values():
            if worker.alive:
                try:
                    worker.drop(worker.request(("detach", attached.key)))
                except OffloadLost:
                    pass  # gone with the worker

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _check(reply: tuple, query: PersistentQuery | None = None) -> Any:
        """A reply's result, after emitting the log records the worker kept and handing the query's
        processing-log entries to the server's; raises what the worker raised."""
        status, result, records, reported = reply
        if reported is not None and query is not None:
            query.reporter.take_in(*reported)
        for record in records:
            logger = logging.getLogger(record["name"])
            if logger.isEnabledFor(record["levelno"]):
                logger.handle(logging.makeLogRecord(record))
        if status == "error":
            raise result
        return result

    def close(self) -> None:
        with self._starting:
            self._closed = True
        for worker in self._workers:
            if worker is not None:
                worker.close()
        self._workers = [None] * self.size
        self._attached.clear()
