"""Pull queries over tables with hostile column names and literals: nothing a user writes runs as DuckDB SQL.

Column names come from users (quoted identifiers, CTAS aliases) and literals from WHERE clauses; the
DuckDB mirror behind table pull queries must neither execute them (no file written) nor misread them
(the right rows come back for key lookups, ranges, scans, LIKE, IN and BETWEEN).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ksql.testing import TestDriver


def copy_alias(target: Path) -> str:
    """A column name that, formatted into a CREATE TABLE, ends it and writes `target` with COPY."""
    return f'x" BIGINT); COPY (SELECT 42) TO \'{target}\'; CREATE TABLE t2 ("y'


def hostile_names(target: Path) -> list[str]:
    return [copy_alias(target), 'quo"te', 'semi;colon', "new\nline", "back\\slash", "apos'trophe",
            "ünïcødé ✓", "nul\x00byte", "rid", "ROWTIME2", "ws", "we", "t"]


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def pull(driver: TestDriver, sql: str) -> list[list]:
    return driver.engine.pull_query(sql).rows


@pytest.mark.parametrize("index", range(13))
def test_hostile_column_names_answer_every_predicate_and_run_nothing(driver, tmp_path, index):
    name = hostile_names(tmp_path / "pwned")[index]
    key, value, number = quoted("k " + name), quoted(name), quoted("n " + name)
    driver.execute(f"CREATE SOURCE TABLE H ({key} STRING PRIMARY KEY, {value} STRING, {number} INT) "
                   "WITH (KAFKA_TOPIC='h', FORMAT='JSON');")
    for k, v, n in (("a", "apple", 1), ("b", "banana", 2), ("c", "cherry", 3)):
        driver.pipe("h", k, {name: v, "n " + name: n})
    assert pull(driver, f"SELECT * FROM H WHERE {key} = 'b';") == [["b", "banana", 2]]
    assert pull(driver, f"SELECT * FROM H WHERE {number} > 1;") == [["b", "banana", 2], ["c", "cherry", 3]]
    assert pull(driver, "SELECT * FROM H;") == [["a", "apple", 1], ["b", "banana", 2], ["c", "cherry", 3]]
    assert pull(driver, f"SELECT {value} FROM H WHERE {value} LIKE '%an%';") == [["banana"]]
    assert pull(driver, f"SELECT {key} FROM H WHERE {value} IN ('cherry', 'apple');") == [["a"], ["c"]]
    assert pull(driver, f"SELECT {number} FROM H WHERE {number} BETWEEN 2 AND 3 OR {key} < 'b';") == \
        [[1], [2], [3]]
    assert pull(driver, f"SELECT {value} AS {quoted(name + '2')} FROM H WHERE {key} >= 'c';") == [["cherry"]]
    assert not (tmp_path / "pwned").exists()


def test_the_copy_alias_of_a_ctas_column_writes_no_file(driver, tmp_path):
    target = tmp_path / "pwned"
    alias = quoted(copy_alias(target))
    driver.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    driver.execute(f"CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS {alias}, COUNT(*) AS N "
                   "FROM S GROUP BY ID;")
    driver.pipe("s", 1, {"V": "one"})
    driver.pipe("s", 2, {"V": "two"})
    driver.pipe("s", 2, {"V": "deux"})
    assert pull(driver, "SELECT * FROM T WHERE ID = 2;") == [[2, "deux", 2]]
    assert pull(driver, f"SELECT ID FROM T WHERE {alias} >= 'e';") == [[1]]
    assert pull(driver, f"SELECT {alias} FROM T WHERE N IN (1, 2) AND ID BETWEEN 0 AND 5;") == \
        [["one"], ["deux"]]
    assert not target.exists()


def test_columns_differing_only_in_case_are_distinct(driver):
    driver.execute("CREATE SOURCE TABLE C (`id` STRING PRIMARY KEY, `a` INT, `A` INT, `RID` INT) "
                   "WITH (KAFKA_TOPIC='c', FORMAT='JSON');")
    driver.pipe("c", "x", {"a": 1, "A": 2, "RID": 3})
    driver.pipe("c", "y", {"a": 2, "A": 1, "RID": 4})
    assert pull(driver, "SELECT `id` FROM C WHERE `a` = 1;") == [["x"]]
    assert pull(driver, "SELECT `id` FROM C WHERE `A` = 1;") == [["y"]]
    assert pull(driver, "SELECT `id` FROM C WHERE `RID` > 3;") == [["y"]]


HOSTILE_TEXTS = ["it's", "two''quotes", "line\nbreak", "semi;colon", "nul\x00byte", "ünïcødé ✓ 漢字",
                 'double"quote', "back\\slash", "'); COPY (SELECT 1) TO '/tmp/x'; --", "100% _wild_"]


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_hostile_literals_are_values_not_sql(driver):
    driver.execute("CREATE SOURCE TABLE L (ID INT PRIMARY KEY, V STRING) WITH (KAFKA_TOPIC='l', FORMAT='JSON');")
    for i, text in enumerate(HOSTILE_TEXTS):
        driver.pipe("l", i, {"V": text})
    for i, text in enumerate(HOSTILE_TEXTS):
        literal = sql_string(text)
        assert pull(driver, f"SELECT ID FROM L WHERE V = {literal};") == [[i]], text
        assert pull(driver, f"SELECT ID FROM L WHERE V IN ({literal}, 'none');") == [[i]], text
        assert pull(driver, f"SELECT ID FROM L WHERE V BETWEEN {literal} AND {literal};") == [[i]], text
        assert pull(driver, f"SELECT ID FROM L WHERE V >= {literal} AND V <= {literal};") == [[i]], text
    assert pull(driver, "SELECT ID FROM L WHERE V LIKE '%;%';") == [[3], [8]]
    assert pull(driver, "SELECT ID FROM L WHERE V LIKE '%''%';") == [[0], [1], [8]]
    assert pull(driver, "SELECT ID FROM L WHERE V LIKE '%\n%';") == [[2]]
    assert pull(driver, "SELECT ID FROM L WHERE V LIKE '%漢字';") == [[5]]


def test_the_duckdb_mirror_has_no_access_to_files_or_extensions(driver, tmp_path):
    driver.execute("CREATE SOURCE TABLE L (ID INT PRIMARY KEY, V STRING) WITH (KAFKA_TOPIC='l', FORMAT='JSON');")
    view = driver.engine.table_view(driver.engine.metastore.get("L"))
    target = tmp_path / "out.csv"
    (tmp_path / "in.csv").write_text("a\n1\n")
    for sql in (f"COPY (SELECT 42) TO '{target}'", f"ATTACH '{tmp_path / 'x.db'}'",
                f"SELECT * FROM read_csv('{tmp_path / 'in.csv'}')", "INSTALL httpfs", "LOAD httpfs",
                f"EXPORT DATABASE '{tmp_path / 'export'}'"):
        with pytest.raises(duckdb.Error):
            view.db.execute(sql)
    for sql in ("SET enable_external_access = true", "SET lock_configuration = false"):
        with pytest.raises(duckdb.Error):
            view.db.execute(sql)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_windowed_tables_with_hostile_names_answer_window_bounds(driver, tmp_path):
    alias = quoted(copy_alias(tmp_path / "pwned"))
    driver.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    driver.execute(f"CREATE TABLE W AS SELECT ID, COUNT(*) AS {alias} FROM S WINDOW TUMBLING (SIZE 1 MINUTE) "
                   "GROUP BY ID;")
    for ts in (1_000, 2_000, 61_000):
        driver.pipe("s", 1, {"V": "x"}, timestamp=ts)
    assert pull(driver, f"SELECT WINDOWSTART, {alias} FROM W WHERE {alias} >= 1 AND WINDOWSTART >= 60000;") \
        == [[60_000, 1]]
    assert pull(driver, f"SELECT WINDOWEND FROM W WHERE {alias} = 2 OR WINDOWEND > 200000;") == [[60_000]]
    assert not (tmp_path / "pwned").exists()
