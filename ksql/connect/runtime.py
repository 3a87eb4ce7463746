"""The connector runtime: Kafka Connect's worker, inside the server.

Each connector runs its tasks on worker threads of their own. A source task's records go
through its transforms and converters (ksql.connect.record_flow) and are appended to the log
together with their source offsets, as one write (`Writer`): on the server's embedded log that
write is one log transaction, and on Kafka one Kafka transaction (the server's writer), so after
a kill -9 a restarted task resumes exactly after the last record that was appended (no loss, no
duplicates). A sink task's consumed records are put() and flush()ed before the consumer offsets
of the group `connect-<name>` are committed, so nothing is committed that the sink did not
write; a sink that keeps its own offsets with its data (the JDBC and file sinks) rewinds to them
at start, which makes it exact. A sink's dead letters are appended as their records fail, before
any offset past them is committed, and once (ksql.connect.dead_letter_queue).

Source offsets live in a compacted topic keyed by `["<connector>", {source partition}]` (Kafka
Connect's offsets topic format); whether a connector is paused lives in a compacted configs
topic. Connector configurations themselves are CREATE CONNECTOR statements in the command
log (see ksql.connect.statements), replayed on start before `start()` runs anything.

The methods answer with Kafka Connect's REST shapes (dicts), and refuse with ConnectError
carrying Connect's HTTP status, so the REST API and the statements share them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from ksql.connect.api import (
    Connector,
    ConnectorContext,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
    Task,
)
from ksql.connect.client import ConnectClient, ConnectError
from ksql.connect.converters import create_converter
from ksql.connect.dead_letter import ErrorHandler
from ksql.connect.dead_letter_queue import DeadLetterQueue, mark_partition
from ksql.connect.plugins import ConnectorPlugins, UnknownConnectorClass, default_plugins
from ksql.connect.record_flow import SinkRecordFlow, SourceRecordFlow
from ksql.connect.transforms import TransformationChain
from ksql.engine.log import Log, Record, TopicConfig
from ksql.engine.log.partitioner import default_partition
from ksql.errors import KsqlError

log = logging.getLogger("ksql.connect")

T = TypeVar("T")
Writer = Callable[[Callable[[Log], T]], T]

RUNNING, PAUSED, FAILED, UNASSIGNED = "RUNNING", "PAUSED", "FAILED", "UNASSIGNED"

# the worker's converters unless a connector names its own (ksqlDB's embedded Connect defaults)
DEFAULT_KEY_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
DEFAULT_VALUE_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
DEFAULT_VALUE_CONVERTER_CONFIG = {"schemas.enable": "false"}

POLL_WAIT_SECONDS = 0.2
MAX_SINK_BATCH = 1000
_NAME = re.compile(r"[^/\\\x00-\x1f]+")


def offsets_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_connect-offsets"


def configs_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_connect-configs"


def transactional_id(service_id: str) -> str:
    """The Kafka transactional id of the tasks' writes, one for every server of the service: only the
    leader writes, and the server that takes over fences the one before (which may be dead inside a
    transaction that would otherwise hold back read_committed readers until the broker times it out)."""
    return f"_confluent-ksql-{service_id}_connect"


def direct_writer() -> Writer:
    """Writes straight to the log, one at a time (for an engine without a server)."""
    lock = threading.Lock()

    def write(fn: Callable[[Log], T]) -> T:
        with lock:
            return fn(write.log)  # type: ignore[attr-defined]

    return write


@dataclass
class TaskState:
    """A task's Connect status."""

    state: str = UNASSIGNED
    trace: str | None = None


@dataclass
class _Worker:
    """One task on its thread."""

    task_id: int
    config: dict[str, str]
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    status: TaskState = field(default_factory=TaskState)


class _Connector(ConnectorContext):
    """A configured connector: its instance, task configs, workers and status."""

    def __init__(self, name: str, config: dict[str, str], cls: type[Connector], restart: Callable[[str], None]):
        self.name = name
        self._restart = restart
        self.config = config
        self.cls = cls
        self.instance: Connector | None = None
        self.task_configs: list[dict[str, str]] = []
        self.workers: list[_Worker] = []
        self.status = TaskState()
        self.paused = False
        self.written: set[str] = set()  # the topics its source tasks appended to

    @property
    def type(self) -> str:
        return self.cls.type

    def request_task_reconfiguration(self) -> None:
        """Restart the connector and its tasks (with fresh task configs) from a thread of its own: the
        caller may be one of the tasks that the restart stops."""
        threading.Thread(target=self._restart, args=(self.name,), name=f"connect-{self.name}-reconfigure",
                         daemon=True).start()

    def raise_error(self, error: BaseException) -> None:
        self.status = TaskState(FAILED, _trace(error))


def _trace(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)).strip()


class OffsetStore:
    """Source offsets by (connector, source partition), as committed to the offsets topic."""

    def __init__(self, log_: Log, topic: str):
        self.topic = topic
        self._offsets: dict[bytes, dict[str, Any]] = {}
        if not log_.topic_exists(topic):
            log_.create_topic(topic, TopicConfig(partitions=1, cleanup_policy="compact"))
        self.reload(log_)

    def reload(self, log_: Log) -> None:
        """Read the whole topic: the last value of each key wins."""
        self._offsets.clear()
        position = log_.start_offset(self.topic, 0)
        while True:
            records = log_.read(self.topic, 0, position, 1000)
            if not records:
                return
            for record in records:
                position = record.offset + 1
                if record.key is None:
                    continue
                try:
                    value = orjson.loads(record.value) if record.value is not None else None
                except orjson.JSONDecodeError:
                    log.error("offsets topic %s: the record at offset %d is not JSON: skipped", self.topic,
                              record.offset)
                    continue
                if value is None:
                    self._offsets.pop(record.key, None)
                else:
                    self._offsets[record.key] = value

    @staticmethod
    def key(connector: str, partition: Mapping[str, Any]) -> bytes:
        return orjson.dumps([connector, dict(partition)], option=orjson.OPT_SORT_KEYS)

    def get(self, connector: str, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._offsets.get(self.key(connector, partition))

    def of_connector(self, connector: str, matches: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The offsets of the connector's source partitions for which `matches(partition)`."""
        found = []
        for key, value in list(self._offsets.items()):
            try:
                name, partition = orjson.loads(key)
            except (orjson.JSONDecodeError, ValueError, TypeError):
                continue
            if name == connector and isinstance(partition, dict) and matches(partition):
                found.append(value)
        return found

    @staticmethod
    def records(offsets: Mapping[bytes, Mapping[str, Any]]) -> list[Record]:
        """The records that commit `offsets` (key -> offset)."""
        now = int(time.time() * 1000)
        return [Record(key, orjson.dumps(dict(value)), now, []) for key, value in offsets.items()]

    def committed(self, offsets: Mapping[bytes, Mapping[str, Any]]) -> None:
        """Remember offsets once their records were written."""
        for key, value in offsets.items():
            self._offsets[key] = dict(value)


class ConnectRuntime(ConnectClient):
    """The embedded Connect worker: connectors by name, their tasks on threads, offsets and status."""

    embedded = True

    def __init__(self, log_: Log, *, service_id: str = "default_", worker_id: str = "localhost:8088",
                 writer: Writer | None = None, plugins: ConnectorPlugins | None = None,
                 schema_registry: Any = None, autostart: bool = True, flush_interval_ms: int = 1000,
                 on_leading: Callable[[], None] | None = None):
        self.log = log_
        # called when this server becomes the one that runs the tasks, before any of them writes
        self.on_leading = on_leading
        self.worker_id = worker_id
        self.plugins = plugins or default_plugins()
        self.schema_registry = schema_registry
        self.flush_interval = flush_interval_ms / 1000
        if writer is None:
            writer = direct_writer()
            writer.log = log_  # type: ignore[attr-defined]
        self.write = writer
        self.offsets = OffsetStore(log_, offsets_topic(service_id))
        self.configs_topic = configs_topic(service_id)
        if not log_.topic_exists(self.configs_topic):
            log_.create_topic(self.configs_topic, TopicConfig(partitions=1, cleanup_policy="compact"))
        self._paused = self._read_target_states()
        self._connectors: dict[str, _Connector] = {}
        self._lock = threading.RLock()
        self._leader_group = f"_confluent-ksql-{service_id}_connect-leader"
        self._leadership: threading.Thread | None = None
        self._closing = threading.Event()
        # on a shared log (Kafka) only the server that owns the offsets topic runs tasks: see start()
        self.leading = not log_.distributed
        self.running = False
        if autostart:
            self.start()

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the tasks of every connector created so far (after the command log's replay).

        On a log several servers share (Kafka), every server knows every connector (they follow one
        command topic) but only one runs their tasks: the member of a consumer group over the offsets
        topic that owns its partition. When it goes away the partition, and so the tasks, move to
        another server, which resumes from the committed offsets."""
        with self._lock:
            self.running = True
            if self.leading:
                for connector in self._connectors.values():
                    self._start_connector(connector)
                return
        self._leadership = threading.Thread(target=self._follow_leadership, name="connect-leadership", daemon=True)
        self._leadership.start()

    def _follow_leadership(self) -> None:
        ownership = self.log.join_group(self._leader_group, [self.offsets.topic])
        try:
            while not self._closing.is_set():
                gained, lost = ownership.changes()
                if lost:
                    self._set_leading(False)
                if gained:
                    self._set_leading(True)
                self._closing.wait(POLL_WAIT_SECONDS)
        except Exception:  # noqa: BLE001 - without the group this server runs no tasks
            log.exception("connector runtime: following the leadership of %s failed", self._leader_group)
            self._set_leading(False)
        finally:
            ownership.close()

    def _set_leading(self, leading: bool) -> None:
        """Start (with the offsets the previous leader committed) or stop every connector's tasks."""
        with self._lock:
            if leading == self.leading:
                return
            self.leading = leading
            connectors = list(self._connectors.values())
            if leading:
                log.info("connector runtime: this server now runs the connectors' tasks")
                if self.on_leading is not None:
                    self.on_leading()
                self.offsets.reload(self.log)
                self._paused = self._read_target_states()
                for connector in connectors:
                    connector.paused = connector.name in self._paused
                    self._start_connector(connector)
                return
        log.info("connector runtime: another server runs the connectors' tasks now")
        for connector in connectors:
            self._stop_connector(connector)

    def close(self) -> None:
        """Stop every task (their offsets stay committed for the next start)."""
        self._closing.set()
        with self._lock:
            connectors = list(self._connectors.values())
            self.running = False
        for connector in connectors:
            self._stop_connector(connector)
        if self._leadership is not None:
            self._leadership.join(30)
            self._leadership = None

    # -- Connect's operations ---------------------------------------------------------------------

    def connector_names(self) -> list[str]:
        with self._lock:
            return sorted(self._connectors)

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._connectors

    def create(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Configure and start a connector (POST /connectors): its info."""
        props = {str(k): "" if v is None else str(v) for k, v in config.items()}
        props["name"] = name
        if not name or not _NAME.fullmatch(name):
            raise ConnectError(400, f"Connector name is invalid: '{name}'")
        with self._lock:
            if name in self._connectors:
                raise ConnectError(409, f"Connector {name} already exists")
            cls = self._connector_class(props)
            problems = self._validate(cls, props)
            if problems:
                raise ConnectError(400, _invalid_config(problems))
            connector = _Connector(name, props, cls, self._restart_quietly)
            connector.paused = name in self._paused
            self._connectors[name] = connector
            if self.running and self.leading:
                self._start_connector(connector)
            return self.info(name)

    def delete(self, name: str) -> None:
        """Stop and forget a connector (DELETE /connectors/{name}); its offsets are kept, as in Connect."""
        with self._lock:
            connector = self._get(name)
            del self._connectors[name]
        self._stop_connector(connector)
        if name in self._paused:
            self._write_target_state(name, None)

    def info(self, name: str) -> dict[str, Any]:
        with self._lock:
            c = self._get(name)
            return {"name": name, "config": dict(c.config),
                    "tasks": [{"connector": name, "task": i} for i in range(len(c.task_configs))],
                    "type": c.type}

    def config(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._get(name).config)

    def tasks(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            c = self._get(name)
            return [{"id": {"connector": name, "task": i}, "config": dict(cfg)} for i, cfg in
                    enumerate(c.task_configs)]

    def status(self, name: str) -> dict[str, Any]:
        with self._lock:
            c = self._get(name)
            connector = {"state": c.status.state, "worker_id": self.worker_id}
            if c.status.trace:
                connector["trace"] = c.status.trace
            return {"name": name, "connector": connector,
                    "tasks": [self._task_status(w) for w in c.workers], "type": c.type}

    def task_status(self, name: str, task_id: int) -> dict[str, Any]:
        with self._lock:
            return self._task_status(self._worker(name, task_id))

    def _task_status(self, worker: _Worker) -> dict[str, Any]:
        status = {"id": worker.task_id, "state": worker.status.state, "worker_id": self.worker_id}
        if worker.status.trace:
            status["trace"] = worker.status.trace
        return status

    def topics(self, name: str) -> dict[str, Any]:
        """The topics a connector reads or has written (GET /connectors/{name}/topics)."""
        with self._lock:
            c = self._get(name)
            topics = set(_sink_topics(c.config, self.log)) if c.type == "sink" else set(c.written)
            return {name: {"topics": sorted(topics)}}

    def pause(self, name: str) -> None:
        with self._lock:
            c = self._get(name)
            if not c.paused:
                self._write_target_state(name, PAUSED)
            c.paused = True
            if c.status.state == RUNNING:
                c.status = TaskState(PAUSED)
            for w in c.workers:
                if w.status.state == RUNNING:
                    w.status = TaskState(PAUSED)

    def resume(self, name: str) -> None:
        with self._lock:
            c = self._get(name)
            if c.paused:
                self._write_target_state(name, None)
            c.paused = False
            if c.status.state == PAUSED:
                c.status = TaskState(RUNNING)
            for w in c.workers:
                if w.status.state == PAUSED:
                    w.status = TaskState(RUNNING)

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> None:
        """Restart the connector with its tasks; with `only_failed`, only if it FAILED, else (with
        `include_tasks`) just its FAILED tasks."""
        with self._lock:
            c = self._get(name)
            failed_tasks = [w.task_id for w in c.workers if w.status.state == FAILED]
        if only_failed and c.status.state != FAILED:
            for task_id in failed_tasks if include_tasks else []:
                self.restart_task(name, task_id)
            return
        self._stop_connector(c)
        with self._lock:
            if self.running and self.leading and name in self._connectors:
                self._start_connector(c)

    def _restart_quietly(self, name: str) -> None:
        try:
            self.restart(name)
        except ConnectError:  # deleted meanwhile
            pass

    def restart_task(self, name: str, task_id: int) -> None:
        with self._lock:
            worker = self._worker(name, task_id)
            c = self._connectors[name]
        self._stop_worker(worker)
        with self._lock:
            if self.running and self.leading:
                worker.stop = threading.Event()
                self._start_worker(c, worker)

    def plugins_info(self) -> list[dict[str, str]]:
        return [{"class": p.class_name, "type": p.type, "version": p.version} for p in self.plugins.infos()]

    # -- internals --------------------------------------------------------------------------------

    def _get(self, name: str) -> _Connector:
        c = self._connectors.get(name)
        if c is None:
            raise ConnectError(404, f"Connector {name} not found")
        return c

    def _worker(self, name: str, task_id: int) -> _Worker:
        c = self._get(name)
        for w in c.workers:
            if w.task_id == task_id:
                return w
        raise ConnectError(404, f"Task {name}-{task_id} not found")

    def _connector_class(self, props: dict[str, str]) -> type[Connector]:
        class_name = props.get("connector.class", "").strip()
        if not class_name:
            raise ConnectError(400, _invalid_config({"connector.class": [
                'Missing required configuration "connector.class" which has no default value.']}))
        try:
            return self.plugins.get(class_name)
        except UnknownConnectorClass as err:
            raise ConnectError(400, str(err)) from None

    def _validate(self, cls: type[Connector], props: dict[str, str]) -> dict[str, list[str]]:
        problems = dict(cls().validate(props))
        try:
            int(props.get("tasks.max", "1"))
        except ValueError:
            problems.setdefault("tasks.max", []).append(
                f"Invalid value {props['tasks.max']} for configuration tasks.max: Not a number of type INT")
        if issubclass(cls, SinkConnector) and not (props.get("topics") or props.get("topics.regex")):
            problems.setdefault("topics", []).append(
                "Must configure one of topics or topics.regex")
        for name, check in (("transforms", lambda: TransformationChain.from_config(props).close()),
                            ("converters", lambda: self._converters(props))):
            try:
                check()
            except KsqlError as err:
                problems.setdefault(name, []).append(str(err))
        return problems

    def _converters(self, props: Mapping[str, str]) -> tuple[Any, Any]:
        def make(side: str, default: str, defaults: dict[str, str]) -> Any:
            class_name = props.get(f"{side}.converter") or default
            own = {k[len(side) + 11:]: v for k, v in props.items() if k.startswith(f"{side}.converter.")}
            config = {**(defaults if class_name == default else {}), **own}
            return create_converter(class_name, config, is_key=side == "key", registry=self.schema_registry)

        return (make("key", DEFAULT_KEY_CONVERTER, {}),
                make("value", DEFAULT_VALUE_CONVERTER, DEFAULT_VALUE_CONVERTER_CONFIG))

    def _start_connector(self, c: _Connector) -> None:
        """Start the connector instance and one worker thread per task config."""
        try:
            instance = c.cls()
            instance.initialize(c)
            instance.start(dict(c.config))
            c.instance = instance
            c.task_configs = [dict(cfg) for cfg in instance.task_configs(max(1, int(c.config.get("tasks.max",
                                                                                                 "1"))))]
        except Exception as err:  # noqa: BLE001 - a connector's failure is its status, not the server's
            log.exception("connector %s failed to start", c.name)
            c.status = TaskState(FAILED, _trace(err))
            c.workers = []
            return
        c.status = TaskState(PAUSED if c.paused else RUNNING)
        c.workers = [_Worker(i, {**c.config, **cfg}) for i, cfg in enumerate(c.task_configs)]
        for worker in c.workers:
            self._start_worker(c, worker)

    def _start_worker(self, c: _Connector, worker: _Worker) -> None:
        worker.status = TaskState(PAUSED if c.paused else RUNNING)
        target = self._run_source if c.type == "source" else self._run_sink
        worker.thread = threading.Thread(target=target, args=(c, worker), name=f"connect-{c.name}-{worker.task_id}",
                                         daemon=True)
        worker.thread.start()

    def _stop_connector(self, c: _Connector) -> None:
        for worker in c.workers:
            self._stop_worker(worker)
        if c.instance is not None:
            try:
                c.instance.stop()
            except Exception:  # noqa: BLE001
                log.exception("connector %s failed to stop", c.name)
            c.instance = None
        c.status = TaskState(UNASSIGNED)

    @staticmethod
    def _stop_worker(worker: _Worker) -> None:
        worker.stop.set()
        thread = worker.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(30)
        worker.thread = None

    def _fail(self, worker: _Worker, err: BaseException, name: str) -> None:
        log.error("task %s-%d failed: %s", name, worker.task_id, err)
        worker.status = TaskState(FAILED, _trace(err))

    def _wait_while_paused(self, c: _Connector, worker: _Worker) -> bool:
        """Block while the connector is paused; False when the task must stop."""
        while c.paused and not worker.stop.is_set():
            worker.stop.wait(POLL_WAIT_SECONDS)
        return not worker.stop.is_set()

    # -- source tasks ------------------------------------------------------------------------------

    def _run_source(self, c: _Connector, worker: _Worker) -> None:
        task: SourceTask | None = None
        try:
            task = _new_task(c, SourceTask)
            task.initialize(_SourceContext(self.offsets, c.name))
            key_converter, value_converter = self._converters(worker.config)
            chain = TransformationChain.from_config(worker.config)
            errors = ErrorHandler(worker.config, connector=c.name, task_id=worker.task_id, is_sink=False)
            flow = SourceRecordFlow(key_converter, value_converter, chain, errors)
            task.start(dict(worker.config))
            while self._wait_while_paused(c, worker):
                records = task.poll()
                if worker.stop.is_set() and not records:
                    break
                if records:
                    self._produce(c, flow, records)
                    task.commit()
        except Exception as err:  # noqa: BLE001 - the task's failure is its status (with the trace)
            self._fail(worker, err, c.name)
        finally:
            _stop_task(task, c.name)

    def _produce(self, c: _Connector, flow: SourceRecordFlow, records: list[SourceRecord]) -> None:
        """Append the records with their source offsets, as one write."""
        by_partition: dict[tuple[str, int | None], list[Record]] = {}
        offsets: dict[bytes, Mapping[str, Any]] = {}
        for record in records:
            offsets[self.offsets.key(c.name, record.source_partition)] = record.source_offset
            converted = flow.convert(record)
            if converted is not None:
                topic, partition, raw = converted
                by_partition.setdefault((topic, partition), []).append(raw)

        def write(log_: Log) -> None:
            for (topic, partition), raws in by_partition.items():
                partitions = _ensure_topic(log_, topic, c.config)
                if partition is not None:
                    log_.append(topic, partition, raws)
                    continue
                routed: dict[int, list[Record]] = {}
                for raw in raws:
                    routed.setdefault(default_partition(raw.key, partitions), []).append(raw)
                for p, rs in routed.items():
                    log_.append(topic, p, rs)
            log_.append(self.offsets.topic, 0, self.offsets.records(offsets))

        self.write(write)
        self.offsets.committed(offsets)
        c.written.update(topic for topic, _ in by_partition)

    # -- sink tasks ---------------------------------------------------------------------------------

    def _run_sink(self, c: _Connector, worker: _Worker) -> None:
        task: SinkTask | None = None
        try:
            task = _new_task(c, SinkTask)
            group = f"connect-{c.name}"
            context = _SinkContext()
            task.initialize(context)
            key_converter, value_converter = self._converters(worker.config)
            chain = TransformationChain.from_config(worker.config)
            errors = ErrorHandler(worker.config, connector=c.name, task_id=worker.task_id, is_sink=True,
                                  produce=lambda topic, record: dead_letters.produce(topic, record))
            dead_letters = self._dead_letter_queue(c.name, errors)  # None only when produce is never called
            flow = SinkRecordFlow(key_converter, value_converter, chain, errors)
            task.start(dict(worker.config))
            positions: dict[tuple[str, int], int] = {}
            committed: dict[tuple[str, int], int] = {}
            last_flush = time.monotonic()
            task_class = f"{type(task).__module__}.{type(task).__qualname__}"
            while self._wait_while_paused(c, worker):
                self._assign(c, worker, group, positions, context)
                positions.update(context.take_rewinds(positions))
                consumed = 0
                for (topic, partition), offset in list(positions.items()):
                    raws = self.log.read(topic, partition, offset, MAX_SINK_BATCH)
                    if not raws:
                        continue
                    consumed += len(raws)
                    sink_records = [r for r in (flow.convert(topic, partition, raw) for raw in raws) if r is not None]
                    if sink_records:
                        raw_of = {(topic, partition, raw.offset): raw for raw in raws}
                        context.reporter = lambda record, error, raws=raw_of: flow.report_put_failure(
                            record, error, raws, task_class)
                        task.put(sink_records)
                    positions[(topic, partition)] = raws[-1].offset + 1
                due = time.monotonic() - last_flush >= self.flush_interval or context.commit_requested
                if (due or worker.stop.is_set()) and positions != committed:
                    self._commit_sink(task, c.name, worker.task_id, group, positions, dead_letters)
                    committed = dict(positions)
                    last_flush = time.monotonic()
                    context.commit_requested = False
                if not consumed:
                    if worker.stop.is_set():
                        break
                    worker.stop.wait(POLL_WAIT_SECONDS)
        except Exception as err:  # noqa: BLE001 - the task's failure is its status (with the trace)
            self._fail(worker, err, c.name)
        finally:
            _stop_task(task, c.name)

    def _assign(self, c: _Connector, worker: _Worker, group: str, positions: dict[tuple[str, int], int],
                context: _SinkContext) -> None:
        """Add the partitions of the connector's topics this task reads (new topics and partitions too),
        starting at the group's committed offset, else at the earliest."""
        topics = _sink_topics(worker.config, self.log)
        tasks = max(1, len(c.workers))
        for topic in topics:
            for partition in range(self.log.partitions(topic)):
                if (topic, partition) in positions or partition % tasks != worker.task_id % tasks:
                    continue
                committed = self.log.committed(group, topic, partition)
                positions[(topic, partition)] = committed if committed is not None else \
                    self.log.start_offset(topic, partition)
        context.assigned = sorted(positions)

    def _dead_letter_queue(self, connector: str, errors: ErrorHandler) -> DeadLetterQueue | None:
        """The task's dead letter queue (None without one), knowing the dead letters appended since the
        connector's last commits."""
        topic = errors.dlq_topic
        if topic is None:
            return None
        queue = DeadLetterQueue(self.log, self.write, topic, connector, identified=errors.context_headers)
        queue.recover(self.offsets.of_connector(connector, lambda p: p.get("dead-letter-queue") == topic))
        return queue

    def _commit_sink(self, task: SinkTask, connector: str, task_id: int, group: str,
                     positions: dict[tuple[str, int], int], dead_letters: DeadLetterQueue | None) -> None:
        """flush() the task, then commit the consumer offsets and the mark of the dead letter queue's end."""
        task.flush(dict(positions))
        marks: dict[bytes, Mapping[str, Any]] = {}

        def write(log_: Log) -> None:
            log_.commit(group, dict(positions))
            mark = dead_letters.mark(log_) if dead_letters is not None else None
            if mark is not None:
                marks[self.offsets.key(connector, mark_partition(dead_letters.topic, task_id))] = mark
                log_.append(self.offsets.topic, 0, self.offsets.records(marks))

        self.write(write)
        self.offsets.committed(marks)

    # -- target states ------------------------------------------------------------------------------

    def _read_target_states(self) -> set[str]:
        paused: set[str] = set()
        position = self.log.start_offset(self.configs_topic, 0)
        while True:
            records = self.log.read(self.configs_topic, 0, position, 1000)
            if not records:
                return paused
            for record in records:
                position = record.offset + 1
                key = (record.key or b"").decode("utf-8", "replace")
                if key.startswith("target-state-"):
                    name = key[len("target-state-"):]
                    if record.value is not None and b"PAUSED" in record.value:
                        paused.add(name)
                    else:
                        paused.discard(name)

    def _write_target_state(self, name: str, state: str | None) -> None:
        """Remember PAUSED (or, with None, its end) across restarts, as Connect's configs topic does."""
        value = None if state is None else orjson.dumps({"state": state})
        record = Record(f"target-state-{name}".encode(), value, int(time.time() * 1000), [])
        self.write(lambda log_: log_.append(self.configs_topic, 0, [record]))
        if state is None:
            self._paused.discard(name)
        else:
            self._paused.add(name)


class _SourceContext(SourceTaskContext):
    def __init__(self, offsets: OffsetStore, connector: str):
        self._offsets = offsets
        self._connector = connector

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._offsets.get(self._connector, partition)


class _SinkContext(SinkTaskContext):
    def __init__(self) -> None:
        self.assigned: list[tuple[str, int]] = []
        self.commit_requested = False
        self.reporter: Callable[[SinkRecord, BaseException], None] | None = None
        self._rewinds: dict[tuple[str, int], int] = {}

    def report(self, record: SinkRecord, error: BaseException) -> None:
        if self.reporter is None:
            raise error
        self.reporter(record, error)

    def assignment(self) -> list[tuple[str, int]]:
        return list(self.assigned)

    def offset(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self._rewinds.update(offsets)

    def request_commit(self) -> None:
        self.commit_requested = True

    def take_rewinds(self, assigned: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The rewinds of `assigned` partitions; those of others wait for their assignment (a task may name
        partitions of its connector that another task consumes)."""
        now = {tp: offset for tp, offset in self._rewinds.items() if tp in assigned}
        for tp in now:
            del self._rewinds[tp]
        return now


def _new_task(c: _Connector, kind: type[Task]) -> Any:
    if c.instance is None:
        raise KsqlError(f"Connector {c.name} is not running")
    cls = c.instance.task_class()
    if not (isinstance(cls, type) and issubclass(cls, kind)):
        raise KsqlError(f"Connector {c.name}: task class {cls!r} is not a {kind.__name__}")
    return cls()


def _stop_task(task: Task | None, name: str) -> None:
    if task is None:
        return
    try:
        task.stop()
    except Exception:  # noqa: BLE001 - stopping must go on
        log.exception("a task of connector %s failed to stop", name)


def _sink_topics(config: Mapping[str, str], log_: Log) -> list[str]:
    """The existing topics a sink reads: `topics`, or those matching `topics.regex`."""
    names = [t.strip() for t in config.get("topics", "").split(",") if t.strip()]
    pattern = config.get("topics.regex", "").strip()
    if pattern:
        regex = re.compile(pattern)
        names += [t for t in log_.list_topics() if regex.fullmatch(t) and t not in names]
    return [t for t in names if log_.topic_exists(t)]


def _ensure_topic(log_: Log, topic: str, config: Mapping[str, str]) -> int:
    """The number of partitions of `topic`, created (topic.creation.default.partitions, else 1) when missing."""
    if log_.topic_exists(topic):
        return log_.partitions(topic)
    partitions = int(config.get("topic.creation.default.partitions") or 1)
    log_.create_topic(topic, TopicConfig(partitions=max(1, partitions)))
    return partitions


def _invalid_config(problems: Mapping[str, list[str]]) -> str:
    count = sum(len(v) for v in problems.values())
    lines = "\n".join(f"{name}: {msg}" for name, msgs in problems.items() for msg in msgs)
    return (f"Connector configuration is invalid and contains the following {count} error(s):\n{lines}\n"
            "You can also find the above list of errors at the endpoint "
            "`/connector-plugins/{connectorType}/config/validate`")


__all__ = ["ConnectError", "ConnectRuntime", "OffsetStore", "SourceConnector", "SinkConnector"]
