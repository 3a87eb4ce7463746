"""Pull-query refusals: ksqlDB's WHERE rules when table scans are disabled, key values, queryable tables."""

from __future__ import annotations

import pytest

from ksql.errors import KsqlError
from ksql.testing import TestDriver

NO_SCANS = {"ksql.query.pull.table.scan.enabled": False}


@pytest.fixture
def driver():
    d = TestDriver()
    d.execute("CREATE STREAM INPUT (ID INTEGER KEY, COL INT) WITH (KAFKA_TOPIC='input', FORMAT='JSON');")
    d.execute("CREATE TABLE AGG AS SELECT ID, COUNT(1) AS N FROM INPUT GROUP BY ID;")
    d.execute("CREATE TABLE AGG2 AS SELECT ID, COL, COUNT(1) AS N FROM INPUT GROUP BY ID, COL;")
    d.pipe("input", 10, {"COL": 1})
    d.pipe("input", 11, {"COL": 2})
    d.pipe("input", 11, {"COL": 2})
    yield d
    d.close()


def refusal(driver: TestDriver, sql: str, properties: dict | None = None) -> str:
    with pytest.raises(KsqlError) as err:
        driver.engine.pull_query(sql, properties)
    return str(err.value)


@pytest.mark.parametrize(("where", "message"), [
    ("N = 100", "WHERE clause missing key column for disjunct: (N = 100). \nPull queries require a WHERE clause"),
    ("ID + 10 = 20", "A comparison must directly reference a key column. "),
    ("ID = N", "A comparison must be between a key column and a resolvable expression. "),
    ("ID IN (2, N + 1)", "A comparison must be between a key column and a resolvable expression. "),
    ("0 < ID AND ID < 100", "A comparison condition on the key column cannot be combined with other comparisons"),
    ("ID = 10 AND ID IN (1, 10)", "A comparison condition on the key column cannot be combined"),
    ("ID != 10", "Bound on key columns '[`ID` INTEGER KEY]' must currently be '='. "),
    ("'12' LIKE '12'", "Like condition must be between strings. "),
    ("ID = 10 OR N = 2", "WHERE clause missing key column for disjunct: (N = 2). "),
])
def test_without_table_scans_each_disjunct_must_look_up_keys(driver, where, message):
    text = refusal(driver, f"SELECT * FROM AGG WHERE {where};", NO_SCANS)
    assert text.startswith(message)
    assert text.endswith("table scans can be enabled by setting ksql.query.pull.table.scan.enabled=true.")


def test_without_table_scans_every_key_column_is_needed(driver):
    assert refusal(driver, "SELECT * FROM AGG2 WHERE ID = 10;", NO_SCANS).startswith(
        "Multi-column sources must specify every key in the WHERE clause. Specified: [`ID`] Missing: [`COL`]")


def test_without_table_scans_key_lookups_still_answer(driver):
    rows = driver.engine.pull_query("SELECT * FROM AGG WHERE ID IN (10, 11) AND N > 1;", NO_SCANS).rows
    assert rows == [[11, 2]]
    rows = driver.engine.pull_query("SELECT * FROM AGG WHERE ID = 10 OR ID = 11;", NO_SCANS).rows
    assert sorted(rows) == [[10, 1], [11, 2]]
    # the same WHERE the scan-less rules refuse is answered by a scan when scans are allowed (the default)
    assert driver.engine.pull_query("SELECT * FROM AGG WHERE N = 2;").rows == [[11, 2]]


def test_key_values_are_coerced_strictly_and_never_null(driver):
    assert refusal(driver, "SELECT * FROM AGG WHERE ID IN ('10', 8);") == \
        "'10' can not be converted to the type of the key column: ID INTEGER KEY"
    assert refusal(driver, "SELECT * FROM AGG WHERE ID IN (NULL);") == "Primary key columns can not be NULL: (ID = null)"


def test_like_on_a_non_string_column(driver):
    assert refusal(driver, "SELECT * FROM AGG WHERE ID LIKE 12;") == \
        "The column type for Like condition must be VARCHAR. The column type is INTEGER"


def test_only_materialized_tables_are_queryable(driver):
    driver.execute("CREATE TABLE X (ID STRING PRIMARY KEY, NAME STRING) WITH (KAFKA_TOPIC='x', FORMAT='JSON');")
    assert refusal(driver, "SELECT * FROM X WHERE ID = '1';") == (
        "The `X` table isn't queryable. To derive a queryable table, you can do "
        "'CREATE TABLE QUERYABLE_X AS SELECT * FROM X'. See https://cnfl.io/queries for more info.")
    driver.execute("CREATE SOURCE TABLE Y (ID STRING PRIMARY KEY, NAME STRING) WITH (KAFKA_TOPIC='x', FORMAT='JSON');")
    assert driver.engine.pull_query("SELECT * FROM Y WHERE ID = '1';").rows == []


def test_duplicate_columns_in_the_projection(driver):
    assert refusal(driver, "SELECT N, N FROM AGG WHERE ID = 10;") == "Duplicate value columns found in schema: `N` BIGINT"


def test_negative_limits_are_refused_by_the_query_kind(driver):
    from ksql.engine.transient import TransientQueries
    from ksql.parser import parse_statement

    assert refusal(driver, "SELECT * FROM INPUT LIMIT -1;") == (
        "Pull queries don't support negative integers in the LIMIT clause. See https://cnfl.io/queries for more info.")
    with pytest.raises(KsqlError, match="Push queries don't support negative integers in the LIMIT clause."):
        TransientQueries().start(driver.engine, parse_statement("SELECT * FROM INPUT EMIT CHANGES LIMIT -1;"), {})
