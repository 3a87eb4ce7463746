"""Java-compatible number formatting and parsing, as ksqlDB's serdes see numbers.

`java_double_str` is Java's `Double.toString` (the JDK 19+ shortest-digits
algorithm): plain notation with at least one fractional digit for magnitudes in
[1e-3, 1e7), computerized scientific notation (`1.0E7`, `4.9E-324`) otherwise.

The parsers follow `Integer.parseInt`, `Long.parseLong`, `Double.parseDouble`
and `new BigDecimal(String)`: they raise ValueError where Java raises
NumberFormatException. `fit_decimal` is ksqlDB's `DecimalUtil.ensureFit`.
"""

from __future__ import annotations

import decimal
import math
import re
from decimal import Decimal

# Enough precision for any DECIMAL (ksqlDB caps precision at 38) and any literal.
DECIMAL_CONTEXT = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_UP,
                                  Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_DOUBLE_RE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)\Z")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")

INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
LONG_MIN, LONG_MAX = -(2 ** 63), 2 ** 63 - 1


def java_double_str(x: float) -> str:
    """Java's Double.toString(x)."""
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    ax = -x if x < 0 else x
    if 1e-3 <= ax < 1e7:
        # Python's repr is plain (with '.0' for integral values) in this range and
        # uses the same shortest round-tripping digits as Java.
        return repr(x)
    s = repr(ax)
    if "e" in s:
        mant, exp_s = s.split("e")
        exp = int(exp_s)
    else:
        mant, exp = s, 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    alld = ip + fp
    stripped = alld.lstrip("0")
    lead = len(alld) - len(stripped)
    # value = int(alld) * 10^(exp - len(fp)); decimal exponent of the first significant digit:
    sci = exp - len(fp) + len(alld) - lead - 1
    digits = stripped.rstrip("0")
    if len(digits) == 1:
        # Java prints at least two significant digits and then picks the closest
        # two-digit decimal (Double.MIN_VALUE is 4.9E-324, not 5.0E-324).
        two = f"{ax:.1e}"
        m2, e2 = two.split("e")
        digits = m2.replace(".", "").rstrip("0") or "0"
        sci = int(e2)
    frac = digits[1:] or "0"
    out = f"{digits[0]}.{frac}E{sci}"
    return "-" + out if x < 0 else out


def parse_java_int(text: str) -> int:
    """Integer.parseInt."""
    if text.isdigit() and text.isascii() and len(text) < 10:
        return int(text)
    if not _INT_RE.match(text):
        raise ValueError(f'For input string: "{text}"')
    v = int(text)
    if v < INT_MIN or v > INT_MAX:
        raise ValueError(f'For input string: "{text}"')
    return v


def parse_java_long(text: str) -> int:
    """Long.parseLong."""
    if text.isdigit() and text.isascii() and len(text) < 19:
        return int(text)
    if not _INT_RE.match(text):
        raise ValueError(f'For input string: "{text}"')
    v = int(text)
    if v < LONG_MIN or v > LONG_MAX:
        raise ValueError(f'For input string: "{text}"')
    return v


def parse_java_double(text: str) -> float:
    """Double.parseDouble (decimal forms; surrounding whitespace is ignored as in Java)."""
    t = text.strip(" \t\n\r\x0b\x0c\x00")
    if not _DOUBLE_RE.match(t):
        raise ValueError(f'For input string: "{text}"')
    if t[-1] in "fFdD" and not t.endswith("NaN"):
        t = t[:-1]
    if t.endswith("Infinity"):
        return -math.inf if t[0] == "-" else math.inf
    if t.endswith("NaN"):
        return math.nan
    return float(t)


def parse_java_decimal(text: str) -> Decimal:
    """new BigDecimal(String)."""
    if not _DECIMAL_RE.match(text):
        raise ValueError(f"Character array is not a valid decimal number: {text}")
    return Decimal(text)


def wrap_int(v: int) -> int:
    """Java's narrowing of an integral value to int (low 32 bits, two's complement)."""
    if INT_MIN <= v <= INT_MAX:
        return v
    return ((v - INT_MIN) & 0xFFFFFFFF) + INT_MIN


def wrap_long(v: int) -> int:
    """Java's narrowing of an integral value to long (low 64 bits, two's complement)."""
    if LONG_MIN <= v <= LONG_MAX:
        return v
    return ((v - LONG_MIN) & 0xFFFFFFFFFFFFFFFF) + LONG_MIN


def decimal_plain(d: Decimal) -> str:
    """BigDecimal.toPlainString."""
    return format(d, "f")


def decimal_precision_scale(d: Decimal) -> tuple[int, int]:
    """BigDecimal.precision() and scale()."""
    t = d.as_tuple()
    digits = len(t.digits)
    if isinstance(t.exponent, int):
        return digits, -t.exponent
    return digits, 0


def fit_decimal(d: Decimal, precision: int, scale: int) -> Decimal:
    """DecimalUtil.ensureFit: reject overflow and any rounding; set the scale. Raises ValueError."""
    if not d.is_finite():
        raise ValueError(f"Cannot fit decimal '{d}' into DECIMAL({precision}, {scale})")
    whole = precision - scale
    if abs(d) >= Decimal(10) ** whole:
        raise ValueError(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} "
            f"must round to an absolute value less than 10^{whole}. Got {decimal_plain(d)}")
    q = d.quantize(Decimal(1).scaleb(-scale), context=DECIMAL_CONTEXT)
    if q != d:
        p, s = decimal_precision_scale(d)
        raise ValueError(
            f"Cannot fit decimal '{decimal_plain(d)}' into DECIMAL({precision}, {scale}) "
            f"without rounding. (Requires {p},{s})")
    return q
