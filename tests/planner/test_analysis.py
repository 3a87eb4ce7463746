"""Analysis of stateless queries: output schemas, key columns and naming."""

from __future__ import annotations

import pytest

from ksql.engine.formats import FormatInfo, SourceFormats
from ksql.engine.metastore import DataSource
from ksql.engine.schema import KEY, VALUE, LogicalSchema, SchemaColumn
from ksql.errors import KsqlError
from ksql.functions import default_registry
from ksql.parser import parse_statement
from ksql.planner.analysis import Analyzer
from ksql.types import INTEGER, STRING, StructField, StructType

ADDRESS = StructType((StructField("STREET", STRING), StructField("TOWN", STRING)))


@pytest.fixture
def source() -> DataSource:
    schema = LogicalSchema((SchemaColumn("ID", INTEGER, KEY), SchemaColumn("NAME", STRING, VALUE),
                            SchemaColumn("ADDRESS", ADDRESS, VALUE)))
    fmt = SourceFormats(FormatInfo("KAFKA"), FormatInfo("JSON"), FormatInfo("KAFKA"))
    return DataSource("INPUT", "STREAM", schema, "input", fmt)


def analyze(source: DataSource, select: str):
    stmt = parse_statement(f"CREATE STREAM OUTPUT AS {select}")
    return Analyzer(source, stmt.query.from_.alias, default_registry()).analyze(stmt.query, "OUTPUT")


@pytest.mark.parametrize("select, schema", [
    ("SELECT * FROM INPUT", "`ID` INTEGER KEY, `NAME` STRING, `ADDRESS` STRUCT<`STREET` STRING, `TOWN` STRING>"),
    ("SELECT ID, NAME AS N FROM INPUT", "`ID` INTEGER KEY, `N` STRING"),
    ("SELECT ID, ADDRESS->TOWN, LEN(NAME) FROM INPUT", "`ID` INTEGER KEY, `TOWN` STRING, `KSQL_COL_0` INTEGER"),
    ("SELECT * FROM INPUT PARTITION BY NAME",
     "`NAME` STRING KEY, `ADDRESS` STRUCT<`STREET` STRING, `TOWN` STRING>, `ID` INTEGER"),
    ("SELECT UCASE(NAME), ID FROM INPUT PARTITION BY UCASE(NAME)", "`KSQL_COL_0` STRING KEY, `ID` INTEGER"),
    ("SELECT NAME, ID FROM INPUT PARTITION BY NULL", "`NAME` STRING, `ID` INTEGER"),
    ("SELECT ID, ADDRESS->* FROM INPUT", "`ID` INTEGER KEY, `STREET` STRING, `TOWN` STRING"),
    ("SELECT I.ID, I.NAME FROM INPUT I", "`ID` INTEGER KEY, `NAME` STRING"),
])
def test_output_schema(source, select, schema):
    assert str(analyze(source, select).schema) == schema


@pytest.mark.parametrize("select, message", [
    ("SELECT NAME FROM INPUT", "must include the key column ID"),
    ("SELECT ID, ID AS ID2, NAME FROM INPUT", "key column (`ID`) more than once"),
    ("SELECT ID FROM INPUT", "no value columns"),
    ("SELECT ID, NOPE FROM INPUT", "SELECT column 'NOPE' cannot be resolved"),
    ("SELECT ID, X.NAME FROM INPUT", "'X' is not a valid stream/table name or alias"),
    ("SELECT ID, ROWTIME FROM INPUT", "Reserved column name in select: `ROWTIME`"),
    ("SELECT NAME, ID FROM INPUT PARTITION BY ABS(ID)", "partitioning expression ABS(INPUT.ID)"),
    ("SELECT ID, NAME FROM INPUT WHERE NAME", "Should evaluate to boolean"),
    ("SELECT ID, NULL AS X FROM INPUT", "Can't infer a type of null"),
])
def test_refusals(source, select, message):
    with pytest.raises(KsqlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyze(source, select)


def test_magic_timestamp_literal_becomes_millis(source):
    plan = analyze(source, "SELECT ID, NAME FROM INPUT WHERE ROWTIME > '2018-01-01T00:00:00.001'")
    assert plan.where.right.value == 1514764800001


@pytest.mark.parametrize("clauses, message", [
    ("WHERE WINDOWSTART > 1000 AND WINDOWEND < 2000 GROUP BY ID", "Error in WHERE expression: Unknown column WINDOWSTART."),
    ("WHERE MIN(WINDOWEND) < 2000 GROUP BY ID", "Error in WHERE expression: Unknown column WINDOWEND."),
    ("GROUP BY ID HAVING WINDOWSTART > 1000", "Window bounds column WINDOWSTART can only be used in the SELECT clause"),
    ("GROUP BY ID HAVING MIN(WINDOWEND) > 1000", "Window bounds column WINDOWEND can only be used in the SELECT clause"),
])
def test_window_bounds_outside_a_windowed_aggregations_select(source, clauses, message):
    from ksql.planner.aggregation import AggregateAnalyzer

    stmt = parse_statement(f"CREATE TABLE OUTPUT AS SELECT ID, COUNT(1) AS N FROM INPUT "
                           f"WINDOW TUMBLING (SIZE 1 SECOND) {clauses}")
    analyzer = AggregateAnalyzer(source, None, default_registry(), {})
    with pytest.raises(KsqlError) as err:
        analyzer.analyze_aggregate(stmt.query, "OUTPUT")
    assert str(err.value).startswith(message)
    select = parse_statement("CREATE TABLE OUTPUT AS SELECT ID, MIN(WINDOWSTART) AS W FROM INPUT "
                             "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID")
    with pytest.raises(KsqlError, match="Window bounds column WINDOWSTART can only be used in the SELECT clause"):
        analyzer.analyze_aggregate(select.query, "OUTPUT")


def test_having_refusals_name_the_aggregates_as_written(source):
    from ksql.planner.aggregation import AggregateAnalyzer

    stmt = parse_statement("CREATE TABLE OUTPUT AS SELECT ID, COUNT(1) AS N FROM INPUT GROUP BY ID "
                           "HAVING COUNT(1) > '100'")
    with pytest.raises(KsqlError) as err:
        AggregateAnalyzer(source, None, default_registry(), {}).analyze_aggregate(stmt.query, "OUTPUT")
    assert str(err.value) == "Error in HAVING expression: Cannot compare COUNT(1) (BIGINT) to '100' (STRING) with " \
                             "GREATER_THAN."
