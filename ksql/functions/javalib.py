"""Java-compatible value helpers: number wrapping, toString formats, date/time text.

ksqlDB is Java; its observable results (overflow, CAST to STRING, rounding) follow
Java's rules, which differ from Python's. These helpers reproduce them and are
shared by the expression compiler and the built-in functions.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from ksql.errors import KsqlError

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

# Enough digits for any DECIMAL(38, s) intermediate; results are quantized after.
DEC_CTX = Context(prec=100, rounding=ROUND_HALF_UP, traps=[DivisionByZero, InvalidOperation, Overflow])


def wrap32(v: int) -> int:
    """Java int overflow: two's complement wrap to 32 bits."""
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def wrap64(v: int) -> int:
    return ((v + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


def java_idiv(a: int, b: int) -> int:
    """Java integer division: truncates toward zero; division by zero raises."""
    if b == 0:
        raise ArithmeticError("/ by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def java_imod(a: int, b: int) -> int:
    """Java %: the result takes the sign of the dividend."""
    if b == 0:
        raise ArithmeticError("/ by zero")
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def java_ddiv(a: float, b: float) -> float:
    """Java double division: x/0 is +-Infinity, 0/0 is NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        neg = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if neg else math.inf


def java_dmod(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except (ValueError, ZeroDivisionError):
        return math.nan


def double_to_long(d: float, lo: int = LONG_MIN, hi: int = LONG_MAX) -> int:
    """Java's (long)/(int) cast of a double: truncate, NaN -> 0, saturate at the bounds."""
    if d != d:
        return 0
    if d >= hi:
        return hi
    if d <= lo:
        return lo
    return int(d)


def java_double_str(d: float) -> str:
    """Double.toString: 1.0, 1.0E10, 1.234E-5, NaN, Infinity."""
    if d != d:
        return "NaN"
    if d in (math.inf, -math.inf):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    a = abs(d)
    dec = Decimal(repr(d))
    if 1e-3 <= a < 1e7:
        s = format(dec, "f")
        if "." not in s:
            s += ".0"
        return s
    sign, digits, exp = dec.as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e = dec.adjusted()
    mant = ds[0] + "." + (ds[1:] or "0")
    return f"{'-' if sign else ''}{mant}E{e}"


def java_float_str(d: float) -> str:
    return java_double_str(d)


def decimal_plain(d: Decimal) -> str:
    """BigDecimal.toPlainString."""
    return format(d, "f")


def quantize(d: Decimal, scale: int) -> Decimal:
    return d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=DEC_CTX)


def to_decimal(v: object, precision: int, scale: int) -> Decimal:
    """A value as DECIMAL(precision, scale): HALF_UP to the scale; too many digits is an error."""
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, bool):
        raise KsqlError("Cannot convert BOOLEAN to DECIMAL")
    elif isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):
        if v != v or v in (math.inf, -math.inf):
            raise ArithmeticError(f"Cannot convert {java_double_str(v)} to DECIMAL")
        d = Decimal(repr(v))
    else:
        d = Decimal(str(v).strip())
    q = quantize(d, scale)
    if q.adjusted() + 1 > precision - scale and q != 0:
        raise ArithmeticError(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} "
            f"must round to an absolute value less than 10^{precision - scale}. Got {decimal_plain(d)}")
    return q


def float_to_decimal(f: float) -> Decimal:
    """BigDecimal.valueOf(double): via the shortest decimal text."""
    return Decimal(repr(f))


# --- Java's natural ordering (Comparable.compareTo) -------------------------------


def java_str_key(s: str) -> bytes:
    """Sort key of String.compareTo: UTF-16 code units (Python compares code points)."""
    return s.encode("utf-16-be", "surrogatepass")


def java_order_key(v: object) -> object:
    """Sort key reproducing compareTo of a runtime value: doubles with NaN largest and -0.0 < 0.0,
    strings by UTF-16 code units, BYTES as signed bytes (ByteBuffer); lists, maps and structs
    are not Comparable in Java."""
    if isinstance(v, float):
        return (1, 0.0, 0.0) if v != v else (0, v, math.copysign(1.0, v))
    if isinstance(v, str):
        return java_str_key(v)
    if isinstance(v, bytes):
        return bytes(b ^ 0x80 for b in v)
    if isinstance(v, (list, dict)):
        raise KsqlError(f"Cannot compare values of type {'ARRAY' if isinstance(v, list) else 'MAP/STRUCT'}: "
                        "they are not comparable")
    return v


# --- booleans -------------------------------------------------------------------

_TRUE = ("true", "yes")
_FALSE = ("false", "no")


def parse_boolean_exact(s: str) -> bool | None:
    """ksqlDB's SqlBooleans: any non-empty prefix of true/yes/false/no, any case; else None."""
    t = s.strip().lower()
    if not t:
        return None
    if any(w.startswith(t) for w in _TRUE):
        return True
    if any(w.startswith(t) for w in _FALSE):
        return False
    return None


def parse_boolean_lenient(s: str) -> bool:
    """CAST(string AS BOOLEAN): true-ish words are true, everything else false."""
    return parse_boolean_exact(s) is True


# --- integers from text -----------------------------------------------------------

_INT_RE = re.compile(r"[+-]?\d+")


def parse_int(s: str, lo: int = INT_MIN, hi: int = INT_MAX, kind: str = "INTEGER") -> int:
    """Integer.parseInt / Long.parseLong (surrounding blanks trimmed)."""
    t = s.strip()
    if not _INT_RE.fullmatch(t):
        raise ValueError(f'For input string: "{s}"')
    v = int(t)
    if v < lo or v > hi:
        raise ValueError(f'For input string: "{s}"')
    return v


def parse_double(s: str) -> float:
    t = s.strip()
    if t.endswith(("d", "D", "f", "F")):
        t = t[:-1]
    return float(t)


# --- dates and times --------------------------------------------------------------

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
EPOCH_DATE = _dt.date(1970, 1, 1)
MS_PER_DAY = 86_400_000


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian calendar `days` after 1970-01-01, for any int
    (H. Hinnant's algorithm): a TIMESTAMP or DATE read from a record can lie far outside
    Python's years 1..9999, and Java prints those too."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _iso_date(days: int) -> str:
    """yyyy-MM-dd as Java's LocalDate.toString: 4-digit years padded, longer ones signed with '+'."""
    year, month, day = _civil_from_days(days)
    if year > 9999:
        text = f"+{year}"
    elif year < 0:
        text = f"-{-year:04d}"
    else:
        text = f"{year:04d}"
    return f"{text}-{month:02d}-{day:02d}"


def format_timestamp(ms: int) -> str:
    """ksqlDB's TIMESTAMP text: yyyy-MM-dd'T'HH:mm:ss.SSS (UTC)."""
    days, rem = divmod(ms, MS_PER_DAY)
    hours, rem = divmod(rem, 3_600_000)
    minutes, rem = divmod(rem, 60_000)
    seconds, millis = divmod(rem, 1000)
    return f"{_iso_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def format_date(days: int) -> str:
    return _iso_date(days)


def format_time(ms: int) -> str:
    """TIME text as LocalTime.toString: HH:mm, HH:mm:ss or HH:mm:ss.SSS."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    if milli:
        return f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"
    if s:
        return f"{h:02d}:{m:02d}:{s:02d}"
    return f"{h:02d}:{m:02d}"


_TS_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_timestamp(s: str) -> int:
    """ksqlDB's partial ISO timestamp text ('2022', '2022-04-28T21:44:47.943Z', ...) to epoch millis."""
    m = _TS_RE.fullmatch(s.strip())
    if not m:
        raise KsqlError(f"Failed to parse timestamp '{s}': Text '{s}' could not be parsed")
    y, mo, d, h, mi, se, frac, tz = m.groups()
    dt = _dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(se or 0),
                      int((frac or "0").ljust(6, "0")[:6]), tzinfo=_dt.UTC)
    ms = (dt - EPOCH) // _dt.timedelta(milliseconds=1)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        ms -= sign * off * 60_000
    return ms


_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(s: str) -> int:
    """ksqlDB's DATE text, possibly partial ('2022', '2022-04', '2022-04-28'), to days since the epoch."""
    m = _DATE_RE.fullmatch(s.strip())
    try:
        if m is None:
            raise ValueError(f"Text '{s}' could not be parsed")
        y, mo, d = m.groups()
        return (_dt.date(int(y), int(mo or 1), int(d or 1)) - EPOCH_DATE).days
    except ValueError as e:
        raise KsqlError(f"Failed to parse date '{s}': {e}") from e


def parse_time(s: str) -> int:
    try:
        t = _dt.time.fromisoformat(s.strip())
    except ValueError as e:
        raise KsqlError(f"Failed to parse time '{s}': {e}") from e
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000


# --- Java's toString of containers (CAST(... AS STRING)) ------------------------


def java_str(v: object) -> str:
    """String.valueOf of a runtime value, as Java collections print their elements."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, Decimal):
        return str(v)  # BigDecimal.toString
    if isinstance(v, list):
        return "[" + ", ".join(java_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(v)} cap={len(v)}]"
    return str(v)


def struct_str(v: dict) -> str:
    """Connect's Struct.toString: null fields are left out."""
    return "Struct{" + ",".join(f"{k}={java_str(x)}" for k, x in v.items() if x is not None) + "}"
