"""Key and value format rules over every format and statement shape, with ksqlDB 0.29's messages.

The expectations are ksqlDB's rules, written once below: NONE holds no columns, KAFKA holds one
column of a primitive type, DELIMITED holds no STRUCT/ARRAY/MAP, a query that adds a key to a
keyless source uses `ksql.persistence.default.format.key`, and key formats are never silently
changed to fit a new key (PARTITION BY or GROUP BY on several columns with KAFKA is refused).
"""

from __future__ import annotations

import pytest

from ksql.errors import KsqlError
from ksql.testing import TestDriver

FORMATS = ["KAFKA", "DELIMITED", "JSON", "JSON_SR", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "NONE"]
REGISTRY_FORMATS = {"JSON_SR", "AVRO", "PROTOBUF"}


def _refusal(side: str, fmt: str, columns: str, reason: str) -> str:
    return (f"{side} format does not support schema.\nformat: {fmt}\n"
            f"schema: Persistence{{columns=[{columns}], features=[]}}\nreason: {reason}")


def _columns_problem(fmt: str, columns: list[str]) -> str | None:
    """ksqlDB's reason a format cannot hold these (non-empty, primitive) columns, None when it can."""
    got = ", ".join(columns)
    if fmt == "NONE":
        return f"The 'NONE' format can only be used when no columns are defined. Got: [{got}]"
    if fmt == "KAFKA" and len(columns) > 1:
        return f"The 'KAFKA' format only supports a single field. Got: [{got}]"
    return None


def _expected_create(key_fmt: str, value_fmt: str, keys: list[str], values: list[str]) -> str | None:
    if keys and (reason := _columns_problem(key_fmt, keys)):
        return _refusal("Key", key_fmt, ", ".join(keys), reason)
    if values and (reason := _columns_problem(value_fmt, values)):
        return _refusal("Value", value_fmt, ", ".join(values), reason)
    return None


def _outcome(statements: list[str]) -> tuple[str, object]:
    driver = TestDriver()
    try:
        for sql in statements:
            driver.execute(sql)
        out = {s["name"]: s for s in driver.sources()}["OUT"]
        return "ok", (out["keyFormat"], out["valueFormat"])
    except KsqlError as err:
        return "error", str(err)
    finally:
        driver.close()


@pytest.mark.parametrize("key_fmt", FORMATS)
@pytest.mark.parametrize("value_fmt", [f for f in FORMATS if f not in REGISTRY_FORMATS])
@pytest.mark.parametrize("keys, values", [
    (["`A` INTEGER KEY"], ["`V` INTEGER"]),
    (["`A` INTEGER KEY", "`B` INTEGER KEY"], ["`V` INTEGER"]),
    (["`A` INTEGER KEY"], ["`V` INTEGER", "`W` STRING"]),
], ids=["1key-1value", "2keys-1value", "1key-2values"])
def test_create_stream(key_fmt, value_fmt, keys, values):
    elements = ", ".join(c.replace("`", "").replace("INTEGER", "INT") for c in keys + values)
    outcome = _outcome([f"CREATE STREAM OUT ({elements}) WITH (KAFKA_TOPIC='t', KEY_FORMAT='{key_fmt}', "
                        f"VALUE_FORMAT='{value_fmt}');"])
    expected = _expected_create(key_fmt, value_fmt, keys, values)
    assert outcome == (("error", expected) if expected else ("ok", (key_fmt, value_fmt)))


@pytest.mark.parametrize("key_fmt", [f for f in FORMATS if f not in REGISTRY_FORMATS])
@pytest.mark.parametrize("value_fmt", [f for f in FORMATS if f not in REGISTRY_FORMATS])
def test_keyless_stream_has_key_format_none(key_fmt, value_fmt):
    outcome = _outcome([f"CREATE STREAM OUT (V INT) WITH (KAFKA_TOPIC='t', KEY_FORMAT='{key_fmt}', "
                        f"VALUE_FORMAT='{value_fmt}');"])
    expected = _expected_create(key_fmt, value_fmt, [], ["`V` INTEGER"])
    assert outcome == (("error", expected) if expected else ("ok", ("NONE", value_fmt)))


@pytest.mark.parametrize("key_fmt", FORMATS)
@pytest.mark.parametrize("value_fmt", ["KAFKA", "DELIMITED", "JSON", "NONE"])
def test_table_of_key_columns_only(key_fmt, value_fmt):
    outcome = _outcome([f"CREATE TABLE OUT (A INT PRIMARY KEY) WITH (KAFKA_TOPIC='t', KEY_FORMAT='{key_fmt}', "
                        f"VALUE_FORMAT='{value_fmt}');"])
    expected = _expected_create(key_fmt, value_fmt, ["`A` INTEGER KEY"], [])
    assert outcome == (("error", expected) if expected else ("ok", (key_fmt, value_fmt)))


@pytest.mark.parametrize("sink_value", FORMATS)
@pytest.mark.parametrize("projection, values", [
    ("A, B", ["`B` INTEGER"]), ("*", ["`B` INTEGER", "`C` INTEGER"]), ("A", []),
], ids=["1value", "2values", "key-only"])
def test_create_as_select_value_format(sink_value, projection, values):
    outcome = _outcome([
        "CREATE STREAM S (A INT KEY, B INT, C INT) WITH (KAFKA_TOPIC='s', FORMAT='JSON');",
        f"CREATE STREAM OUT WITH (VALUE_FORMAT='{sink_value}') AS SELECT {projection} FROM S;"])
    expected = _expected_create("JSON", sink_value, [], values) if values else \
        "The projection contains no value columns."
    assert outcome == (("error", expected) if expected else ("ok", ("JSON", sink_value)))


@pytest.mark.parametrize("source_key", FORMATS)
@pytest.mark.parametrize("sink_key", [None, *FORMATS])
@pytest.mark.parametrize("shape, new_keys", [
    ("CREATE TABLE OUT{with} AS SELECT B, COUNT(*) AS N FROM S GROUP BY B;", ["`B` INTEGER KEY"]),
    ("CREATE TABLE OUT{with} AS SELECT B, C, COUNT(*) AS N FROM S GROUP BY B, C;",
     ["`B` INTEGER KEY", "`C` INTEGER KEY"]),
    ("CREATE STREAM OUT{with} AS SELECT * FROM S PARTITION BY B;", ["`B` INTEGER KEY"]),
    ("CREATE STREAM OUT{with} AS SELECT * FROM S PARTITION BY B, C;", ["`B` INTEGER KEY", "`C` INTEGER KEY"]),
], ids=["group-by-1", "group-by-2", "partition-by-1", "partition-by-2"])
def test_new_key_takes_source_or_sink_key_format(source_key, sink_key, shape, new_keys):
    """A new key keeps the source's key format (the default one for a keyless source) unless WITH names one."""
    key_columns = "A INT KEY, " if source_key != "NONE" else "D INT, "
    with_clause = f" WITH (KEY_FORMAT='{sink_key}')" if sink_key else ""
    outcome = _outcome([
        f"CREATE STREAM S ({key_columns}B INT, C INT) WITH (KAFKA_TOPIC='s', KEY_FORMAT='{source_key}', "
        "VALUE_FORMAT='JSON');",
        shape.format(with_clause=with_clause, **{"with": with_clause})])
    key_fmt = sink_key or ("KAFKA" if source_key == "NONE" else source_key)
    reason = _columns_problem(key_fmt, new_keys)
    expected = _refusal("Key", key_fmt, ", ".join(new_keys), reason) if reason else None
    assert outcome == (("error", expected) if expected else ("ok", (key_fmt, "JSON")))


@pytest.mark.parametrize("key_fmt", ["KAFKA", "DELIMITED"])
@pytest.mark.parametrize("shape", [
    "CREATE STREAM OUT AS SELECT * FROM S PARTITION BY STRUCT(X := B);",
    "CREATE TABLE OUT AS SELECT STRUCT(X := B) AS K, COUNT(*) AS N FROM S GROUP BY STRUCT(X := B);",
], ids=["partition-by", "group-by"])
def test_struct_key_in_a_format_that_cannot_hold_it(key_fmt, shape):
    outcome = _outcome([f"CREATE STREAM S (A INT KEY, B INT) WITH (KAFKA_TOPIC='s', KEY_FORMAT='{key_fmt}', "
                        "VALUE_FORMAT='JSON');", shape])
    assert outcome[0] == "error" and f"The '{key_fmt}' format does not support type 'STRUCT'" in outcome[1]


@pytest.mark.parametrize("value_fmt", [f for f in FORMATS if f not in REGISTRY_FORMATS | {"NONE"}])
def test_join_refuses_kafka_values(value_fmt):
    outcome = _outcome([
        f"CREATE STREAM L (A INT KEY, B INT) WITH (KAFKA_TOPIC='l', FORMAT='{value_fmt}');",
        f"CREATE TABLE R (A INT PRIMARY KEY, C INT) WITH (KAFKA_TOPIC='r', FORMAT='{value_fmt}');",
        "CREATE STREAM OUT AS SELECT L.A, B, C FROM L JOIN R ON L.A = R.A;"])
    if value_fmt == "KAFKA":
        assert outcome == ("error", "Source(s) L, R are using the 'KAFKA' value format. "
                                    "This format does not yet support JOIN.")
    else:
        assert outcome == ("ok", (value_fmt, value_fmt))


@pytest.mark.parametrize("value_fmt, wrap, refused", [
    ("KAFKA", "true", True), ("KAFKA", "false", False), ("DELIMITED", "true", True),
    ("DELIMITED", "false", False), ("JSON", "true", False), ("JSON", "false", False),
    ("PROTOBUF", "true", False), ("PROTOBUF_NOSR", "true", False), ("PROTOBUF_NOSR", "false", True),
])
def test_wrap_single_value_per_format(value_fmt, wrap, refused):
    outcome = _outcome([f"CREATE STREAM OUT (A INT KEY, V INT) WITH (KAFKA_TOPIC='t', KEY_FORMAT='KAFKA', "
                        f"VALUE_FORMAT='{value_fmt}', WRAP_SINGLE_VALUE={wrap});"])
    if refused:
        assert outcome == ("error", f"Format '{value_fmt}' does not support 'WRAP_SINGLE_VALUE' set to '{wrap}'.")
    else:
        assert outcome == ("ok", ("KAFKA", value_fmt))


def test_wrap_single_value_needs_a_single_value_column():
    outcome = _outcome(["CREATE STREAM OUT (A INT KEY, V INT, W INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', "
                        "WRAP_SINGLE_VALUE=false);"])
    assert outcome == ("error", "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")


# ksqlDB's KAFKA serdes: Kafka's own int/long/double/string/bytes serializers and nothing else;
# DELIMITED: every primitive, no nested type
SUPPORTED_TYPES = {
    "KAFKA": {"INT", "BIGINT", "DOUBLE", "STRING", "BYTES"},
    "DELIMITED": {"BOOLEAN", "INT", "BIGINT", "DOUBLE", "STRING", "DECIMAL(4,2)", "BYTES", "TIMESTAMP", "DATE",
                  "TIME"},
}
TYPES = ["BOOLEAN", "INT", "BIGINT", "DOUBLE", "STRING", "DECIMAL(4,2)", "BYTES", "TIMESTAMP", "DATE", "TIME",
         "ARRAY<INT>", "STRUCT<X INT>"]


@pytest.mark.parametrize("fmt", sorted(SUPPORTED_TYPES))
@pytest.mark.parametrize("side", ["key", "value"])
@pytest.mark.parametrize("sql_type", TYPES)
def test_single_column_types_per_format(fmt, side, sql_type):
    columns = f"K {sql_type} KEY, V INT" if side == "key" else f"K INT KEY, V {sql_type}"
    outcome = _outcome([f"CREATE STREAM OUT ({columns}) WITH (KAFKA_TOPIC='t', FORMAT='{fmt}');"])
    if sql_type in SUPPORTED_TYPES[fmt]:
        assert outcome == ("ok", (fmt, fmt))
    else:
        base = sql_type.split("<")[0].split("(")[0]
        assert outcome[0] == "error" and f"The '{fmt}' format does not support type '{base}'" in outcome[1]


INTERMEDIATE_REFUSAL = ("One of the functions used in the statement has an intermediate type that the value format "
                        "can not handle. Please remove the function or change the format.")


@pytest.mark.parametrize("aggregate, refused", [
    ("COUNT(*)", False), ("SUM(V)", False), ("MIN(V)", False), ("MAX(V)", False),
    ("AVG(V)", True), ("STDDEV_SAMP(V)", True), ("COUNT_DISTINCT(V)", True), ("LATEST_BY_OFFSET(V)", True),
    ("EARLIEST_BY_OFFSET(V)", True), ("COLLECT_LIST(V)", True), ("COLLECT_SET(V)", True), ("TOPK(V, 2)", True),
    ("TOPKDISTINCT(V, 2)", True), ("HISTOGRAM(CAST(V AS STRING))", True),
])
def test_delimited_values_cannot_hold_a_complex_aggregation_state(aggregate, refused):
    """ksqlDB keeps an aggregation's state in the value format: DELIMITED holds no ARRAY, MAP or STRUCT."""
    outcome = _outcome(["CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', FORMAT='DELIMITED');",
                        f"CREATE TABLE OUT AS SELECT ID, {aggregate} AS A FROM S GROUP BY ID;"])
    assert outcome == (("error", INTERMEDIATE_REFUSAL) if refused else ("ok", ("DELIMITED", "DELIMITED")))


@pytest.mark.parametrize("left_key, join, expected_key", [
    ("DELIMITED", "L.K = R.A", "DELIMITED"),
    ("DELIMITED", "L.B = R.A", "DELIMITED"),  # repartitioned internally in the right's format, not the sink
    ("NONE", "L.B = R.A", "KAFKA"),  # a keyless left: the default key format
])
def test_join_sink_takes_the_left_sources_key_format(left_key, join, expected_key):
    key_column = "K INT KEY, " if left_key != "NONE" else ""
    outcome = _outcome([
        f"CREATE STREAM L ({key_column}B INT, X INT) WITH (KAFKA_TOPIC='l', KEY_FORMAT='{left_key}', "
        "VALUE_FORMAT='JSON');",
        "CREATE TABLE R (A INT PRIMARY KEY, C INT) WITH (KAFKA_TOPIC='r', KEY_FORMAT='AVRO', VALUE_FORMAT='JSON');",
        f"CREATE STREAM OUT AS SELECT {join.split(' = ')[0]} AS JK, X, C FROM L JOIN R ON {join};"])
    assert outcome == ("ok", (expected_key, "JSON"))


def test_foreign_key_join_keeps_the_left_tables_key_format():
    outcome = _outcome([
        "CREATE TABLE L (K INT PRIMARY KEY, F INT) WITH (KAFKA_TOPIC='l', KEY_FORMAT='DELIMITED', "
        "VALUE_FORMAT='JSON');",
        "CREATE TABLE R (A INT PRIMARY KEY, C INT) WITH (KAFKA_TOPIC='r', KEY_FORMAT='AVRO', VALUE_FORMAT='JSON');",
        "CREATE TABLE OUT AS SELECT L.K, F, C FROM L JOIN R ON L.F = R.A;"])
    assert outcome == ("ok", ("DELIMITED", "JSON"))
