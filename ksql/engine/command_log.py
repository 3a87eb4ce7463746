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

log = logging.getLogger("ksql.commands")

VERSION = 1

# statements whose effect must survive a restart (INSERT VALUES is data: it is in the log already)
LOGGED_STATEMENTS = (
    ast.CreateSource, ast.CreateAsSelect, ast.InsertInto, ast.DropSource, ast.CreateType, ast.DropType,
    ast.AlterSource, ast.Terminate, ast.PauseResume, ast.SetProperty, ast.UnsetProperty,
    ast.DefineVariable, ast.UndefineVariable,
)


def command_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_command_topic"


@dataclass(frozen=True)
class Command:
    """One logged statement: its text, the properties it ran with and its sequence number."""

    statement: str
    properties: dict[str, Any]
    sequence: int
    offset: int = -1


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
        if not self.is_logged(stmt):
            return engine.execute_statement(stmt, properties)
        sequence = engine._sequence
        savepoint = _Savepoint(engine)
        try:
            result = engine.execute_statement(stmt, properties)
            self.append(Command(getattr(stmt, "text", ""), dict(properties or {}), sequence))
        except BaseException:
            savepoint.restore(engine)
            raise
        return result

    def append(self, command: Command) -> int:
        value = orjson.dumps({"statement": command.statement, "streamsProperties": command.properties,
                              "sequence": command.sequence, "version": VERSION},
                             default=str)
        [offset] = self.log.append(self.topic, 0, [Record(None, value, 0, [])])
        self._own.add(offset)
        return offset

    def commands(self, start: int | None = None) -> Iterator[Command]:
        offset = self.log.start_offset(self.topic, 0) if start is None else start
        while True:
            records = self.log.read(self.topic, 0, offset, 1000)
            if not records:
                return
            for rec in records:
                try:
                    doc = orjson.loads(rec.value or b"")
                    yield Command(str(doc["statement"]), dict(doc.get("streamsProperties") or {}),
                                  int(doc["sequence"]), rec.offset)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                    log.error("command log: unreadable command at offset %d skipped: %s", rec.offset, err)
            offset = records[-1].offset + 1

    def replay(self, engine: Engine) -> tuple[int, list[tuple[Command, str]]]:
        """Re-execute every command in order; returns (commands replayed, [(command, error)])."""
        failures: list[tuple[Command, str]] = []
        count = 0
        for command in self.commands():
            count += 1
            self.position = command.offset + 1
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
            if command.offset in self._own:
                self._own.discard(command.offset)
                continue
            error = self._run(engine, command)
            if error is not None:
                failures.append((command, error))
        return failures

    @staticmethod
    def _run(engine: Engine, command: Command) -> str | None:
        engine._sequence = command.sequence
        try:
            for stmt in engine.prepare(command.statement):
                engine.execute_statement(stmt, command.properties)
        except KsqlError as err:
            return str(err)
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


def _reset(target: Any, saved: Any) -> None:
    """Make a dict or set equal to `saved` in place (others hold references to it)."""
    target.clear()
    target.update(saved)
