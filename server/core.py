"""The server's state: the log, the engine, the command log, push queries and the runner thread.

Everything that changes engine state or writes to the log goes through one lock
(`KsqlServer.lock`, granted first come first served: see server.engine_lock):
statements, inserts, and the runner's polling of persistent queries. Push and pull
queries (planning included) only read the metastore, the log and the tables' views
(which have their own locks) and run outside it. Requests take
the lock per statement or batch, so the runner gets its turn in between.

Start: open the data directory, finish an interrupted log transaction, replay the
command topic (streams, tables, types, variables, persistent queries, each query
resuming from its committed offsets), then start the runner. Damaged data found on
the way is logged (offsets lost to corrupt batches, unreadable commands); damaged
topic metadata stops the start with a message naming the file, since going on without
a topic would lose its streams and tables, or with the command topic, every statement. Stop: end push
queries, stop the runner, close the engine and the log.

With `bootstrap.servers` set, every topic lives in that Kafka cluster instead.
Servers with the same ksql.service.id then form a cluster: each follows the
shared command topic (running the statements the others accepted) and the
queries split their partitions through consumer groups.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ksql.connect.runtime import ConnectRuntime, transactional_id
from ksql.engine.bulk_load import collector_paused
from ksql.engine.command_log import CommandLog
from ksql.engine.engine import CONNECT_URL, Engine, EngineConfig, StatementResult
from ksql.engine.log import CorruptLogError, Log, LogError, LogLockedError, Record, open_log
from ksql.engine.pull import PullResult
from ksql.engine.query import RUNNING, OffloadLost, PersistentQuery
from ksql.engine.transient import TransientQueries, TransientQuery
from ksql.errors import KsqlError
from ksql.parser import ast, parse, substitute_variables
from server.cluster import DEFAULT_INTERVAL_MS, INTERVAL_PROPERTY, Heartbeats, Member
from server.config import EXACTLY_ONCE_V2, ServerConfig
from server.engine_lock import EngineLock
from server.group_commit import GroupCommitter
from server.metrics import ServerMetrics
from server.pull_plans import DEFAULT_CAPACITY, CachedPull, PullPlanCache
from server.runner import Runner
from server.supervisor import Backoff, ErrorClassifier, PollTransactions, QuerySupervisor
from server.txlog import TransactionalLog, journal_topic
from server.workers import WorkerPool

WORKERS_PROPERTY = "ksql.query.workers"

log = logging.getLogger("ksql.server")

T = TypeVar("T")

SERVER_VERSION = "0.29.0"  # the ksqlDB REST API version this server speaks


def advertised_host(config: ServerConfig) -> str:
    """host:port other servers and clients know this one by: ksql.advertised.listener, else the first
    listener (a wildcard address replaced by the machine's name, as ksqlDB does)."""
    advertised = str(config.get("ksql.advertised.listener", "") or "").strip()
    if advertised:
        parts = urlsplit(advertised if "://" in advertised else "http://" + advertised)
        return f"{parts.hostname}:{parts.port or 8088}"
    host, port, _ = config.listeners[0]
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"{host}:{port}"


class KsqlServer:
    """One ksqlDB server: engine and queries over an embedded log in `config.data_dir`."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.service_id = config.service_id
        self.lock = EngineLock()
        self.started_at = time.time()
        self.statuses: dict[str, dict[str, Any]] = {}  # commandId -> {"status", "message"}
        self.replay_failures: list[tuple[str, str]] = []
        self.running = False
        self.log: Log | None = None
        self.engine: Engine | None = None
        self.commands: CommandLog | None = None
        self.push = TransientQueries(config.get_int("ksql.max.push.queries", 100))
        self.push_buffer_rows = config.get_int("ksql.server.push.buffer.rows", 1000)
        self.runner: Runner | None = None
        self.supervisor: QuerySupervisor | None = None
        self.workers: WorkerPool | None = None
        self._kept_in_process: set[str] = set()  # queries a worker could not take (see _offload)
        self.heartbeats: Heartbeats | None = None
        self.cluster_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "ksql-py:" + config.data_dir))
        self.host = advertised_host(config)
        self.commits = GroupCommitter(self._writing_log)
        self.metrics = ServerMetrics(self)
        self.connect: ConnectRuntime | None = None
        self.pull_plans = PullPlanCache(config.get_int("ksql.server.pull.plan.cache.size", DEFAULT_CAPACITY))

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self, background: bool = True) -> None:
        """Open the log, replay the command log, and (unless `background` is False, as for ksql-run, which
        calls run_until_idle() itself) keep the queries running on the runner thread."""
        workers = query_workers(self.config)  # a bad value is refused before anything is opened
        _ = self.config.processing_guarantee  # so is an unknown guarantee (on the embedded log too)
        self.log = self._open_log()
        properties = self.config.engine_properties
        self.engine = Engine(self.log, EngineConfig(properties=properties, service_id=self.service_id))
        self.commands = CommandLog(self.log, self.service_id)
        self.connect = self._connect_runtime(self.engine)
        self.supervisor = QuerySupervisor(self._poll_transactions(), Backoff(
            self.config.get_int("ksql.query.retry.backoff.initial.ms", Backoff.initial_ms),
            self.config.get_int("ksql.query.retry.backoff.max.ms", Backoff.max_ms)),
            classifier=ErrorClassifier.from_config(str(self.config.get("ksql.error.classifier.regex", ""))))
        if workers and isinstance(self.log, TransactionalLog):
            self.workers = WorkerPool(workers)
            self.engine.restore_where_computed = True  # replay restores no state a worker restores again
        with collector_paused():  # replay restores every query's state in bulk
            count, failures = self.commands.replay(self.engine)
        self.replay_failures = [(c.statement, error) for c, error in failures]
        log.info("replayed %d commands (%d failed); %d persistent queries running", count, len(failures),
                 len(self.engine.queries))
        if self.connect is not None:
            self.connect.start()
        if background:
            self.runner = Runner(self._run_persistent, self.push.poll_all,
                                 idle_sleep=self.config.get_int("ksql.server.runner.idle.ms", 20) / 1000)
            self.runner.start()
        if not isinstance(self.log, TransactionalLog):  # on Kafka: other servers may share the service id
            self.heartbeats = Heartbeats(self.log, self.service_id, self.host,
                                         self.config.get_int(INTERVAL_PROPERTY, DEFAULT_INTERVAL_MS),
                                         lambda: self.lock)
            self.heartbeats.start()
        self.running = True

    def _connect_runtime(self, engine: Engine) -> ConnectRuntime | None:
        """The server's connector runtime (unless ksql.connect.url names a Connect cluster), given to the
        engine before the command log's replay creates the connectors; their tasks start after it."""
        if str(self.config.get(CONNECT_URL, "") or "").strip():
            return None
        runtime = ConnectRuntime(engine.log, service_id=self.service_id, worker_id=self.host,
                                 writer=self._connector_write, schema_registry=engine.schema_registry,
                                 autostart=False,
                                 flush_interval_ms=self.config.get_int("offset.flush.interval.ms", 1000),
                                 on_leading=self._restart_connector_transactions)
        engine.connect = runtime
        return runtime

    def _connector_write(self, write: Callable[[Log], T]) -> T:
        """A connector task's write (records with their source offsets, or a sink's offset commit) under the
        engine lock, as one transaction of the embedded log, or on Kafka one Kafka transaction of the
        service's connect transactional id (the server that takes the tasks over, or a restarted one, aborts
        what the previous leader left open); the runner is woken to process new records."""
        with self.lock:
            current = self.log
            if current is None:
                raise KsqlError("The server is shutting down")
            if isinstance(current, TransactionalLog):
                with current.transactions():
                    result = write(current)
            elif current.distributed:
                with current.transaction(transactional_id(self.service_id)):
                    result = write(current)
            else:
                result = write(current)
        if self.runner is not None:
            self.runner.wake()
        return result

    def _restart_connector_transactions(self) -> None:
        """This server runs the connectors' tasks now: on Kafka a new producer of the transactional id fences
        the previous leader and aborts what it left open before the source offsets are read back (and, if this
        server led before, replaces its own producer, which that leader fenced)."""
        if self.config.bootstrap_servers is None:
            return
        from ksql.engine.log.kafka import KafkaLog  # loads librdkafka only when used
        from ksql.engine.log.kafka_eos import ExactlyOnceKafkaLog

        if isinstance(self.log, KafkaLog | ExactlyOnceKafkaLog):
            self.log.restart_transactions(transactional_id(self.service_id))

    def run_until_idle(self) -> None:
        """Poll every persistent and push query until a round finds nothing to do (without the runner)."""
        while self._run_persistent() + self.push.poll_all():
            pass

    def _open_log(self) -> Log:
        """The Kafka cluster when bootstrap.servers is set, else the embedded log with its journal."""
        bootstrap = self.config.bootstrap_servers
        if bootstrap is not None:
            from ksql.engine.log.kafka import KafkaLog  # loads librdkafka only when used

            try:
                kafka = KafkaLog(bootstrap)
            except LogError as err:
                raise KsqlError(str(err)) from None
            if self.config.processing_guarantee != EXACTLY_ONCE_V2:
                return kafka
            from ksql.engine.log.kafka_eos import ExactlyOnceKafkaLog

            return ExactlyOnceKafkaLog(kafka, instance=self.host)
        fsync = str(self.config.get("ksql.log.fsync", "always"))
        # the cleaner of compacted topics, under Kafka's broker property names
        cleaner_interval_ms = self.config.get_int("log.cleaner.backoff.ms", 15_000)
        ratio = str(self.config.get("log.cleaner.min.cleanable.ratio", "0.5"))
        try:
            dirty_ratio = float(ratio)
        except ValueError:
            raise KsqlError(f"Invalid value for log.cleaner.min.cleanable.ratio: '{ratio}'. It must be a "
                            "number between 0 and 1.") from None
        try:
            inner = open_log(self.config.data_dir, fsync=fsync, cleaner_interval_ms=cleaner_interval_ms,
                             min_cleanable_dirty_ratio=dirty_ratio)
        except LogLockedError:
            raise KsqlError(f"The data directory {self.config.data_dir} is in use by another server") from None
        except ValueError as err:
            raise KsqlError(f"Invalid ksql.log.fsync: {err}") from None
        except CorruptLogError as err:  # damaged topic metadata: the server does not start without a topic
            raise KsqlError(f"The data directory {self.config.data_dir} cannot be opened: {err}") from None
        return TransactionalLog(inner, journal_topic(self.service_id))

    def _poll_transactions(self) -> PollTransactions | None:
        """What makes each poll of a persistent query one transaction: the embedded log's journal, or on
        Kafka with exactly_once_v2 the queries' transactional producers; None (at-least-once) else."""
        if isinstance(self.log, TransactionalLog):
            return self.log
        if self.config.bootstrap_servers is not None:  # librdkafka is loaded already
            from ksql.engine.log.kafka_eos import ExactlyOnceKafkaLog

            if isinstance(self.log, ExactlyOnceKafkaLog):
                return self.log
        return None

    def stop(self) -> None:
        """End push queries, stop the runner, close engine and log (idempotent)."""
        self.running = False
        self.push.close_all()
        if self.heartbeats is not None:
            self.heartbeats.stop()
            self.heartbeats = None
        if self.connect is not None:  # before the lock: its tasks take it to write
            self.connect.close()
            self.connect = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        with self.lock:
            if self.engine is not None:
                self.engine.close()
                self.engine = None
            if self.log is not None:
                self.log.close()
                self.log = None
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def _run_persistent(self) -> int:
        """One poll of every persistent query (see server.supervisor: each poll is a log transaction
        on the embedded log; a query that fails goes to ERROR and retries after a backoff). On
        Kafka, statements other servers of the cluster accepted are run first."""
        with self.lock:
            engine, current = self.engine, self.log
            if engine is None or current is None or self.supervisor is None:
                return 0
            if not isinstance(current, TransactionalLog):
                self._follow_commands(engine)
            if self.workers is not None:
                self._offload(engine, self.workers)
            work = self.supervisor.poll_all(engine.queries.values())
            work += engine.processing_log.flush(engine.log)  # what queries and push queries reported
        engine.catch_up_views()  # outside the lock: decoding a table's new rows holds up no writer
        return work

    def _offload(self, engine: Engine, workers: WorkerPool) -> None:
        """Hand the running queries a worker process can compute (new ones, replayed ones) to the
        pool, once its processes are up (until then, and for a query a worker refuses, this process
        computes them as before)."""
        for query in engine.queries.values():
            if not isinstance(query, PersistentQuery) or query.offload is not None or query.state != RUNNING \
                    or query.query_id in self._kept_in_process or not query.offloadable:
                continue
            if not workers.ready():  # computed here until the workers are up
                workers.start()
                return
            try:
                query.offload_to(workers)
            except OffloadLost as err:
                log.warning("persistent query %s: %s; trying again", query.query_id, err)
            except Exception as err:  # noqa: BLE001 - the query still runs, in this process
                log.warning("persistent query %s runs in the server process: a worker cannot run it: %s",
                            query.query_id, err)
                self._kept_in_process.add(query.query_id)
                query.restore_here()

    def failed_queries(self) -> dict[str, str]:
        """Persistent queries in ERROR: query id -> why (they retry by themselves). Without the
        lock: a health check must answer while a long statement runs."""
        supervisor = self.supervisor
        failed = supervisor.failed() if supervisor is not None else {}
        engine = self.engine
        for query in list(engine.queries.values()) if engine is not None else []:  # one step under the GIL
            if query.state == "ERROR" and query.query_id not in failed:  # e.g. its state could not be restored
                failed[query.query_id] = getattr(query, "error", None) or "the query is in ERROR"
        return failed

    def _follow_commands(self, engine: Engine) -> None:
        """Run the statements other servers of the cluster appended to the command topic."""
        assert self.commands is not None
        for command, error in self.commands.follow(engine):
            log.warning("command from another server failed here: %r: %s", command.statement, error)

    @contextmanager
    def writing(self) -> Iterator[Engine]:
        """The engine, with exclusive access; the runner is woken afterwards to process new data."""
        with self.lock:
            if self.engine is None:
                raise KsqlError("The server is shutting down")
            yield self.engine
        if self.runner is not None:
            self.runner.wake()

    @contextmanager
    def _writing_log(self) -> Iterator[Log]:
        """The log, with exclusive access to the engine (for the group committer's rounds)."""
        with self.writing() as engine:
            yield engine.log

    def append(self, topic: str, records: dict[int, list[Record]]) -> dict[int, list[int]]:
        """Append records (partition -> records in order) in the next group commit round; returns their
        offsets once they are durable. The caller must not hold the engine lock (its round would
        take no other writer's records)."""
        return self.commits.append(topic, records)

    def append_many(self, writes: list[tuple[str, dict[int, list[Record]]]]
                    ) -> list[dict[int, list[int]] | BaseException]:
        """Several writers' appends (topic, partition -> records) in one group commit round: per write its
        offsets once durable, or what failed it (see GroupCommitter.append_many)."""
        return self.commits.append_many(writes)

    def insert_values(self, stmt: ast.InsertValues, properties: dict[str, Any] | None = None) -> None:
        """Run an INSERT VALUES (`properties`: the request's): its row is encoded under the engine lock,
        then appended with other writers' rows in a group commit round (raises KsqlError for a refused
        row, OSError, LogError)."""
        with self.writing() as engine:
            topic, partition, record = engine.prepare_insert(stmt, properties)
        self.append(topic, {partition: [record]})

    # -- statements -------------------------------------------------------------------------------

    def prepare(self, sql: str, variables: dict[str, Any] | None = None) -> list[ast.Statement]:
        """Parse `sql` with the server's variables plus the request's session variables, without the
        engine lock (the variables are copied in one step: a DEFINE running meanwhile shows before or
        after)."""
        engine = self._engine()
        # as Engine.prepare: substitution unless ksql.variable.substitution.enable=false
        substitute = str(engine.property("ksql.variable.substitution.enable", True)).lower() != "false"
        known = {**engine.variables, **{str(k): str(v) for k, v in (variables or {}).items()}}
        return parse(substitute_variables(sql, known) if substitute else sql, engine.statement_limits)

    def execute(self, stmt: ast.Statement, properties: dict[str, Any]) -> StatementResult:
        """Run one statement (logging it to the command topic when it changes state)."""
        assert self.commands is not None
        with self.writing() as engine:
            if not isinstance(self.log, TransactionalLog):
                self._follow_commands(engine)  # the cluster's statements first: same sequence everywhere
            result = self.commands.execute(engine, stmt, properties)
        entity = result.entity
        command_id = entity.get("commandId") if isinstance(entity, dict) else None
        if command_id and self.commands.is_logged(stmt):
            status = entity.get("commandStatus") or {}
            self.statuses[command_id] = {"status": status.get("status", "SUCCESS"),
                                         "message": status.get("message", "")}
        return result

    def has_run_command(self, sequence: int) -> bool:
        """Whether this server ran the command numbered `sequence` (on Kafka, after following the cluster's)."""
        with self.lock:
            engine = self._engine()
            if not isinstance(self.log, TransactionalLog):
                self._follow_commands(engine)
            return engine.sequence >= sequence

    def start_push_query(self, stmt: ast.SelectStatement, properties: dict[str, Any],
                         resume: dict[int, int] | None = None) -> TransientQuery:
        with self.metrics.push_latency.time(), self.lock:
            query = self.push.start(self._engine(), stmt, properties, resume, self.push_buffer_rows)
        if self.runner is not None:
            self.runner.wake()
        return query

    def pull_query(self, stmt: ast.SelectStatement, properties: dict[str, Any]) -> PullResult:
        """A pull query's PullResult (query_id, columns, rows)."""
        return self.plan_pull(stmt, properties).plan.run()

    def plan_pull(self, stmt: ast.SelectStatement, properties: dict[str, Any]) -> CachedPull:
        """Check and compile a pull query, without the engine lock: planning only reads the metastore,
        and answering reads the log (a stream's topic, as push queries do) or the table's view under
        the view's own locks (its DuckDB mirror filled in bulk there), so however long either takes it
        holds up neither the runner nor other requests. The plan carries the engine generation it was
        made at (a statement ending meanwhile makes it stale for the plan cache)."""
        engine = self._engine()
        generation = engine.generation
        return CachedPull(stmt, engine.plan_pull_statement(stmt, properties), generation)

    def query_lags(self) -> dict[str, dict[str, Any]]:
        """Per persistent query: how many input records it has not processed yet."""
        with self.lock:
            return {query_id: {"offsetLag": query.lag()} for query_id, query in self._engine().queries.items()}

    def cluster_members(self) -> list[Member]:
        """The servers of this one's cluster: on Kafka those sharing its service id, embedded itself alone."""
        if self.heartbeats is None:
            return [Member(self.host, int(time.time() * 1000), True)]
        return self.heartbeats.members()

    def _engine(self) -> Engine:
        if self.engine is None:
            raise KsqlError("The server is shutting down")
        return self.engine


def query_workers(config: ServerConfig) -> int:
    """How many worker processes compute persistent queries (ksql.query.workers): `auto` (the default)
    is one per core this process may run on when there are two or more, else 0 (in this process)."""
    value = str(config.get(WORKERS_PROPERTY, "auto")).strip().lower()
    if value in ("", "auto"):
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return cores if cores > 1 else 0
    workers = config.get_int(WORKERS_PROPERTY, 0)
    if workers < 0:
        raise KsqlError(f"Invalid value for {WORKERS_PROPERTY}: '{value}'. It must be 'auto' or an integer >= 0.")
    return workers
