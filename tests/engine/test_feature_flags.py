"""ksqlDB's feature-flag properties (ksql.*.enabled and friends): each turns a statement or a behaviour on
or off, from the server's config, a SET or a request's properties."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ksql.engine.command_log import CommandLog
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, TopicConfig
from ksql.engine.transient import TransientQueries
from ksql.errors import KsqlError
from ksql.parser import split_statements
from ksql.testing import TestDriver

SOURCE = "CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');"


@pytest.fixture
def disabled(request: pytest.FixtureRequest) -> Iterator[TestDriver]:
    """A driver whose server config sets the parametrized property to false."""
    driver = TestDriver({request.param: "false"})
    yield driver
    driver.close()


# -- ksql.insert.into.values.enabled -----------------------------------------------------------------

INSERT_DISABLED = ("The server has disabled INSERT INTO ... VALUES functionality. To enable it, restart your "
                   "ksqlDB server with 'ksql.insert.into.values.enabled'=true")


@pytest.mark.parametrize("disabled", ["ksql.insert.into.values.enabled"], indirect=True)
def test_insert_values_refused_when_disabled_in_the_server_config(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    with pytest.raises(KsqlError) as err:
        disabled.execute("INSERT INTO S (ID, V) VALUES (1, 'a');")
    assert str(err.value) == INSERT_DISABLED
    assert disabled.read_output("s") == []


def test_insert_values_refused_when_disabled_per_request_or_by_set(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    with pytest.raises(KsqlError, match="has disabled INSERT INTO"):
        driver.engine.execute("INSERT INTO S (ID, V) VALUES (1, 'a');", {"ksql.insert.into.values.enabled": "false"})
    driver.execute("INSERT INTO S (ID, V) VALUES (2, 'b');")  # the request's override ended with it
    driver.execute("SET 'ksql.insert.into.values.enabled'='false';")
    with pytest.raises(KsqlError, match="has disabled INSERT INTO"):
        driver.execute("INSERT INTO S (ID, V) VALUES (3, 'c');")
    assert [r["key"] for r in driver.read_output("s")] == [2]


# -- ksql.create.or.replace.enabled ------------------------------------------------------------------

@pytest.mark.parametrize("disabled", ["ksql.create.or.replace.enabled"], indirect=True)
def test_create_or_replace_refused_when_disabled(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    disabled.execute("CREATE STREAM A AS SELECT * FROM S;")
    for sql in ("CREATE OR REPLACE STREAM A AS SELECT ID, V AS W FROM S;",
                "CREATE OR REPLACE STREAM B (ID INT KEY) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"):
        with pytest.raises(KsqlError) as err:
            disabled.execute(sql)
        assert str(err.value) == ("CREATE OR REPLACE is disabled on this server. To enable it, set "
                                  "'ksql.create.or.replace.enabled'=true")
    assert disabled.sources()[1]["schema"] == "`ID` INTEGER KEY, `V` STRING"
    assert [s["name"] for s in disabled.sources()] == ["S", "A"]


def test_create_or_replace_allowed_by_default_and_refused_per_request(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute("CREATE OR REPLACE STREAM A AS SELECT * FROM S;")
    with pytest.raises(KsqlError, match="CREATE OR REPLACE is disabled"):
        driver.engine.execute("CREATE OR REPLACE STREAM A AS SELECT ID, V AS W FROM S;",
                              {"ksql.create.or.replace.enabled": "false"})


# -- ksql.headers.columns.enabled -------------------------------------------------------------------

HEADER_SOURCES = [
    "CREATE STREAM H (ID INT KEY, HS ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS) "
    "WITH (KAFKA_TOPIC='h', PARTITIONS=1, VALUE_FORMAT='JSON');",
    "CREATE TABLE H (ID INT PRIMARY KEY, X BYTES HEADER('x')) WITH (KAFKA_TOPIC='h', PARTITIONS=1, "
    "VALUE_FORMAT='JSON');",
]


@pytest.mark.parametrize("disabled", ["ksql.headers.columns.enabled"], indirect=True)
@pytest.mark.parametrize("sql", HEADER_SOURCES)
def test_headers_columns_refused_when_disabled(disabled: TestDriver, sql: str) -> None:
    with pytest.raises(KsqlError) as err:
        disabled.execute(sql)
    kind = "stream" if "STREAM" in sql else "table"
    assert str(err.value) == (f"Cannot create {kind} 'H' with headers columns: they are disabled on this "
                              "server. To enable them, set 'ksql.headers.columns.enabled'=true")
    assert disabled.sources() == []


@pytest.mark.parametrize("disabled", ["ksql.headers.columns.enabled"], indirect=True)
def test_sources_without_headers_are_created_when_headers_are_disabled(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    assert [s["name"] for s in disabled.sources()] == ["S"]


def _run(engine: Engine, commands: CommandLog, script: str, properties: dict[str, str]) -> None:
    for piece in split_statements(script):
        for stmt in engine.prepare(piece):
            commands.execute(engine, stmt, properties)


def test_command_log_replays_statements_a_now_disabled_flag_would_refuse() -> None:
    log = MemoryLog()
    _run(Engine(log, EngineConfig()), CommandLog(log, "svc_"),
         HEADER_SOURCES[0] + SOURCE + "CREATE OR REPLACE STREAM A AS SELECT * FROM S;" + EMIT_FINAL, {})
    flags_off = {"ksql.headers.columns.enabled": "false", "ksql.create.or.replace.enabled": "false",
                 "ksql.suppress.enabled": "false"}
    restarted = Engine(log, EngineConfig(properties=flags_off))
    assert CommandLog(log, "svc_").replay(restarted) == (4, [])
    assert sorted(restarted.metastore.sources) == ["A", "H", "S", "T"]


# -- ksql.suppress.enabled ----------------------------------------------------------------------------

EMIT_FINAL = ("CREATE TABLE T AS SELECT ID, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 10 SECONDS) "
              "GROUP BY ID EMIT FINAL;")
SUPPRESS_DISABLED = "Suppression is currently disabled. You can enable it by setting ksql.suppress.enabled to true"


def test_emit_final_runs_by_default(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute(EMIT_FINAL)
    driver.pipe("s", 1, {"V": "a"}, timestamp=1000)
    driver.pipe("s", 1, {"V": "b"}, timestamp=2000)
    assert driver.read_output("T") == []  # the window is open
    driver.pipe("s", 2, {"V": "c"}, timestamp=10_000)  # stream time reaches the end
    assert [(r["key"], r["value"]) for r in driver.read_output("T")] == [(1, {"N": 2})]


@pytest.mark.parametrize("disabled", ["ksql.suppress.enabled"], indirect=True)
def test_emit_final_refused_when_suppression_is_disabled(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    with pytest.raises(KsqlError) as err:
        disabled.execute(EMIT_FINAL)
    assert str(err.value) == SUPPRESS_DISABLED
    disabled.execute(EMIT_FINAL.replace("EMIT FINAL", "EMIT CHANGES"))


def test_emit_final_refused_per_request_when_suppression_is_disabled(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    with pytest.raises(KsqlError, match="Suppression is currently disabled"):
        driver.engine.execute(EMIT_FINAL, {"ksql.suppress.enabled": "false"})


# -- ksql.cast.strings.preserve.nulls and ksql.nested.error.set.null -----------------------------------

NULLS = "CREATE STREAM S (ID INT KEY, V STRING, N INT) WITH (KAFKA_TOPIC='s', PARTITIONS=1, VALUE_FORMAT='JSON');"
CASTS = "CREATE STREAM O AS SELECT ID, CAST(N AS STRING) AS C, CAST(V AS STRING) AS SAME FROM S;"
NESTED = ("CREATE STREAM O AS SELECT ID, ARRAY[CAST(V AS INT), N] AS A, MAP('k' := CAST(V AS INT), 'n' := N) AS M, "
          "STRUCT(X := CAST(V AS INT), Y := N) AS ST, ARRAY[ABS(CAST(V AS INT)), 2] AS F FROM S;")


def _output(properties: dict[str, str], ddl: str, overrides: dict[str, str] | None = None) -> list[dict]:
    driver = TestDriver(properties)
    try:
        driver.execute(NULLS)
        driver.engine.execute(ddl, overrides)
        driver.pipe("s", 1, {"V": "x", "N": None})
        driver.pipe("s", 2, {"V": "5", "N": 7})
        return [r["value"] for r in driver.read_output("O")]
    finally:
        driver.close()


def test_cast_to_string_preserves_nulls_by_default() -> None:
    assert _output({}, CASTS) == [{"C": None, "SAME": "x"}, {"C": "7", "SAME": "5"}]


@pytest.mark.parametrize("server, request_", [({"ksql.cast.strings.preserve.nulls": "false"}, None),
                                              ({}, {"ksql.cast.strings.preserve.nulls": "false"})])
def test_cast_to_string_of_null_is_the_string_null_when_nulls_are_not_preserved(server, request_) -> None:
    assert _output(server, CASTS, request_) == [{"C": "null", "SAME": "x"}, {"C": "7", "SAME": "5"}]


def test_an_error_in_a_nested_element_nulls_only_that_element_by_default(caplog) -> None:
    first, second = _output({}, NESTED)
    assert first == {"A": [None, None], "M": {"k": None, "n": None}, "ST": {"X": None, "Y": None}, "F": [None, 2]}
    assert second == {"A": [5, 7], "M": {"k": 5, "n": 7}, "ST": {"X": 5, "Y": 7}, "F": [5, 2]}
    assert "Error processing array item" in caplog.text and "Error processing struct field" in caplog.text


@pytest.mark.parametrize("server, request_", [({"ksql.nested.error.set.null": "false"}, None),
                                              ({}, {"ksql.nested.error.set.null": "false"})])
def test_an_error_in_a_nested_element_nulls_the_whole_value_when_disabled(server, request_, caplog) -> None:
    first, second = _output(server, NESTED, request_)
    assert first == {"A": None, "M": None, "ST": None, "F": None}
    assert second == {"A": [5, 7], "M": {"k": 5, "n": 7}, "ST": {"X": 5, "Y": 7}, "F": [5, 2]}
    assert "Error computing expression ARRAY[CAST(V AS INTEGER), N]" in caplog.text


# -- ksql.rowpartition.rowoffset.enabled ---------------------------------------------------------------

ROW_POSITION = "CREATE STREAM O AS SELECT ID, ROWPARTITION AS P, ROWOFFSET AS O FROM S;"


def test_rowpartition_and_rowoffset_are_pseudo_columns_by_default(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute(ROW_POSITION)
    driver.pipe("s", 1, {"V": "a"})
    assert [r["value"] for r in driver.read_output("O")] == [{"P": 0, "O": 0}]
    with pytest.raises(KsqlError, match="'ROWPARTITION' is a reserved column name"):
        driver.execute("CREATE STREAM P (ID INT KEY, ROWPARTITION INT) WITH (KAFKA_TOPIC='p', PARTITIONS=1, "
                       "VALUE_FORMAT='JSON');")


@pytest.mark.parametrize("disabled", ["ksql.rowpartition.rowoffset.enabled"], indirect=True)
def test_rowpartition_and_rowoffset_are_unknown_columns_when_disabled(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    with pytest.raises(KsqlError) as err:
        disabled.execute(ROW_POSITION)
    assert str(err.value) == "SELECT column 'ROWPARTITION' cannot be resolved."
    with pytest.raises(KsqlError, match="'ROWOFFSET' cannot be resolved"):
        disabled.execute("CREATE STREAM O AS SELECT * FROM S WHERE ROWOFFSET > 0;")


def test_rowpartition_refused_per_request_when_disabled(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    with pytest.raises(KsqlError, match="'ROWPARTITION' cannot be resolved"):
        driver.engine.execute(ROW_POSITION, {"ksql.rowpartition.rowoffset.enabled": "false"})


@pytest.mark.parametrize("disabled", ["ksql.rowpartition.rowoffset.enabled"], indirect=True)
def test_columns_may_be_named_rowpartition_and_rowoffset_when_disabled(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    disabled.execute("CREATE STREAM P (ID INT KEY, ROWPARTITION INT, ROWOFFSET STRING) WITH (KAFKA_TOPIC='p', "
                     "PARTITIONS=1, VALUE_FORMAT='JSON');")
    disabled.execute("CREATE STREAM COPY AS SELECT ID, ROWPARTITION, ROWOFFSET FROM P;")
    disabled.execute("CREATE TABLE BY_OFFSET AS SELECT ROWOFFSET, COUNT(*) AS N FROM P GROUP BY ROWOFFSET;")
    disabled.execute("CREATE STREAM ALIASED AS SELECT ID, V AS ROWOFFSET FROM S;")
    disabled.pipe("p", 2, {"ROWPARTITION": 9, "ROWOFFSET": "z"})
    disabled.pipe("s", 1, {"V": "a"})
    assert [r["value"] for r in disabled.read_output("COPY")] == [{"ROWPARTITION": 9, "ROWOFFSET": "z"}]
    assert [(r["key"], r["value"]) for r in disabled.read_output("BY_OFFSET")] == [("z", {"N": 1})]
    assert [r["value"] for r in disabled.read_output("ALIASED")] == [{"ROWOFFSET": "a"}]
    assert disabled.engine.pull_query("SELECT * FROM BY_OFFSET WHERE ROWOFFSET = 'z';").rows == [["z", 1]]


# -- ksql.suppress.buffer.size.bytes ---------------------------------------------------------------------

def _pipe_open_windows(driver: TestDriver, keys: int) -> None:
    for key in range(keys):
        driver.pipe("s", key, {"V": "a"}, timestamp=1000)  # every window stays open


def test_suppress_buffer_is_unbounded_by_default(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute(EMIT_FINAL)
    _pipe_open_windows(driver, 50)
    driver.pipe("s", 0, {"V": "b"}, timestamp=10_000)
    assert len(driver.read_output("T")) == 50


def test_suppress_buffer_beyond_its_size_fails_the_query() -> None:
    driver = TestDriver({"ksql.suppress.buffer.size.bytes": "200"})
    try:
        driver.execute(SOURCE)
        driver.execute(EMIT_FINAL)
        _pipe_open_windows(driver, 3)  # within the buffer
        with pytest.raises(KsqlError) as err:
            _pipe_open_windows(driver, 20)
        assert str(err.value).startswith("Suppress buffer exceeded its max capacity. Currently [")
        assert "/200] bytes." in str(err.value)
        assert driver.read_output("T") == []
    finally:
        driver.close()


def test_suppress_buffer_size_must_be_a_number(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    with pytest.raises(KsqlError) as err:
        driver.engine.execute(EMIT_FINAL, {"ksql.suppress.buffer.size.bytes": "lots"})
    assert str(err.value) == ("Invalid value lots for configuration ksql.suppress.buffer.size.bytes: Not a number "
                              "of type LONG")


# -- pull queries: ksql.pull.queries.enable, ksql.query.pull.stream.enabled -----------------------------

PULL_DISABLED = ("Pull queries are disabled. See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you "
                 "intended to issue a push query.\nPlease set ksql.pull.queries.enable=true to enable this feature.\n")
STREAM_PULL_DISABLED = ("Pull queries on streams are disabled. To create a push query on the stream, add EMIT "
                        "CHANGES to the end. To enable pull queries on streams, set the "
                        "ksql.query.pull.stream.enabled config to 'true'.")


@pytest.mark.parametrize("disabled", ["ksql.pull.queries.enable"], indirect=True)
def test_pull_queries_refused_when_the_server_disables_them(disabled: TestDriver) -> None:
    disabled.execute(SOURCE)
    with pytest.raises(KsqlError) as err:
        disabled.engine.pull_query("SELECT * FROM S;")
    assert str(err.value) == PULL_DISABLED
    with pytest.raises(KsqlError, match="Pull queries are disabled"):  # the server's setting: no override
        disabled.engine.pull_query("SELECT * FROM S;", {"ksql.pull.queries.enable": "true"})


def test_pull_queries_on_streams_refused_when_disabled(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute("INSERT INTO S (ID, V) VALUES (1, 'a');")
    assert driver.engine.pull_query("SELECT * FROM S;").rows == [[1, "a"]]
    with pytest.raises(KsqlError) as err:
        driver.engine.pull_query("SELECT * FROM S;", {"ksql.query.pull.stream.enabled": "false"})
    assert str(err.value) == STREAM_PULL_DISABLED


# -- ksql.assert.topic.default.timeout.ms, ksql.transient.prefix ---------------------------------------

def test_assert_topic_waits_the_default_timeout_for_a_topic_created_meanwhile() -> None:
    driver = TestDriver({"ksql.assert.topic.default.timeout.ms": "30000"})
    try:
        timer = threading.Timer(0.2, driver.engine.log.create_topic, ("late", TopicConfig(partitions=1)))
        timer.start()
        [result] = driver.engine.execute("ASSERT TOPIC late;")
        assert result.entity["exists"] is True
    finally:
        driver.close()


def test_assert_topic_default_timeout_must_be_a_number(driver: TestDriver) -> None:
    with pytest.raises(KsqlError, match="Invalid value x for configuration ksql.assert.topic.default.timeout.ms"):
        driver.engine.execute("ASSERT TOPIC nope;", {"ksql.assert.topic.default.timeout.ms": "x"})


def test_transient_query_ids_take_the_transient_prefix(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    [stmt] = driver.engine.prepare("SELECT * FROM S EMIT CHANGES;")
    pushes = TransientQueries()
    try:
        query = pushes.start(driver.engine, stmt, {"ksql.transient.prefix": "adhoc_"})
        assert query.query_id.startswith("adhoc_S_")
    finally:
        pushes.close(query.query_id)


# -- ksql.hidden.topics ------------------------------------------------------------------------------

def _topics(driver: TestDriver, sql: str, properties: dict[str, str] | None = None) -> list[str]:
    [result] = driver.engine.execute(sql, properties)
    return [t["name"] for t in result.entity["topics"]]


def test_show_topics_hides_the_hidden_topics(driver: TestDriver) -> None:
    for name in ("_confluent-ksql-x", "_schemas", "connect-offsets", "_mine", "orders"):
        driver.engine.log.create_topic(name, TopicConfig(partitions=1))
    assert _topics(driver, "SHOW TOPICS;") == ["_mine", "orders"]
    assert {"_confluent-ksql-x", "_schemas", "connect-offsets"} <= set(_topics(driver, "SHOW ALL TOPICS;"))
    driver.execute("SET 'ksql.hidden.topics'='_.*,ord.*';")
    assert "connect-offsets" in _topics(driver, "SHOW TOPICS;")
    assert not {"_mine", "orders"} & set(_topics(driver, "SHOW TOPICS;"))


# -- ksql.source.table.materialization.enabled ---------------------------------------------------------

SOURCE_TABLE = ("CREATE SOURCE TABLE U (ID INT PRIMARY KEY, NAME STRING) WITH (KAFKA_TOPIC='u', PARTITIONS=1, "
                "VALUE_FORMAT='JSON');")


def test_source_tables_answer_pull_queries_by_default(driver: TestDriver) -> None:
    driver.execute(SOURCE_TABLE)
    driver.pipe("u", 1, {"NAME": "ann"})
    assert driver.engine.pull_query("SELECT * FROM U WHERE ID = 1;").rows == [[1, "ann"]]


def test_source_tables_made_without_materialization_refuse_pull_queries(driver: TestDriver) -> None:
    driver.engine.execute(SOURCE_TABLE, {"ksql.source.table.materialization.enabled": "false"})
    with pytest.raises(KsqlError) as err:
        driver.engine.pull_query("SELECT * FROM U WHERE ID = 1;")
    assert str(err.value).startswith("The `U` table isn't queryable. To derive a queryable table, you can do "
                                     "'CREATE TABLE QUERYABLE_U AS SELECT * FROM U'.")


# -- ksql.lambdas.enabled -------------------------------------------------------------------------------

LAMBDA = "CREATE STREAM L AS SELECT ID, TRANSFORM(ARRAY[1, 2], x => x + 1) AS XS FROM S;"


def test_lambdas_are_accepted_by_default(driver: TestDriver) -> None:
    driver.execute(SOURCE)
    driver.execute(LAMBDA)
    driver.pipe("s", 1, {"V": "a"})
    assert [r["value"] for r in driver.read_output("L")] == [{"XS": [2, 3]}]


def test_lambdas_refused_when_disabled_but_replayed_from_the_command_log() -> None:
    log = MemoryLog()
    engine = Engine(log, EngineConfig(properties={"ksql.lambdas.enabled": "false"}))
    commands = CommandLog(log, "svc_")
    _run(engine, commands, SOURCE, {})
    with pytest.raises(KsqlError) as err:
        _run(engine, commands, LAMBDA, {})
    assert str(err.value) == ("Lambda X => (X + 1) refused: lambdas are disabled on this server. To enable "
                              "them, set 'ksql.lambdas.enabled'=true")
    _run(engine, commands, LAMBDA, {"ksql.lambdas.enabled": "true"})  # allowed per request
    restarted = Engine(log, EngineConfig(properties={"ksql.lambdas.enabled": "false"}))
    assert CommandLog(log, "svc_").replay(restarted) == (2, [])
    assert "L" in restarted.metastore.sources
