"""Mathematical functions with ksqlDB's overloads and Java's semantics.

Java's Math differs from Python's math where it matters to results: no exceptions
(domain errors are NaN, overflows are signed infinities, x/0.0 is infinite),
Math.abs(Integer.MIN_VALUE) stays negative, Math.round is floor(x + 0.5), and
BigDecimal rounding keeps scales. The helpers below reproduce those rules.
"""

from __future__ import annotations

import math
import random as _random
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
)
from fractions import Fraction

from ksql.errors import KsqlError
from ksql.functions.javalib import (
    DEC_CTX,
    INT_MIN,
    LONG_MIN,
    double_to_long,
    float_to_decimal,
    java_ddiv,
    java_order_key,
)
from ksql.functions.registry import DECIMAL_ANY, SchemaProvider, scalar
from ksql.types import BIGINT, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, DecimalType, SqlType

_CAT = "MATHEMATICAL"
_NUMBERS = (INTEGER, BIGINT, DOUBLE)


def _decimal_of(t: SqlType) -> DecimalType:
    if not isinstance(t, DecimalType):
        raise KsqlError(f"The schema provider expects a DECIMAL parameter, got {t}")
    return t


_same_decimal = SchemaProvider(lambda args: args[0], "DECIMAL")
# ROUND/TRUNC(DECIMAL(p, s)) -> DECIMAL(p - s, 0), as ksqlDB's schema provider
_integral_decimal = SchemaProvider(
    lambda args: DecimalType(max(_decimal_of(args[0]).precision - _decimal_of(args[0]).scale, 1), 0), "DECIMAL")


# --- Java Math helpers ---------------------------------------------------------------------


def _java_unary(fn):
    """Wrap a math function so domain errors give NaN and overflows a signed infinity, as Java's."""
    def f(x):
        x = float(x)
        try:
            return fn(x)
        except ValueError:
            return math.nan
        except OverflowError:
            return math.copysign(math.inf, x) if fn in (math.sinh,) else math.inf
    f.__name__ = getattr(fn, "__name__", "f")
    return f


def java_ln(x: float) -> float:
    """Math.log: log(0) = -Infinity, log(negative or NaN) = NaN."""
    if x == 0:
        return -math.inf
    if x < 0 or x != x:
        return math.nan
    return math.log(x)


def java_sqrt(x: float) -> float:
    if x != x or x < 0:
        return math.nan
    return math.sqrt(x)


def java_cbrt(x: float) -> float:
    """Math.cbrt: correctly rounded (Python's cbrt(27.0) is 3.0000000000000004, Java's is 3.0)."""
    if x != x or x in (math.inf, -math.inf) or x == 0:
        return x
    r = math.cbrt(x)
    exact = Fraction(x)
    best, err = r, abs(Fraction(r) ** 3 - exact)
    for cand in (math.nextafter(r, math.inf), math.nextafter(r, -math.inf)):
        e = abs(Fraction(cand) ** 3 - exact)
        if e < err:
            best, err = cand, e
    return best


def java_pow(b: float, e: float) -> float:
    """Math.pow, whose special cases differ from C's (pow(1, NaN) and pow(-1, Infinity) are NaN)."""
    if e != e:
        return math.nan
    if e == 0:
        return 1.0
    if abs(b) == 1 and e in (math.inf, -math.inf):
        return math.nan
    odd_int = math.isfinite(e) and e == int(e) and int(e) % 2 == 1
    try:
        return math.pow(b, e)
    except OverflowError:
        return -math.inf if b < 0 and odd_int else math.inf
    except (ValueError, ZeroDivisionError):
        if b == 0:  # zero to a negative power
            return -math.inf if odd_int and math.copysign(1.0, b) < 0 else math.inf
        return math.nan


def _signed_zero(r: float, x: float) -> float:
    return math.copysign(0.0, x) if r == 0 else r


# --- ABS -----------------------------------------------------------------------------------

@scalar("abs", [INTEGER], INTEGER, category=_CAT, param_names=("val",),
        description="Returns the absolute value of its argument. If the argument is not negative, the argument "
                    "is returned. If the argument is negative, the negation of the argument is returned.")
def abs_int(x):
    return x if x == INT_MIN else abs(x)


@scalar("abs", [BIGINT], BIGINT, category=_CAT, param_names=("val",))
def abs_long(x):
    return x if x == LONG_MIN else abs(x)


@scalar("abs", [DOUBLE], DOUBLE, category=_CAT, param_names=("val",))
def abs_double(x):
    return abs(x)


@scalar("abs", [DECIMAL_ANY], _same_decimal, category=_CAT, param_names=("val",))
def abs_decimal(x):
    return DEC_CTX.abs(x)  # abs(x) would round to 28 digits


# --- SIGN ----------------------------------------------------------------------------------

@scalar("sign", [INTEGER], INTEGER, category=_CAT, param_names=("value",),
        description="The sign of a numeric value as an INTEGER: -1 if the argument is negative, 0 if it is "
                    "zero, 1 if it is positive.")
def sign_int(x):
    return (x > 0) - (x < 0)


@scalar("sign", [BIGINT], INTEGER, category=_CAT, param_names=("value",))
def sign_long(x):
    return (x > 0) - (x < 0)


@scalar("sign", [DOUBLE], INTEGER, category=_CAT, param_names=("value",))
def sign_double(x):
    return 0 if x != x else (x > 0) - (x < 0)


@scalar("sign", [DECIMAL_ANY], INTEGER, category=_CAT, param_names=("value",))
def sign_decimal(x):
    return (x > 0) - (x < 0)


# --- FLOOR / CEIL ----------------------------------------------------------------------------

def _int_identity(x):
    return x


for _t in (INTEGER, BIGINT):
    scalar("floor", [_t], _t, category=_CAT, param_names=("val",),
           description="Returns the largest integer less than or equal to the specified numeric expression.")(
        _int_identity)
    scalar("ceil", [_t], _t, category=_CAT, param_names=("val",),
           description="Returns the smallest integer greater than or equal to the specified numeric "
                       "expression.")(_int_identity)


@scalar("floor", [DOUBLE], DOUBLE, category=_CAT, param_names=("val",))
def floor_double(x):
    if not math.isfinite(x):
        return x
    return _signed_zero(float(math.floor(x)), x)


@scalar("ceil", [DOUBLE], DOUBLE, category=_CAT, param_names=("val",))
def ceil_double(x):
    if not math.isfinite(x):
        return x
    return _signed_zero(float(math.ceil(x)), x)


def set_scale(d: Decimal, places: int, mode: str) -> Decimal:
    """BigDecimal.setScale(places, mode) for any `places` (Python's contexts limit digits and exponents):
    finer scales leave the value as it is, scales coarser than its first digit round it to zero."""
    exp = int(d.as_tuple().exponent)
    if -places <= exp:
        return d
    if -places > d.adjusted() + 1 and mode in (ROUND_DOWN, ROUND_HALF_UP, ROUND_HALF_DOWN):
        return Decimal(0)
    digits = max(d.adjusted() + places + 2, 1)
    ctx = Context(prec=digits, rounding=mode, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return d.quantize(Decimal(1).scaleb(-places, context=ctx), context=ctx)


def _with_scale_of(r: Decimal, x: Decimal) -> Decimal:
    """setScale(x.scale()) after rounding: the result keeps the argument's scale."""
    return r.quantize(Decimal(1).scaleb(int(x.as_tuple().exponent)), context=DEC_CTX)


def _set_scale_keep(x: Decimal, places: int, mode: str) -> Decimal:
    """BigDecimal setScale(places, mode).setScale(x.scale()): round, keeping the value's scale."""
    return _with_scale_of(set_scale(x, places, mode), x)


@scalar("floor", [DECIMAL_ANY], _same_decimal, category=_CAT, param_names=("val",))
def floor_decimal(x):
    return _set_scale_keep(x, 0, ROUND_FLOOR)


@scalar("ceil", [DECIMAL_ANY], _same_decimal, category=_CAT, param_names=("val",))
def ceil_decimal(x):
    return _set_scale_keep(x, 0, ROUND_CEILING)


# --- ROUND -----------------------------------------------------------------------------------
# ksqlDB rounds halves toward positive infinity: HALF_UP for positives, HALF_DOWN for negatives.


def _round_dec(d: Decimal, places: int) -> Decimal:
    return set_scale(d, places, ROUND_HALF_DOWN if d < 0 else ROUND_HALF_UP)


_ROUND_DOC = ("Round a value to the number of decimal places as specified by the next argument. Values are "
              "rounded to the nearest whole number by default; halves round toward positive infinity.")


@scalar("round", [INTEGER], INTEGER, category=_CAT, param_names=("val",), description=_ROUND_DOC)
def round_int(x):
    return x


@scalar("round", [BIGINT], BIGINT, category=_CAT, param_names=("val",))
def round_long(x):
    return x


@scalar("round", [DOUBLE], BIGINT, category=_CAT, param_names=("val",), description=_ROUND_DOC)
def round_double(x):
    """Math.round: floor(x + 0.5), saturating; NaN is 0."""
    return double_to_long(math.floor(x + 0.5)) if math.isfinite(x) else double_to_long(x)


@scalar("round", [DOUBLE, INTEGER], DOUBLE, category=_CAT, param_names=("val", "decimalPlaces"))
def round_double_places(x, places):
    if not math.isfinite(x):
        return x
    return float(_round_dec(float_to_decimal(x), places)) + 0.0  # BigDecimal has no -0


@scalar("round", [DECIMAL_ANY], _integral_decimal, category=_CAT, param_names=("val",))
def round_decimal(x):
    return _round_dec(x, 0)


@scalar("round", [DECIMAL_ANY, INTEGER], _same_decimal, category=_CAT, param_names=("val", "decimalPlaces"))
def round_decimal_places(x, places):
    return _with_scale_of(_round_dec(x, places), x)


# --- TRUNC ------------------------------------------------------------------------------------

@scalar("trunc", [INTEGER], INTEGER, category=_CAT, param_names=("val",),
        description="Truncates a value to the number of decimal places given by the second argument, or to "
                    "an integral value (rounding toward zero).")
def trunc_int(x):
    return x


@scalar("trunc", [BIGINT], BIGINT, category=_CAT, param_names=("val",))
def trunc_long(x):
    return x


@scalar("trunc", [DOUBLE], BIGINT, category=_CAT, param_names=("val",))
def trunc_double(x):
    return double_to_long(x)


@scalar("trunc", [DOUBLE, INTEGER], DOUBLE, category=_CAT, param_names=("val", "decimalPlaces"))
def trunc_double_places(x, places):
    if not math.isfinite(x):
        return x
    return float(set_scale(float_to_decimal(x), places, ROUND_DOWN)) + 0.0  # BigDecimal has no -0


@scalar("trunc", [DECIMAL_ANY], _integral_decimal, category=_CAT, param_names=("val",))
def trunc_decimal(x):
    return x.quantize(Decimal(1), rounding=ROUND_DOWN, context=DEC_CTX)


@scalar("trunc", [DECIMAL_ANY, INTEGER], _same_decimal, category=_CAT, param_names=("val", "decimalPlaces"))
def trunc_decimal_places(x, places):
    return _set_scale_keep(x, places, ROUND_DOWN)


# --- exponentials, logarithms, roots -----------------------------------------------------------

def _declare_double_fn(name: str, fn, description: str, param: str = "value") -> None:
    for t in _NUMBERS:
        scalar(name, [t], DOUBLE, category=_CAT, param_names=(param,), description=description)(fn)


_declare_double_fn("exp", _java_unary(math.exp), "The exponential of a value: e raised to its power.", "exponent")
_declare_double_fn("ln", lambda x: java_ln(float(x)), "The natural logarithm of a value.")
_LOG_DOC = "The logarithm of a value: natural with one argument, in the given base with two."
_declare_double_fn("log", lambda x: java_ln(float(x)), _LOG_DOC)
_declare_double_fn("sqrt", lambda x: java_sqrt(float(x)), "The square root of a value.")
_declare_double_fn("cbrt", lambda x: java_cbrt(float(x)), "The cube root of a value.")


def _log_base(base, value):
    """LOG(base, value): NaN for a base <= 0 or 1, as ksqlDB's Log."""
    base, value = float(base), float(value)
    if base <= 0 or base == 1 or base != base:
        return math.nan
    return java_ddiv(java_ln(value), java_ln(base))


for _t in _NUMBERS:
    scalar("log", [_t, _t], DOUBLE, category=_CAT, param_names=("base", "value"), description=_LOG_DOC)(_log_base)
    scalar("power", [_t, _t], DOUBLE, category=_CAT, param_names=("base", "exponent"),
           description="The value of the base raised to the power of the exponent.")(
        lambda b, e: java_pow(float(b), float(e)))
    scalar("atan2", [_t, _t], DOUBLE, category=_CAT, param_names=("y", "x"),
           description="The angle theta of the polar coordinates (r, theta) of the point (x, y).")(
        lambda y, x: math.atan2(float(y), float(x)))


# --- trigonometry -------------------------------------------------------------------------------

for _name, _fn, _desc in (
    ("acos", math.acos, "The inverse (arc) cosine of a value, in radians."),
    ("asin", math.asin, "The inverse (arc) sine of a value, in radians."),
    ("atan", math.atan, "The inverse (arc) tangent of a value, in radians."),
    ("cos", math.cos, "The cosine of a value, in radians."),
    ("sin", math.sin, "The sine of a value, in radians."),
    ("tan", math.tan, "The tangent of a value, in radians."),
    ("cosh", math.cosh, "The hyperbolic cosine of a value."),
    ("sinh", math.sinh, "The hyperbolic sine of a value."),
    ("tanh", math.tanh, "The hyperbolic tangent of a value."),
    ("degrees", math.degrees, "Converts an angle in radians to degrees."),
    ("radians", math.radians, "Converts an angle in degrees to radians."),
):
    _declare_double_fn(_name, _java_unary(_fn), _desc)


def _cot(x) -> float:
    x = float(x)
    if not math.isfinite(x):
        return math.nan
    return java_ddiv(1.0, math.tan(x))


_declare_double_fn("cot", _cot, "The cotangent of a value, in radians.")


@scalar("pi", [], DOUBLE, category=_CAT, description="The value of pi, the ratio of a circle's circumference "
        "to its diameter.")
def pi():
    return math.pi


@scalar("random", [], DOUBLE, category=_CAT, deterministic=False,
        description="Returns a random DOUBLE value between 0.0 and 1.0.")
def random():
    return _random.random()


# --- GREATEST / LEAST ----------------------------------------------------------------------------
# One overload per type, `(T val, T... vals)`; nulls are skipped, all nulls give null. Values
# compare as Java's compareTo: doubles with NaN largest and -0.0 < 0.0, strings by UTF-16 code
# units, BYTES as signed bytes (ByteBuffer.compareTo).


def _widen_decimals(args: list[SqlType]) -> SqlType:
    """DecimalUtil.widen over every argument: enough integer digits and scale for all of them."""
    decs = [_decimal_of(t) for t in args if t.base != "NULL"]
    if not decs:
        raise KsqlError("The schema provider method for GREATEST/LEAST expects DECIMAL parameters")
    scale = max(d.scale for d in decs)
    integer = max(d.precision - d.scale for d in decs)
    return DecimalType(min(integer + scale, 38), scale)


_widened_decimal = SchemaProvider(_widen_decimals, "DECIMAL")


def _extreme(pick, key=None):
    def fn(val, *vals):
        present = [v for v in (val, *vals) if v is not None]
        if not present:
            return None
        return pick(present, key=key) if key is not None else pick(present)
    return fn


_EXTREME_TYPES = ((INTEGER, INTEGER, None), (BIGINT, BIGINT, None), (DOUBLE, DOUBLE, java_order_key),
                  (STRING, STRING, java_order_key), (BYTES, BYTES, java_order_key),
                  (DECIMAL_ANY, _widened_decimal, None), (DATE, DATE, None), (TIME, TIME, None),
                  (TIMESTAMP, TIMESTAMP, None))

for _fname, _pick, _desc in (
    ("greatest", max, "Returns the highest non-null value among a variable number of comparable columns. If "
                      "comparing columns of different numerical types, use CAST to first cast them to be of the "
                      "same type."),
    ("least", min, "Returns the lowest non-null value among a variable number of comparable columns. If "
                   "comparing columns of different numerical types, use CAST to first cast them to be of the "
                   "same type."),
):
    for _param, _ret, _key in _EXTREME_TYPES:
        scalar(_fname, [_param, _param], _ret, variadic=True, null_on_null=False, param_names=("val", "vals"),
               category=_CAT, description=_desc)(_extreme(_pick, _key))


# --- GEO_DISTANCE -------------------------------------------------------------------------------

_EARTH_RADIUS_KM = 6371.0
_EARTH_RADIUS_MILES = 3959.0


def _radius(units: str | None) -> float:
    if units is None:
        return _EARTH_RADIUS_KM
    u = units.lower()
    if u.startswith("mi"):
        return _EARTH_RADIUS_MILES
    if u.startswith("km"):
        return _EARTH_RADIUS_KM
    raise KsqlError("GeoDistance function units parameter must be one of 'MI', 'MILES', 'KM' or 'KILOMETERS'")


def _to_radians(deg: float) -> float:
    """Degrees to radians as ksqlDB's GeoDistance computes them (deg / 180 * PI: its results'
    last digits depend on it)."""
    return deg / 180.0 * math.pi


def _haversin(v: float) -> float:
    return math.pow(math.sin(v / 2), 2)


_GEO_DOC = ("The great-circle distance between two lat-long points, both specified in decimal degrees. An "
            "optional final parameter specifies 'KM' (the default) or 'MILES'.")


@scalar("geo_distance", [DOUBLE, DOUBLE, DOUBLE, DOUBLE, STRING], DOUBLE, null_on_null=False, category=_CAT,
        param_names=("lat1", "lon1", "lat2", "lon2", "units"), description=_GEO_DOC)
def geo_distance(lat1, lon1, lat2, lon2, units=None):
    """ksqlDB's GeoDistance (haversine formula); the coordinates are Java primitives, so a null fails."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        raise KsqlError("GeoDistance requires non-null coordinates")
    for lat in (lat1, lat2):
        if lat < -90 or lat > 90:
            raise KsqlError("valid latitude values for GeoDistance function are in the range of -90 to 90 "
                            "decimal degrees")
    for lon in (lon1, lon2):
        if lon < -180 or lon > 180:
            raise KsqlError("valid longitude values for GeoDistance function are in the range of -180 to 180 "
                            "decimal degrees")
    radius = _radius(units)
    delta_lat = _to_radians(lat2 - lat1)
    delta_lon = _to_radians(lon2 - lon1)
    a = _haversin(delta_lat) + _haversin(delta_lon) * math.cos(_to_radians(lat1)) * math.cos(_to_radians(lat2))
    return 2 * math.asin(math.sqrt(a)) * radius


scalar("geo_distance", [DOUBLE, DOUBLE, DOUBLE, DOUBLE], DOUBLE, null_on_null=False, category=_CAT,
       param_names=("lat1", "lon1", "lat2", "lon2"), description=_GEO_DOC)(geo_distance)
