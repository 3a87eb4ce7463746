"""TestDriver partitions as ksqlDB's test runner (Kafka Streams' TopologyTestDriver) has them: a topic
keeps its partition count for the statements' checks, while every record passes through partition 0
in the order it was written."""

from __future__ import annotations

import pytest

from ksql.errors import KsqlError
from ksql.testing import RUNNER_PARTITIONS, TestDriver


@pytest.fixture
def driver():
    d = TestDriver()
    yield d
    d.close()


def test_a_topic_without_a_partition_count_has_the_runners(driver):
    driver.execute("CREATE TABLE A (ID BIGINT PRIMARY KEY, X STRING) WITH (kafka_topic='a', value_format='JSON');")
    driver.create_topic({"name": "b", "partitions": None})
    driver.pipe("c", 1, {"X": "y"})
    assert [driver.log.topic_config(t).partitions for t in ("a", "b", "c")] == [RUNNER_PARTITIONS] * 3


def test_a_join_pipeline_with_a_chosen_partition_count_is_co_partitioned(driver):
    driver.execute("CREATE TABLE A (ID BIGINT PRIMARY KEY, X STRING) WITH (kafka_topic='a', value_format='JSON');")
    driver.execute("CREATE TABLE B (ID BIGINT PRIMARY KEY, Y STRING) WITH (kafka_topic='b', value_format='JSON');")
    driver.execute("CREATE TABLE C (ID BIGINT PRIMARY KEY, Z STRING) WITH (kafka_topic='c', value_format='JSON');")
    driver.execute(f"CREATE TABLE AB WITH (PARTITIONS={RUNNER_PARTITIONS}) AS SELECT A.ID AS ID, X, Y "
                   "FROM A JOIN B ON A.ID = B.ID;")
    driver.execute("CREATE TABLE ABC AS SELECT AB.ID AS ID, X, Y, Z FROM AB JOIN C ON AB.ID = C.ID;")
    driver.pipe("a", 5, {"X": "x"})
    driver.pipe("b", 5, {"Y": "y"})
    driver.pipe("c", 5, {"Z": "z"})
    assert [(r["key"], r["value"]) for r in driver.read_output("ABC")] == [(5, {"X": "x", "Y": "y", "Z": "z"})]


def test_partition_counts_that_differ_still_refuse_a_join(driver):
    driver.execute("CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='s', value_format='JSON', PARTITIONS=1);")
    driver.execute("CREATE TABLE T (ID INT PRIMARY KEY, W INT) WITH (kafka_topic='t', value_format='JSON');")
    with pytest.raises(KsqlError, match="number of partitions don't match"):
        driver.execute("CREATE STREAM J AS SELECT * FROM S JOIN T ON S.ID = T.ID;")


def test_records_of_every_key_are_processed_in_the_order_they_were_piped(driver):
    driver.execute("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON', PARTITIONS=3);")
    driver.execute("CREATE STREAM COPY AS SELECT * FROM S;")
    keys = ["a", "b", "c", "d", "e", "a"]
    for i, key in enumerate(keys):
        driver.pipe("s", key, {"V": i})
    assert [(r["key"], r["value"]["V"]) for r in driver.read_output("COPY")] == [(key, i) for i, key in enumerate(keys)]
    assert driver.log.topic_config("COPY").partitions == 3
