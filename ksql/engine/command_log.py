"""The command log: ksqlDB's command topic, which lets a restarted server rebuild its state.

Every statement the engine accepts that changes its state (CREATE, DROP, ALTER,
CREATE ... AS SELECT, INSERT INTO ... SELECT, TERMINATE, PAUSE/RESUME, types,
SET/UNSET, DEFINE/UNDEFINE) is appended, with the request's properties, to the
topic `_confluent-ksql-<service id>_command_topic` once it succeeded. On start the
statements are replayed in order before anything else runs.

Persistent query ids come from the engine's statement sequence number, so each
command also records the sequence it ran at and replay restores it: a replayed
query gets the same id, hence the same consumer group and committed offsets,
and resumes where it stopped instead of starting over.

A command that cannot be read (its bytes damaged on disk, or not a command) is
reported with its offset and skipped: the commands after it are still replayed.
The log truncates only a torn last batch, i.e. the last statement's partial write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ksql.engine.engine import Engine, StatementResult
from ksql.engine.log import Log, Record, TopicConfig
from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.parser.limits import UNLIMITED

log = logging.getLogger("ksql.commands")

VERSION = 1

# statements whose effect must survive a restart (INSERT VALUES is data: it is in the log already)
LOGGED_STATEMENTS = (
    ast.CreateSource, ast.CreateAsSelect, ast.InsertInto, ast.DropSource, ast.CreateType, ast.DropType,
    ast.AlterSource, ast.Terminate, ast.PauseResume, ast.SetProperty, ast.UnsetProperty,
    ast.DefineVariable, ast.UndefineVariable, ast.CreateConnector, ast.DropConnector,
)
# logged only when they run in the server's own connector runtime (an external Connect cluster keeps its own)
CONNECTOR_STATEMENTS = (ast.CreateConnector, ast.DropConnector)


def command_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_command_topic"


@dataclass(frozen=True)
class Command:
    """One logged statement: its text, the properties it ran with and its sequence number."""

    statement: str
    properties: dict[str, Any]
    sequence: int
    offset: int = -1


@dataclass(frozen=True)
class LostCommand:
    """A command of the log that cannot be replayed: why, and at which offset."""

    offset: int
    reason: str

    def __str__(self) -> str:
        return f"command at offset {self.offset} {self.reason}"


def _decode(record: Record) -> Command:
    """The Command in a record of the command topic; ValueError (or RecursionError) if it is not one."""
    doc = orjson.loads(record.value or b"")
    if not isinstance(doc, dict):
        raise ValueError(f"not a JSON object but {type(doc).__name__}")
    statement, sequence, properties = doc.get("statement"), doc.get("sequence"), doc.get("streamsProperties")
    if not isinstance(statement, str):
        raise ValueError(f"statement {statement!r} is not a string")
    if type(sequence) is not int:
        raise ValueError(f"sequence {sequence!r} is not an integer")
    if not isinstance(properties, dict | None):
        raise ValueError(f"streamsProperties {properties!r} is not an object")
    return Command(statement, dict(properties or {}), sequence, record.offset)


class CommandLog:
    """Appends accepted statements to the command topic and replays them into an engine."""

    def __init__(self, log_: Log, service_id: str):
        self.log = log_
        self.topic = command_topic(service_id)
        if not log_.topic_exists(self.topic):
            log_.create_topic(self.topic, TopicConfig(partitions=1))
        self.position = 0  # the offset after the last command this engine ran or wrote
        self._own: set[int] = set()  # offsets of commands this process appended (not to run twice)

    @staticmethod
    def is_logged(stmt: ast.Statement) -> bool:
        return isinstance(stmt, LOGGED_STATEMENTS)

    def execute(self, engine: Engine, stmt: ast.Statement, properties: dict[str, Any] | None = None
                ) -> StatementResult:
        """Run one parsed statement and, if it changes state, log it (caller serializes engine access).

        A statement that fails, or whose command cannot be appended (disk full), is undone in the
        engine: what a restart would not rebuild must not be in the metastore now."""
        if not self.is_logged(stmt) or (isinstance(stmt, CONNECTOR_STATEMENTS) and not engine.connect.embedded):
            return engine.execute_statement(stmt, properties)
        sequence = engine._sequence
        savepoint = _Savepoint(engine)
        connectors = set(engine.connect.connector_names()) if isinstance(stmt, ast.CreateConnector) else None
        try:
            result = engine.execute_statement(stmt, properties)
            self.append(Command(getattr(stmt, "text", ""), dict(properties or {}), sequence))
        except BaseException:
            savepoint.restore(engine)
            if connectors is not None:  # a connector the statement started stops again
                for name in set(engine.connect.connector_names()) - connectors:
                    engine.connect.delete(name)
            raise
        return result

    def append(self, command: Command) -> int:
        value = orjson.dumps({"statement": command.statement, "streamsProperties": command.properties,
                              "sequence": command.sequence, "version": VERSION},
                             default=str)
        [offset] = self.log.append(self.topic, 0, [Record(None, value, 0, [])])
        self._own.add(offset)
        return offset

    def commands(self, start: int | None = None) -> Iterator[Command | LostCommand]:
        """The commands from `start` (default: the first) in order, and a LostCommand for each
        one that cannot be run: undecodable, or lost to damaged bytes in the log (a gap in the
        offsets; on Kafka gaps are normal: transaction markers). The commands after either are
        still returned."""
        offset = self.log.start_offset(self.topic, 0) if start is None else start
        gaps_are_losses = not self.log.distributed
        while True:
            records = self.log.read(self.topic, 0, offset, 1000)
            if not records:
                return
            for rec in records:
                if gaps_are_losses:
                    for lost in range(offset, rec.offset):
                        yield LostCommand(lost, "lost to damaged data in the command topic")
                offset = rec.offset + 1
                try:
                    yield _decode(rec)
                except (ValueError, RecursionError) as err:
                    yield LostCommand(rec.offset, f"unreadable: {err}")

    def replay(self, engine: Engine) -> tuple[int, list[tuple[Command, str]]]:
        """Re-execute every command in order; returns (commands replayed, [(command, error)]).

        A command that cannot be read is reported (logged, and among the failures as a Command
        with no statement at its offset); the commands after it are replayed."""
        failures: list[tuple[Command, str]] = []
        count = 0
        for command in self.commands():
            self.position = command.offset + 1
            if isinstance(command, LostCommand):
                failures.append(self._lost(command))
                continue
            count += 1
            error = self._run(engine, command)
            if error is not None:
                failures.append((command, error))
                log.warning("command log: replaying %r failed: %s", command.statement, error)
        return count, failures

    def follow(self, engine: Engine) -> list[tuple[Command, str]]:
        """Run the commands other servers (same service id, shared log) appended since the last
        call; returns those that failed here with their errors."""
        failures: list[tuple[Command, str]] = []
        for command in self.commands(self.position):
            self.position = command.offset + 1
            if isinstance(command, LostCommand):
                failures.append(self._lost(command))
                continue
            if command.offset in self._own:
                self._own.discard(command.offset)
                continue
            error = self._run(engine, command)
            if error is not None:
                failures.append((command, error))
        return failures

    def _lost(self, lost: LostCommand) -> tuple[Command, str]:
        log.error("command log %s: %s; skipped", self.topic, lost)
        return Command("", {}, -1, lost.offset), str(lost)

    @staticmethod
    def _run(engine: Engine, command: Command) -> str | None:
        engine._sequence = command.sequence
        engine.replaying = True
        try:
            for stmt in engine.prepare(command.statement, UNLIMITED):  # accepted once: replayed as it is
                engine.execute_statement(stmt, command.properties)
        except KsqlError as err:
            return str(err)
        finally:
            engine.replaying = False
        return None


class _Savepoint:
    """The engine's statement-level state before a statement, to undo it when it cannot be logged.

    Sources, types, properties, variables and the sequence come back as they were; queries the
    statement started are terminated with their internal topics. A query the statement terminated
    cannot be revived: it stays terminated (and comes back on the next restart)."""

    def __init__(self, engine: Engine):
        store = engine.metastore
        self.sources = dict(store.sources)
        self.query_ids = {name: (set(s.writer_query_ids), set(s.reader_query_ids))
                          for name, s in store.sources.items()}
        self.types = dict(store.types)
        self.query_states = {query_id: q.state for query_id, q in engine.queries.items()}  # PAUSE / RESUME
        self.session_properties = dict(engine.session_properties)
        self.variables = dict(engine.variables)
        self.sequence = engine._sequence

    def restore(self, engine: Engine) -> None:
        for query_id in [q for q in engine.queries if q not in self.query_states]:
            engine._terminate(query_id)
        for query_id, state in self.query_states.items():
            if query_id in engine.queries:
                engine.queries[query_id].state = state
            else:
                log.warning("query %s stays terminated although its statement was not logged", query_id)
        store = engine.metastore
        _reset(store.sources, self.sources)
        for name, (writers, readers) in self.query_ids.items():
            _reset(self.sources[name].writer_query_ids, writers)
            _reset(self.sources[name].reader_query_ids, readers)
        _reset(store.types, self.types)
        _reset(engine.session_properties, self.session_properties)
        _reset(engine.variables, self.variables)
        engine._sequence = self.sequence
        for name in [n for n, view in engine.views.items() if self.sources.get(n) is not view.source]:
            engine.views.pop(name).close()
        engine.changed()


def _reset(target: Any, saved: Any) -> None:
    """Make a dict or set equal to `saved` in place (others hold references to it)."""
    target.clear()
    target.update(saved)
