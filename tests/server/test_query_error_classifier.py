"""ksql.error.classifier.regex: a persistent query's failure is typed USER or SYSTEM by the configured regex."""

from __future__ import annotations

import struct

import orjson
import pytest

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record
from server.supervisor import ERROR, Backoff, ErrorClassifier, QuerySupervisor

# a query that fails once its EMIT FINAL windows outgrow ksql.suppress.buffer.size.bytes
PROPERTIES = {"auto.offset.reset": "earliest", "ksql.suppress.buffer.size.bytes": "100"}
STATEMENTS = ("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');",
              "CREATE TABLE T AS SELECT ID, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY ID "
              "EMIT FINAL;")


def _failed_query_errors(classifier: ErrorClassifier) -> list[dict]:
    log = MemoryLog()
    engine = Engine(log, EngineConfig(properties=PROPERTIES))
    try:
        for sql in STATEMENTS:
            engine.execute(sql)
        log.append("s", 0, [Record(struct.pack(">i", i), orjson.dumps({"V": "a"}), 1000, []) for i in range(20)])
        supervisor = QuerySupervisor(None, Backoff(initial_ms=100, max_ms=400), clock=lambda: 0.0,
                                     classifier=classifier)
        [query] = engine.queries.values()
        supervisor.poll_all([query])
        assert query.state == ERROR
        return query.query_errors
    finally:
        engine.close()


@pytest.mark.parametrize("config, kind", [("", "UNKNOWN"), ("USER Suppress buffer exceeded", "USER"),
                                          ("SYSTEM SuppressBufferFull", "SYSTEM"), ("USER no such text", "UNKNOWN"),
                                          ("NOT-A-TYPE .*", "UNKNOWN"), ("USER (unclosed", "UNKNOWN")])
def test_a_query_failure_is_typed_by_the_classifier(config: str, kind: str) -> None:
    [error] = _failed_query_errors(ErrorClassifier.from_config(config))
    assert error["type"] == kind
    assert "Suppress buffer exceeded its max capacity" in error["errorMessage"]


def test_the_first_matching_line_wins() -> None:
    classifier = ErrorClassifier.from_config("SYSTEM nothing\nUSER buffer\nSYSTEM .*")
    assert classifier.classify(ValueError("the buffer is full")) == "USER"
    assert classifier.classify(ValueError("other")) == "SYSTEM"
