"""The command log: accepted statements are logged and replayed into a new engine with the same query ids."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from ksql.engine.command_log import CommandLog, command_topic
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog, MemoryLog, Record
from ksql.errors import KsqlError
from ksql.parser import split_statements

SCRIPT = """
CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');
SHOW STREAMS;
CREATE TYPE T AS STRUCT<A INT>;
DEFINE x = 'S2';
CREATE STREAM ${x} AS SELECT K, V + 1 AS W FROM S;
INSERT INTO S (K, V) VALUES ('a', 1);
CREATE STREAM S3 AS SELECT * FROM S;
TERMINATE CSAS_S3_6;
"""


def _run(engine: Engine, commands: CommandLog, script: str) -> None:
    for piece in split_statements(script):  # as the server does: DEFINE applies to what follows
        try:
            for stmt in engine.prepare(piece):
                commands.execute(engine, stmt, {"auto.offset.reset": "earliest"})
        except KsqlError:
            pass


def test_only_state_changing_statements_are_logged_and_replay_restores_them() -> None:
    log = MemoryLog()
    engine = Engine(log, EngineConfig())
    commands = CommandLog(log, "svc_")
    assert commands.topic == command_topic("svc_") == "_confluent-ksql-svc__command_topic"
    _run(engine, commands, SCRIPT + "DROP STREAM NOT_THERE;")
    logged = [c.statement.split()[0:2] for c in commands.commands()]
    assert logged == [["CREATE", "STREAM"], ["CREATE", "TYPE"], ["DEFINE", "x"], ["CREATE", "STREAM"],
                      ["CREATE", "STREAM"], ["TERMINATE", "CSAS_S3_6"]]
    assert all(c.properties == {"auto.offset.reset": "earliest"} for c in commands.commands())

    restarted = Engine(log, EngineConfig())
    count, failures = CommandLog(log, "svc_").replay(restarted)
    assert (count, failures) == (6, [])
    assert sorted(restarted.metastore.sources) == sorted(engine.metastore.sources) == ["S", "S2", "S3"]
    assert sorted(restarted.queries) == sorted(engine.queries) == ["CSAS_S2_4"]
    assert "T" in restarted.metastore.types and restarted.variables == engine.variables
    # a statement after the restart gets a query id no earlier query had
    _run(restarted, CommandLog(log, "svc_"), "CREATE STREAM S4 AS SELECT * FROM S;")
    assert "CSAS_S4_6" not in restarted.queries and len(restarted.queries) == 2


def test_replay_reports_commands_that_no_longer_apply() -> None:
    log = MemoryLog()
    engine = Engine(log, EngineConfig())
    commands = CommandLog(log, "x")
    log.create_topic("s")
    _run(engine, commands, "CREATE STREAM S (V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    log.delete_topic("s")  # removed behind the server's back
    count, failures = CommandLog(log, "x").replay(Engine(log, EngineConfig()))
    assert count == 1 and len(failures) == 1 and "does not exist" in failures[0][1]


def test_replay_keeps_statements_accepted_under_higher_limits() -> None:
    """Lowering a statement or topic limit must not lose what the server accepted before."""
    log = MemoryLog()
    generous = Engine(log, EngineConfig(properties={"ksql.statement.max.depth": 60,
                                                    "ksql.statement.max.in.list.size": 5,
                                                    "ksql.topic.max.partitions": 4}))
    deep = " AND ".join(f"V <> {i}" for i in range(55))
    _run(generous, CommandLog(log, "svc_"),
         "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=4, VALUE_FORMAT='JSON');\n"
         f"CREATE STREAM D AS SELECT * FROM S WHERE {deep} AND V IN (1, 2, 3, 4, 5);")
    assert sorted(generous.metastore.sources) == ["D", "S"]

    strict = Engine(log, EngineConfig(properties={"ksql.statement.max.in.list.size": 2,
                                                  "ksql.topic.max.partitions": 2}))
    assert CommandLog(log, "svc_").replay(strict) == (2, [])
    assert sorted(strict.metastore.sources) == ["D", "S"] and list(strict.queries) == ["CSAS_D_1"]


def _command_segment(root: Path) -> Path:
    [segment] = (root / "topics" / command_topic("x") / "0").glob("*.log")
    return segment


def _batch_positions(segment: Path) -> list[int]:
    data = segment.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        out.append(pos)
        pos += 4 + struct.unpack_from("<I", data, pos)[0]
    return out


def _write_streams(root: Path, names: list[str]) -> None:
    log = EmbeddedLog(str(root), fsync="never")
    engine = Engine(log, EngineConfig())
    commands = CommandLog(log, "x")
    _run(engine, commands, "".join(
        f"CREATE STREAM {n} (V INT) WITH (KAFKA_TOPIC='{n.lower()}', PARTITIONS=1, VALUE_FORMAT='JSON');"
        for n in names))
    engine.close()
    log.close()


def _replay(root: Path) -> tuple[Engine, int, list, EmbeddedLog]:
    log = EmbeddedLog(str(root), fsync="never")
    engine = Engine(log, EngineConfig())
    count, failures = CommandLog(log, "x").replay(engine)
    return engine, count, failures, log


@pytest.mark.parametrize("how", ["bit flip", "bad length"])
def test_a_corrupt_command_mid_log_loses_that_command_only(tmp_path: Path, caplog, how: str) -> None:
    names = [f"S{i}" for i in range(6)]
    _write_streams(tmp_path, names)
    segment = _command_segment(tmp_path)
    positions = _batch_positions(segment)
    with open(segment, "r+b") as f:
        if how == "bit flip":
            f.seek(positions[2] + 60)
            f.write(b"\x00")
        else:
            f.seek(positions[2])
            f.write(struct.pack("<I", 3))
        f.truncate(positions[5] + 30)  # and the last statement torn mid-write
    with caplog.at_level(logging.WARNING):
        engine, count, failures, log = _replay(tmp_path)
    assert sorted(engine.metastore.sources) == ["S0", "S1", "S3", "S4"]
    assert count == 4
    [(lost, error)] = failures
    assert lost.offset == 2 and "offset 2" in error and "lost" in error
    assert any("offset 2" in r.getMessage() for r in caplog.records if r.name == "ksql.commands")
    assert log.end_offset(command_topic("x"), 0) == 5  # the torn statement only is cut
    engine.close()
    log.close()


@pytest.mark.parametrize("value", [
    b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe\x00", b"[1]", b'{"statement": 5, "sequence": 1}',
    b'{"statement": "SHOW STREAMS;", "sequence": "x"}', b'{"statement": "S", "sequence": 1, "streamsProperties": 3}',
    b'{"sequence": 1}', b"",
])
def test_undecodable_commands_are_reported_with_their_offset_and_skipped(value: bytes) -> None:
    log = MemoryLog()
    engine = Engine(log, EngineConfig())
    commands = CommandLog(log, "x")
    _run(engine, commands, "CREATE STREAM A (V INT) WITH (KAFKA_TOPIC='a', PARTITIONS=1, VALUE_FORMAT='JSON');")
    log.append(commands.topic, 0, [Record(None, value, 0, [])])
    _run(engine, commands, "CREATE STREAM B (V INT) WITH (KAFKA_TOPIC='b', PARTITIONS=1, VALUE_FORMAT='JSON');")
    restarted = Engine(log, EngineConfig())
    count, failures = CommandLog(log, "x").replay(restarted)
    assert sorted(restarted.metastore.sources) == ["A", "B"] and count == 2
    [(bad, error)] = failures
    assert bad.offset == 1 and "offset 1" in error


def test_replay_restores_queries_beyond_a_lowered_active_query_limit() -> None:
    """ksqlDB checks ksql.query.persistent.active.limit when a statement arrives, not on restart."""
    log = MemoryLog()
    engine = Engine(log, EngineConfig())
    commands = CommandLog(log, "svc_")
    _run(engine, commands, "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, "
                           "VALUE_FORMAT='JSON'); CREATE STREAM A AS SELECT * FROM S; "
                           "CREATE STREAM B AS SELECT * FROM S;")
    restarted = Engine(log, EngineConfig(properties={"ksql.query.persistent.active.limit": "1"}))
    assert CommandLog(log, "svc_").replay(restarted) == (3, [])
    assert len(restarted.queries) == 2
    with pytest.raises(KsqlError, match="Current persistent query count: 3. Configured limit: 1."):
        restarted.execute("CREATE STREAM C AS SELECT * FROM S;")
