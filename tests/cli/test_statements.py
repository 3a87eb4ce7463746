"""Statement splitting and classification on the client side (no server involved)."""

from __future__ import annotations

import pytest

from cli import statements as st


def test_split_on_semicolons_outside_strings_identifiers_and_comments():
    text = ("SELECT 'a;b', `x;y`, \"q;r\" FROM s; -- c;d\n"
            "/* e; f */ INSERT INTO s VALUES ('it''s;');  SHOW")
    stmts, rest = st.split(text)
    assert [s.text for s in stmts] == [
        "SELECT 'a;b', `x;y`, \"q;r\" FROM s;",
        "INSERT INTO s VALUES ('it''s;');",
    ]
    assert rest == "SHOW"
    assert (stmts[1].line, stmts[1].column) == (2, 12)


def test_split_all_keeps_a_last_statement_without_semicolon():
    stmts = st.split_all("SHOW STREAMS;\n\n  SHOW TABLES")
    assert [(s.text, s.line, s.column) for s in stmts] == [("SHOW STREAMS;", 1, 1), ("SHOW TABLES", 3, 3)]
    assert st.split_all("-- only a comment\n") == []


@pytest.mark.parametrize("text, complete", [
    ("", True),
    ("   ", True),
    ("SHOW STREAMS;", True),
    ("SHOW STREAMS", False),
    ("SELECT * FROM s\nWHERE a = 1", False),
    ("SELECT 'unterminated;", False),
    ("SHOW STREAMS; SHOW TAB", False),
    ("SHOW STREAMS; -- trailing comment", True),
    ("exit", True),
    ("help", True),
    ("output JSON", True),
    ("/* open comment; ", True),
])
def test_is_complete(text, complete):
    assert st.is_complete(text) is complete


@pytest.mark.parametrize("text, kind", [
    ("select * from s;", st.QUERY),
    ("-- why\n  SELECT 1 FROM s;", st.QUERY),
    ("PRINT 'topic' FROM BEGINNING;", st.PRINT),
    ("SET 'auto.offset.reset'='earliest';", st.SET),
    ("unset 'a';", st.UNSET),
    ("DEFINE x = 'y';", st.DEFINE),
    ("UNDEFINE x;", st.UNDEFINE),
    ("SHOW VARIABLES;", st.SHOW_VARIABLES),
    ("list variables;", st.SHOW_VARIABLES),
    ("RUN SCRIPT '/tmp/x.sql';", st.RUN_SCRIPT),
    ("exit", st.COMMAND),
    ("QUIT;", st.COMMAND),
    ("SHOW STREAMS;", st.SERVER),
    ("CREATE STREAM s (a INT) WITH (kafka_topic='t', value_format='JSON');", st.SERVER),
    ("SHOW PROPERTIES;", st.SERVER),
])
def test_kind_of(text, kind):
    assert st.kind_of(text) == kind


def test_local_statements_parse():
    assert st.parse_set("SET 'auto.offset.reset' = 'earliest';") == ("auto.offset.reset", "earliest")
    assert st.parse_set("set /* c */ 'a'='it''s';") == ("a", "it's")
    assert st.parse_unset("UNSET 'a';") == "a"
    assert st.parse_define("DEFINE topic = 'orders';") == ("TOPIC", "orders")
    assert st.parse_define("DEFINE `lower` = '';") == ("lower", "")
    assert st.parse_undefine("undefine topic;") == "TOPIC"
    assert st.parse_run_script("RUN SCRIPT '/tmp/a b.sql';") == "/tmp/a b.sql"
    assert st.parse_command("output  json;") == ("output", ["json"])
    for bad in (lambda: st.parse_set("SET a = 'b';"), lambda: st.parse_unset("UNSET;"),
                lambda: st.parse_define("DEFINE x 'y';"), lambda: st.parse_run_script("RUN SCRIPT x;")):
        with pytest.raises(st.LocalSyntaxError):
            bad()


def test_substitute_and_statement_properties():
    assert st.substitute("RUN SCRIPT '${dir}/a.sql';", {"DIR": "/tmp"}) == "RUN SCRIPT '/tmp/a.sql';"
    assert st.substitute("'${missing}'", {}) == "'${missing}'"
    assert st.is_push_query("SELECT * FROM s EMIT CHANGES LIMIT 3;")
    assert st.is_push_query("select * from t emit final;")
    assert not st.is_push_query("SELECT 'EMIT CHANGES' FROM s; -- EMIT CHANGES")
    assert st.changes_names("  create stream x (a int) with (kafka_topic='x', value_format='json');")
    assert st.changes_names("DROP TABLE t;") and not st.changes_names("SHOW STREAMS;")
