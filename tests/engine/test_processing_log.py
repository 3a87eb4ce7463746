"""The processing log as ksqlDB's KSQL_PROCESSING_LOG stream: created as its properties say, an entry
for every record a query skips, queryable with SQL like any stream."""

from __future__ import annotations

import base64

import orjson
import pytest

from ksql.engine.log import Record
from ksql.testing import TestDriver

AUTO = {"ksql.logging.processing.topic.auto.create": "true", "ksql.logging.processing.stream.auto.create": "true"}
TOPIC = "default_ksql_processing_log"


def entries(driver: TestDriver) -> list[dict]:
    return [orjson.loads(r.value) for r in driver.log.read(TOPIC, 0, 0, 100)]


def make(properties: dict[str, str]) -> TestDriver:
    driver = TestDriver(properties)
    driver.execute("CREATE STREAM S (ID INT KEY, V INT, F STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', "
                   "PARTITIONS=1);")
    return driver


def test_nothing_is_created_by_default() -> None:
    driver = make({})
    assert not driver.log.topic_exists(TOPIC) and driver.engine.metastore.get("KSQL_PROCESSING_LOG") is None
    driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    driver.log.append("s", 0, [Record(b"\0\0\0\1", b"not json", 1)])
    driver.engine.run_until_idle()  # skipped and logged on the Python logger only
    assert not driver.log.topic_exists(TOPIC)


def test_the_stream_needs_its_topic() -> None:
    driver = make({"ksql.logging.processing.stream.auto.create": "true"})
    assert driver.engine.metastore.get("KSQL_PROCESSING_LOG") is None


def test_stream_schema_and_query_ids() -> None:
    driver = make(AUTO)
    stream = driver.engine.metastore.get("KSQL_PROCESSING_LOG")
    assert stream.topic == TOPIC and stream.kind == "STREAM" and stream.formats.value.name == "JSON"
    assert [(c.name, str(c.type)) for c in stream.schema.value][:3] == [
        ("LOGGER", "STRING"), ("LEVEL", "STRING"), ("TIME", "BIGINT")]
    message = stream.schema.value[3].type
    assert [f.name for f in message.fields] == ["TYPE", "DESERIALIZATIONERROR", "RECORDPROCESSINGERROR",
                                                "PRODUCTIONERROR", "SERIALIZATIONERROR", "KAFKASTREAMSTHREADERROR"]
    deserialization = message.fields[1].type
    assert [f.name for f in deserialization.fields] == ["TARGET", "ERRORMESSAGE", "RECORDB64", "CAUSE", "TOPIC"]
    # the stream is no statement: the first query after one CREATE is still query 1
    [result] = driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    assert result.query_id == "CSAS_T_1"


@pytest.mark.parametrize("include_rows", [False, True])
def test_a_record_that_cannot_be_read(include_rows: bool) -> None:
    driver = make({**AUTO, "ksql.logging.processing.rows.include": str(include_rows).lower()})
    driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    driver.log.append("s", 0, [Record(b"\0\0\0\1", b'{"V": "seven"}', 1), Record(b"\0\0\0\2", b'{"V": 7}', 2)])
    driver.engine.run_until_idle()
    [entry] = entries(driver)
    assert entry["LOGGER"] == "processing.CSAS_T_1.KsqlTopic.Source.deserializer" and entry["LEVEL"] == "ERROR"
    message = entry["MESSAGE"]
    assert message["TYPE"] == 0 and message["RECORDPROCESSINGERROR"] is None
    error = message["DESERIALIZATIONERROR"]
    assert error["TARGET"] == "value" and error["TOPIC"] == "s"
    assert error["ERRORMESSAGE"].startswith("Failed to deserialize value from topic: s.")
    assert error["RECORDB64"] == (base64.b64encode(b'{"V": "seven"}').decode() if include_rows else None)
    assert len(driver.read_output("T")) == 1
    assert driver.engine.queries["CSAS_T_1"].reporter.failures == 1


def test_a_record_whose_processing_fails() -> None:
    driver = make(AUTO)
    driver.execute("CREATE STREAM T AS SELECT ID, TIMESTAMPTOSTRING(V, F) AS X FROM S;")
    driver.pipe("s", 1, {"V": 1, "F": "yyyy-'"})
    [entry] = entries(driver)
    assert entry["LOGGER"] == "processing.CSAS_T_1" and entry["MESSAGE"]["TYPE"] == 1
    assert "TIMESTAMPTOSTRING" in entry["MESSAGE"]["RECORDPROCESSINGERROR"]["ERRORMESSAGE"]


def test_the_log_is_queryable_with_sql() -> None:
    driver = make(AUTO)
    driver.execute("CREATE STREAM T AS SELECT * FROM S;")
    driver.execute("CREATE STREAM ERRORS AS SELECT MESSAGE->TYPE AS KIND, "
                   "MESSAGE->DESERIALIZATIONERROR->`TOPIC` AS SOURCE_TOPIC FROM KSQL_PROCESSING_LOG;")
    driver.log.append("s", 0, [Record(b"\0\0\0\1", b"{", 1)])
    driver.engine.run_until_idle()
    assert [r["value"] for r in driver.read_output("ERRORS")] == [{"KIND": 0, "SOURCE_TOPIC": "s"}]
