"""EXPLAIN of a query id and of a statement: the logical plan, the execution plan and the topology in
Kafka Streams' TopologyDescription layout, in ksqlDB's queryDescription entity."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ksql.errors import KsqlError
from ksql.testing import TestDriver

SOURCES = """
CREATE STREAM ORDERS (ID INT KEY, ITEM STRING, QTY INT) WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON', PARTITIONS=1);
CREATE TABLE ITEMS (ITEM STRING PRIMARY KEY, PRICE DOUBLE) WITH (KAFKA_TOPIC='items', VALUE_FORMAT='JSON', PARTITIONS=1);
CREATE STREAM PAYMENTS (ID INT KEY, AMOUNT DOUBLE) WITH (KAFKA_TOPIC='payments', VALUE_FORMAT='JSON', PARTITIONS=1);
"""


@pytest.fixture
def driver() -> Iterator[TestDriver]:
    d = TestDriver()
    d.execute(SOURCES)
    yield d
    d.close()


def explain(driver: TestDriver, what: str) -> dict:
    [result] = driver.execute(f"EXPLAIN {what};")
    entity = result.entity
    assert entity["@type"] == "queryDescription"
    return entity["queryDescription"]


def query_id(driver: TestDriver, sql: str) -> str:
    [result] = driver.execute(sql)
    return result.query_id


def nodes(topology: str) -> list[tuple[str, str, str]]:
    """(kind, name, detail) of each node of a topology text, checking the layout on the way."""
    lines = topology.splitlines()
    assert lines[0] == "Topologies:" and lines[1] == "   Sub-topology: 0"
    found = []
    for line in lines[1:]:
        if not line or line.startswith(("  Sub-topology: ", "   Sub-topology: ", "      --> ", "      <-- ")):
            continue
        match = re.fullmatch(r"    (Source|Processor|Sink): (\S+) (\(.*\))", line)
        assert match, line
        found.append(match.groups())
    return found


def test_filter_query(driver: TestDriver) -> None:
    qid = query_id(driver, "CREATE STREAM BIG AS SELECT ID, ITEM, QTY * 2 AS DOUBLED FROM ORDERS WHERE QTY > 10;")
    description = explain(driver, qid)
    assert description["id"] == qid and description["sinks"] == ["BIG"] and description["sources"] == ["ORDERS"]
    assert nodes(description["topology"]) == [
        ("Source", "KSTREAM-SOURCE-0000000000", "(topics: [orders])"),
        ("Processor", "KSTREAM-TRANSFORMVALUES-0000000001", "(stores: [])"),
        ("Processor", "WhereFilter", "(stores: [])"),
        ("Processor", "Project", "(stores: [])"),
        ("Sink", "KSTREAM-SINK-0000000004", "(topic: BIG)")]
    assert "    Processor: WhereFilter (stores: [])\n      --> Project\n" \
           "      <-- KSTREAM-TRANSFORMVALUES-0000000001\n" in description["topology"]
    plan = description["executionPlan"].splitlines()
    assert [re.search(r"\[ (\w+) \]", line)[1] for line in plan] == ["SINK", "PROJECT", "FILTER", "SOURCE"]
    assert plan[0].startswith(" > [ SINK ] | Schema: ID INTEGER KEY, ITEM STRING, DOUBLED INTEGER | Logger: ")
    assert plan[3].startswith("\t\t\t\t\t\t > [ SOURCE ]")
    assert description["logicalPlan"].splitlines() == [
        "DataSinkNode: BIG", "  ProjectNode: ID, ITEM, (QTY * 2) AS DOUBLED", "    FilterNode: (QTY > 10)",
        "      DataSourceNode: ORDERS (STREAM)"]


def test_group_by_query_repartitions_then_aggregates(driver: TestDriver) -> None:
    qid = query_id(driver, "CREATE TABLE PER_ITEM AS SELECT ITEM, SUM(QTY) AS TOTAL FROM ORDERS GROUP BY ITEM;")
    description = explain(driver, qid)
    topology = description["topology"]
    assert "\n\n  Sub-topology: 1\n" in topology  # Kafka Streams indents the ones after the first by two
    names = [name for _, name, _ in nodes(topology)]
    assert names[:6] == ["KSTREAM-SOURCE-0000000000", "KSTREAM-TRANSFORMVALUES-0000000001", "Aggregate-Prepare",
                         "Aggregate-GroupBy", "Aggregate-GroupBy-repartition-filter",
                         "Aggregate-GroupBy-repartition-sink"]
    assert names[6] == "Aggregate-GroupBy-repartition-source"
    assert names[7].startswith("KSTREAM-AGGREGATE-") and names[-2].startswith("KTABLE-TOSTREAM-")
    assert names[-1].startswith("KSTREAM-SINK-")
    assert "(stores: [Aggregate-Aggregate-Materialize])" in topology
    assert "Sink: Aggregate-GroupBy-repartition-sink (topic: Aggregate-GroupBy-repartition)" in topology
    steps = [re.search(r"\[ (\w+) \]", line)[1] for line in description["executionPlan"].splitlines()]
    assert steps == ["SINK", "PROJECT", "AGGREGATE", "GROUP_BY", "SOURCE"]


def test_group_by_the_key_needs_no_repartition(driver: TestDriver) -> None:
    qid = query_id(driver, "CREATE TABLE PER_ID AS SELECT ID, COUNT(*) AS N FROM ORDERS GROUP BY ID;")
    topology = explain(driver, qid)["topology"]
    assert "Aggregate-GroupByKey" in topology and "Sub-topology: 1" not in topology


def test_stream_table_join(driver: TestDriver) -> None:
    qid = query_id(driver, "CREATE STREAM PRICED AS SELECT O.ITEM, O.QTY, I.PRICE FROM ORDERS O "
                           "JOIN ITEMS I ON O.ITEM = I.ITEM;")
    description = explain(driver, qid)
    found = nodes(description["topology"])
    # Kafka Streams lists the node with the bigger sub-tree first: the table's source, then the stream's
    assert [n for k, n, _ in found if k == "Source"] == ["KSTREAM-SOURCE-0000000003", "KSTREAM-SOURCE-0000000000"]
    assert ("Processor", "Join", "(stores: [I-Reduce])") in found
    assert "      <-- PrependAliasLeft, PrependAliasRight\n" in description["topology"]
    assert "    Source: KSTREAM-SOURCE-0000000003 (topics: [items])\n" in description["topology"]
    assert "STREAM_TABLE_JOIN" in description["executionPlan"]
    assert "JoinNode: INNER stream-table ON O.ITEM = I.ITEM" in description["logicalPlan"]


def test_stream_stream_join(driver: TestDriver) -> None:
    qid = query_id(driver, "CREATE STREAM PAID AS SELECT O.ID, O.QTY, P.AMOUNT FROM ORDERS O "
                           "JOIN PAYMENTS P WITHIN 1 HOUR ON O.ID = P.ID;")
    names = [name for _, name, _ in nodes(explain(driver, qid)["topology"])]
    assert any(n.startswith("KSTREAM-JOINTHIS-") for n in names)
    assert any(n.startswith("KSTREAM-JOINOTHER-") for n in names)
    assert any(n.startswith("KSTREAM-MERGE-") for n in names)


def test_explain_of_a_statement_plans_without_running(driver: TestDriver) -> None:
    description = explain(driver, "CREATE STREAM LATER AS SELECT * FROM ORDERS WHERE QTY > 1")
    assert description["sinks"] == ["LATER"] and description["queryType"] == "PERSISTENT"
    assert "WhereFilter" in description["topology"] and "(topic: LATER)" in description["topology"]
    assert driver.engine.metastore.get("LATER") is None and not driver.engine.queries
    push = explain(driver, "SELECT ITEM FROM ORDERS WHERE QTY > 1 EMIT CHANGES LIMIT 5")
    assert push["queryType"] == "PUSH" and push["sinks"] == []
    assert "KSTREAM-FOREACH-" in push["topology"]


def test_explain_of_an_unknown_source_or_statement_says_what(driver: TestDriver) -> None:
    with pytest.raises(KsqlError, match="NOPE does not exist"):
        driver.execute("EXPLAIN SELECT * FROM NOPE EMIT CHANGES;")
    with pytest.raises(KsqlError, match="EXPLAIN takes a query id"):
        driver.execute("EXPLAIN SHOW STREAMS;")
