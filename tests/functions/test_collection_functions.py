"""Array, map and lambda functions, constructors' coercion, and the table functions."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from ksql.errors import KsqlError
from ksql.functions import default_registry
from ksql.functions.builtins.table_functions import cube_explode, explode
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)
from tests.planner.helpers import evaluate, type_of

AI, AS, AD = ArrayType(INTEGER), ArrayType(STRING), ArrayType(DOUBLE)
MSI = MapType(STRING, INTEGER)


@pytest.mark.parametrize("text,cols,row,out", [
    ("ARRAY_LENGTH(A)", {"A": AI}, (None,), None),
    ("ARRAY_MAX(A)", {"A": AS}, (["foo", "fo", "Food", None, "F", "food"],), "food"),
    ("ARRAY_MIN(A)", {"A": AS}, (["foo", "fo", "Food", None, "F", "food"],), "F"),
    ("ARRAY_MIN(A)", {"A": AI}, ([],), None),
    ("ARRAY_SORT(A)", {"A": AI}, ([0, None, 1, 0, -1],), [-1, 0, 0, 1, None]),
    ("ARRAY_SORT(A, 'desc')", {"A": AS}, (["foo", None, "F"],), ["foo", "F", None]),
    ("ARRAY_SORT(A, 'DESCENDING')", {"A": AD}, ([0.0, -0.0, math.inf],), [math.inf, 0.0, -0.0]),
    ("ARRAY_SORT(A, 'sideways')", {"A": AI}, ([1],), None),
    ("ARRAY_SORT(A)", {"A": ArrayType(AI)}, ([[2], [1]],), None),  # lists are not Comparable
    ("ARRAY_DISTINCT(A)", {"A": AI}, ([1, None, 1, None, 2],), [1, None, 2]),
    ("ARRAY_DISTINCT(A)", {"A": AD}, ([math.nan, math.nan, 0.0, -0.0],), [math.nan, 0.0, -0.0]),
    ("ARRAY_DISTINCT(A)", {"A": ArrayType(MSI)}, ([{"a": 1, "b": 2}, {"b": 2, "a": 1}],), [{"a": 1, "b": 2}]),
    ("ARRAY_EXCEPT(A, B)", {"A": AI, "B": AI}, ([1, 2, 2, 3, None], [3]), [1, 2, None]),
    ("ARRAY_EXCEPT(A, B)", {"A": AI, "B": AI}, ([1], None), None),
    ("ARRAY_INTERSECT(A, B)", {"A": AI, "B": AI}, ([3, 1, 2, 1], [1, 3]), [3, 1]),
    ("ARRAY_UNION(A, B)", {"A": AI, "B": AI}, ([1, 2], [2, 3, 1]), [1, 2, 3]),
    ("ARRAY_CONCAT(A, B)", {"A": AI, "B": AI}, ([1, 2], [2]), [1, 2, 2]),
    ("ARRAY_CONCAT(A, B)", {"A": AI, "B": AI}, (None, [2]), [2]),
    ("ARRAY_CONCAT(A, B)", {"A": AI, "B": AI}, (None, None), None),
    ("ARRAY_CONTAINS(A, 2)", {"A": AI}, ([1, 2],), True),
    ("ARRAY_CONTAINS(A, 2)", {"A": AI}, (None,), False),
    ("ARRAY_CONTAINS(A, 1)", {"A": AD}, ([1.0],), True),  # the INTEGER widens to DOUBLE
    ("ARRAY_REMOVE(A, V)", {"A": AI, "V": INTEGER}, ([None, 1, None, 2], None), [1, 2]),
    ("ARRAY_REMOVE(ARRAY['foo', 'bar', 'foo'], 'foo')", {}, (), ["bar"]),
    ("ARRAY_JOIN(A)", {"A": AD}, ([1.0, None, 1e10],), "1.0,null,1.0E10"),
    ("ARRAY_JOIN(A, '|')", {"A": ArrayType(BOOLEAN)}, ([True, False],), "true|false"),
    ("ARRAY_JOIN(A, S)", {"A": AI, "S": STRING}, ([1, 2], None), "12"),
    ("ARRAY_JOIN(A)", {"A": ArrayType(DecimalType(3, 1))}, ([Decimal("1.0")],), "1.0"),
    ("ARRAY_JOIN(A)", {"A": ArrayType(DATE)}, ([1],), None),  # only primitive elements join
    ("ARRAY_JOIN(A)", {"A": ArrayType(DATE)}, ([],), ""),
    ("SLICE(A, 2, 3)", {"A": AS}, (["a", "b", "c", "d"],), ["b", "c"]),
    ("SLICE(A, NULL, 2)", {"A": AS}, (["a", "b", "c"],), ["a", "b"]),
    ("SLICE(A, 0, 2)", {"A": AS}, (["a", "b", "c"],), None),
    ("SLICE(A, 2, 9)", {"A": AS}, (["a", "b", "c"],), None),
    ("GENERATE_SERIES(A, B)", {"A": INTEGER, "B": INTEGER}, (4, 0), [4, 3, 2, 1, 0]),
    ("GENERATE_SERIES(A, B)", {"A": INTEGER, "B": INTEGER}, (4, 4), [4]),
    ("GENERATE_SERIES(A, B, C)", {"A": INTEGER, "B": INTEGER, "C": INTEGER}, (-2, 1, 2), [-2, 0]),
    ("GENERATE_SERIES(A, B, C)", {"A": BIGINT, "B": BIGINT, "C": INTEGER}, (0, 9, 3), [0, 3, 6, 9]),
    ("GENERATE_SERIES(A, B, C)", {"A": INTEGER, "B": INTEGER, "C": INTEGER}, (0, 9, -3), None),  # wrong sign
    ("GENERATE_SERIES(A, B, C)", {"A": INTEGER, "B": INTEGER, "C": INTEGER}, (0, 9, 0), None),
    ("AS_MAP(K, V)", {"K": AS, "V": AI}, (["a", "b", "c"], [1, 2]), {"a": 1, "b": 2, "c": None}),
    ("MAP_KEYS(M)", {"M": MSI}, ({"foo": 10, "bar": None},), ["foo", "bar"]),
    ("MAP_VALUES(M)", {"M": MSI}, ({"foo": 10, "bar": None},), [10, None]),
    ("MAP_UNION(M, N)", {"M": MSI, "N": MSI}, ({"foo": 10, "bar": 20}, {"foo": None}), {"foo": None, "bar": 20}),
    ("MAP_UNION(M, N)", {"M": MSI, "N": MSI}, (None, {"a": 1}), {"a": 1}),
    ("ENTRIES(M, TRUE)", {"M": MSI}, ({"b": 2, "a": 1},), [{"K": "a", "V": 1}, {"K": "b", "V": 2}]),
    ("ENTRIES(M, FALSE)", {"M": MSI}, ({"b": 2, "a": 1},), [{"K": "b", "V": 2}, {"K": "a", "V": 1}]),
    ("TRANSFORM(A, x => x + 5)", {"A": AI}, ([3, 6],), [8, 11]),
    ("TRANSFORM(A, x => x + 5)", {"A": AI}, ([5, None],), None),  # the null element fails the lambda
    ("TRANSFORM(M, (k, v) => UCASE(k), (k, v) => v * 2)", {"M": MSI}, ({"a": 1},), {"A": 2}),
    ("TRANSFORM(M, (k, v) => 'same', (k, v) => v)", {"M": MSI}, ({"a": 1, "b": 2},), None),  # duplicate key
    ("TRANSFORM(M, (k, v) => k, (k, v) => CAST(NULL AS INT))", {"M": MSI}, ({"a": 1},), None),  # null value
    ("FILTER(A, x => x > 1)", {"A": AI}, ([1, 2, 3],), [2, 3]),
    ("FILTER(A, x => x > 1)", {"A": AI}, ([1, None],), []),  # comparing null is false
    ("FILTER(A, x => CAST(NULL AS BOOLEAN))", {"A": AI}, ([1],), None),  # a null condition fails (unboxing)
    ("FILTER(M, (k, v) => v > 1)", {"M": MSI}, ({"a": 1, "b": 2},), {"b": 2}),
    ("REDUCE(A, 0, (s, x) => s + x)", {"A": AI}, ([1, 2, 3],), 6),
    ("REDUCE(A, 5, (s, x) => s + x)", {"A": AI}, (None,), 5),
    ("REDUCE(A, S, (s, x) => s + x)", {"A": AI, "S": INTEGER}, ([1], None), None),
    ("REDUCE(M, '', (s, k, v) => CONCAT(s, k))", {"M": MSI}, ({"a": 1, "b": 2},), "ab"),
    ("REDUCE(A, 0, (s, x) => s + REDUCE(TRANSFORM(x, y => y * 2), 0, (t, z) => t + z))",
     {"A": ArrayType(AI)}, ([[1, 2], [3]],), 12),  # nested lambdas
])
def test_collection_functions(text, cols, row, out):
    got = evaluate(text, cols, row)
    if isinstance(out, list) and any(isinstance(x, float) and x != x for x in out):
        assert [repr(x) for x in got] == [repr(x) for x in out]
    else:
        assert got == out


@pytest.mark.parametrize("text,cols,out", [
    ("ENTRIES(M, TRUE)", {"M": MSI},
     ArrayType(StructType((StructField("K", STRING), StructField("V", INTEGER))))),
    ("GENERATE_SERIES(A, B)", {"A": BIGINT, "B": BIGINT}, ArrayType(BIGINT)),
    ("MAP_KEYS(M)", {"M": MapType(STRING, AI)}, AS),
    ("TRANSFORM(M, (k, v) => LEN(k), (k, v) => CAST(v AS STRING))", {"M": MSI}, MapType(INTEGER, STRING)),
    ("REDUCE(A, 0, (s, x) => s + x)", {"A": ArrayType(BIGINT)}, BIGINT),
    ("ARRAY[NULL, 10, '2e1', A, B]", {"A": INTEGER, "B": BIGINT}, ArrayType(DecimalType(19, 0))),
    ("ARRAY[1, '2']", {}, AI),
    ("ARRAY[A, '2.5']", {"A": INTEGER}, ArrayType(DecimalType(11, 1))),
])
def test_result_types(text, cols, out):
    assert type_of(text, cols) == out


def test_constructor_coercion_values():
    assert evaluate("ARRAY[NULL, 10, '2e1', A, B]", {"A": INTEGER, "B": BIGINT}, (30, 40)) == \
        [None, 10, 20, 30, 40]
    with pytest.raises(KsqlError, match='invalid input syntax for type INTEGER: "not a number"'):
        type_of("ARRAY[1, 'not a number']")


def test_resolution_errors():
    with pytest.raises(KsqlError, match=r"Function 'entries' does not accept parameters \(MAP<STRING, ARRAY"):
        type_of("ENTRIES(M, TRUE)", {"M": MapType(STRING, AI)})
    with pytest.raises(KsqlError, match="Function 'array_length' does not accept parameters"):
        type_of("ARRAY_LENGTH(M)", {"M": MSI})


def test_table_functions():
    reg = default_registry()
    assert reg.is_table_function("explode") and not reg.is_scalar("EXPLODE")
    rf = reg.resolve_table("EXPLODE", [ArrayType(DecimalType(20, 10))])
    assert rf.return_type == DecimalType(20, 10) and rf.overload.param_names == ("input",)
    assert reg.resolve_table("explode", [ArrayType(BIGINT)]).return_type == BIGINT
    assert reg.resolve_table("CUBE_EXPLODE", [AS]).return_type == AS
    with pytest.raises(KsqlError) as err:
        reg.resolve_table("EXPLODE", [MSI])
    assert str(err.value) == ("Function 'explode' does not accept parameters (MAP<STRING, INTEGER>).\n"
                              "Valid alternatives are:\nexplode(ARRAY<DECIMAL> input)\nexplode(ARRAY<T> list)")
    with pytest.raises(KsqlError, match="Can't find any table functions with the name 'ABS'"):
        reg.resolve_table("ABS", [INTEGER])
    assert explode([1, None, 2]) == [1, None, 2] and explode(None) == [] and explode([]) == []
    assert cube_explode([1, 2]) == [[None, None], [None, 2], [1, None], [1, 2]]
    assert cube_explode([1, None]) == [[None, None], [1, None]]
    assert cube_explode(["a", "b", "c"])[3] == [None, "b", "c"] and len(cube_explode(["a", "b", "c"])) == 8
    assert cube_explode(None) == []


def test_generate_series_is_a_scalar_array_function():
    reg = default_registry()
    assert reg.is_scalar("GENERATE_SERIES") and not reg.is_table_function("GENERATE_SERIES")


def test_function_metadata():
    reg = default_registry()
    info = reg.describe("ARRAY_SORT")
    assert info.kind == "SCALAR" and info.category == "ARRAY" and info.description
    assert {ov.signature(info.display_name) for ov in info.overloads} == {
        "array_sort(ARRAY<T> input)", "array_sort(ARRAY<T> input, STRING direction)"}
    assert reg.describe("EXPLODE").kind == "TABLE"
    assert reg.describe("dateadd").category == "DATE / TIME"
    assert all(f.description for f in reg.list_functions() if f.kind in ("SCALAR", "TABLE")
               and f.name in ("GREATEST", "GEO_DISTANCE", "CONVERT_TZ", "ENTRIES", "CUBE_EXPLODE"))


def test_the_test_harness_functions_stay_out_of_the_default_registry():
    from ksql.functions.testing_udfs import testing_registry
    reg = testing_registry()
    assert not default_registry().is_scalar("TEST_UDF") and reg.is_scalar("TEST_UDF")
    assert reg.resolve_scalar("test_udf", [INTEGER, STRING]).impl(1, "x") == "doStuffIntString"
    assert reg.resolve_scalar("test_udf", [BIGINT, BIGINT, BIGINT]).impl(1, 2, 3) == "doStuffLongVarargs"
    struct_a = StructType((StructField("A", STRING),))
    rf = reg.resolve_table("test_udtf", [INTEGER, BIGINT, DOUBLE, BOOLEAN, STRING, DecimalType(20, 10), struct_a])
    assert rf.impl(1, 2, 3.1, True, "foo", Decimal("123.4560000000"), {"A": "bar"}) == \
        ["1", "2", "3.1", "true", "foo", "123.4560000000", "Struct{A=bar}"]
    assert reg.resolve_table("test_udtf", [DecimalType(20, 10)]).return_type == DecimalType(30, 10)
    assert reg.resolve_table("throwing_udtf", [BOOLEAN]).impl(False) == [False]
    with pytest.raises(KsqlError, match="boom"):
        reg.resolve_scalar("bad_udf", [BOOLEAN]).impl(True)


def test_generate_series_sizes_as_java_computes_them():
    errors: list[str] = []
    assert evaluate("GENERATE_SERIES(A, B)", {"A": INTEGER, "B": INTEGER}, (0, 2**31 - 1), errors) is None
    assert "Illegal Capacity" in errors[0]  # the int size wraps negative, as in ksqlDB
    assert evaluate("GENERATE_SERIES(A, B)", {"A": BIGINT, "B": BIGINT}, (0, 10**9), errors) is None
    assert "more than the 10000000 allowed" in errors[1]
