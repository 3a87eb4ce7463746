from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from ksql.engine.serde import (
    Column,
    create_serde,
    format_supports_wrapping,
    is_value_wrapped,
    java_double_str,
    json_coercer,
    normalize_format,
    parse_delimiter,
    validate_format,
)
from ksql.engine.serde.delimited import parse_record
from ksql.errors import KsqlError, SerdeError
from ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)


def cols(*spec):
    return [Column(n, t) for n, t in spec]


# --- java_double_str -------------------------------------------------------------------


@pytest.mark.parametrize("x,s", [
    (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (-1.7, "-1.7"), (0.001, "0.001"),
    (1e-4, "1.0E-4"), (1e7, "1.0E7"), (9999999.0, "9999999.0"), (1.5e10, "1.5E10"),
    (123456789.0, "1.23456789E8"), (3.074457345651058e12, "3.074457345651058E12"),
    (5e-324, "4.9E-324"), (-5e-324, "-4.9E-324"), (1.7976931348623157e308, "1.7976931348623157E308"),
    (2.2250738585072014e-308, "2.2250738585072014E-308"), (1e23, "1.0E23"),
    (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"),
])
def test_java_double_str(x, s):
    assert java_double_str(x) == s


# --- registry / helpers -------------------------------------------------------------------


def test_format_names():
    assert normalize_format("json") == "JSON"
    assert normalize_format("KafkA") == "KAFKA"
    with pytest.raises(KsqlError, match="^Unknown format: FOO$"):
        normalize_format("FOO")
    with pytest.raises(KsqlError, match="Unknown format: FOO"):
        create_serde("FOO", [], is_key=False)
    for f in ("AVRO", "protobuf", "JSON_SR"):
        serde = create_serde(f, cols(("A", INTEGER)), is_key=False)  # a registry is needed to write
        with pytest.raises(KsqlError, match="schema registry"):
            serde.serialize([1])
    with pytest.raises(KsqlError, match=r"^JSON does not support the following configs: \[schemaId\]$"):
        create_serde("JSON", cols(("A", INTEGER)), is_key=False, schema_id=1)


def test_wrapping_helpers():
    assert format_supports_wrapping("JSON")
    assert not format_supports_wrapping("KAFKA")
    assert not format_supports_wrapping("DELIMITED")
    one = cols(("A", INTEGER))
    two = cols(("A", INTEGER), ("B", STRING))
    assert is_value_wrapped("JSON", one, is_key=False)
    assert not is_value_wrapped("JSON", one, is_key=False, wrap_single_value=False)
    assert not is_value_wrapped("JSON", one, is_key=True)
    assert is_value_wrapped("JSON", two, is_key=True)
    assert not is_value_wrapped("KAFKA", one, is_key=False)


def test_parse_delimiter():
    assert parse_delimiter("|") == "|"
    assert parse_delimiter("TAB") == "\t"
    assert parse_delimiter("SPACE") == " "
    with pytest.raises(KsqlError) as e:
        parse_delimiter("<~>")
    assert str(e.value) == ("Configuration VALUE_DELIMITER is invalid: Invalid delimiter value: '<~>'. "
                            "Delimiter must be a single character or TAB,SPACE\nExample valid value: ';'")
    for bad in ("", " ", "\t"):
        with pytest.raises(KsqlError, match="Delimiter cannot be empty, if you meant to have a tab or "
                                            "space for delimiter, please use the special values 'TAB' or 'SPACE'"):
            parse_delimiter(bad)


# --- validation messages ------------------------------------------------------------------


def refuse(fmt, columns, **kw) -> str:
    with pytest.raises(KsqlError) as e:
        validate_format(fmt, columns, **kw)
    return str(e.value)


def test_kafka_validation():
    msg = refuse("KAFKA", cols(("V0", INTEGER), ("V1", STRING)), is_key=False)
    assert "The 'KAFKA' format only supports a single field. Got: [`V0` INTEGER, `V1` STRING]" in msg
    msg = refuse("KAFKA", cols(("ID", INTEGER), ("AGE", INTEGER)), is_key=True)
    assert msg == ("Key format does not support schema.\nformat: KAFKA\nschema: Persistence{columns=["
                   "`ID` INTEGER KEY, `AGE` INTEGER KEY], features=[]}\nreason: The 'KAFKA' format only "
                   "supports a single field. Got: [`ID` INTEGER KEY, `AGE` INTEGER KEY]")
    for t, name in ((BOOLEAN, "BOOLEAN"), (ArrayType(INTEGER), "ARRAY"), (DecimalType(4, 2), "DECIMAL"),
                    (StructType((StructField("F1", DOUBLE),)), "STRUCT"), (TIMESTAMP, "TIMESTAMP")):
        assert f"The 'KAFKA' format does not support type '{name}'" in refuse(
            "KAFKA", cols(("V", t)), is_key=False)
    assert "does not support type 'MAP'" in refuse("KAFKA", cols(("V", MapType(STRING, DOUBLE))), is_key=False)
    assert refuse("KAFKA", cols(("V", INTEGER)), is_key=False, wrap_single_value=True) == \
        "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
    validate_format("KAFKA", cols(("V", INTEGER)), is_key=False, wrap_single_value=False)
    validate_format("KAFKA", [], is_key=True)


def test_delimited_validation():
    msg = refuse("DELIMITED", cols(("K", ArrayType(DOUBLE))), is_key=True)
    assert msg == ("Key format does not support schema.\nformat: DELIMITED\nschema: Persistence{columns=["
                   "`K` ARRAY<DOUBLE> KEY], features=[]}\nreason: The 'DELIMITED' format does not support "
                   "type 'ARRAY', column: `K`")
    assert "The 'DELIMITED' format does not support type 'STRUCT'" in refuse(
        "DELIMITED", cols(("FOO", StructType((StructField("F1", DOUBLE),)))), is_key=False)
    assert "The 'DELIMITED' format does not support type 'MAP'" in refuse(
        "DELIMITED", cols(("FOO", MapType(INTEGER, DOUBLE))), is_key=False)
    assert refuse("DELIMITED", cols(("FOO", INTEGER)), is_key=False, wrap_single_value=True) == \
        "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
    validate_format("DELIMITED", cols(("FOO", INTEGER)), is_key=False, wrap_single_value=False, delimiter="|")


def test_json_validation():
    assert "JSON only supports MAP types with STRING keys" in refuse(
        "JSON", cols(("FOO", MapType(INTEGER, DOUBLE))), is_key=False)
    assert refuse("JSON", cols(("A", STRING), ("B", STRING)), is_key=False, wrap_single_value=True) == \
        "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
    assert refuse("JSON", cols(("A", STRING), ("B", STRING)), is_key=False, wrap_single_value=False) == \
        "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
    assert refuse("JSON", cols(("A", STRING)), is_key=False, delimiter="|") == \
        "JSON does not support the following configs: [delimiter]"


def test_map_keys_refused():
    msg = refuse("JSON", cols(("K", ArrayType(MapType(INTEGER, DOUBLE)))), is_key=True)
    assert msg == ("Map keys, including types that contain maps, are not supported as they may lead to "
                   "unexpected behavior due to inconsistent serialization. Key column name: `K`. Column type: "
                   "ARRAY<MAP<INTEGER, DOUBLE>>. See https://github.com/confluentinc/ksql/issues/6621 for more.")
    assert "Map keys" in refuse("DELIMITED", cols(("K", MapType(STRING, DOUBLE))), is_key=True)


def test_none_validation():
    validate_format("NONE", [], is_key=True)
    assert ("The 'NONE' format can only be used when no columns are defined. Got: [`ID` INTEGER KEY]"
            in refuse("NONE", cols(("ID", INTEGER)), is_key=True))
    s = create_serde("NONE", [], is_key=True)
    assert s.serialize([]) is None
    assert s.deserialize(b"whatever") == []


# --- KAFKA ---------------------------------------------------------------------------------


def test_kafka_round_trips():
    for t, v, b in ((INTEGER, 5, b"\x00\x00\x00\x05"), (INTEGER, -1, b"\xff\xff\xff\xff"),
                    (BIGINT, 2, b"\x00" * 7 + b"\x02"), (DOUBLE, 1.5, b"?\xf8" + b"\x00" * 6),
                    (STRING, "hé", "hé".encode()), (BYTES, b"\x01\x02", b"\x01\x02")):
        s = create_serde("kafka", cols(("V", t)), is_key=False)
        assert s.serialize([v]) == b
        assert s.deserialize(b) == [v]
    s = create_serde("KAFKA", cols(("V", INTEGER)), is_key=True)
    assert s.serialize(None) is None and s.serialize([None]) is None
    assert s.deserialize(None) is None
    with pytest.raises(SerdeError, match="Size of data received by IntegerDeserializer is not 4"):
        s.deserialize(b"\x00\x01")
    with pytest.raises(SerdeError, match="Size of data received by LongDeserializer is not 8"):
        create_serde("KAFKA", cols(("V", BIGINT)), is_key=False).deserialize(b"\x00")
    keyless = create_serde("KAFKA", [], is_key=True)
    assert keyless.serialize([]) is None and keyless.deserialize(b"ignored") == []


# --- JSON ----------------------------------------------------------------------------------


def test_json_wrapped_and_unwrapped():
    one = cols(("V", BOOLEAN))
    w = create_serde("JSON", one, is_key=False)
    u = create_serde("JSON", one, is_key=False, wrap_single_value=False)
    k = create_serde("JSON", one, is_key=True)
    assert w.serialize([True]) == b'{"V":true}'
    assert u.serialize([True]) == b"true"
    assert k.serialize([False]) == b"false"
    assert u.serialize([None]) is None and u.serialize(None) is None
    assert w.serialize([None]) == b'{"V":null}'
    assert u.deserialize(b"true") == [True]
    assert u.deserialize(b"null") is None
    assert w.deserialize(b"null") is None
    multi = create_serde("JSON", cols(("K1", STRING), ("K2", STRING)), is_key=True)
    assert multi.serialize(["foo", "bar"]) == b'{"K1":"foo","K2":"bar"}'


def test_json_field_lookup():
    s = create_serde("JSON", cols(("FOO", INTEGER), ("bar", STRING)), is_key=False)
    assert s.deserialize(b'{"foo": 1, "bar": "x"}') == [1, "x"]
    assert s.deserialize(b'{"FOO": 1, "BAR": "x"}') == [1, None]  # quoted lower-case name: exact only
    assert s.deserialize(b'{"Foo": null, "foo": 3}') == [3, None]
    assert s.deserialize(b'{"FOO": null, "foo": 3}') == [None, None]
    assert s.deserialize(b"{}") == [None, None]


def test_json_coercions():
    s = create_serde("JSON", cols(("I", INTEGER), ("L", BIGINT), ("D", DOUBLE), ("S", STRING),
                                  ("B", BOOLEAN), ("T", TIMESTAMP), ("DT", DATE)), is_key=False)
    assert s.deserialize(b'{"I": "12", "L": "-5", "D": 3, "S": 1.50, "B": true, "T": "10", "DT": 2}') == \
        [12, -5, 3.0, "1.50", True, 10, 2]
    assert s.deserialize(b'{"I": -1.7, "L": 2.9, "D": "1e3", "S": true}') == \
        [-1, 2, 1000.0, "true", None, None, None]
    assert s.deserialize(b'{"S": {"a": [1, 2.50], "b": "x"}}')[3] == '{"a":[1,2.50],"b":"x"}'
    assert s.deserialize(b'{"S": ["a", 1, null, {"b": 1}]}')[3] == '[a, 1, null, {"b":1}]'
    assert s.deserialize(b'{"S": 12345678901234567890123}')[3] == "12345678901234567890123"
    assert s.deserialize(b'{"I": 4294967297}')[0] == 1  # Java narrowing
    for bad, msg in ((b'{"I": "abc"}', "Can't coerce string to type. targetType=INTEGER ($.I)"),
                     (b'{"I": {}}', "Can't convert type. sourceType: ObjectNode, requiredType: INTEGER ($.I)"),
                     (b'{"B": "true"}', "sourceType: TextNode, requiredType: BOOLEAN"),
                     (b'{"D": [1]}', "sourceType: ArrayNode, requiredType: DOUBLE"),
                     (b"[1]", "sourceType: ArrayNode, requiredType: STRUCT<`I` INTEGER,"),
                     (b"{not json", "Invalid JSON"),
                     (b"", "Invalid JSON")):
        with pytest.raises(SerdeError) as e:
            s.deserialize(bad)
        assert msg in str(e.value)


def test_json_decimal():
    s = create_serde("JSON", cols(("DEC", DecimalType(6, 4))), is_key=False)
    for text, exp in ((b"10", "10.0000"), (b"0.1", "0.1000"), (b"1.0000", "1.0000"), (b'"0.01"', "0.0100")):
        row = s.deserialize(b'{"DEC": ' + text + b"}")
        assert str(row[0]) == exp
    assert s.serialize([Decimal("10.0000")]) == b'{"DEC":10.0000}'
    # a Decimal is written with its own scale, as Connect's JsonConverter (NUMERIC) does
    assert s.serialize([Decimal("1.1")]) == b'{"DEC":1.1}'
    assert s.serialize([1.1]) == b'{"DEC":1.1000}'
    with pytest.raises(SerdeError, match="Cannot fit decimal '1.00001' into DECIMAL\\(6, 4\\) without rounding"):
        s.deserialize(b'{"DEC": 1.00001}')
    with pytest.raises(SerdeError, match="Numeric field overflow"):
        s.deserialize(b'{"DEC": 100}')
    big = create_serde("JSON", cols(("DEC", DecimalType(21, 19))), is_key=False)
    data = b'{"DEC":10.1234512345123451234}'
    assert big.deserialize(data) == [Decimal("10.1234512345123451234")]
    assert big.serialize(big.deserialize(data)) == data


def test_json_serialize_types():
    s = create_serde("JSON", cols(("D", DOUBLE), ("B", BYTES), ("A", ArrayType(DOUBLE)),
                                  ("M", MapType(STRING, DecimalType(3, 1))),
                                  ("S", StructType((StructField("X", INTEGER), StructField("y", DOUBLE))))),
                     is_key=False)
    out = s.serialize([1e20, b"hi", [1.0, None, 1e-5], {"k": Decimal("1.5")}, {"y": 2.0, "X": 1}])
    assert out == (b'{"D":1.0E20,"B":"aGk=","A":[1.0,null,1.0E-5],"M":{"k":1.5},'
                   b'"S":{"X":1,"y":2.0}}')
    assert s.deserialize(out) == [1e20, b"hi", [1.0, None, 1e-5], {"k": Decimal("1.5")}, {"X": 1, "y": 2.0}]
    assert create_serde("JSON", cols(("D", DOUBLE)), is_key=False).serialize([math.nan]) == b'{"D":"NaN"}'
    assert json.loads(create_serde("JSON", cols(("D", DOUBLE)), is_key=False).serialize([3])) == {"D": 3.0}


def test_json_null_map_key_is_written_as_null_text():
    """A map built with a null key (MAP(NULL := v)) is written with the key "null", as ksqlDB's JSON does."""
    m = MapType(STRING, INTEGER)
    wrapped = create_serde("JSON", cols(("M", m), ("S", StructType((StructField("N", m),)))), is_key=False)
    assert wrapped.serialize([{"foo": 10, None: 10}, {"N": {None: 1}}]) == \
        b'{"M":{"foo":10,"null":10},"S":{"N":{"null":1}}}'
    assert wrapped.serialize_many([[{None: 10}, None]], 0, 2) == [b'{"M":{"null":10},"S":null}']
    unwrapped = create_serde("JSON", cols(("M", m)), is_key=False, wrap_single_value=False)
    assert unwrapped.serialize([{None: 10}]) == b'{"null":10}'
    assert unwrapped.serialize_many([[{None: 10}]], 0, 1) == [b'{"null":10}']


def test_json_struct_case_insensitive():
    t = StructType((StructField("F", DOUBLE),))
    k = create_serde("JSON", cols(("K", t)), is_key=True)
    assert k.deserialize(b'{"f": 45.67}') == [{"F": 45.67}]
    assert k.serialize([{"F": 45.67}]) == b'{"F":45.67}'


def test_json_coercer():
    assert json_coercer(DecimalType(4, 2))(1.5) == Decimal("1.50")
    assert json_coercer(INTEGER)("7") == 7
    assert json_coercer(STRING)(1.5) == "1.5"
    with pytest.raises(SerdeError):
        json_coercer(INTEGER)("x")


# --- DELIMITED ----------------------------------------------------------------------------


def test_csv_parse():
    assert parse_record("a,b", ",") == ["a", "b"]
    assert parse_record('"a,""b",c', ",") == ['a,"b', "c"]
    assert parse_record(",", ",") == ["", ""]
    assert parse_record('"",x', ",") == ["", "x"]
    assert parse_record(" a ,b", ",") == [" a ", "b"]
    assert parse_record("a|b", "|") == ["a", "b"]
    assert parse_record('"x\ny",z', ",") == ["x\ny", "z"]
    assert parse_record("", ",") is None


def test_delimited_quoting():
    s = create_serde("DELIMITED", cols(("A", STRING), ("B", STRING), ("C", STRING)), is_key=False)
    assert s.serialize(["!", "IQ==", "!"]) == b'"!",IQ==,"!"'
    assert s.serialize([None, None, "x"]) == b",,x"
    assert s.serialize(["", "", ""]) == b'"",,'
    assert s.serialize(["-1", "-1", "a b"]) == b'"-1",-1,a b'
    assert s.serialize([" x", "y ", "a,b"]) == b'" x","y ","a,b"'
    assert s.serialize(['say "hi"', "_x", "é"]) == b'"say ""hi""",_x,\xc3\xa9'
    assert s.serialize(["_x", "", ""]) == b'"_x",,'
    t = create_serde("DELIMITED", cols(("A", STRING), ("B", STRING)), is_key=False, delimiter="\t")
    assert t.serialize(["a b", "c\td"]) == b'a b\t"c\td"'


def test_delimited_types():
    c = cols(("B", BOOLEAN), ("I", INTEGER), ("L", BIGINT), ("D", DOUBLE), ("DEC", DecimalType(33, 16)),
             ("S", STRING), ("BY", BYTES), ("DT", DATE))
    s = create_serde("DELIMITED", c, is_key=False)
    row = s.deserialize(b"TRUE,1,10000000000,1.5,.12,x,IQ==,-10")
    assert row == [True, 1, 10000000000, 1.5, Decimal("0.1200000000000000"), "x", b"!", -10]
    assert s.serialize(row) == b"true,1,10000000000,1.5,0.1200000000000000,x,IQ==,-10"
    assert s.deserialize(b",,,,,,,") == [None] * 8
    assert s.deserialize(b"yes,,,,,,,")[0] is False
    d = create_serde("DELIMITED", cols(("V", DecimalType(33, 16))), is_key=False)
    assert d.serialize([Decimal("-12345.12")]) == b'"-12345.1200000000000000"'
    assert d.serialize([Decimal(0)]) == b"0.0000000000000000"
    dd = create_serde("DELIMITED", cols(("V", DOUBLE)), is_key=False)
    assert dd.serialize([5e-324]) == b"4.9E-324"
    assert dd.serialize([1e308 * 1.7976931348623157]) == b"1.7976931348623157E308"


def test_delimited_errors():
    s = create_serde("DELIMITED", cols(("A", INTEGER), ("B", STRING)), is_key=False, topic="t")
    with pytest.raises(SerdeError, match="Column count mismatch on deserialization. topic: t, expected: 2, got: 3"):
        s.deserialize(b"1,2,3")
    with pytest.raises(SerdeError):
        s.deserialize(b"x,2")
    with pytest.raises(SerdeError):
        s.deserialize(b" 1,2")  # Integer.parseInt does not trim
    with pytest.raises(SerdeError, match="No fields in record"):
        s.deserialize(b"")


def test_delimited_keys():
    k = create_serde("DELIMITED", cols(("K1", STRING), ("K2", STRING)), is_key=True, delimiter=";")
    assert k.deserialize(b"foo,bar;baz") == ["foo,bar", "baz"]
    assert k.deserialize(b'"foo";"bar"') == ["foo", "bar"]
    single = create_serde("DELIMITED", cols(("K", INTEGER)), is_key=True)
    assert single.serialize([None]) is None
    assert single.deserialize(b'"22"') == [22]
