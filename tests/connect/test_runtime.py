"""The connector runtime on an embedded log: datagen and file connectors, offsets that make a restart
resume exactly, sink commits after flush, pause/resume/restart, failure status, Connect's refusals."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from ksql.connect.api import SourceConnector, SourceTask
from ksql.connect.client import ConnectError
from ksql.connect.plugins import BUILTIN, ConnectorPlugins
from ksql.connect.runtime import ConnectRuntime
from ksql.engine.log import Log, MemoryLog, Record, TopicConfig, open_log


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def values(log: Log, topic: str) -> list:
    if not log.topic_exists(topic):
        return []
    return [orjson.loads(r.value) for r in log.read(topic, 0, 0, 100_000)]


class FailingTask(SourceTask):
    def start(self, config):
        self.polls = 0

    def poll(self):
        raise RuntimeError("the source went away")

    def stop(self):
        pass


class FailingConnector(SourceConnector):
    def start(self, config):
        self.props = dict(config)

    def task_class(self):
        return FailingTask

    def task_configs(self, max_tasks):
        return [self.props]


@pytest.fixture
def plugins() -> ConnectorPlugins:
    p = ConnectorPlugins()
    for name, target in BUILTIN.items():
        p.register(name, target)
    p.register("com.example.FailingConnector", FailingConnector)
    return p


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    log_ = open_log(str(tmp_path / "log"), fsync="never")
    yield log_
    log_.close()


@pytest.fixture
def runtime(log: Log, plugins: ConnectorPlugins) -> Iterator[ConnectRuntime]:
    rt = ConnectRuntime(log, plugins=plugins, flush_interval_ms=50)
    yield rt
    rt.close()


def datagen(topic: str, iterations: int, **extra: str) -> dict[str, str]:
    return {"connector.class": "DatagenConnector", "quickstart": "orders", "kafka.topic": topic,
            "max.interval": "0", "iterations": str(iterations), **extra}


def test_datagen_writes_json_values_with_string_keys_and_commits_its_iteration(runtime, log):
    info = runtime.create("gen", datagen("orders", 40))
    assert info == {"name": "gen", "config": {**datagen("orders", 40), "name": "gen"},
                    "tasks": [{"connector": "gen", "task": 0}], "type": "source"}
    wait_for(lambda: len(values(log, "orders")) == 40)
    records = log.read("orders", 0, 0, 100)
    assert [orjson.loads(r.value)["orderid"] for r in records] == list(range(40))
    assert [r.key for r in records] == [str(i).encode() for i in range(40)]
    assert set(orjson.loads(records[0].value)) == {"ordertime", "orderid", "itemid", "orderunits", "address"}
    wait_for(lambda: runtime.offsets.get("gen", {"task.id": 0}) == {"current.iteration": 40})
    assert runtime.status("gen")["tasks"] == [{"id": 0, "state": "RUNNING", "worker_id": "localhost:8088"}]
    assert runtime.topics("gen") == {"gen": {"topics": ["orders"]}}


def test_every_quickstart_generates_values_of_its_schema(runtime, log):
    for quickstart in ("users", "pageviews", "orders", "ratings", "clickstream", "stock_trades"):
        runtime.create(quickstart, {**datagen(quickstart, 3), "quickstart": quickstart})
    for quickstart in ("users", "pageviews", "orders", "ratings", "clickstream", "stock_trades"):
        wait_for(lambda q=quickstart: len(values(log, q)) == 3)
    assert {"side", "quantity", "symbol", "price", "account", "userid"} == set(values(log, "stock_trades")[0])
    assert {"rating_id", "user_id", "stars", "route_id", "rating_time", "channel", "message"} == set(
        values(log, "ratings")[0])


def test_a_new_runtime_resumes_a_source_after_its_last_committed_offset(log, plugins):
    first = ConnectRuntime(log, plugins=plugins)
    first.create("gen", datagen("orders", 25))
    wait_for(lambda: first.offsets.get("gen", {"task.id": 0}) == {"current.iteration": 25})
    first.close()
    second = ConnectRuntime(log, plugins=plugins)
    try:
        second.create("gen", datagen("orders", 60))
        wait_for(lambda: len(values(log, "orders")) >= 60)
        time.sleep(0.2)
        assert [v["orderid"] for v in values(log, "orders")] == list(range(60))
    finally:
        second.close()


def test_the_rate_limit_spaces_records(runtime, log):
    runtime.create("slow", datagen("slow", 0, **{"messages.per.second": "20"}))
    time.sleep(0.5)
    produced = len(values(log, "slow"))
    assert 1 <= produced <= 20  # about ten in half a second: far from the unlimited rate


def test_file_source_produces_whole_lines_and_resumes_after_the_last(tmp_path, log, plugins):
    source = tmp_path / "in.txt"
    source.write_text('{"a": 1}\n{"a": 2}\n{"a": 3')  # the third line is not finished yet
    config = {"connector.class": "FileStreamSource", "file": str(source), "topic": "lines",
              "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
    first = ConnectRuntime(log, plugins=plugins)
    first.create("files", config)
    wait_for(lambda: len(values(log, "lines")) == 2)
    first.close()
    with source.open("a") as f:
        f.write('}\n{"a": 4}\n')
    second = ConnectRuntime(log, plugins=plugins)
    try:
        second.create("files", config)
        wait_for(lambda: len(values(log, "lines")) == 4)
        time.sleep(0.2)
        assert values(log, "lines") == [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]
    finally:
        second.close()


def test_file_sink_writes_lines_and_commits_offsets_after_its_flush(tmp_path, runtime, log):
    log.create_topic("events", TopicConfig(partitions=2))
    for i in range(6):
        log.append("events", i % 2, [Record(None, orjson.dumps({"n": i}), 0, [])])
    out = tmp_path / "out.txt"
    runtime.create("sink", {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                            "file": str(out), "topics": "events",
                            "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    wait_for(lambda: log.committed("connect-sink", "events", 0) == 3 and log.committed("connect-sink", "events", 1) == 3)
    assert sorted(orjson.loads(line)["n"] for line in out.read_text().splitlines()) == list(range(6))


def test_sink_reads_the_topics_of_a_regex(tmp_path, runtime, log):
    for topic in ("a-1", "a-2", "b-1"):
        log.create_topic(topic, TopicConfig())
        log.append(topic, 0, [Record(None, topic.encode(), 0, [])])
    out = tmp_path / "out.txt"
    runtime.create("sink", {"connector.class": "FileStreamSink", "file": str(out), "topics.regex": "a-.*",
                            "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    assert sorted(out.read_text().splitlines()) == ["a-1", "a-2"]


def test_pause_stops_production_until_resume_and_survives_a_new_runtime(log, plugins):
    rt = ConnectRuntime(log, plugins=plugins)
    rt.create("gen", datagen("orders", 0, **{"messages.per.second": "200"}))
    wait_for(lambda: len(values(log, "orders")) > 0)
    rt.pause("gen")
    assert rt.status("gen")["connector"]["state"] == "PAUSED"
    time.sleep(0.4)  # a poll under way when pausing may still land
    paused_at = len(values(log, "orders"))
    time.sleep(0.4)
    assert len(values(log, "orders")) == paused_at
    rt.close()
    again = ConnectRuntime(log, plugins=plugins)
    try:
        again.create("gen", datagen("orders", 0, **{"messages.per.second": "200"}))
        assert again.status("gen")["tasks"][0]["state"] == "PAUSED"
        again.resume("gen")
        assert again.status("gen")["connector"]["state"] == "RUNNING"
        wait_for(lambda: len(values(log, "orders")) > paused_at)
    finally:
        again.close()


def test_a_failing_task_reports_its_trace_and_restarts(runtime):
    runtime.create("bad", {"connector.class": "com.example.FailingConnector"})
    wait_for(lambda: runtime.status("bad")["tasks"][0]["state"] == "FAILED")
    task = runtime.status("bad")["tasks"][0]
    assert "RuntimeError: the source went away" in task["trace"]
    assert runtime.status("bad")["connector"]["state"] == "RUNNING"
    runtime.restart("bad", include_tasks=True, only_failed=True)
    wait_for(lambda: runtime.status("bad")["tasks"][0]["state"] == "FAILED")
    runtime.restart_task("bad", 0)
    wait_for(lambda: runtime.status("bad")["tasks"][0]["state"] == "FAILED")


def test_connect_refusals_carry_connects_status_and_message(runtime):
    with pytest.raises(ConnectError) as err:
        runtime.create("x", {"connector.class": "NoSuchConnector"})
    assert err.value.status == 400 and "which name matches NoSuchConnector" in err.value.message
    with pytest.raises(ConnectError) as err:
        runtime.create("x", {"connector.class": "DatagenConnector", "quickstart": "nope"})
    assert err.value.status == 400
    assert err.value.message.startswith("Connector configuration is invalid and contains the following 2 error(s):")
    assert 'kafka.topic: Missing required configuration "kafka.topic" which has no default value.' in err.value.message
    with pytest.raises(ConnectError, match="Must configure one of topics or topics.regex"):
        runtime.create("x", {"connector.class": "FileStreamSink", "file": "/dev/null"})
    runtime.create("gen", datagen("orders", 1))
    with pytest.raises(ConnectError) as err:
        runtime.create("gen", datagen("orders", 1))
    assert (err.value.status, err.value.message) == (409, "Connector gen already exists")
    for call in (lambda: runtime.status("nope"), lambda: runtime.delete("nope"), lambda: runtime.pause("nope")):
        with pytest.raises(ConnectError) as err:
            call()
        assert (err.value.status, err.value.message) == (404, "Connector nope not found")
    with pytest.raises(ConnectError) as err:
        runtime.task_status("gen", 7)
    assert err.value.status == 404


def test_a_deleted_connector_keeps_its_offsets_for_the_next_of_its_name(runtime, log):
    runtime.create("gen", datagen("orders", 10))
    wait_for(lambda: runtime.offsets.get("gen", {"task.id": 0}) == {"current.iteration": 10})
    runtime.delete("gen")
    assert runtime.connector_names() == []
    runtime.create("gen", datagen("orders", 15))
    wait_for(lambda: len(values(log, "orders")) == 15)
    time.sleep(0.2)
    assert [v["orderid"] for v in values(log, "orders")] == list(range(15))


def test_a_create_connector_that_cannot_be_logged_is_undone(log, plugins, monkeypatch):
    from ksql.engine.command_log import CommandLog
    from ksql.engine.engine import Engine

    engine = Engine(log)
    engine.connect = ConnectRuntime(log, plugins=plugins)
    commands = CommandLog(log, "undo")

    def disk_full(command):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(commands, "append", disk_full)
    [stmt] = engine.prepare("CREATE SOURCE CONNECTOR gen WITH ('connector.class'='DatagenConnector', "
                            "'quickstart'='orders', 'kafka.topic'='orders');")
    try:
        with pytest.raises(OSError):
            commands.execute(engine, stmt)
        assert engine.connect.connector_names() == []  # a restart would not bring it back: not running now
    finally:
        engine.close()


def test_the_readme_connector_runs_and_resumes_its_count(log, plugins):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("## Connectors", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    plugins.register("com.example.CounterConnector", namespace["CounterConnector"])
    config = {"connector.class": "Counter", "topic": "counts"}
    first = ConnectRuntime(log, plugins=plugins)
    first.create("c", config)
    wait_for(lambda: len(values(log, "counts")) >= 2)
    first.close()
    again = ConnectRuntime(log, plugins=plugins)
    try:
        again.create("c", config)
        before = len(values(log, "counts"))
        wait_for(lambda: len(values(log, "counts")) >= before + 2)
    finally:
        again.close()
    counts = [v["N"] for v in values(log, "counts")]
    assert counts == list(range(1, len(counts) + 1))


class GrowingConnector(SourceConnector):
    """Asks for new task configs once its first task ran: the runtime restarts it with two tasks."""

    def start(self, config):
        self.props = dict(config)

    def task_class(self):
        return GrowingTask

    def task_configs(self, max_tasks):
        GrowingTask.connector = self
        return [self.props] * (2 if GrowingTask.asked else 1)


class GrowingTask(SourceTask):
    asked = False
    connector: GrowingConnector | None = None

    def start(self, config):
        pass

    def poll(self):
        if not GrowingTask.asked:
            GrowingTask.asked = True
            self.connector.context.request_task_reconfiguration()
        time.sleep(0.05)
        return []

    def stop(self):
        pass


def test_a_connector_asking_for_task_reconfiguration_is_restarted_with_its_new_task_configs(runtime, plugins):
    plugins.register("com.example.GrowingConnector", GrowingConnector)
    runtime.create("grow", {"connector.class": "Growing"})
    wait_for(lambda: len(runtime.status("grow")["tasks"]) == 2)
    assert [t["state"] for t in runtime.status("grow")["tasks"]] == ["RUNNING", "RUNNING"]


def test_bad_transforms_and_converters_are_refused_by_name(runtime):
    with pytest.raises(ConnectError) as err:
        runtime.create("x", {**datagen("orders", 1), "value.converter": "com.example.Nope",
                             "transforms": "t", "transforms.t.type": "com.example.NoTransform"})
    assert "\ntransforms: " in err.value.message and "\nconverters: " in err.value.message
    assert "com.example.Nope" in err.value.message and "com.example.NoTransform" in err.value.message


class _SharedLog(MemoryLog):
    """A log several servers share (as Kafka is): the runtime runs tasks only once it leads."""

    distributed = True


def test_the_runtime_tells_the_server_when_it_starts_running_the_tasks(plugins: ConnectorPlugins) -> None:
    """So the server can fence the previous leader's writes before a task of its own writes."""
    calls: list[bool] = []
    log_ = _SharedLog()
    rt = ConnectRuntime(log_, plugins=plugins, autostart=False, on_leading=lambda: calls.append(rt.leading))
    try:
        rt.start()
        wait_for(lambda: rt.leading)
        assert calls == [True]
    finally:
        rt.close()
        log_.close()
