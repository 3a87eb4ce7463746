"""One or more representative statements per statement kind."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksql import types as T
from ksql.errors import ParseError
from ksql.parser import ast as A
from ksql.parser import parse, parse_statement


def test_create_stream_with_elements_and_properties():
    s = parse_statement(
        "CREATE STREAM pageviews (viewtime BIGINT, `userId` VARCHAR KEY, page STRING, "
        "h BYTES HEADER('h1'), hs ARRAY<STRUCT<key STRING, value BYTES>> HEADERS) "
        "WITH (kafka_topic='pv', value_format='JSON', partitions=2, replicas=1.5, wrap_single_value=false);"
    )
    assert isinstance(s, A.CreateSource)
    assert s.kind == "STREAM" and s.name == "PAGEVIEWS"
    assert not (s.or_replace or s.if_not_exists or s.is_source)
    assert s.elements[0] == A.TableElement("VIEWTIME", T.BIGINT)
    assert s.elements[1] == A.TableElement("userId", T.STRING, "KEY")
    assert s.elements[3] == A.TableElement("H", T.BYTES, "HEADER", "h1")
    assert s.elements[4].constraint == "HEADERS"
    assert s.elements[4].type == T.ArrayType(
        T.StructType((T.StructField("KEY", T.STRING), T.StructField("VALUE", T.BYTES))))
    assert s.properties == {"KAFKA_TOPIC": "pv", "VALUE_FORMAT": "JSON", "PARTITIONS": 2,
                            "REPLICAS": Decimal("1.5"), "WRAP_SINGLE_VALUE": False}
    assert s.text.startswith("CREATE STREAM pageviews") and s.text.endswith("wrap_single_value=false)")


def test_create_table_flags():
    s = parse_statement("create or replace source table if not exists t (id int primary key) with (kafka_topic='t')")
    assert isinstance(s, A.CreateSource)
    assert (s.kind, s.or_replace, s.is_source, s.if_not_exists) == ("TABLE", True, True, True)
    assert s.elements == (A.TableElement("ID", T.INTEGER, "PRIMARY KEY"),)


def test_create_without_elements():
    s = parse_statement("CREATE TABLE t WITH (kafka_topic='t', format='AVRO')")
    assert isinstance(s, A.CreateSource) and s.elements == ()


def test_key_constraint_checked_against_kind():
    with pytest.raises(ParseError) as e:
        parse_statement("CREATE TABLE INPUT (ID INT KEY, NAME STRING) WITH (kafka_topic='input');")
    assert "Line: 1, Col: 21: Column `ID` is a 'KEY' column: please use 'PRIMARY KEY' for tables." in str(e.value)
    assert (e.value.line, e.value.column) == (1, 21)
    with pytest.raises(ParseError, match="please use 'KEY' for streams"):
        parse_statement("CREATE STREAM INPUT (ID INT PRIMARY KEY) WITH (kafka_topic='input');")


def test_create_as_select():
    s = parse_statement(
        "CREATE OR REPLACE TABLE IF NOT EXISTS agg WITH (kafka_topic='out') AS "
        "SELECT id, COUNT(*) AS cnt FROM src WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECOND, "
        "RETENTION 1 DAY, GRACE PERIOD 0 MILLISECONDS) WHERE x > 0 GROUP BY id HAVING COUNT(*) > 1 EMIT CHANGES;"
    )
    assert isinstance(s, A.CreateAsSelect)
    assert (s.kind, s.name, s.or_replace, s.if_not_exists) == ("TABLE", "AGG", True, True)
    assert s.properties == {"KAFKA_TOPIC": "out"}
    q = s.query
    assert q.select == (A.SelectItem(A.ColumnRef("ID")),
                        A.SelectItem(A.FunctionCall("COUNT", star=True), "CNT"))
    assert q.window == A.WindowSpec("HOPPING", A.Duration(30, "SECONDS"), advance=A.Duration(10, "SECONDS"),
                                    retention=A.Duration(1, "DAYS"), grace=A.Duration(0, "MILLISECONDS"))
    assert q.window.size.millis == 30_000
    assert q.group_by == (A.ColumnRef("ID"),)
    assert q.emit == "CHANGES"


def test_create_stream_as_select_partition_by():
    s = parse_statement("CREATE STREAM s2 AS SELECT * FROM s1 PARTITION BY a, b->c EMIT CHANGES")
    assert s.query.partition_by == (A.ColumnRef("A"), A.Dereference(A.ColumnRef("B"), "C"))
    assert s.query.select == (A.AllColumns(),)


def test_group_by_parenthesised_list():
    q = parse_statement("SELECT a, b, COUNT(*) FROM s GROUP BY (a, b) EMIT CHANGES;").query
    assert q.group_by == (A.ColumnRef("A"), A.ColumnRef("B"))
    q = parse_statement("SELECT COUNT(*) FROM s GROUP BY (a) EMIT CHANGES;").query
    assert q.group_by == (A.ColumnRef("A"),)
    q = parse_statement("SELECT COUNT(*) FROM s GROUP BY (a + 1) * 2;").query
    assert q.group_by == (A.Arithmetic("*", A.Arithmetic("+", A.ColumnRef("A"), A.IntegerLiteral(1)),
                                       A.IntegerLiteral(2)),)


def test_partition_by_is_a_value_expression():
    with pytest.raises(ParseError):
        parse_statement("CREATE STREAM OUTPUT AS select * from INPUT partition by NAME AND AGE;")


def test_windows():
    q = parse_statement("SELECT k, COUNT(*) FROM s WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 5 SECONDS) "
                        "GROUP BY k EMIT FINAL;").query
    assert q.window == A.WindowSpec("TUMBLING", A.Duration(1, "MINUTES"), grace=A.Duration(5, "SECONDS"))
    assert q.emit == "FINAL"
    q = parse_statement("SELECT k, COUNT(*) FROM s WINDOW SESSION (30 MINUTES, RETENTION 2 HOURS) GROUP BY k;").query
    assert q.window == A.WindowSpec("SESSION", A.Duration(30, "MINUTES"), retention=A.Duration(2, "HOURS"))
    assert q.emit is None


def test_joins_nest_on_the_left():
    q = parse_statement(
        "SELECT * FROM a AS x JOIN b y WITHIN 10 SECONDS ON x.id = y.id "
        "LEFT OUTER JOIN c WITHIN (1 HOUR, 2 HOURS) GRACE PERIOD 5 MINUTES ON x.id = c.id "
        "FULL JOIN d ON d.id = x.id RIGHT JOIN e ON e.id = x.id INNER JOIN f ON f.id = x.id EMIT CHANGES"
    ).query
    j = q.from_
    assert isinstance(j, A.Join) and j.kind == "INNER" and j.right == A.Table("F")
    j = j.left
    assert j.kind == "RIGHT"
    j = j.left
    assert j.kind == "FULL"
    j = j.left
    assert j.kind == "LEFT"
    assert j.within == A.Within(A.Duration(1, "HOURS"), A.Duration(2, "HOURS"), A.Duration(5, "MINUTES"))
    j = j.left
    assert j.kind == "INNER" and j.left == A.Table("A", "X") and j.right == A.Table("B", "Y")
    assert j.within == A.Within(A.Duration(10, "SECONDS"), A.Duration(10, "SECONDS"))
    assert j.on == A.Comparison("=", A.ColumnRef("ID", "X"), A.ColumnRef("ID", "Y"))


def test_select_all_forms_and_struct_all():
    q = parse_statement("SELECT s.*, *, v->*, a->b->* FROM s;").query
    assert q.select == (A.AllColumns("S"), A.AllColumns(),
                        A.StructAll(A.ColumnRef("V")), A.StructAll(A.Dereference(A.ColumnRef("A"), "B")))


def test_pull_query_limit():
    s = parse_statement("SELECT * FROM t WHERE id = 1 LIMIT 10;")
    assert isinstance(s, A.SelectStatement)
    assert s.query.limit == 10 and s.query.emit is None
    assert s.text == "SELECT * FROM t WHERE id = 1 LIMIT 10"


def test_insert_into_select():
    s = parse_statement("INSERT INTO out WITH (QUERY_ID='my_query') SELECT * FROM s;")
    assert isinstance(s, A.InsertInto)
    assert s.target == "OUT" and s.properties == {"QUERY_ID": "my_query"}


def test_insert_values():
    s = parse_statement("INSERT INTO test (ROWTIME, K, `id`) VALUES (1234, 'key', -10);")
    assert isinstance(s, A.InsertValues)
    assert s.columns == ("ROWTIME", "K", "id")
    assert s.values == (A.IntegerLiteral(1234), A.StringLiteral("key"), A.IntegerLiteral(-10))
    s = parse_statement("INSERT INTO test VALUES ('key', ARRAY[1, 2], STRUCT(a := 1));")
    assert s.columns is None and len(s.values) == 3
    s = parse_statement("INSERT INTO test VALUES ();")
    assert s.values == ()


def test_drop_statements():
    s = parse_statement("DROP STREAM IF EXISTS s DELETE TOPIC;")
    assert s == A.DropSource("STREAM", "S", if_exists=True, delete_topic=True, text=s.text)
    s = parse_statement("DROP TABLE t")
    assert s == A.DropSource("TABLE", "T", text="DROP TABLE t")
    assert parse_statement("DROP TYPE IF EXISTS address") == A.DropType(
        "ADDRESS", True, text="DROP TYPE IF EXISTS address")
    assert parse_statement("DROP CONNECTOR IF EXISTS `c`") == A.DropConnector(
        "c", True, text="DROP CONNECTOR IF EXISTS `c`")


def test_types_statements():
    s = parse_statement("CREATE TYPE IF NOT EXISTS address AS STRUCT<number INTEGER, street VARCHAR, city STRING>;")
    assert isinstance(s, A.CreateType) and s.if_not_exists and s.name == "ADDRESS"
    assert s.type == T.StructType((T.StructField("NUMBER", T.INTEGER), T.StructField("STREET", T.STRING),
                                   T.StructField("CITY", T.STRING)))
    s = parse_statement("CREATE STREAM s (a address, b ARRAY<address>) WITH (kafka_topic='t');")
    assert s.elements[0].type == T.TypeRef("ADDRESS")
    assert s.elements[1].type == T.ArrayType(T.TypeRef("ADDRESS"))


def test_alter():
    s = parse_statement("ALTER STREAM s ADD COLUMN c INT, ADD d STRUCT<x STRING>;")
    assert s == A.AlterSource("STREAM", "S", (A.TableElement("C", T.INTEGER),
                                              A.TableElement("D", T.StructType((T.StructField("X", T.STRING),)))),
                              text=s.text)


@pytest.mark.parametrize("sql, expected", [
    ("TERMINATE CSAS_OUT_0", A.Terminate("CSAS_OUT_0")),
    ("TERMINATE ALL", A.Terminate(None)),
    ("PAUSE q1", A.PauseResume("PAUSE", "Q1")),
    ("RESUME ALL", A.PauseResume("RESUME", None)),
    ("SHOW STREAMS", A.Show("STREAMS")),
    ("LIST TABLES EXTENDED", A.Show("TABLES", extended=True)),
    ("SHOW TOPICS", A.Show("TOPICS")),
    ("SHOW ALL TOPICS EXTENDED", A.Show("TOPICS", extended=True, all_topics=True)),
    ("SHOW QUERIES EXTENDED", A.Show("QUERIES", extended=True)),
    ("SHOW PROPERTIES", A.Show("PROPERTIES")),
    ("SHOW FUNCTIONS", A.Show("FUNCTIONS")),
    ("SHOW TYPES", A.Show("TYPES")),
    ("SHOW VARIABLES", A.Show("VARIABLES")),
    ("SHOW CONNECTORS", A.Show("CONNECTORS")),
    ("SHOW SOURCE CONNECTORS", A.Show("CONNECTORS", connector_kind="SOURCE")),
    ("LIST SINK CONNECTORS", A.Show("CONNECTORS", connector_kind="SINK")),
    ("DESCRIBE s", A.Describe("S")),
    ("DESCRIBE EXTENDED s", A.Describe("S", extended=True)),
    ("DESCRIBE s EXTENDED", A.Describe("S", extended=True)),
    ("DESCRIBE STREAMS", A.Describe(None, what="STREAMS")),
    ("DESCRIBE TABLES EXTENDED", A.Describe(None, extended=True, what="TABLES")),
    ("DESCRIBE FUNCTION concat", A.DescribeFunction("CONCAT")),
    ("DESCRIBE CONNECTOR `my-conn`", A.DescribeConnector("my-conn")),
    ("EXPLAIN CTAS_T_1", A.Explain(query_id="CTAS_T_1")),
    ("SET 'auto.offset.reset' = 'earliest'", A.SetProperty("auto.offset.reset", "earliest")),
    ("UNSET 'auto.offset.reset'", A.UnsetProperty("auto.offset.reset")),
    ("DEFINE format = 'JSON'", A.DefineVariable("FORMAT", "JSON")),
    ("UNDEFINE format", A.UndefineVariable("FORMAT")),
    ("RUN SCRIPT '/tmp/x.sql'", A.RunScript("/tmp/x.sql")),
    ("PRINT 'my-topic' FROM BEGINNING INTERVAL 2 LIMIT 5",
     A.Print("my-topic", from_beginning=True, interval=2, limit=5)),
    ("PRINT MyTopic SAMPLE 3", A.Print("MyTopic", interval=3)),
    ("ASSERT TOPIC foo WITH (partitions=1) TIMEOUT 3 SECONDS",
     A.AssertTopic("foo", properties={"PARTITIONS": 1}, timeout=A.Duration(3, "SECONDS"))),
    ("ASSERT NOT EXISTS TOPIC 'bar'", A.AssertTopic("bar", exists=False)),
    ("ASSERT SCHEMA SUBJECT 'x-value' ID 4 TIMEOUT 1 MINUTE",
     A.AssertSchema(subject="x-value", schema_id=4, timeout=A.Duration(1, "MINUTES"))),
    ("ASSERT NOT EXISTS SCHEMA ID 5", A.AssertSchema(schema_id=5, exists=False)),
    ("CREATE SOURCE CONNECTOR IF NOT EXISTS c WITH ('connector.class'='x', \"tasks.max\"=1)",
     A.CreateConnector("C", "SOURCE", {"connector.class": "x", "tasks.max": 1}, if_not_exists=True)),
    ("CREATE SINK CONNECTOR c WITH (a='b')", A.CreateConnector("C", "SINK", {"A": "b"})),
])
def test_other_statements(sql, expected):
    s = parse_statement(sql + ";")
    assert s == type(expected)(**{**expected.__dict__, "text": sql})


def test_explain_statement_wraps_inner_statement_with_its_text():
    s = parse_statement("EXPLAIN /* c */ SELECT * FROM s EMIT CHANGES;")
    assert isinstance(s, A.Explain) and s.query_id is None
    assert isinstance(s.statement, A.SelectStatement)
    assert s.statement.text == "SELECT * FROM s EMIT CHANGES"
    assert s.text == "EXPLAIN /* c */ SELECT * FROM s EMIT CHANGES"


def test_parse_script_and_texts():
    script = """
    -- a comment; with a semicolon
    CREATE STREAM s (id INT KEY) WITH (kafka_topic='a;b', value_format='JSON');
    /* block; comment */ INSERT INTO s (id) VALUES (1); ;
    SELECT * FROM s EMIT CHANGES -- trailing
    """
    stmts = parse(script)
    assert [type(s) for s in stmts] == [A.CreateSource, A.InsertValues, A.SelectStatement]
    assert stmts[0].text == "CREATE STREAM s (id INT KEY) WITH (kafka_topic='a;b', value_format='JSON')"
    assert stmts[1].text == "INSERT INTO s (id) VALUES (1)"
    assert stmts[2].text == "SELECT * FROM s EMIT CHANGES"
    assert parse("") == [] and parse(" -- nothing\n ;; ") == []


def test_parse_statement_refuses_two_statements():
    with pytest.raises(ParseError) as e:
        parse_statement("SHOW STREAMS; SHOW TABLES;")
    assert e.value.line == 1 and e.value.column == 15


def test_keywords_usable_as_names():
    s = parse_statement(
        "CREATE STREAM source (key STRING KEY, value INT, timestamp BIGINT, date DATE, time TIME, "
        "size INT, topic STRING, type STRING, `SELECT` INT, second INT) WITH (kafka_topic='t');")
    assert [e.name for e in s.elements] == ["KEY", "VALUE", "TIMESTAMP", "DATE", "TIME", "SIZE", "TOPIC",
                                           "TYPE", "SELECT", "SECOND"]
    q = parse_statement("SELECT first, second, key AS map, 1 AS 1R FROM source s;").query
    assert q.select[1] == A.SelectItem(A.ColumnRef("SECOND"))
    assert q.select[2].alias == "MAP" and q.select[3].alias == "1R"
    assert q.from_ == A.Table("SOURCE", "S")


@pytest.mark.parametrize(("sql", "message"), [
    ("INSERT INTO T (K, ID) VALUES ('10');", "Expected number columns and values to match: 2, 1"),
    ("INSERT INTO T (K, ID) VALUES (FOO.bar, '10');", "'FOO' is not a valid stream/table name or alias."),
    ("INSERT INTO T (K, ID) VALUES (1, ARRAY[T.X]);", "'T' is not a valid stream/table name or alias."),
    ("INSERT INTO T (ID, ROWPARTITION) VALUES (1, 5);", "Inserting into column `ROWPARTITION` is not allowed."),
    ("INSERT INTO T (ID, ROWOFFSET) VALUES (1, 5);", "Inserting into column `ROWOFFSET` is not allowed."),
])
def test_insert_values_refused_while_preparing(sql, message):
    with pytest.raises(ParseError) as e:
        parse_statement(sql)
    assert str(e.value) == f"Failed to prepare statement: {message}"
