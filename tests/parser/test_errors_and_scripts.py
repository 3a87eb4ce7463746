"""Syntax errors (line:column, wording), robustness, splitting and variable substitution."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ksql.errors import KsqlError, ParseError
from ksql.parser import (
    parse,
    parse_expression,
    parse_statement,
    parse_type,
    reserved_words,
    split_statements,
    substitute_variables,
)
from ksql.parser.limits import UNLIMITED

from .conformance_data import SHARED, load_statements


def _error(sql: str) -> ParseError:
    with pytest.raises(ParseError) as e:
        parse(sql)
    assert isinstance(e.value, KsqlError)
    return e.value


def test_mismatched_input_wording_and_position():
    e = _error("ASSERT VALUES foo (id INT) VALUES (123);")
    assert (e.line, e.column) == (1, 8)
    msg = str(e)
    assert msg.startswith("line 1:8: Syntax Error")
    assert "Syntax error at or near 'VALUES' at line 1:8" in msg
    assert "mismatched input 'VALUES' expecting {'NOT', 'SCHEMA', 'TOPIC'}" in msg


def test_error_positions_match_ksqldb():
    assert str(_error("SELECT * FROM S1 ORDER BY MYKEY DESC;")).startswith("line 1:24: Syntax Error")
    assert str(_error("SELECT * FROM riderLocations LIMIT heh;")).startswith("line 1:36: Syntax Error")
    e = _error("CREATE STREAM OUTPUT AS SELECT ID, cast(f0 as NULL) FROM TEST;")
    assert "Syntax error at or near 'NULL' at line 1:47" in str(e)


def test_limit_takes_a_signed_integer_and_refuses_other_numbers_when_preparing():
    [stmt] = parse("SELECT * FROM S LIMIT -1;")
    assert stmt.query.limit == -1  # the query kind refuses it, with its own message
    for number in ("2.5", "-2.5", "1e3"):
        assert str(_error(f"SELECT * FROM S LIMIT {number};")) == \
            "Failed to prepare statement: Value must be integer for command: LIMIT"


def test_errors_building_a_parsed_statement_fail_its_preparation():
    e = _error("SELECT 1,\n  9223372036854775808 FROM S;")
    assert str(e) == "Failed to prepare statement: line 2:3: Invalid numeric literal: 9223372036854775808"
    assert (e.line, e.column) == (2, 3)


def test_positions_in_multi_line_scripts():
    e = _error("SHOW STREAMS;\nSHOW TABLES;\nSELECT *\n  FROM s WHERE a = = 1;")
    assert (e.line, e.column) == (4, 20)
    assert "at or near '=' at line 4:20" in str(e)
    e = _error("SHOW STREAMS;   SELECT * FRM s;")
    assert (e.line, e.column) == (1, 26)


def test_end_of_input_and_bad_characters():
    e = _error("SELECT * FROM")
    assert "mismatched input '<EOF>'" in str(e)
    assert (e.line, e.column) == (1, 14)
    e = _error("SELECT # FROM s")
    assert (e.line, e.column) == (1, 8) and "'#'" in str(e)
    e = _error("SELECT 'unterminated FROM s")
    assert e.line == 1


def test_reserved_keyword_hint():
    e = _error("CREATE STREAM s (from INT) WITH (kafka_topic='t');")
    assert "'from' is a reserved keyword" in str(e)
    assert "`from`" in str(e)


def test_reserved_words_are_grammar_keywords():
    words = reserved_words()
    for w in ("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "NULL", "JOIN", "CREATE", "SECONDS"):
        assert w in words
    for w in ("KEY", "VALUE", "TIMESTAMP", "SIZE", "ID", "TOPIC", "SECOND", "SOURCE", "EMIT"):
        assert w not in words
    grammar = (Path(__file__).resolve().parents[2] / "ksql" / "parser" / "ksql.lark").read_text()
    ident = next(line for line in grammar.splitlines() if line.startswith("IDENTIFIER:"))
    listed = set(ident.split("(?:")[1].split(")")[0].split("|"))
    assert listed == set(words), "every reserved word must be a keyword of the grammar"


@pytest.mark.parametrize("bad", [
    "", ";", "SELECT", "SELECT * FROM s WHERE", "CREATE STREAM", "CREATE STREAM s (", "INSERT INTO s VALUES (",
    "SELECT * FROM s GROUP BY", "SELECT a b c FROM s", "SELECT * FROM s WINDOW TUMBLING (SIZE 1 BOBS)",
    "DROP", "SHOW", "DESCRIBE", "EXPLAIN", "PRINT", "ASSERT", "SET 'a'", "DEFINE x", "SELECT f((a, b)) FROM s",
    "SELECT * FROM s LIMIT 99999999999999999999", "CREATE STREAM s (a DECIMAL(5, 9)) WITH (kafka_topic='x')",
    "SELECT ${var} FROM s", "SELECT \x00 FROM s", "SELECT 1.5.5 FROM s", "SELECT a->1 FROM s",
    "SELECT * FROM s EMIT", "TERMINATE", "ALTER STREAM s ADD", "SELECT * FROM s PARTITION BY (a) b",
])
def test_bad_input_raises_parse_error_only(bad):
    with pytest.raises(ParseError):
        parse_statement(bad)


def test_non_text_input():
    with pytest.raises(ParseError):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ParseError):
        parse_expression(b"1")  # type: ignore[arg-type]


def test_empty_parenthesised_partition_by_parses():
    # ksqlDB's grammar allows an empty list; the planner decides what it means
    q = parse_statement("CREATE STREAM o AS SELECT * FROM s PARTITION BY ();").query
    assert q.partition_by == ()
    assert parse_statement("CREATE STREAM o AS SELECT * FROM s;").query.partition_by is None


def test_deep_nesting_is_handled():
    """The parser itself builds deep trees; by default they are refused, naming the limit. The terms
    of a chain of one operator are side by side, not nested."""
    expr = "(" * 500 + "1" + ")" * 500
    assert parse_expression(expr, UNLIMITED).value == 1
    long_sum = " + ".join(["a"] * 3000)
    assert parse_expression(long_sum) is not None
    with pytest.raises(ParseError, match=r"^line 1:201: Brackets nest more than 200 levels deep; the limit is 200 "
                                         r"levels \(ksql.statement.max.depth\).$"):
        parse_expression(expr)
    nested_sum = "1 + (" * 250 + "a" + ")" * 250
    assert parse_expression(nested_sum, UNLIMITED) is not None
    with pytest.raises(ParseError, match=r"^Expressions nest more than 200 levels deep; the limit is 200 levels"):
        parse_expression("NOT " * 250 + "a")


def _conformance_statements():
    if not (SHARED / "qtt").is_dir():
        pytest.skip("shared conformance files not present")
    return [stmt for _file, _test, stmt, _error in load_statements()]


def test_fuzzed_statements_only_raise_parse_error():
    """Truncated and mutated real statements: every failure is a ParseError."""
    rng = random.Random(1234)
    stmts = _conformance_statements()
    sample = rng.sample(stmts, min(400, len(stmts)))
    junk = ["(", ")", ",", "'", '"', "`", "->", "=>", ":=", "*", "-", "[", "]", "<", ">", ";", "NOT", "NULL",
            "AS", "1", "1.5", "1e9", "99999999999999999999", "x", "SELECT", "FROM", "WITHIN", "STRUCT<", "ARRAY["]
    for s in sample:
        variants = [s[: rng.randrange(len(s) + 1)]]
        for _ in range(3):
            i = rng.randrange(len(s) + 1)
            variants.append(s[:i] + " " + rng.choice(junk) + " " + s[i:])
            j = rng.randrange(len(s) + 1)
            variants.append(s[:i] + s[j:])
        for v in variants:
            try:
                parse(v)
            except ParseError:
                pass


# ---------------------------------------------------------------- splitting and variables


def test_split_statements():
    script = "SELECT ';' FROM s; -- x;y\nSELECT `a;b` FROM \"c;d\" /* ; */ ;\n\n  ;SHOW STREAMS"
    assert split_statements(script) == [
        "SELECT ';' FROM s",
        'SELECT `a;b` FROM "c;d"',
        "SHOW STREAMS",
    ]
    assert split_statements("") == []
    assert split_statements("SELECT 'it''s;' FROM s;") == ["SELECT 'it''s;' FROM s"]


def test_substitute_variables():
    vars_ = {"format": "JSON", "Stream": "pageviews", "q": "it's"}
    sql = "CREATE STREAM ${stream} WITH (value_format='${FORMAT}', x='${q}'); -- ${nothing}"
    out = substitute_variables(sql, vars_)
    assert out == "CREATE STREAM pageviews WITH (value_format='JSON', x='it''s'); -- ${nothing}"
    assert parse(out)[0].properties == {"VALUE_FORMAT": "JSON", "X": "it's"}
    assert substitute_variables("SELECT `${x}` FROM s", {}) == "SELECT `${x}` FROM s"
    assert substitute_variables("no vars", {}) == "no vars"
    # undefined variables stay (a script may DEFINE them first); parsing them says what is wrong
    script = "SELECT *\nFROM ${missing}"
    assert substitute_variables(script, {}) == script
    with pytest.raises(ParseError, match="Variable 'missing' is not defined") as e:
        parse(script)
    assert (e.value.line, e.value.column) == (2, 6)


def test_parse_type_and_expression_reject_trailing_input():
    with pytest.raises(ParseError):
        parse_type("INT INT")
    with pytest.raises(ParseError):
        parse_expression("1 2")
