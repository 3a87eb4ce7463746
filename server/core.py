"""The server's state: the log, the engine, the command log, push queries and the runner thread.

Everything that changes engine state or writes to the log goes through one lock
(`KsqlServer.lock`): statements, inserts, and the runner's polling of persistent
queries. Push queries only read the log and poll outside it.

Start: open the data directory, finish an interrupted log transaction, replay the
command topic (streams, tables, types, variables, persistent queries, each query
resuming from its committed offsets), then start the runner. Stop: end push
queries, stop the runner, close the engine and the log.

With `bootstrap.servers` set, every topic lives in that Kafka cluster instead.
Servers with the same ksql.service.id then form a cluster: each follows the
shared command topic (running the statements the others accepted) and the
queries split their partitions through consumer groups.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ksql.engine.command_log import CommandLog
from ksql.engine.engine import Engine, EngineConfig, StatementResult
from ksql.engine.log import Log, LogError, LogLockedError, open_log
from ksql.engine.transient import TransientQueries, TransientQuery
from ksql.errors import KsqlError
from ksql.parser import ast
from server.config import ServerConfig
from server.runner import Runner
from server.txlog import TransactionalLog, journal_topic

log = logging.getLogger("ksql.server")

SERVER_VERSION = "0.29.0"  # the ksqlDB REST API version this server speaks
ERROR = "ERROR"  # the state of a persistent query that failed (SHOW QUERIES shows it)


class KsqlServer:
    """One ksqlDB server: engine and queries over an embedded log in `config.data_dir`."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.service_id = config.service_id
        self.lock = threading.RLock()
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
        self.cluster_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "ksql-py:" + config.data_dir))

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self, background: bool = True) -> None:
        """Open the log, replay the command log, and (unless `background` is False, as for ksql-run, which
        calls run_until_idle() itself) keep the queries running on the runner thread."""
        self.log = self._open_log()
        properties = self.config.engine_properties
        self.engine = Engine(self.log, EngineConfig(properties=properties, service_id=self.service_id))
        self.commands = CommandLog(self.log, self.service_id)
        count, failures = self.commands.replay(self.engine)
        self.replay_failures = [(c.statement, error) for c, error in failures]
        log.info("replayed %d commands (%d failed); %d persistent queries running", count, len(failures),
                 len(self.engine.queries))
        if background:
            self.runner = Runner(self._run_persistent, self.push.poll_all,
                                 idle_sleep=self.config.get_int("ksql.server.runner.idle.ms", 20) / 1000)
            self.runner.start()
        self.running = True

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
                return KafkaLog(bootstrap)
            except LogError as err:
                raise KsqlError(str(err)) from None
        fsync = str(self.config.get("ksql.log.fsync", "always"))
        try:
            inner = open_log(self.config.data_dir, fsync=fsync)
        except LogLockedError:
            raise KsqlError(f"The data directory {self.config.data_dir} is in use by another server") from None
        except ValueError as err:
            raise KsqlError(f"Invalid ksql.log.fsync: {err}") from None
        return TransactionalLog(inner, journal_topic(self.service_id))

    def stop(self) -> None:
        """End push queries, stop the runner, close engine and log (idempotent)."""
        self.running = False
        self.push.close_all()
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

    def _run_persistent(self) -> int:
        """One poll of every running persistent query; a query that fails is set to ERROR (as
        ksqlDB does), the others go on. On the embedded log each poll is a log transaction (its
        uncommitted output is dropped on failure); on Kafka, statements other servers of the
        cluster accepted are run first."""
        with self.lock:
            engine, current = self.engine, self.log
            if engine is None or current is None:
                return 0
            if not isinstance(current, TransactionalLog):
                self._follow_commands(engine)
                work = sum(self._poll(query, None) for query in list(engine.queries.values()))
            else:
                with current.transactions():
                    work = sum(self._poll(query, current) for query in list(engine.queries.values()))
            engine.run_until_idle(max_rounds=0)  # no query polls: the materialized views catch up
            return work

    @staticmethod
    def _poll(query: Any, txlog: TransactionalLog | None) -> int:
        try:
            work = query.poll()
            if txlog is not None:
                txlog.flush()  # the query's output, state and offsets: one transaction
            return work
        except Exception as err:  # noqa: BLE001 - one query's failure must not stop the rest
            if txlog is not None:
                txlog.rollback()
            query.state = ERROR
            log.error("persistent query %s failed and stopped (RESUME it to retry): %s: %s",
                      query.query_id, type(err).__name__, err)
            return 0

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

    # -- statements -------------------------------------------------------------------------------

    def prepare(self, sql: str, variables: dict[str, Any] | None = None) -> list[ast.Statement]:
        """Parse `sql` with the server's variables plus the request's session variables."""
        with self.lock:
            engine = self._engine()
            if not variables:
                return engine.prepare(sql)
            saved = dict(engine.variables)
            engine.variables.update({str(k): str(v) for k, v in variables.items()})
            try:
                return engine.prepare(sql)
            finally:
                engine.variables.clear()
                engine.variables.update(saved)

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

    def start_push_query(self, stmt: ast.SelectStatement, properties: dict[str, Any],
                         resume: dict[int, int] | None = None) -> TransientQuery:
        with self.lock:
            query = self.push.start(self._engine(), stmt, properties, resume, self.push_buffer_rows)
        if self.runner is not None:
            self.runner.wake()
        return query

    def pull_query(self, stmt: ast.SelectStatement, properties: dict[str, Any]) -> Any:
        """A pull query's PullResult (query_id, columns, rows), from the engine's materialized state."""
        with self.lock:
            engine = self._engine()
            return engine.pull_query(stmt.text, properties)

    def query_lags(self) -> dict[str, dict[str, Any]]:
        """Per persistent query: how many input records it has not processed yet."""
        with self.lock:
            return {query_id: {"offsetLag": query.lag()} for query_id, query in self._engine().queries.items()}

    def _engine(self) -> Engine:
        if self.engine is None:
            raise KsqlError("The server is shutting down")
        return self.engine
