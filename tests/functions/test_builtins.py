"""Built-in scalar functions and registry resolution, with cases from ksqlDB's functional tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksql.errors import KsqlError
from ksql.functions import default_registry
from ksql.types import BIGINT, BYTES, DOUBLE, INTEGER, NULL, STRING, ArrayType, DecimalType
from tests.planner.helpers import evaluate, type_of


def test_registry_resolution_errors():
    reg = default_registry()
    with pytest.raises(KsqlError, match="Can't find any functions with the name 'FOO'"):
        reg.resolve_scalar("FOO", [])
    with pytest.raises(KsqlError, match=r"Function 'COALESCE' does not accept parameters \(\)"):
        reg.resolve_scalar("COALESCE", [])
    with pytest.raises(KsqlError, match=r"Function 'len' does not accept parameters \(INTEGER\)"):
        reg.resolve_scalar("LEN", [INTEGER])
    assert reg.is_aggregate("count") and reg.is_table_function("EXPLODE") and not reg.is_aggregate("ABS")
    assert reg.describe("abs").overloads and any(f.name == "ROUND" for f in reg.list_functions())


def test_implicit_widening_and_exact_first():
    reg = default_registry()
    assert reg.resolve_scalar("ATAN2", [INTEGER, DecimalType(3, 1)]).return_type == DOUBLE
    with pytest.raises(KsqlError, match="ambiguous"):  # BIGINT and DOUBLE overloads both fit, as in ksqlDB
        reg.resolve_scalar("ATAN2", [INTEGER, BIGINT])
    assert reg.resolve_scalar("ABS", [INTEGER]).return_type == INTEGER
    assert reg.resolve_scalar("ABS", [DecimalType(3, 2)]).return_type == DecimalType(3, 2)
    assert reg.resolve_scalar("COALESCE", [INTEGER, NULL, INTEGER]).return_type == INTEGER
    assert reg.resolve_scalar("CONCAT", [BYTES, NULL, BYTES]).return_type == BYTES


def test_user_defined_function_decorator():
    from ksql.functions import FunctionRegistry
    reg = FunctionRegistry()

    @reg.scalar("TEST_UDF", [INTEGER, STRING], STRING)
    def int_string(i, s):
        return "doStuffIntString"

    @reg.scalar("TEST_UDF", [BIGINT, STRING], STRING)
    def long_string(i, s):
        return "doStuffLongString"

    assert reg.resolve_scalar("test_udf", [INTEGER, STRING]).impl is int_string


@pytest.mark.parametrize("text,cols,row,out", [
    ("ABS(I)", {"I": INTEGER}, (-1,), 1),
    ("ABS(I)", {"I": INTEGER}, (None,), None),
    ("ABS(B)", {"B": DecimalType(2, 1)}, (Decimal("-3.2"),), Decimal("3.2")),
    ("ROUND(V)", {"V": DOUBLE}, (1.5,), 2),
    ("ROUND(V)", {"V": DOUBLE}, (-1.5,), -1),
    ("ROUND(V)", {"V": DOUBLE}, (-1.7,), -2),
    ("ROUND(V, 0)", {"V": DOUBLE}, (-1.5,), -1.0),
    ("ROUND(V, 2)", {"V": DOUBLE}, (12345.678,), 12345.68),
    ("ROUND(V, -1)", {"V": DOUBLE}, (12345.678,), 12350.0),
    ("ROUND(V, -2)", {"V": DOUBLE}, (111.0,), 100.0),
    ("ROUND(V, 10)", {"V": DOUBLE}, (1.234567,), 1.234567),
    ("ROUND(V)", {"V": DecimalType(33, 16)}, (Decimal("12345678987654321.2345678987654321"),),
     Decimal("12345678987654321")),
    ("ROUND(V, 10)", {"V": DecimalType(33, 16)}, (Decimal("12345678987654321.2345678987654321"),),
     Decimal("12345678987654321.2345678988000000")),
    ("ROUND(V, -1)", {"V": DecimalType(33, 16)}, (Decimal("12345678987654321.2345678987654321"),),
     Decimal("12345678987654320.0000000000000000")),
    ("FLOOR(D)", {"D": DOUBLE}, (-1.1,), -2.0),
    ("CEIL(D)", {"D": DOUBLE}, (1.1,), 2.0),
    ("FLOOR(B)", {"B": DecimalType(2, 1)}, (Decimal("-1.5"),), Decimal("-2.0")),
    ("CEIL(B)", {"B": DecimalType(2, 1)}, (Decimal("1.1"),), Decimal("2.0")),
    ("SIGN(D)", {"D": DOUBLE}, (-3.0,), -1),
    ("IFNULL(A, 10)", {"A": INTEGER}, (None,), 10),
    ("COALESCE(A, B, A)", {"A": INTEGER, "B": INTEGER}, (None, 2), 2),
    ("NULLIF(A, 10)", {"A": INTEGER}, (10,), None),
    ("NULLIF(S, 'x')", {"S": STRING}, ("X",), "X"),
    ("NULLIF(G, ARRAY[1, 2, 3])", {"G": ArrayType(INTEGER)}, ([1, 2, 3],), None),
    ("CONCAT('prefix-', S, '-postfix')", {"S": STRING}, ("s1",), "prefix-s1-postfix"),
    ("CONCAT(C1, NULL, C2)", {"C1": BYTES, "C2": BYTES}, (b"yes", b"no"), b"yesno"),
    ("CONCAT_WS(S, 'a', NULL, 'b')", {"S": STRING}, ("SEP",), "aSEPb"),
    ("LEN(S)", {"S": STRING}, ("ABC",), 3),
    ("LEN(S)", {"S": STRING}, (None,), None),
    ("UCASE(S)", {"S": STRING}, ("abc",), "ABC"),
    ("LCASE(S)", {"S": STRING}, ("ABC",), "abc"),
    ("TRIM(S)", {"S": STRING}, ("  a b \t",), "a b"),
    ("SUBSTRING(S, 6)", {"S": STRING}, ("some_string",), "string"),
    ("SUBSTRING(S, 6)", {"S": STRING}, ("short",), ""),
    ("SUBSTRING(S, 6, 3)", {"S": STRING}, ("another",), "er"),
    ("SUBSTRING(S, 0, 2)", {"S": STRING}, ("some string",), "so"),
    ("SUBSTRING(S, -3)", {"S": STRING}, ("abcdef",), "def"),
    ("SUBSTRING(S, null)", {"S": STRING}, ("abc",), None),
    ("SUBSTRING(B, 6, 3)", {"B": BYTES}, (b"some_string",), b"str"),
    ("INSTR(S, 'or')", {"S": STRING}, ("CORPORATE FLOOR",), 0),
    ("INSTR(S, 'OR')", {"S": STRING}, ("CORPORATE FLOOR",), 2),
    ("INSTR(S, 'OR', 3)", {"S": STRING}, ("CORPORATE FLOOR",), 5),
    ("INSTR(S, 'OR', 3, 2)", {"S": STRING}, ("CORPORATE FLOOR",), 14),
    ("INSTR(S, 'OR', -3)", {"S": STRING}, ("CORPORATE FLOOR",), 5),
    ("INSTR(S, 'OR', -3, 2)", {"S": STRING}, ("CORPORATE FLOOR",), 2),
    ("ARRAY_LENGTH(A)", {"A": ArrayType(INTEGER)}, ([1, 2],), 2),
    ("ARRAY_MAX(A)", {"A": ArrayType(INTEGER)}, ([123, 452, 451, None],), 452),
    ("ARRAY_MIN(A)", {"A": ArrayType(INTEGER)}, ([None, None],), None),
    ("EXTRACTJSONFIELD(S, '$.name')", {"S": STRING}, ('{"name": "cdc", "@type": "UDF"}',), "cdc"),
    ("EXTRACTJSONFIELD(S, '$.array[0]')", {"S": STRING}, ('{"array": [1.23450]}',), "1.23450"),
    ("EXTRACTJSONFIELD(S, '$.array[-1]')", {"S": STRING}, ('{"array": [1, 2]}',), None),
    ("EXTRACTJSONFIELD(S, '$.a')", {"S": STRING}, ('{"a": {"b": [1, "x"]}}',), '{"b":[1,"x"]}'),
    ("EXTRACTJSONFIELD(S, '$.a')", {"S": STRING}, ("not json",), None),
    ("PARSE_DATE(S, 'yyyy-MM-dd''Lit''')", {"S": STRING}, ("2018-05-11Lit",), 17662),
    ("PARSE_DATE(S, 'dd/MM/yyyy')", {"S": STRING}, ("11/05/2019",), 18027),
    ("PARSE_DATE(S, 'dd-MMM-yyyy')", {"S": STRING}, ("01-JAN-2022",), 18993),
    ("PARSE_DATE(S, 'MMM-yyyy')", {"S": STRING}, ("JAN-2022",), 18993),
    ("LPAD(S, 4, 'ab')", {"S": STRING}, ("x",), "abax"),
    ("EXP(I)", {"I": INTEGER}, (0,), 1.0),
    ("LN(I)", {"I": INTEGER}, (0,), float("-inf")),
])
def test_functions(text, cols, row, out):
    assert evaluate(text, cols, row) == out


def test_random_and_return_types():
    v = evaluate("RANDOM()")
    assert 0.0 <= v < 1.0
    assert type_of("ROUND(V)", {"V": DOUBLE}) == BIGINT
    assert type_of("ROUND(V, 1)", {"V": DOUBLE}) == DOUBLE
    assert type_of("LEN(S)", {"S": STRING}) == INTEGER
    assert type_of("AS_VALUE(K)", {"K": STRING}) == STRING
    assert type_of("TRANSFORM(A, x => CAST(x AS STRING))", {"A": ArrayType(INTEGER)}) == ArrayType(STRING)
