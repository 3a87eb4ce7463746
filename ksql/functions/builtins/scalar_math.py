"""Mathematical functions with Java's semantics (Math.abs overflow, HALF_UP rounding ...)."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal

from ksql.functions.javalib import DEC_CTX, INT_MIN, LONG_MIN, double_to_long, float_to_decimal
from ksql.functions.registry import DECIMAL_ANY, scalar
from ksql.types import BIGINT, DOUBLE, INTEGER, DecimalType, SqlType

_CAT = "MATHEMATICAL"


def _same(args: list[SqlType]) -> SqlType:
    return args[0]


# --- ABS ---------------------------------------------------------------------------

@scalar("ABS", [INTEGER], INTEGER, category=_CAT, description="The absolute value of its argument.")
def abs_int(x):
    return x if x == INT_MIN else abs(x)


@scalar("ABS", [BIGINT], BIGINT, category=_CAT)
def abs_long(x):
    return x if x == LONG_MIN else abs(x)


@scalar("ABS", [DOUBLE], DOUBLE, category=_CAT)
def abs_double(x):
    return abs(x)


@scalar("ABS", [DECIMAL_ANY], _same, category=_CAT)
def abs_decimal(x):
    return abs(x)


# --- SIGN ----------------------------------------------------------------------------

@scalar("SIGN", [INTEGER], INTEGER, category=_CAT, description="The sign of a number: -1, 0 or 1.")
def sign_int(x):
    return (x > 0) - (x < 0)


@scalar("SIGN", [BIGINT], INTEGER, category=_CAT)
def sign_long(x):
    return (x > 0) - (x < 0)


@scalar("SIGN", [DOUBLE], INTEGER, category=_CAT)
def sign_double(x):
    if x != x:
        return 0
    return (x > 0) - (x < 0)


@scalar("SIGN", [DECIMAL_ANY], INTEGER, category=_CAT)
def sign_decimal(x):
    return (x > 0) - (x < 0)


# --- FLOOR / CEIL ----------------------------------------------------------------------

def _int_identity(x):
    return x


for _t in (INTEGER, BIGINT):
    scalar("FLOOR", [_t], _t, category=_CAT, description="Rounds down to the nearest integer value.")(
        _int_identity)
    scalar("CEIL", [_t], _t, category=_CAT, description="Rounds up to the nearest integer value.")(
        _int_identity)


@scalar("FLOOR", [DOUBLE], DOUBLE, category=_CAT)
def floor_double(x):
    if x != x or x in (math.inf, -math.inf):
        return x
    return float(math.floor(x))


@scalar("CEIL", [DOUBLE], DOUBLE, category=_CAT)
def ceil_double(x):
    if x != x or x in (math.inf, -math.inf):
        return x
    return float(math.ceil(x))


def _floor_dec_type(args: list[SqlType]) -> SqlType:
    return args[0]


@scalar("FLOOR", [DECIMAL_ANY], _floor_dec_type, category=_CAT)
def floor_decimal(x):
    return x.quantize(Decimal(1), rounding=ROUND_FLOOR, context=DEC_CTX).quantize(
        Decimal(1).scaleb(x.as_tuple().exponent), context=DEC_CTX)


@scalar("CEIL", [DECIMAL_ANY], _floor_dec_type, category=_CAT)
def ceil_decimal(x):
    return x.quantize(Decimal(1), rounding=ROUND_CEILING, context=DEC_CTX).quantize(
        Decimal(1).scaleb(x.as_tuple().exponent), context=DEC_CTX)


# --- ROUND ---------------------------------------------------------------------------------
# ksqlDB rounds halves toward positive infinity: HALF_UP for positives, HALF_DOWN for negatives.


def _round_dec(d: Decimal, places: int) -> Decimal:
    mode = ROUND_HALF_DOWN if d < 0 else ROUND_HALF_UP
    return d.quantize(Decimal(1).scaleb(-places), rounding=mode, context=DEC_CTX)


@scalar("ROUND", [INTEGER], INTEGER, category=_CAT, description="Round to the nearest integer, or to a "
        "number of decimal places (halves round toward positive infinity).")
def round_int(x):
    return x


@scalar("ROUND", [BIGINT], BIGINT, category=_CAT)
def round_long(x):
    return x


@scalar("ROUND", [DOUBLE], BIGINT, category=_CAT)
def round_double(x):
    """Math.round: floor(x + 0.5), saturating."""
    return double_to_long(math.floor(x + 0.5)) if x == x and abs(x) != math.inf else double_to_long(x)


@scalar("ROUND", [DOUBLE, INTEGER], DOUBLE, category=_CAT, param_names=("val", "decimalPlaces"))
def round_double_places(x, places):
    if x != x or abs(x) == math.inf:
        return x
    return float(_round_dec(float_to_decimal(x), places))


def _round_dec_type(args: list[SqlType]) -> SqlType:
    t = args[0]
    assert isinstance(t, DecimalType)
    return DecimalType(min(t.precision - t.scale + 1, 38), 0)


def _round_dec_places_type(args: list[SqlType]) -> SqlType:
    t = args[0]
    assert isinstance(t, DecimalType)
    return DecimalType(min(t.precision + 1, 38), t.scale)


@scalar("ROUND", [DECIMAL_ANY], _round_dec_type, category=_CAT)
def round_decimal(x):
    return _round_dec(x, 0)


@scalar("ROUND", [DECIMAL_ANY, INTEGER], _round_dec_places_type, category=_CAT,
        param_names=("val", "decimalPlaces"))
def round_decimal_places(x, places):
    scale = -x.as_tuple().exponent
    return _round_dec(x, places).quantize(Decimal(1).scaleb(-scale), context=DEC_CTX)


# --- transcendental ------------------------------------------------------------------------


def _nan_on_domain(fn):
    def f(x):
        try:
            return fn(float(x))
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf
    f.__name__ = fn.__name__
    return f


def _ln(x: float) -> float:
    if x == 0:
        return -math.inf
    if x < 0 or x != x:
        return math.nan
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0 or x != x:
        return math.nan
    return math.sqrt(x)


for _name, _fn, _desc in (
    ("EXP", math.exp, "e raised to the power of the argument."),
    ("LN", _ln, "Natural logarithm."),
    ("SQRT", _sqrt, "Square root."),
    ("ACOS", math.acos, "Inverse cosine."),
    ("ASIN", math.asin, "Inverse sine."),
    ("ATAN", math.atan, "Inverse tangent."),
    ("COS", math.cos, "Cosine."),
    ("SIN", math.sin, "Sine."),
    ("TAN", math.tan, "Tangent."),
    ("COSH", math.cosh, "Hyperbolic cosine."),
    ("SINH", math.sinh, "Hyperbolic sine."),
    ("TANH", math.tanh, "Hyperbolic tangent."),
    ("DEGREES", math.degrees, "Radians to degrees."),
    ("RADIANS", math.radians, "Degrees to radians."),
    ("CBRT", lambda x: math.copysign(abs(x) ** (1.0 / 3.0), x), "Cube root."),
):
    for _t in (INTEGER, BIGINT, DOUBLE):
        scalar(_name, [_t], DOUBLE, category=_CAT, description=_desc)(_nan_on_domain(_fn))


def _cot(x: float) -> float:
    return 1.0 / math.tan(x)


for _t in (INTEGER, BIGINT, DOUBLE):
    scalar("COT", [_t], DOUBLE, category=_CAT, description="Cotangent.")(_nan_on_domain(_cot))


@scalar("ATAN2", [DOUBLE, DOUBLE], DOUBLE, category=_CAT, param_names=("y", "x"),
        description="The angle of the point (x, y).")
def atan2(y, x):
    return math.atan2(float(y), float(x))


@scalar("POWER", [DOUBLE, DOUBLE], DOUBLE, category=_CAT, param_names=("base", "exponent"),
        description="base raised to exponent.")
def power(b, e):
    try:
        return math.pow(float(b), float(e))
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf


@scalar("PI", [], DOUBLE, category=_CAT, description="The value of pi.")
def pi():
    return math.pi


@scalar("TRUNC", [DOUBLE], BIGINT, category=_CAT, description="Truncates toward zero.")
def trunc_double(x):
    return double_to_long(x)
