"""Java DateTimeFormatter patterns (as ksqlDB users write them) parsed and formatted in Python.

Supports the pattern letters users meet in practice: y u M L d D H h k K m s S n a E X x Z z VV
and 'quoted literals'. A pattern compiles once to a regex (parse) and a list of
field renderers (format).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable

from ksql.errors import KsqlError

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _tokens(pattern: str) -> list[tuple[str, int | str]]:
    """('L', count) for pattern letters, ('', text) for literals."""
    out: list[tuple[str, int | str]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            j = i + 1
            text = ""
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        text += "'"
                        j += 2
                        continue
                    break
                text += pattern[j]
                j += 1
            out.append(("", text if j > i + 1 else "'"))
            i = j + 1
        elif c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            out.append((c, j - i))
            i = j
        else:
            out.append(("", c))
            i += 1
    return out


_ZONE_RE = r"(?:Z|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?)"


def _field_regex(letter: str, count: int) -> str:
    if letter in "yu":
        return r"(?P<y>[+-]?\d{2})" if count == 2 else r"(?P<y>[+-]?\d{4,9})" if count >= 4 else r"(?P<y>[+-]?\d{1,9})"
    if letter in "ML":
        if count >= 4:
            return "(?P<Mtext>" + "|".join(_MONTHS) + ")"
        if count == 3:
            return "(?P<Mtext>" + "|".join(m[:3] for m in _MONTHS) + ")"
        return r"(?P<M>\d{2})" if count == 2 else r"(?P<M>\d{1,2})"
    simple = {"d": "d", "H": "H", "k": "H", "h": "h", "K": "h", "m": "m", "s": "s"}
    if letter in simple:
        g = simple[letter]
        return rf"(?P<{g}>\d{{2}})" if count == 2 else rf"(?P<{g}>\d{{1,2}})"
    if letter == "D":
        return r"(?P<D>\d{1,3})"
    if letter == "S":
        return rf"(?P<S>\d{{{count}}})"
    if letter == "n":
        return r"(?P<n>\d{1,9})"
    if letter == "a":
        return r"(?P<a>AM|PM|am|pm)"
    if letter == "E":
        return "(?:" + "|".join(_DAYS + [d[:3] for d in _DAYS]) + ")"
    if letter in "XxZ":
        return rf"(?P<tz>{_ZONE_RE}|GMT{_ZONE_RE}?)"
    if letter in "zV":
        return r"(?P<zone>[A-Za-z_]+(?:/[A-Za-z_]+)*|[+-]\d{2}:?\d{2})"
    raise KsqlError(f"Unknown pattern letter: {letter}")


def _zone(text: str) -> dt.tzinfo:
    if text in ("Z", "UTC", "GMT"):
        return dt.UTC
    if text.startswith("GMT"):
        text = text[3:]
    if text[0] in "+-":
        raw = text[1:].replace(":", "")
        sign = -1 if text[0] == "-" else 1
        return dt.timezone(sign * dt.timedelta(hours=int(raw[0:2]), minutes=int(raw[2:4] or 0),
                                               seconds=int(raw[4:6] or 0)))
    return zone_by_name(text)


def zone_by_name(name: str) -> dt.tzinfo:
    """A time zone by id ('UTC', 'America/Los_Angeles', '+05:00'), as Java's ZoneId accepts."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name in ("Z", "UTC", "GMT") or name[:1] in "+-":
        return _zone(name) if name[:1] in "+-" else dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise KsqlError(f"Unknown time zone: {name}") from None


@functools.lru_cache(maxsize=256)
def compile_parser(pattern: str, trailing_text: bool = False) -> Callable[[str, dt.tzinfo], dt.datetime]:
    """A function parsing text in `pattern` to an aware datetime (zone from the text or the default).

    With `trailing_text`, text after the pattern is ignored, as Java's parse with a
    ParsePosition (which ksqlDB's PARSE_DATE uses) ignores it.
    """
    regex = "".join(re.escape(str(v)) if k == "" else _field_regex(k, int(v)) for k, v in _tokens(pattern))
    compiled = re.compile(regex if trailing_text else regex + r"\Z", re.IGNORECASE)  # ksqlDB parses case-insensitively

    def parse(text: str, default_zone: dt.tzinfo = dt.UTC) -> dt.datetime:
        m = compiled.match(text)
        if not m:
            raise KsqlError(f"Text '{text}' could not be parsed with pattern '{pattern}'")
        g = m.groupdict()
        year = int(g["y"]) if g.get("y") else 1970
        if g.get("y") and len(g["y"].lstrip("+-")) == 2:
            year += 2000
        month = int(g["M"]) if g.get("M") else 1
        if g.get("Mtext"):
            month = next(i + 1 for i, name in enumerate(_MONTHS)
                         if name.upper().startswith(g["Mtext"][:3].upper()))
        day = int(g["d"]) if g.get("d") else 1
        hour = int(g["H"]) if g.get("H") else 0
        if g.get("h"):
            hour = int(g["h"]) % 12 + (12 if (g.get("a") or "").upper() == "PM" else 0)
        micro = 0
        if g.get("S"):
            micro = int(g["S"].ljust(6, "0")[:6])
        if g.get("n"):
            micro = int(g["n"]) // 1000
        zone = default_zone
        if g.get("tz"):
            zone = _zone(g["tz"])
        elif g.get("zone"):
            zone = zone_by_name(g["zone"])
        try:
            value = dt.datetime(year, month, day, hour, int(g.get("m") or 0), int(g.get("s") or 0), micro)
        except ValueError as err:
            raise KsqlError(f"Text '{text}' could not be parsed: {err}") from None
        if g.get("D"):
            value = value.replace(month=1, day=1) + dt.timedelta(days=int(g["D"]) - 1)
        return value.replace(tzinfo=zone)

    return parse


def to_epoch_millis(value: dt.datetime) -> int:
    delta = value - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def parse_to_millis(text: str, pattern: str, zone: dt.tzinfo = dt.UTC) -> int:
    return to_epoch_millis(compile_parser(pattern)(text, zone))


@functools.lru_cache(maxsize=256)
def compile_formatter(pattern: str) -> Callable[[dt.datetime], str]:
    """A function rendering an aware datetime in `pattern`."""
    parts: list[Callable[[dt.datetime], str]] = []
    for letter, v in _tokens(pattern):
        if letter == "":
            parts.append(lambda d, t=str(v): t)
            continue
        n = int(v)
        parts.append(_renderer(letter, n))

    def render(value: dt.datetime) -> str:
        return "".join(p(value) for p in parts)

    return render


def _offset_text(d: dt.datetime, letter: str, n: int) -> str:
    off = d.utcoffset() or dt.timedelta(0)
    total = int(off.total_seconds())
    if total == 0 and letter == "X":
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, mm = total // 3600, (total % 3600) // 60
    if letter == "Z":
        return f"{sign}{hh:02d}{mm:02d}" if n < 4 else ("GMT" if total == 0 else f"GMT{sign}{hh:02d}:{mm:02d}")
    if n == 1:
        return f"{sign}{hh:02d}" + (f"{mm:02d}" if mm else "")
    if n in (2, 4):
        return f"{sign}{hh:02d}{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}"


def _renderer(letter: str, n: int) -> Callable[[dt.datetime], str]:
    if letter in "yu":
        return (lambda d: f"{d.year % 100:02d}") if n == 2 else (lambda d: f"{d.year:0{n}d}")
    if letter in "ML":
        if n >= 4:
            return lambda d: _MONTHS[d.month - 1]
        if n == 3:
            return lambda d: _MONTHS[d.month - 1][:3]
        return lambda d: f"{d.month:0{n}d}"
    fields = {"d": lambda d: d.day, "H": lambda d: d.hour, "k": lambda d: d.hour or 24,
              "h": lambda d: (d.hour % 12) or 12, "K": lambda d: d.hour % 12, "m": lambda d: d.minute,
              "s": lambda d: d.second, "D": lambda d: d.timetuple().tm_yday}
    if letter in fields:
        get = fields[letter]
        return lambda d: f"{get(d):0{n}d}"
    if letter == "S":
        return lambda d: f"{d.microsecond:06d}000"[:n]
    if letter == "n":
        return lambda d: str(d.microsecond * 1000)
    if letter == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if letter == "E":
        return (lambda d: _DAYS[d.weekday()]) if n >= 4 else (lambda d: _DAYS[d.weekday()][:3])
    if letter in "XxZ":
        return lambda d: _offset_text(d, letter, n)
    if letter in "zV":
        return lambda d: str(getattr(d.tzinfo, "key", None) or d.tzname() or "UTC")
    raise KsqlError(f"Unknown pattern letter: {letter}")


def format_millis(millis: int, pattern: str, zone: dt.tzinfo = dt.UTC) -> str:
    value = EPOCH + dt.timedelta(milliseconds=millis)
    return compile_formatter(pattern)(value.astimezone(zone))
