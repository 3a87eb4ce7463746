"""How the CLI lays out what the server answers (no server involved)."""

from __future__ import annotations

from decimal import Decimal

from cli.client import JsonArrayReader
from cli.render import entity_lines, to_json
from cli.session import error_report
from cli.statements import Statement
from cli.tables import Grid, entity_table, json_text, schema_columns, type_text, value_text


def test_entity_table_layout():
    assert entity_table(["Name", "Topic"], [["S", "a_topic"], ["LONGER_NAME", "t"]]) == [
        " Name        | Topic   ",
        "-----------------------",
        " S           | a_topic ",
        " LONGER_NAME | t       ",
        "-----------------------",
    ]


def test_status_and_sources():
    status = {"@type": "currentStatus", "commandStatus": {"status": "SUCCESS", "message": "Stream created"}}
    assert entity_lines(status) == [" Message        ", "----------------", " Stream created ", "----------------"]
    streams = {"@type": "streams", "streams": [
        {"name": "S", "topic": "s", "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": False}]}
    lines = entity_lines(streams)
    assert lines[0].split("|")[0].strip() == "Stream Name"
    assert [c.strip() for c in lines[2].split("|")] == ["S", "s", "KAFKA", "JSON", "false"]


def test_describe_types_and_keys():
    d = {"@type": "sourceDescription", "sourceDescription": {
        "name": "T", "type": "TABLE", "extended": False, "windowType": None, "fields": [
            {"name": "K", "schema": {"type": "STRING"}, "type": "KEY"},
            {"name": "S", "schema": {"type": "STRUCT", "fields": [
                {"name": "A", "schema": {"type": "ARRAY", "memberSchema": {"type": "INTEGER"}}},
                {"name": "M", "schema": {"type": "MAP", "memberSchema": {"type": "DOUBLE"}}}]}},
            {"name": "D", "schema": {"type": "DECIMAL", "parameters": {"precision": 4, "scale": 2}}},
            {"name": "H", "schema": {"type": "BYTES"}, "type": "HEADER", "headerKey": "k"}]}}
    text = "\n".join(entity_lines(d))
    assert "Name                 : T" in text
    assert "VARCHAR(STRING)  (primary key)" in text
    assert "STRUCT<A ARRAY<INTEGER>, M MAP<STRING, DOUBLE>>" in text
    assert "DECIMAL(4, 2)" in text and "BYTES            (header('k'))" in text
    assert "DESCRIBE <Stream,Table> EXTENDED" in text


def test_describe_extended_and_explain():
    d = {"@type": "sourceDescription", "sourceDescription": {
        "name": "S", "type": "STREAM", "extended": True, "timestamp": "", "keyFormat": "KAFKA",
        "valueFormat": "JSON", "topic": "s", "partitions": 2, "replication": 1, "statement": "CREATE STREAM S ...",
        "fields": [], "readQueries": [{"id": "CSAS_X_1", "state": "RUNNING", "queryString": "CREATE STREAM X ..."}]}}
    text = "\n".join(entity_lines(d))
    assert "Timestamp field      : Not set - using <ROWTIME>" in text
    assert "Kafka topic          : s (partitions: 2, replication: 1)" in text
    assert "Queries that read from this STREAM" in text and "CSAS_X_1 (RUNNING) : CREATE STREAM X ..." in text
    q = {"@type": "queryDescription", "queryDescription": {
        "id": "CSAS_X_1", "statementText": "CREATE STREAM X ...", "fields": [], "sources": ["S"], "sinks": ["X"],
        "queryType": "PERSISTENT", "state": "RUNNING", "overriddenProperties": {"auto.offset.reset": "earliest"}}}
    text = "\n".join(entity_lines(q))
    assert "ID                   : CSAS_X_1" in text and "Sources that this query reads from" in text
    assert "auto.offset.reset | earliest" in text


def test_properties_show_the_session_overrides():
    server_shape = {"@type": "properties", "properties": {"ksql.service.id": "default_"}}
    ksqldb_shape = {"@type": "properties", "properties": [
        {"name": "ksql.service.id", "scope": "KSQL", "value": "default_"}], "overwrittenProperties": []}
    for entity in (server_shape, ksqldb_shape):
        rows = [[c.strip() for c in line.split("|")] for line in entity_lines(entity, {"auto.offset.reset": "earliest"})]
        assert ["auto.offset.reset", "STREAMS", "SESSION", "earliest"] in rows
        assert ["ksql.service.id", "KSQL", "SERVER", "default_"] in rows


def test_unknown_entities_are_shown_as_json():
    assert entity_lines({"@type": "something_new", "x": 1}) == ['{', '  "@type": "something_new",', '  "x": 1', '}']


def test_values_and_json_keep_numbers_as_sent():
    assert value_text(None) == "null" and value_text(True) == "true" and value_text("a b") == "a b"
    assert value_text(Decimal("1.50")) == "1.50"
    assert value_text({"A": [1, None, "x"]}) == '{"A":[1,null,"x"]}'
    assert json_text({"a": Decimal("1E+3")}) == '{"a":1E+3}'
    assert to_json([{"a": 1}]) == '[\n  {\n    "a": 1\n  }\n]'


def test_schema_columns():
    assert schema_columns("`ID` INTEGER KEY, `NAME` STRING") == ["ID", "NAME"]
    assert schema_columns("`S` STRUCT<`A` INTEGER, `B` MAP<STRING, INTEGER>>, `we``ird` DECIMAL(4, 2)") == [
        "S", "we`ird"]
    assert schema_columns("ROWKEY STRING KEY, X BIGINT") == ["ROWKEY", "X"]
    assert type_text({"type": "BIGINT"}) == "BIGINT"


def test_grids():
    grid = Grid.fitted(["ID", "NAME"], [["1", "apple"]], 80)
    assert grid.header() == ["+--+-----+", "|ID|NAME |", "+--+-----+"]
    assert grid.row(["1", "apple"]) == ["|1 |apple|"]
    even = Grid.even(["A", "B"], 43)
    assert even.widths == [20, 20]
    assert Grid(["A"], [3]).row(["abcdefg"]) == ["|abc|", "|def|", "|g  |"]


def test_json_array_reader_takes_pieces():
    reader = JsonArrayReader()
    out = []
    for piece in ['[{"header":{"queryId":"q"', '}},\n{"row":{"columns":[1.50', ']}},\n', '{"finalMessage":"done"}]\n']:
        out += reader.feed(piece)
    assert out == [{"header": {"queryId": "q"}}, {"row": {"columns": [Decimal("1.50")]}}, {"finalMessage": "done"}]
    assert reader.ended


def test_error_report_points_at_the_position():
    stmt = Statement("SELECT *\nFROM s WHER x;", 3, 5)
    message = "line 2:8: Syntax error at or near 'WHER'"
    assert error_report(message, stmt, None).split("\n") == [
        message, "At line 4, column 8:", "  FROM s WHER x;", "         ^"]
    assert "At script.sql:3:12:" in error_report("line 1:8: bad", Statement("SELECT x;", 3, 5), "script.sql")
    assert error_report("Stream S exists", stmt, "a.sql").split("\n")[1] == "In a.sql, statement at line 3: SELECT *"


def test_connector_entities():
    assert entity_lines({"@type": "connector_info", "info": {"name": "GEN"}})[2] == " Created connector GEN "
    assert entity_lines({"@type": "drop_connector", "connectorName": "GEN"})[2] == ' Dropped connector "GEN" '
    listed = entity_lines({"@type": "connector_list", "connectors": [
        {"name": "GEN", "type": "source", "className": "DatagenConnector", "state": "RUNNING (1/1 tasks RUNNING)"}]})
    assert [c.strip() for c in listed[2].split("|")] == ["GEN", "SOURCE", "DatagenConnector",
                                                         "RUNNING (1/1 tasks RUNNING)"]
    text = "\n".join(entity_lines({
        "@type": "connector_description", "connectorClass": "DatagenConnector", "topics": ["orders"],
        "sources": [{"name": "ORDERS", "topic": "orders", "type": "STREAM"}],
        "status": {"name": "GEN", "type": "source", "connector": {"state": "RUNNING", "worker_id": "h:1"},
                   "tasks": [{"id": 0, "state": "FAILED", "worker_id": "h:1", "trace": "boom"}]}}))
    for part in ("Name                 : GEN", "Class                : DatagenConnector", "State                : RUNNING",
                 "FAILED", "boom", "ORDERS", " orders"):
        assert part in text
