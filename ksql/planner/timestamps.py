"""Partial ISO-8601 timestamp strings, as ksqlDB accepts them when compared with ROWTIME."""

from __future__ import annotations

import datetime as dt
import re

from ksql.errors import KsqlError

_PARTIAL = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<ms>\d{1,9}))?)?)?)?)?)?(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$")


def parse_timestamp_literal(text: str) -> int:
    """'2018', '2018-01-01T00:00:00.001', '2019-01-01T00:00:00+0445' -> epoch millis (UTC default)."""
    m = _PARTIAL.match(text.strip())
    if not m:
        raise KsqlError(f"Failed to parse timestamp '{text}': expected yyyy-MM-dd'T'HH:mm:ss.SSS[TZ]")
    g = m.groupdict()
    frac = (g["ms"] or "0").ljust(6, "0")[:6]
    tz = dt.UTC
    if g["tz"] and g["tz"] != "Z":
        raw = g["tz"].replace(":", "")
        sign = -1 if raw[0] == "-" else 1
        hours, minutes = int(raw[1:3]), int(raw[3:5] or 0)
        tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        value = dt.datetime(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), int(g["h"] or 0),
                            int(g["mi"] or 0), int(g["s"] or 0), int(frac), tzinfo=tz)
    except ValueError as err:
        raise KsqlError(f"Failed to parse timestamp '{text}': {err}") from None
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + delta.microseconds // 1000
