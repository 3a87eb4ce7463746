"""Limits on what one statement may ask for: size, nesting, IN lists, topic partitions and replicas.

Each is refused with a KsqlError naming the limit and the server property that sets it; none ends
in a RecursionError, a SyntaxError from generated code or a MemoryError.
"""

from __future__ import annotations

import pytest

from ksql.engine.transient import TransientQueries
from ksql.errors import KsqlError
from ksql.parser.limits import MAX_DEPTH
from ksql.testing import TestDriver


@pytest.fixture
def driver():
    d = TestDriver()
    d.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    d.execute("CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS V FROM S GROUP BY ID;")
    d.pipe("s", 1, {"V": "a"})
    d.pipe("s", 2, {"V": "b"})
    yield d
    d.close()


def refusal(driver: TestDriver, sql: str) -> str:
    """The engine's refusal of a statement, a pull query or a push query (started as the server starts them)."""
    with pytest.raises(KsqlError) as err:
        if " EMIT " in sql:
            for stmt in driver.engine.prepare(sql):
                TransientQueries().start(driver.engine, stmt, {})
        elif sql.startswith("SELECT"):
            driver.engine.pull_query(sql)
        else:
            driver.execute(sql)
    return str(err.value)


def nested_parentheses(n: int) -> str:
    return "SELECT * FROM T WHERE " + "(" * n + "ID = 1" + ")" * n + ";"


def nested_case(n: int) -> str:
    """A CASE whose THEN holds a CASE ... n levels deep (real nesting, unlike a CASE's WHENs)."""
    return "SELECT ID, " + "CASE WHEN ID = 1 THEN " * n + "ID" + " END" * n + " AS X FROM T;"


HOSTILE = {
    "50,000 nested parentheses": (nested_parentheses(50_000),
                                  "Brackets nest more than 200 levels deep; the limit is 200 levels "
                                  "(ksql.statement.max.depth)."),
    "10 MB statement": ("SELECT * FROM T WHERE V = '" + "x" * 10_000_000 + "';",
                        " bytes long; the limit is 1048576 bytes (ksql.statement.max.bytes)."),
    "IN list of 100,000": ("SELECT * FROM T WHERE ID IN (" + ", ".join(map(str, range(100_000))) + ");",
                           "An IN list has 100000 values; the limit is 10000 values "
                           "(ksql.statement.max.in.list.size)."),
    "CASE nested 10,000 deep": (nested_case(10_000),
                                "Expressions nest more than 200 levels deep; the limit is 200 levels "
                                "(ksql.statement.max.depth)."),
    "10,000 ANDs": ("SELECT * FROM T WHERE " + " AND ".join(f"V <> '{i}'" for i in range(10_000)) + ";",
                    "or split chains of more than about 1,500 AND, OR or arithmetic terms."),
    "ARRAY type 210 deep": ("CREATE STREAM D (A " + "ARRAY<" * 210 + "INT" + ">" * 210 +
                            ") WITH (KAFKA_TOPIC='d', FORMAT='JSON', PARTITIONS=1);",
                            "Types nest more than 200 levels deep; the limit is 200 levels "
                            "(ksql.statement.max.depth)."),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_statements_are_refused_naming_the_limit(driver, name):
    sql, message = HOSTILE[name]
    assert refusal(driver, sql).endswith(message)
    if sql.startswith("SELECT") and len(sql) < 300_000:  # (a long one takes seconds to parse)
        assert refusal(driver, sql.replace("FROM T", "FROM S").replace(";", " EMIT CHANGES;")).endswith(message)


def test_the_bracket_refusal_names_where(driver):
    assert refusal(driver, "SELECT 1 AS X FROM T;\n" + nested_parentheses(201)).startswith("line 2:223: ")


def test_statements_within_the_limits_are_answered(driver):
    assert driver.engine.pull_query(nested_parentheses(200)).rows == [[1, "a"]]
    in_list = "SELECT ID FROM T WHERE ID IN (" + ", ".join(map(str, range(2, 10_002))) + ");"
    assert driver.engine.pull_query(in_list).rows == [[2]]
    assert driver.engine.pull_query("SELECT ID FROM T WHERE V IN (" + ", ".join(f"'{i}'" for i in range(9_999))
                                    + ", 'b');").rows == [[2]]


# expressions nesting exactly 200 levels (a CASE in a CASE's THEN takes one more level per CASE than the
# other shapes, `(a OR (b AND c))` two), compiling to Python nested far deeper than its parser allows
AT_THE_LIMIT = {
    "negations": ("SELECT ID, " + "-(" * 199 + "ID" + ")" * 199 + " AS X FROM T;", [[1, -1], [2, -2]]),
    "right-nested sums": ("SELECT ID, " + "1 + (" * 199 + "ID" + ")" * 199 + " AS X FROM T;",
                          [[1, 200], [2, 201]]),
    "function calls": ("SELECT ID, " + "ABS(" * 199 + "ID" + ")" * 199 + " AS X FROM T;", [[1, 1], [2, 2]]),
    "CASEs": (nested_case(198), [[1, 1], [2, None]]),
    "ORs of ANDs": ("SELECT ID, " + "(ID = 1 OR (" * 99 + "ID = 2" + ") AND ID > 0)" * 99 + " AS X FROM T;",
                    [[1, True], [2, True]]),
}


@pytest.mark.parametrize("name", AT_THE_LIMIT)
def test_nesting_at_the_limit_is_answered_and_one_more_level_is_refused(driver, name):
    sql, rows = AT_THE_LIMIT[name]
    assert driver.engine.pull_query(sql).rows == rows
    driver.execute("CREATE STREAM DEEP AS " + sql.replace("FROM T", "FROM S"))
    assert [record["value"] for record in driver.read_output("DEEP")] == [{"X": x} for _, x in rows]
    deeper = sql.replace("SELECT ID, ", "SELECT ID, -(", 1).replace(" AS X", ") AS X")
    assert refusal(driver, deeper).endswith("nest more than 200 levels deep; the limit is 200 levels "
                                            "(ksql.statement.max.depth).")
def test_long_chains_run_in_a_pull_query_and_a_persistent_query():
    """A CASE with 1,000 WHENs, 1,000 ORed conditions (sent to the materialization's store flat) and
    500-term integer and string `+` chains: ordinary dashboard SQL, with Java overflow and nulls."""
    d = TestDriver()
    d.execute("CREATE STREAM S (ID INT KEY, N INT, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    d.execute("CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(N) AS N, LATEST_BY_OFFSET(V) AS V FROM S GROUP BY ID;")
    d.pipe("s", 1, {"N": 2**31 - 1, "V": "ab"})
    d.pipe("s", 2, {"N": None, "V": None})
    d.pipe("s", 3, {"N": 7, "V": "c"})
    case = "CASE " + " ".join(f"WHEN N = {i} THEN {i * 10}" for i in range(1000)) + " ELSE -1 END AS C"
    total = " + ".join(["N"] * 500) + " AS P"
    text = " + ".join(["V"] * 500) + " AS X"
    ors = " OR ".join(f"ID = {i}" for i in range(1, 1000))
    sql = f"SELECT ID, {case}, {total}, {text} FROM T WHERE ({ors}) AND ID <> 3;"
    wrapped = (500 * (2**31 - 1) + 2**31) % 2**32 - 2**31
    expected = [[1, -1, wrapped, "ab" * 500], [2, -1, None, "null" * 500]]
    assert d.engine.pull_query(sql).rows == expected
    d.execute("CREATE STREAM O AS " + sql.replace("FROM T", "FROM S"))
    assert [list(record["value"].values()) for record in d.read_output("O")] == [row[1:] for row in expected]
    d.close()


def test_limits_are_server_properties():
    d = TestDriver({"ksql.statement.max.bytes": 100, "ksql.statement.max.depth": 3,
                    "ksql.statement.max.in.list.size": 2})
    d.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    assert refusal(d, "SELECT * FROM S WHERE ID IN (1, 2, 3) EMIT CHANGES;").endswith(
        "An IN list has 3 values; the limit is 2 values (ksql.statement.max.in.list.size).")
    assert refusal(d, "SELECT * FROM S WHERE ABS(ABS(ID)) = 1 EMIT CHANGES;").endswith(
        "Expressions nest more than 3 levels deep; the limit is 3 levels (ksql.statement.max.depth).")
    assert refusal(d, "SELECT * FROM S WHERE V = '" + "ü" * 40 + "' EMIT CHANGES;").endswith(
        "The statement is 121 bytes long; the limit is 100 bytes (ksql.statement.max.bytes).")
    [stmt] = d.engine.prepare("SELECT * FROM S WHERE ID IN (1, 2) AND V = 'x' EMIT CHANGES;")
    assert TransientQueries().start(d.engine, stmt, {}).schema == "`ID` INTEGER, `V` STRING"


@pytest.mark.parametrize("name", ["ksql.statement.max.bytes", "ksql.statement.max.depth",
                                  "ksql.statement.max.in.list.size", "ksql.topic.max.partitions",
                                  "ksql.topic.max.replicas"])
@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_limit_must_be_a_positive_integer(name, value):
    with pytest.raises(KsqlError, match=f"Invalid value for {name}: '{value}'. It must be a positive integer."):
        TestDriver({name: value})


def test_a_client_cannot_raise_a_limit_with_set(driver):
    driver.execute("SET 'ksql.statement.max.in.list.size'='1000000';")
    assert refusal(driver, "SELECT * FROM T WHERE ID IN (" + ", ".join(map(str, range(10_001))) + ");").endswith(
        "(ksql.statement.max.in.list.size).")


def test_expressions_the_compiler_cannot_nest_or_chain_are_refused_cleanly():
    d = TestDriver({"ksql.statement.max.depth": 100_000})
    d.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', FORMAT='JSON');")
    d.execute("CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS V FROM S GROUP BY ID;")
    for sql in ("SELECT ID, " + "-(" * 5000 + "ID" + ")" * 5000 + " AS X FROM T;",
                "SELECT ID, " + " + ".join(["ID"] * 5000) + " AS X FROM T;",
                "SELECT * FROM T WHERE " + " AND ".join(f"V <> '{i}'" for i in range(5000)) + ";"):
        for statement in (sql, sql.replace("FROM T", "FROM S").replace(";", " EMIT CHANGES;"),
                          f"CREATE STREAM X{len(sql)} AS " + sql.replace("FROM T", "FROM S")):
            message = refusal(d, statement)
            assert message.startswith("The statement is too deeply nested to compile") and MAX_DEPTH in message


@pytest.mark.parametrize(("clause", "message"), [
    ("PARTITIONS=1001", "Cannot create topic 'big' with 1001 partitions: the limit is 1000 "
                        "(ksql.topic.max.partitions). Give a smaller PARTITIONS in the WITH clause."),
    ("PARTITIONS=1, REPLICAS=101", "Cannot create topic 'big' with 101 replicas: the limit is 100 (ksql.topic.max.replicas). "
     "Give a smaller REPLICAS in the WITH clause."),
    ("PARTITIONS=0", "Invalid value for PARTITIONS: 0. It must be a positive integer."),
    ("PARTITIONS=-3", "Invalid value for PARTITIONS: -3. It must be a positive integer."),
    ("PARTITIONS=1, REPLICAS=0", "Invalid value for REPLICAS: 0. It must be a positive integer."),
    ("PARTITIONS=1, REPLICAS=-1", "Invalid value for REPLICAS: -1. It must be a positive integer."),
])
def test_partitions_and_replicas_are_bounded(driver, clause, message):
    assert refusal(driver, f"CREATE STREAM BIG (ID INT KEY) WITH (KAFKA_TOPIC='big', FORMAT='JSON', {clause});") \
        == message
    assert refusal(driver, f"CREATE STREAM BIG WITH (KAFKA_TOPIC='big', {clause}) AS SELECT * FROM S;") == message
    assert not driver.log.topic_exists("big")


def test_partition_limits_are_server_properties():
    d = TestDriver({"ksql.topic.max.partitions": 4, "ksql.topic.max.replicas": 2})
    d.execute("CREATE STREAM A (ID INT KEY) WITH (KAFKA_TOPIC='a', FORMAT='JSON', PARTITIONS=4, REPLICAS=2);")
    assert d.log.topic_config("a").partitions == 4
    assert refusal(d, "CREATE STREAM B (ID INT KEY) WITH (KAFKA_TOPIC='b', FORMAT='JSON', PARTITIONS=5);") \
        .startswith("Cannot create topic 'b' with 5 partitions: the limit is 4 (ksql.topic.max.partitions).")
