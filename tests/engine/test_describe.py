"""SHOW / DESCRIBE entities, as the REST API returns them."""

from __future__ import annotations

from ksql.testing import TestDriver


def test_every_listed_function_can_be_described():
    d = TestDriver()
    listed = d.engine.execute("SHOW FUNCTIONS;")[0].entity["functions"]
    assert {"ABS", "COUNT", "EXPLODE", "CONCAT", "DATEADD"} <= {f["name"] for f in listed}
    for f in listed:
        entity = d.engine.execute(f"DESCRIBE FUNCTION {f['name']};")[0].entity
        assert entity["@type"] == "describe_function" and entity["name"] == f["name"]
        assert entity["type"] == f["type"] and entity["functions"], f["name"]  # aggregates and table functions too
        assert all("returnType" in o and "arguments" in o for o in entity["functions"])
    d.close()


def test_describe_source_lists_fields_and_queries():
    d = TestDriver()
    d.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    d.execute("CREATE STREAM T AS SELECT ID, V FROM S;")
    entity = d.engine.execute("DESCRIBE S;")[0].entity["sourceDescription"]
    assert [f["name"] for f in entity["fields"]] == ["ID", "V"]
    assert entity["fields"][0]["type"] == "KEY"
    assert [q["id"] for q in entity["readQueries"]] == ["CSAS_T_1"]
    d.close()
