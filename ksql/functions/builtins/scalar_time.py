"""Date and time functions; Java DateTimeFormatter patterns are translated to strptime."""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

from ksql.errors import KsqlError
from ksql.functions.javalib import EPOCH_DATE, format_date
from ksql.functions.registry import scalar
from ksql.types import DATE, STRING

_LETTERS = {
    "y": lambda n: "%y" if n == 2 else "%Y", "u": lambda n: "%y" if n == 2 else "%Y",
    "M": lambda n: "%B" if n >= 4 else ("%b" if n == 3 else "%m"),
    "L": lambda n: "%B" if n >= 4 else ("%b" if n == 3 else "%m"),
    "d": lambda n: "%d", "D": lambda n: "%j",
    "H": lambda n: "%H", "k": lambda n: "%H", "h": lambda n: "%I", "K": lambda n: "%I",
    "m": lambda n: "%M", "s": lambda n: "%S", "S": lambda n: "%f",
    "a": lambda n: "%p", "E": lambda n: "%A" if n >= 4 else "%a",
    "X": lambda n: "%z", "x": lambda n: "%z", "Z": lambda n: "%z",
}


@lru_cache(maxsize=256)
def java_pattern_to_strptime(pattern: str) -> str:
    """Translate a java.time pattern ("yyyy-MM-dd'T'HH:mm") to a strptime format."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            j = pattern.find("'", i + 1)
            if j < 0:
                raise KsqlError(f"Unterminated quote in pattern: {pattern}")
            lit = pattern[i + 1:j] if j > i + 1 else "'"
            out.append(lit.replace("%", "%%"))
            i = j + 1
            continue
        if c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            conv = _LETTERS.get(c)
            if conv is None:
                raise KsqlError(f"Unknown pattern letter: {c}")
            out.append(conv(j - i))
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)


def _strptime(text: str, pattern: str) -> _dt.datetime:
    fmt = java_pattern_to_strptime(pattern)
    try:
        return _dt.datetime.strptime(text, fmt)
    except ValueError as e:
        raise KsqlError(f"Failed to parse date '{text}' with formatter '{pattern}': {e}") from e


@scalar("PARSE_DATE", [STRING, STRING], DATE, category="DATE / TIME", param_names=("formattedDate", "formatPattern"),
        description="Parses a date string with a java.time pattern into a DATE.")
def parse_date(text, pattern):
    return (_strptime(text, pattern).date() - EPOCH_DATE).days


@scalar("FORMAT_DATE", [DATE, STRING], STRING, category="DATE / TIME", param_names=("date", "formatPattern"),
        description="Formats a DATE with a java.time pattern.")
def format_date_fn(days, pattern):
    d = EPOCH_DATE + _dt.timedelta(days=days)
    fmt = java_pattern_to_strptime(pattern)
    if fmt == "%Y-%m-%d":
        return format_date(days)
    return d.strftime(re.sub(r"%f", "000", fmt))
