"""DECIMAL values keep every digit (up to 38) on every path, as Java's BigDecimal does in ksqlDB.

Python's default decimal context rounds to 28 digits and JSON parsers read numbers as doubles
(17 digits), so each format, operator and aggregate is checked with values longer than both.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksql.engine.serde import Column, create_serde
from ksql.testing import TestDriver
from ksql.types import DOUBLE, DecimalType

LONG = Decimal("1234567890123456789.1234512345123451234")  # DECIMAL(38, 19): 38 digits
WIDE = Decimal("12345678901234567890.1234567891")  # DECIMAL(30, 10): 30 digits

VALUE_FORMATS = ["JSON", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR", "DELIMITED"]
KEY_FORMATS = ["JSON", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR", "DELIMITED"]


def _exact(actual: object, expected: Decimal) -> None:
    """Equal in value and in scale (BigDecimal.equals)."""
    got = Decimal(actual) if isinstance(actual, str) else actual
    assert isinstance(got, Decimal), f"{actual!r} is not a decimal"
    assert got == expected and got.as_tuple().exponent == expected.as_tuple().exponent, \
        f"{got} != {expected}"


def _value(record: dict, column: str) -> object:
    value = record["value"]
    return value.split(",")[0] if isinstance(value, str) else value[column]


@pytest.mark.parametrize("fmt", VALUE_FORMATS)
def test_value_column_round_trips_38_digits(fmt: str) -> None:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (ID STRING KEY, DEC DECIMAL(38,19)) "
                  f"WITH (kafka_topic='s', value_format='{fmt}');")
        d.execute("CREATE STREAM OUT AS SELECT * FROM S;")
        d.pipe("s", "k", str(LONG) if fmt == "DELIMITED" else {"DEC": LONG})
        [record] = d.read_output("OUT")
        _exact(_value(record, "DEC"), LONG)
    finally:
        d.close()


@pytest.mark.parametrize("fmt", KEY_FORMATS)
def test_key_column_round_trips_38_digits(fmt: str) -> None:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (K DECIMAL(38,19) KEY, V INT) "
                  f"WITH (kafka_topic='s', key_format='{fmt}', value_format='JSON');")
        d.execute("CREATE STREAM OUT AS SELECT * FROM S;")
        key = str(LONG) if fmt == "DELIMITED" else LONG
        if fmt in ("PROTOBUF", "PROTOBUF_NOSR"):  # these wrap a single key column
            key = {"K": LONG}
        d.pipe("s", key, {"V": 1})
        [record] = d.read_output("OUT")
        got = record["key"]
        if isinstance(got, dict):
            got = got["K"]
        _exact(got, LONG)
    finally:
        d.close()


@pytest.mark.parametrize("fmt", ["AVRO", "PROTOBUF", "JSON", "JSON_SR"])
def test_arithmetic_and_round_keep_digits(fmt: str) -> None:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (ID STRING KEY, V DECIMAL(30,10)) "
                  f"WITH (kafka_topic='s', value_format='{fmt}');")
        d.execute("CREATE STREAM OUT AS SELECT ID, V + V AS TWICE, V - 1 AS LESS, "
                  "ROUND(V) AS R0, ROUND(V, 2) AS R2, -V AS NEG, ABS(-V) AS POS FROM S;")
        d.pipe("s", "k", {"V": WIDE})
        [record] = d.read_output("OUT")
        value = record["value"]
        _exact(value["TWICE"], Decimal("24691357802469135780.2469135782"))
        _exact(value["LESS"], Decimal("12345678901234567889.1234567891"))
        _exact(Decimal(value["R0"]), Decimal("12345678901234567890"))
        _exact(value["R2"], Decimal("12345678901234567890.1200000000"))
        _exact(value["NEG"], WIDE.copy_negate())
        _exact(value["POS"], WIDE)
    finally:
        d.close()


@pytest.mark.parametrize("fmt", ["JSON", "AVRO"])
def test_aggregates_of_decimals_keep_digits(fmt: str) -> None:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (ID STRING KEY, V DECIMAL(30,10)) "
                  f"WITH (kafka_topic='s', value_format='{fmt}');")
        d.execute("CREATE TABLE OUT AS SELECT ID, SUM(V) AS TOTAL, MIN(V) AS LO, MAX(V) AS HI "
                  "FROM S GROUP BY ID;")
        small = Decimal("0.0000000001")
        d.pipe("s", "k", {"V": WIDE})
        d.pipe("s", "k", {"V": small})
        last = d.read_output("OUT")[-1]["value"]
        _exact(last["TOTAL"], Decimal("12345678901234567890.1234567892"))
        _exact(last["LO"], small)
        _exact(last["HI"], WIDE)
    finally:
        d.close()


def test_nested_decimals_in_json_keep_digits() -> None:
    d = TestDriver()
    try:
        d.execute("CREATE STREAM S (ID STRING KEY, ST STRUCT<D DECIMAL(38,19)>, "
                  "ARR ARRAY<DECIMAL(38,19)>, M MAP<STRING, DECIMAL(38,19)>) "
                  "WITH (kafka_topic='s', value_format='JSON');")
        d.execute("CREATE STREAM OUT AS SELECT ID, ST->D AS SD, ARR[1] AS A1, M['x'] AS MX FROM S;")
        d.pipe("s", "k", {"ST": {"D": LONG}, "ARR": [LONG], "M": {"x": LONG}})
        [record] = d.read_output("OUT")
        for column in ("SD", "A1", "MX"):
            _exact(record["value"][column], LONG)
    finally:
        d.close()


@pytest.mark.parametrize("fmt", ["AVRO", "JSON", "PROTOBUF"])
def test_insert_values_keeps_digits(fmt: str) -> None:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (ID STRING KEY, DEC DECIMAL(38,19)) "
                  f"WITH (kafka_topic='s', value_format='{fmt}');")
        d.execute(f"INSERT INTO S (ID, DEC) VALUES ('k', {LONG});")
        [record] = d.read_output("s")
        _exact(record["value"]["DEC"], LONG)
    finally:
        d.close()


def test_greatest_of_decimals_keeps_the_winning_value() -> None:
    """GREATEST over DECIMALs of different scales returns the largest argument as it is
    (ksqlDB's UDF returns the BigDecimal unchanged; only the declared type is widened)."""
    d = TestDriver()
    try:
        d.execute("CREATE STREAM S (ID STRING KEY, N1 DECIMAL(9,2), N2 DECIMAL(7,6)) "
                  "WITH (kafka_topic='s', value_format='JSON');")
        d.execute("CREATE STREAM OUT AS SELECT ID, GREATEST(N1, N2) AS HI, LEAST(N1, N2) AS LO FROM S;")
        d.pipe("s", "k", {"N1": Decimal("1234567.89"), "N2": Decimal("0.123456")})
        [record] = d.read_output("OUT")
        _exact(record["value"]["HI"], Decimal("1234567.89"))
        _exact(record["value"]["LO"], Decimal("0.123456"))
        schema = {s["name"]: s["schema"] for s in d.sources()}["OUT"]
        assert "`HI` DECIMAL(13, 6)" in schema
    finally:
        d.close()


NEAR_TENTH = b"0.1000000000000000000000000000000000001"  # a double reads it as 0.1, whose repr is short


@pytest.mark.parametrize("wrapped", [True, False])
def test_json_decoder_reads_numbers_a_double_shortens(wrapped: bool) -> None:
    """orjson reads numbers as doubles; text with more digits than a double holds is read exactly,
    whether one record or a batch is decoded."""
    column = Column("DEC", DecimalType(38, 37))
    serde = create_serde("JSON", [column], is_key=not wrapped)
    text = b'{"DEC": ' + NEAR_TENTH + b"}" if wrapped else NEAR_TENTH
    expected = Decimal(NEAR_TENTH.decode())
    _exact(serde.deserialize(text)[0], expected)
    for row in serde.deserialize_many([text, text]):
        _exact(row[0], expected)


def test_json_decoder_keeps_the_fast_path_for_short_numbers() -> None:
    serde = create_serde("JSON", [Column("DEC", DecimalType(6, 4)), Column("D", DOUBLE)], is_key=False)
    [row] = serde.deserialize_many([b'{"DEC": 1.5, "D": 0.1}'])
    _exact(row[0], Decimal("1.5000"))
    assert row[1] == 0.1 and isinstance(row[1], float)


def test_table_aggregates_undo_decimals_exactly() -> None:
    """A row moving to another group is taken out of SUM's and AVG's running totals; with totals
    rounded to 28 digits the small value left behind would be lost or changed."""
    d = TestDriver()
    try:
        d.execute("CREATE TABLE T (ID STRING PRIMARY KEY, G STRING, V DECIMAL(30,10)) "
                  "WITH (kafka_topic='t', value_format='JSON');")
        d.execute("CREATE TABLE OUT AS SELECT G, SUM(V) AS S, AVG(V) AS A FROM T GROUP BY G;")
        small = Decimal("0.0000000001")
        d.pipe("t", "a", {"G": "g", "V": WIDE})
        d.pipe("t", "b", {"G": "g", "V": small})
        d.pipe("t", "a", {"G": "h", "V": WIDE})
        last_g = [r for r in d.read_output("OUT") if r["key"] == "g"][-1]["value"]
        _exact(last_g["S"], small)
        assert float(last_g["A"]) == 1e-10
    finally:
        d.close()
