"""Mathematical functions: ksqlDB's overloads, DECIMAL result types and Java's Math edge cases."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from ksql.errors import KsqlError
from ksql.functions import default_registry
from ksql.functions.builtins.scalar_math import java_cbrt, java_pow
from ksql.types import BIGINT, BYTES, DATE, DOUBLE, INTEGER, NULL, STRING, DecimalType
from tests.planner.helpers import evaluate, type_of

INF, NAN = math.inf, math.nan


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("text,cols,row,out", [
    ("ABS(I)", {"I": INTEGER}, (-2**31,), -2**31),  # Math.abs(Integer.MIN_VALUE)
    ("CEIL(D)", {"D": DOUBLE}, (-0.5,), -0.0),
    ("FLOOR(D)", {"D": DOUBLE}, (1.1,), 1.0),
    ("CEIL(B)", {"B": DecimalType(2, 1)}, (Decimal("1.1"),), Decimal("2.0")),
    ("ROUND(D)", {"D": DOUBLE}, (NAN,), 0),
    ("ROUND(D)", {"D": DOUBLE}, (1e300,), 2**63 - 1),
    ("ROUND(D, 1)", {"D": DOUBLE}, (-1.25,), -1.2),  # halves toward positive infinity
    ("ROUND(B)", {"B": DecimalType(4, 2)}, (Decimal("10.50"),), Decimal("11")),
    ("ROUND(B, 1)", {"B": DecimalType(4, 2)}, (Decimal("-1.25"),), Decimal("-1.20")),
    ("TRUNC(D)", {"D": DOUBLE}, (-1.7,), -1),
    ("TRUNC(D, 2)", {"D": DOUBLE}, (12345.678,), 12345.67),
    ("TRUNC(D, -2)", {"D": DOUBLE}, (-12345.678,), -12300.0),
    ("TRUNC(B)", {"B": DecimalType(12, 7)}, (Decimal("-1.7000000"),), Decimal("-1")),
    ("TRUNC(B, 1)", {"B": DecimalType(12, 7)}, (Decimal("1.2345670"),), Decimal("1.2000000")),
    ("TRUNC(B, -1)", {"B": DecimalType(12, 3)}, (Decimal("12345.678"),), Decimal("12340.000")),
    ("SIGN(D)", {"D": DOUBLE}, (NAN,), 0),
    ("SIGN(B)", {"B": DecimalType(3, 1)}, (Decimal("-0.1"),), -1),
    ("SQRT(I)", {"I": INTEGER}, (-1,), NAN),
    ("EXP(D)", {"D": DOUBLE}, (1000.0,), INF),
    ("LN(I)", {"I": INTEGER}, (0,), -INF),
    ("LOG(I)", {"I": INTEGER}, (13,), 2.5649493574615367),
    ("LOG(B, V)", {"B": INTEGER, "V": INTEGER}, (15, 13), 0.9471572411831843),
    ("LOG(B, V)", {"B": DOUBLE, "V": DOUBLE}, (1.0, 13.0), NAN),
    ("LOG(B, V)", {"B": DOUBLE, "V": DOUBLE}, (0.0, 13.0), NAN),
    ("LOG(B, V)", {"B": DOUBLE, "V": DOUBLE}, (15.0, 0.0), -INF),
    ("POWER(B, E)", {"B": INTEGER, "E": INTEGER}, (15, 13), 1946195068359375.0),
    ("POWER(B, E)", {"B": DOUBLE, "E": DOUBLE}, (0.0, -1.0), INF),
    ("POWER(B, E)", {"B": DOUBLE, "E": DOUBLE}, (-10.0, 309.0), -INF),
    ("POWER(B, E)", {"B": DOUBLE, "E": DOUBLE}, (1.0, NAN), NAN),
    ("POWER(B, E)", {"B": DOUBLE, "E": DOUBLE}, (-8.0, 1 / 3), NAN),
    ("COT(D)", {"D": DOUBLE}, (0.0,), INF),
    ("COT(D)", {"D": DOUBLE}, (-0.0,), -INF),
    ("SINH(D)", {"D": DOUBLE}, (-1000.0,), -INF),
    ("COSH(D)", {"D": DOUBLE}, (-1000.0,), INF),
    ("ACOS(D)", {"D": DOUBLE}, (2.0,), NAN),
    ("CBRT(I)", {"I": INTEGER}, (27,), 3.0),
    ("CBRT(L)", {"L": BIGINT}, (-3,), -1.4422495703074083),
    ("ATAN2(Y, X)", {"Y": INTEGER, "X": INTEGER}, (-2, -3), math.atan2(-2, -3)),
    ("PI()", {}, (), math.pi),
    ("GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122)", {}, (), 8634.659796579544),
    ("GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122, 'MI')", {}, (), 5365.659729188262),
    ("GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122, U)", {"U": STRING}, (None,), 8634.659796579544),
    ("GEO_DISTANCE(39.18660374, -76.73262144, 39.18660374, -76.73222145)", {}, (), 0.03447366811448324),
    ("GEO_DISTANCE(L, -76.7, 39.2, -76.7)", {"L": DOUBLE}, (None,), None),
    ("GEO_DISTANCE(91.0, 0.0, 0.0, 0.0)", {}, (), None),
    ("GEO_DISTANCE(1.0, 0.0, 0.0, 0.0, 'parsecs')", {}, (), None),
    ("GREATEST(A, B, C, NULL, 5)", {"A": INTEGER, "B": INTEGER, "C": INTEGER}, (2**31 - 1, -2**31, None), 2**31 - 1),
    ("LEAST(A, B)", {"A": DOUBLE, "B": DOUBLE}, (None, None), None),
    ("GREATEST(A, B)", {"A": DOUBLE, "B": DOUBLE}, (NAN, 1.0), NAN),  # Double.compareTo: NaN is largest
    ("LEAST(A, B)", {"A": DOUBLE, "B": DOUBLE}, (0.0, -0.0), -0.0),
    ("GREATEST(S1, S2, 'hello')", {"S1": STRING, "S2": STRING}, ("apple", "zebra"), "zebra"),
    ("LEAST(S1, S2)", {"S1": STRING, "S2": STRING}, ("\U0001F600", "\uFFFD"), "\U0001F600"),  # UTF-16 order
    ("GREATEST(B1, B2)", {"B1": BYTES, "B2": BYTES}, (b"\x80", b"\x01"), b"\x01"),  # signed bytes
    ("GREATEST(A, B, C, D)", {"A": INTEGER, "B": BIGINT, "C": DecimalType(30, 18), "D": DOUBLE},
     (1, -1, None, 0.5), 1.0),
])
def test_math_functions(text, cols, row, out):
    got = evaluate(text, cols, row)
    assert same(got, out), (got, out)


@pytest.mark.parametrize("text,cols,out", [
    ("ROUND(B)", {"B": DecimalType(33, 16)}, DecimalType(17, 0)),
    ("ROUND(B, 2)", {"B": DecimalType(33, 16)}, DecimalType(33, 16)),
    ("TRUNC(B)", {"B": DecimalType(12, 7)}, DecimalType(5, 0)),
    ("TRUNC(D)", {"D": DOUBLE}, BIGINT),
    ("FLOOR(B)", {"B": DecimalType(2, 1)}, DecimalType(2, 1)),
    ("ROUND(I)", {"I": INTEGER}, INTEGER),
    ("SIGN(L)", {"L": BIGINT}, INTEGER),
    ("POWER(I, I)", {"I": INTEGER}, DOUBLE),
    ("GREATEST(A, B)", {"A": DecimalType(9, 2), "B": DecimalType(7, 6)}, DecimalType(13, 6)),
    ("LEAST(A, B, C, D, NULL)", {"A": INTEGER, "B": BIGINT, "C": DecimalType(30, 18), "D": DOUBLE}, DOUBLE),
    ("GREATEST(D, '2022-06-14', NULL)", {"D": DATE}, DATE),
])
def test_result_types(text, cols, out):
    assert type_of(text, cols) == out


@pytest.mark.parametrize("args,message", [
    ([INTEGER, BIGINT], "Function 'greatest' cannot be resolved due to ambiguous method parameters "
                        "(INTEGER, BIGINT)."),
    ([NULL, NULL], "Function 'greatest' cannot be resolved due to ambiguous method parameters (null, null)."),
    ([], "Function 'greatest' does not accept parameters ()."),
    ([STRING, INTEGER], "Function 'greatest' does not accept parameters (STRING, INTEGER)."),
])
def test_greatest_resolution_errors(args, message):
    with pytest.raises(KsqlError) as err:
        default_registry().resolve_scalar("GREATEST", args)
    assert str(err.value).startswith(message)
    if "does not accept" in message:
        assert "greatest(INTEGER val, INTEGER... vals)" in str(err.value)


def test_implicit_casts_to_double_and_refused_strings():
    assert evaluate("GEO_DISTANCE(LAT, 0.0, 51, 0)", {"LAT": DecimalType(3, 1)}, (Decimal("51.0"),)) == 0.0
    with pytest.raises(KsqlError, match="Function 'geo_distance' does not accept parameters"):
        type_of("GEO_DISTANCE(1.0, 2.0, 'foo', 0)")


def test_java_math_helpers():
    assert java_cbrt(27.0) == 3.0 and java_cbrt(-8.0) == -2.0 and java_cbrt(-0.0) == 0.0
    assert java_pow(-1.0, INF) != java_pow(-1.0, INF)  # NaN, where C gives 1
    assert java_pow(NAN, 0.0) == 1.0
    assert java_pow(-0.0, -3.0) == -INF


def test_random_is_non_deterministic():
    assert not default_registry().describe("random").deterministic
    assert 0.0 <= evaluate("RANDOM()") < 1.0


def test_rounding_at_any_scale():
    assert evaluate("ROUND(D, 825)", {"D": DOUBLE}, (1.5,)) == 1.5
    assert same(evaluate("ROUND(D, -2147483648)", {"D": DOUBLE}, (-2.5,)), 0.0)  # BigDecimal has no -0
    assert evaluate("ROUND(D, 0)", {"D": DOUBLE}, (1e308,)) == 1e308
    assert evaluate("TRUNC(B, 1000)", {"B": DecimalType(4, 2)}, (Decimal("9.99"),)) == Decimal("9.99")
    assert evaluate("ROUND(B, -5)", {"B": DecimalType(4, 2)}, (Decimal("9.99"),)) == Decimal("0.00")
