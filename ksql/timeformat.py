"""Java DateTimeFormatter patterns (as ksqlDB users write them), parsed and formatted in Python.

One implementation for every place ksqlDB takes a java.time pattern: TIMESTAMP_FORMAT,
PARSE_/FORMAT_ DATE, TIME and TIMESTAMP, STRINGTODATE and friends.

A pattern compiles once (cached) to a list of nodes: literals, fields (a pattern letter
and its count) and optional sections `[...]`. Compilation enforces Java's rules
(unknown letters, too many letters, reserved characters) with Java's messages.
Parsing is a regex built from the nodes (case-insensitive, as ksqlDB's formatters
are built with parseCaseInsensitive) followed by Java's SMART resolution of the
parsed fields (day-of-month clamped to the month, 12-hour clocks, cross-checks such
as day-of-week against the date). Formatting renders each node from a
datetime; a field the value does not have (an hour of a DATE) is Java's
"Unsupported field" error.

Letters: G u y Y M L Q q w W E e c F d D a h K k H m s S A n N V v z O X x Z and
'quoted text'. Week-based fields (Y w W e c) follow Locale.US (weeks start on Sunday,
week 1 holds January 1st), the locale ksqlDB's formatters use by default; they are
formatted but cannot be parsed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ksql.errors import KsqlError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_QUARTERS = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]

_DATE_LETTERS = set("GuyYMLQqwWEecFdD")
_TIME_LETTERS = set("ahKkHmsSAnN")
_ZONE_LETTERS = set("VvzOXxZ")
_RESERVED = set("#{}")

# Java's ChronoField display names, for "Unsupported field: ..." messages.
_FIELD_NAMES = {
    "G": "Era", "u": "Year", "y": "YearOfEra", "Y": "WeekBasedYear[WeekFields[SUNDAY,1]]",
    "M": "MonthOfYear", "L": "MonthOfYear", "Q": "QuarterOfYear", "q": "QuarterOfYear",
    "w": "WeekOfWeekBasedYear[WeekFields[SUNDAY,1]]", "W": "WeekOfMonth[WeekFields[SUNDAY,1]]",
    "E": "DayOfWeek", "e": "DayOfWeek", "c": "DayOfWeek", "F": "AlignedDayOfWeekInMonth",
    "d": "DayOfMonth", "D": "DayOfYear", "a": "AmPmOfDay", "h": "ClockHourOfAmPm", "K": "HourOfAmPm",
    "k": "ClockHourOfDay", "H": "HourOfDay", "m": "MinuteOfHour", "s": "SecondOfMinute", "S": "NanoOfSecond",
    "A": "MilliOfDay", "n": "NanoOfSecond", "N": "NanoOfDay", "X": "OffsetSeconds", "x": "OffsetSeconds",
    "Z": "OffsetSeconds", "O": "OffsetSeconds",
}

# --- pattern compilation ---------------------------------------------------------------


@dataclass(frozen=True)
class _Lit:
    text: str


@dataclass(frozen=True)
class _Field:
    letter: str
    count: int


@dataclass(frozen=True)
class _Optional:
    nodes: tuple


def _max_count(letter: str) -> int:
    if letter in "GMLQqEe":
        return 5
    if letter in "dhHkKmsw":
        return 2
    if letter in "aFW":
        return 1
    if letter == "D":
        return 3
    if letter == "c":
        return 5
    if letter in "XxZ":
        return 5
    if letter == "z":
        return 4
    return 19  # y u Y S A n N (S is checked separately)


def _check_field(letter: str, count: int) -> None:
    if letter == "V" and count != 2:
        raise KsqlError("Pattern letter count must be 2: V")
    if letter == "O" and count not in (1, 4):
        raise KsqlError("Pattern letter count must be 1 or 4: O")
    if letter == "v" and count not in (1, 4):
        raise KsqlError("Wrong number of pattern letters: v")
    if letter == "c" and count == 2:
        raise KsqlError('Invalid pattern "cc"')
    if letter == "S" and count > 9:
        raise KsqlError("Too many pattern letters: S")
    if count > _max_count(letter):
        raise KsqlError(f"Too many pattern letters: {letter}")


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> tuple:
    """The pattern's nodes; raises KsqlError with Java's message for an invalid pattern."""
    stack: list[list] = [[]]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if "A" <= c <= "Z" or "a" <= c <= "z":
            j = i
            while j < n and pattern[j] == c:
                j += 1
            count = j - i
            if c not in _DATE_LETTERS | _TIME_LETTERS | _ZONE_LETTERS:
                if c == "p":
                    raise KsqlError("Pad modifier 'p' is not supported in patterns")
                raise KsqlError(f"Unknown pattern letter: {c}")
            _check_field(c, count)
            stack[-1].append(_Field(c, count))
            i = j
        elif c == "'":
            j = i + 1
            text = []
            while True:
                if j >= n:
                    raise KsqlError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            stack[-1].append(_Lit("".join(text) if j > i + 1 else "'"))
            i = j + 1
        elif c == "[":
            stack.append([])
            i += 1
        elif c == "]":
            if len(stack) == 1:
                raise KsqlError("Pattern invalid as it contains ] without previous [")
            inner = stack.pop()
            stack[-1].append(_Optional(tuple(inner)))
            i += 1
        elif c in _RESERVED:
            raise KsqlError(f"Pattern includes reserved character: '{c}'")
        else:
            stack[-1].append(_Lit(c))
            i += 1
    while len(stack) > 1:  # Java closes unterminated optional sections
        inner = stack.pop()
        stack[-1].append(_Optional(tuple(inner)))
    return tuple(stack[0])


def _letters(nodes: tuple) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, _Field):
            out.add(node.letter)
        elif isinstance(node, _Optional):
            out |= _letters(node.nodes)
    return out


def validate_pattern(pattern: str) -> None:
    """Raise KsqlError (Java's message) when `pattern` is not a valid DateTimeFormatter pattern."""
    _compile(pattern)


# --- time zones --------------------------------------------------------------------------

_OFFSET_RE = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


def _offset_zone(sign: str, hh: str, mm: str | None, ss: str | None, prefix: str = "") -> dt.tzinfo:
    h, m, s = int(hh), int(mm or 0), int(ss or 0)
    if h > 18 or m > 59 or s > 59:
        raise KsqlError(f"Zone offset not in valid range: {sign}{hh}")
    total = h * 3600 + m * 60 + s
    if total > 18 * 3600:
        raise KsqlError("Zone offset not in valid range: -18:00 to +18:00")
    delta = dt.timedelta(seconds=total if sign == "+" else -total)
    return dt.timezone(delta, prefix + _offset_id(delta) if prefix and total else (prefix or _offset_id(delta)))


def _offset_id(delta: dt.timedelta) -> str:
    """ZoneOffset.getId: 'Z', '+02:00', '-05:30', '+01:02:03'."""
    total = int(delta.total_seconds())
    if total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


@functools.lru_cache(maxsize=512)
def zone_by_name(name: str) -> dt.tzinfo:
    """A time zone by id, as Java's ZoneId.of accepts it: 'Z', '+05:00', '-0800', 'UTC', 'GMT+2',
    'UTC+01:00', 'America/Los_Angeles'."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = name.strip() if isinstance(name, str) else ""
    if text in ("Z", "z"):
        return dt.UTC
    if text[:1] in "+-" and text:
        m = _OFFSET_RE.fullmatch(text)
        if m is None:
            raise KsqlError(f"Invalid ID for ZoneOffset, invalid format: {text}")
        return _offset_zone(*m.groups())
    for prefix in ("UTC", "GMT", "UT"):
        if text.startswith(prefix) and len(text) > len(prefix) and text[len(prefix)] in "+-":
            m = _OFFSET_RE.fullmatch(text[len(prefix):])
            if m is None:
                raise KsqlError(f"Invalid ID for offset-based ZoneId: {text}")
            return _offset_zone(*m.groups(), prefix=prefix)
    if not text or not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", text) or ".." in text:
        raise KsqlError(f"Invalid ID for region-based ZoneId, invalid format: {name}")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise KsqlError(f"Unknown time-zone ID: {name}") from None


def zone_id(tz: dt.tzinfo) -> str:
    """ZoneId.getId of a zone made by zone_by_name."""
    key = getattr(tz, "key", None)
    if key:
        return str(key)
    if tz is dt.UTC:
        return "Z"
    return tz.tzname(None) or "Z"


# Zone abbreviations Java's 'z' parser understands, mapped to the region it resolves them to.
_ZONE_ABBREVIATIONS = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MST": "America/Denver",
    "MDT": "America/Denver", "CST": "America/Chicago", "CDT": "America/Chicago", "EST": "America/New_York",
    "EDT": "America/New_York", "AKST": "America/Anchorage", "AKDT": "America/Anchorage",
    "HST": "Pacific/Honolulu", "BST": "Europe/London", "CET": "CET", "CEST": "CET", "EET": "EET",
    "EEST": "EET", "WET": "WET", "WEST": "WET", "IST": "Asia/Kolkata", "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul", "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "NZST": "Pacific/Auckland",
    "NZDT": "Pacific/Auckland",
}

# Full names for 'zzzz' (standard, daylight) of the zones users meet most.
_ZONE_FULL_NAMES = {
    "UTC": ("Coordinated Universal Time", "Coordinated Universal Time"),
    "Etc/UTC": ("Coordinated Universal Time", "Coordinated Universal Time"),
    "GMT": ("Greenwich Mean Time", "Greenwich Mean Time"),
    "Etc/GMT": ("Greenwich Mean Time", "Greenwich Mean Time"),
    "America/Los_Angeles": ("Pacific Standard Time", "Pacific Daylight Time"),
    "America/Denver": ("Mountain Standard Time", "Mountain Daylight Time"),
    "America/Phoenix": ("Mountain Standard Time", "Mountain Standard Time"),
    "America/Chicago": ("Central Standard Time", "Central Daylight Time"),
    "America/New_York": ("Eastern Standard Time", "Eastern Daylight Time"),
    "America/Anchorage": ("Alaska Standard Time", "Alaska Daylight Time"),
    "Pacific/Honolulu": ("Hawaii Standard Time", "Hawaii Daylight Time"),
    "Europe/London": ("Greenwich Mean Time", "British Summer Time"),
    "Europe/Paris": ("Central European Standard Time", "Central European Summer Time"),
    "Europe/Berlin": ("Central European Standard Time", "Central European Summer Time"),
    "Europe/Madrid": ("Central European Standard Time", "Central European Summer Time"),
    "Europe/Rome": ("Central European Standard Time", "Central European Summer Time"),
    "Europe/Amsterdam": ("Central European Standard Time", "Central European Summer Time"),
    "CET": ("Central European Standard Time", "Central European Summer Time"),
    "Asia/Kolkata": ("India Standard Time", "India Standard Time"),
    "Asia/Tokyo": ("Japan Standard Time", "Japan Daylight Time"),
    "Asia/Shanghai": ("China Standard Time", "China Daylight Time"),
    "Australia/Sydney": ("Australian Eastern Standard Time", "Australian Eastern Daylight Time"),
}


_FULL_NAME_ZONES = {name.upper(): key for key, names in _ZONE_FULL_NAMES.items() for name in names}


@functools.lru_cache(maxsize=256)
def _zone_from_text(text: str) -> dt.tzinfo:
    t = text.strip()
    region = _ZONE_ABBREVIATIONS.get(t.upper()) or _FULL_NAME_ZONES.get(t.upper())
    if region is not None:
        return zone_by_name(region)
    if t.upper() in ("UTC", "GMT", "UT"):
        return zone_by_name(t.upper())
    return zone_by_name(t)


# --- parsing ----------------------------------------------------------------------------

_ZONE_ID_RE = r"(?:[A-Za-z][A-Za-z0-9~/._+-]*(?:[+-]\d{1,2}(?::?\d{2}){0,2})?|[+-]\d{1,2}(?::?\d{2}){0,2})"

# offset patterns of X/x/Z by letter count: (regex of the digits part, zero text)
_OFFSET_PARSE = {1: r"[+-]\d{2}(?:\d{2})?", 2: r"[+-]\d{4}", 3: r"[+-]\d{2}:\d{2}",
                 4: r"[+-]\d{4}(?:\d{2})?", 5: r"[+-]\d{2}:\d{2}(?::\d{2})?"}


def _alternatives(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) + ")"


def _text_words(letter: str, count: int) -> list[str] | None:
    if letter in "ML" and count >= 3:
        return [m[:3] if count == 3 else m if count == 4 else m[0] for m in _MONTHS]
    if (letter == "E" or count >= 3) and letter in "Eec":
        if count == 4:
            return list(_DAYS)
        return [d[0] for d in _DAYS] if count == 5 else [d[:3] for d in _DAYS]
    if letter in "Qq" and count >= 3:
        return [f"Q{i}" for i in range(1, 5)] if count == 3 else _QUARTERS if count == 4 else list("1234")
    if letter == "G":
        return ["AD", "BC"] if count <= 3 else ["Anno Domini", "Before Christ"] if count == 4 else ["A", "B"]
    if letter == "a":
        return ["AM", "PM"]
    return None


def _field_regex(letter: str, count: int) -> str:
    words = _text_words(letter, count)
    if words is not None:
        return _alternatives(words)
    if letter in "uy":
        if count == 2:
            return r"\d{2}"
        return rf"[+-]?\d{{{count},19}}"
    if letter == "S":
        return rf"\d{{{count}}}"
    if letter in "MLQqdHhKkmswWeFc":
        return r"\d{2}" if count == 2 else r"\d{1,19}"
    if letter == "D":
        return r"\d{1,19}" if count == 1 else r"\d{2,3}" if count == 2 else r"\d{3}"
    if letter in "AnNY":
        return rf"\d{{{count},19}}"
    if letter == "V":
        return _ZONE_ID_RE
    if letter in "zv":
        return r"(?:[A-Za-z][A-Za-z ]*[A-Za-z]|" + _ZONE_ID_RE + ")"
    if letter == "O" or (letter == "Z" and count == 4):
        return r"GMT(?:[+-]\d{1,2}(?::\d{2}(?::\d{2})?)?)?"
    if letter in "XxZ":
        digits = _OFFSET_PARSE[2 if letter == "Z" and count <= 3 else count]
        zero = "Z|" if letter == "X" or (letter == "Z" and count == 5) else ""
        return f"(?:{zero}{digits})"
    raise KsqlError(f"Unknown pattern letter: {letter}")


_NUMERIC_KEYS = {"d": "day", "D": "doy", "F": "aligned_dow", "H": "hour", "k": "clock_hour", "h": "clock_ampm_hour",
                 "K": "ampm_hour", "m": "minute", "s": "second", "n": "nano", "A": "milli_of_day",
                 "N": "nano_of_day", "M": "month", "L": "month", "Q": "quarter", "q": "quarter"}
_TEXT_KEYS = {"M": "month", "L": "month", "E": "dow", "e": "dow", "c": "dow", "Q": "quarter", "q": "quarter",
              "G": "era", "a": "ampm"}


def _week_field(letter: str) -> Callable[[str], int]:
    def refuse(text: str) -> int:
        raise KsqlError(f"Parsing week-based pattern letter '{letter}' is not supported")
    return refuse


def _setter(f: _Field) -> tuple[str, Callable[[str], object]]:
    """(field key, text -> value) for one parsed group; keys 'zone' and 'offset' hold time zones."""
    letter, count = f.letter, f.count
    words = _text_words(letter, count)
    if words is not None:
        index = {w.upper(): i for i, w in enumerate(words)}
        key = _TEXT_KEYS[letter]
        if key == "era":
            return key, lambda t: 1 - index[t.upper()]
        if key == "ampm":
            return key, lambda t: index[t.upper()]
        return key, lambda t: index[t.upper()] + 1
    if letter in "Vzv":
        return "zone", _zone_from_text
    if letter in "OXxZ":
        return "offset", _parse_offset
    if letter in "YwWce":
        return "week", _week_field(letter)
    if letter in "yu":
        key = "year_of_era" if letter == "y" else "year"
        return key, (lambda t: 2000 + int(t)) if count == 2 else int
    if letter == "S":
        return "nano", lambda t: int(t.ljust(9, "0"))
    return _NUMERIC_KEYS[letter], int


@dataclass
class _Parser:
    regex: re.Pattern
    setters: list[tuple[str, Callable[[str], object]]]  # one per regex group


def _build_regex(nodes: tuple, groups: list[_Field]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, _Lit):
            out.append(re.escape(node.text))
        elif isinstance(node, _Field):
            groups.append(node)
            out.append("(" + _field_regex(node.letter, node.count) + ")")
        else:
            out.append("(?:" + _build_regex(node.nodes, groups) + ")?")
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _parser(pattern: str) -> _Parser:
    nodes = _compile(pattern)
    groups: list[_Field] = []
    regex = _build_regex(nodes, groups)
    return _Parser(re.compile(regex, re.IGNORECASE), [_setter(g) for g in groups])


@dataclass
class Parsed:
    """What a parse found, after Java's SMART resolution."""

    date: dt.date | None = None
    time: tuple[int, int, int, int] | None = None  # hour, minute, second, nano
    excess_days: int = 0  # 24:00 parsed as midnight of the next day
    zone: dt.tzinfo | None = None
    date_fields: bool = False  # a date-based field was parsed
    time_fields: bool = False  # a time-based field was parsed
    fields: dict[str, int] = field(default_factory=dict)


def _err(text: str, why: str) -> KsqlError:
    return KsqlError(f"Text '{text}' could not be parsed: {why}")


@functools.lru_cache(maxsize=128)
def _prefix_parsers(pattern: str) -> list[re.Pattern]:
    """Regexes of the pattern's first k nodes, k = 1..n (for the index where a parse fails)."""
    nodes = _compile(pattern)
    out = []
    for k in range(1, len(nodes) + 1):
        groups: list[_Field] = []
        out.append(re.compile(_build_regex(nodes[:k], groups), re.IGNORECASE))
    return out


def _index_of_failure(pattern: str, text: str) -> int:
    """Where parsing stops matching: Java's 'could not be parsed at index N'."""
    index = 0
    for rx in _prefix_parsers(pattern):
        m = rx.match(text)
        if m is None:
            break
        index = m.end()
    return index


def parse_fields(text: str, pattern: str, trailing_text: bool = False) -> Parsed:
    """Parse `text` with `pattern` and resolve the fields as Java's SMART resolver does.

    The whole text must match, unless `trailing_text`: then text after the pattern is
    ignored (ksqlDB's PARSE_DATE and PARSE_TIME parse from a position)."""
    p = _parser(pattern)
    m = p.regex.match(text) if trailing_text else p.regex.fullmatch(text)
    if m is None:
        prefix = p.regex.match(text)
        if prefix is not None and prefix.end() < len(text):
            raise KsqlError(f"Text '{text}' could not be parsed, unparsed text found at index {prefix.end()}")
        raise KsqlError(f"Text '{text}' could not be parsed at index {_index_of_failure(pattern, text)}")
    raw: dict[str, int] = {}
    zone: dt.tzinfo | None = None
    offset: dt.tzinfo | None = None
    for (key, convert), group in zip(p.setters, m.groups(), strict=True):
        if group is None:
            continue
        value = convert(group)
        if key == "zone":
            zone = value  # type: ignore[assignment]
        elif key == "offset":
            offset = value  # type: ignore[assignment]
        else:
            old = raw.get(key)
            if old is not None and old != value:
                raise _err(text, f"Conflict found: field {key} {old} differs from {key} {value}")
            raw[key] = value  # type: ignore[assignment]
    return _resolve(text, raw, zone or offset)


@functools.lru_cache(maxsize=256)
def _parse_offset(s: str) -> dt.tzinfo:
    t = s.upper()
    if t in ("Z", "GMT"):
        return dt.UTC
    if t.startswith("GMT"):
        t = t[3:]
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?", t)
    if m is None:
        raise KsqlError(f"Invalid offset: {s}")
    return _offset_zone(*m.groups())


def _check(text: str, name: str, value: int, lo: int, hi: int) -> int:
    if value < lo or value > hi:
        raise _err(text, f"Invalid value for {name} (valid values {lo} - {hi}): {value}")
    return value


_DATE_KEYS = frozenset({"year", "year_of_era", "era", "month", "day", "doy", "quarter", "dow", "aligned_dow"})
_TIME_KEYS = frozenset({"hour", "clock_hour", "clock_ampm_hour", "ampm_hour", "ampm", "minute", "second", "nano",
                        "milli_of_day", "nano_of_day"})


def _resolve(text: str, raw: dict[str, int], zone: dt.tzinfo | None) -> Parsed:
    out = Parsed(zone=zone, fields=raw)
    keys = raw.keys()
    out.date_fields = not keys.isdisjoint(_DATE_KEYS)
    out.time_fields = not keys.isdisjoint(_TIME_KEYS)
    # --- year
    year = raw.get("year")
    if "year_of_era" in raw:
        yoe = raw["year_of_era"]
        y = yoe if raw.get("era", 1) == 1 else 1 - yoe
        if year is not None and year != y:
            raise _err(text, f"Conflict found: Year {year} differs from Year {y}")
        year = y
    # --- date
    month, day, doy = raw.get("month"), raw.get("day"), raw.get("doy")
    if month is not None and not 1 <= month <= 12:
        _check(text, "MonthOfYear", month, 1, 12)
    if day is not None and not 1 <= day <= 31:
        _check(text, "DayOfMonth", day, 1, 31)
    if year is not None:
        if not 1 <= year <= 9999:
            raise _err(text, f"Year {year} is outside the supported range 1 - 9999")
        if month is not None and day is not None:
            if day > 28:
                day = min(day, calendar.monthrange(year, month)[1])  # SMART: clamp to the month's last day
            out.date = dt.date(year, month, day)
            if doy is not None and out.date.timetuple().tm_yday != doy:
                raise _err(text, f"Conflict found: DayOfYear {doy} differs from the date {out.date}")
        elif doy is not None:
            _check(text, "DayOfYear", doy, 1, 366)
            if doy == 366 and not calendar.isleap(year):
                raise _err(text, f"Invalid date 'DayOfYear 366' as '{year}' is not a leap year")
            out.date = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
    if out.date is not None:
        if "dow" in raw and out.date.isoweekday() != raw["dow"]:
            raise _err(text, f"Conflict found: Field DayOfWeek {out.date.isoweekday()} differs from DayOfWeek "
                             f"{raw['dow']} derived from {out.date.isoformat()}")
        if "quarter" in raw and (out.date.month - 1) // 3 + 1 != raw["quarter"]:
            raise _err(text, f"Conflict found: QuarterOfYear {raw['quarter']} differs from the date "
                             f"{out.date.isoformat()}")
    # --- time
    hour = raw.get("hour")
    if hour is not None and not 0 <= hour <= 24:
        _check(text, "HourOfDay", hour, 0, 24)
    if "clock_hour" in raw:
        ch = _check(text, "ClockHourOfDay", raw["clock_hour"], 1, 24)
        h = 0 if ch == 24 else ch
        if hour is not None and hour != h:
            raise _err(text, f"Conflict found: HourOfDay {hour} differs from HourOfDay {h}")
        hour = h
    ampm_hour = raw.get("ampm_hour")
    if ampm_hour is not None:
        _check(text, "HourOfAmPm", ampm_hour, 0, 11)
    if "clock_ampm_hour" in raw:
        ch = raw["clock_ampm_hour"]
        if ch != 0:
            _check(text, "ClockHourOfAmPm", ch, 1, 12)
        ampm_hour = 0 if ch == 12 else ch
    ampm = raw.get("ampm")
    if ampm_hour is not None:
        h = ampm_hour + 12 * (ampm or 0)  # no AM/PM: ksqlDB's defaulted timestamp keeps the morning
        if hour is not None and hour != h:
            raise _err(text, f"Conflict found: HourOfDay {hour} differs from HourOfDay {h}")
        hour = h
    elif ampm is not None and hour is not None and hour // 12 != ampm and hour != 24:
        raise _err(text, f"Conflict found: Field AmPmOfDay {hour // 12} differs from AmPmOfDay {ampm}")
    minute, second, nano = raw.get("minute"), raw.get("second"), raw.get("nano")
    if minute is not None and not 0 <= minute <= 59:
        _check(text, "MinuteOfHour", minute, 0, 59)
    if second is not None and not 0 <= second <= 59:
        _check(text, "SecondOfMinute", second, 0, 59)
    if nano is not None and not 0 <= nano <= 999_999_999:
        _check(text, "NanoOfSecond", nano, 0, 999_999_999)
    if "nano_of_day" in raw:
        nod = _check(text, "NanoOfDay", raw["nano_of_day"], 0, 86_400 * 10**9 - 1)
        h, rem = divmod(nod, 3600 * 10**9)
        mi, rem = divmod(rem, 60 * 10**9)
        se, na = divmod(rem, 10**9)
        out.time = (h, mi, se, na)
    elif "milli_of_day" in raw:
        mod = _check(text, "MilliOfDay", raw["milli_of_day"], 0, _MS_PER_DAY - 1)
        h, rem = divmod(mod, 3_600_000)
        mi, rem = divmod(rem, 60_000)
        se, ms = divmod(rem, 1000)
        out.time = (h, mi, se, nano if nano is not None else ms * 1_000_000)
    elif hour is not None:
        if hour == 24:
            if (minute or 0) or (second or 0) or (nano or 0):
                raise _err(text, "Invalid value for HourOfDay (valid values 0 - 23): 24")
            hour = 0
            out.excess_days = 1
        out.time = (hour, minute or 0, second or 0, nano or 0)
    return out


def parse_date_days(text: str, pattern: str) -> int:
    """PARSE_DATE: days since the epoch. The pattern may not hold time fields; date fields it
    leaves out default as in timestamps (1970, January, day 1: 'JAN-2022' is 2022-01-01);
    text after the pattern is ignored ('2003-12-24-01-01' is 2003-12-24 with yyyy-MM-dd)."""
    p = parse_fields(text, pattern, trailing_text=True)
    if p.time_fields:
        raise KsqlError("Date format contains time field.")
    return (_date_with_defaults(text, p) - _EPOCH_DATE).days


def parse_time_millis(text: str, pattern: str) -> int:
    """PARSE_TIME: milliseconds of the day; the pattern must give a time and no date (text after
    the pattern is ignored, as PARSE_DATE does)."""
    p = parse_fields(text, pattern, trailing_text=True)
    if p.date_fields:
        raise KsqlError("Time format contains date field.")
    if p.time is None:
        raise _err(text, "Unable to obtain LocalTime from TemporalAccessor")
    h, m, s, n = p.time
    return ((h * 60 + m) * 60 + s) * 1000 + n // 1_000_000


def _date_with_defaults(text: str, p: Parsed) -> dt.date:
    """The parsed date, the fields the pattern lacks defaulted to 1970-01-01 (ksqlDB's
    parseDefaulting of YEAR_OF_ERA, MONTH_OF_YEAR and DAY_OF_MONTH)."""
    if p.date is not None:
        return p.date
    raw = p.fields
    year = raw.get("year")
    if year is None and "year_of_era" in raw:
        year = raw["year_of_era"] if raw.get("era", 1) == 1 else 1 - raw["year_of_era"]
    year = 1970 if year is None else year
    if not 1 <= year <= 9999:
        raise _err(text, f"Year {year} is outside the supported range 1 - 9999")
    if "doy" in raw:
        doy = _check(text, "DayOfYear", raw["doy"], 1, 366 if calendar.isleap(year) else 365)
        return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
    month = raw.get("month", 1)
    return dt.date(year, month, min(raw.get("day", 1), calendar.monthrange(year, month)[1]))


def parse_datetime(text: str, pattern: str, default_zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """ksqlDB's StringToTimestampParser: fields missing from the pattern default to
    1970-01-01T00:00, the zone is the text's (if any) or `default_zone`."""
    p = parse_fields(text, pattern)
    date = _date_with_defaults(text, p)
    h, m, s, n = p.time or (0, 0, 0, 0)
    zone = p.zone or default_zone
    try:
        value = dt.datetime(date.year, date.month, date.day, h, m, s, n // 1000, tzinfo=zone)
        if p.excess_days:
            value += dt.timedelta(days=p.excess_days)
        return value
    except (ValueError, OverflowError) as e:
        raise _err(text, str(e)) from None


@functools.lru_cache(maxsize=256)
def compile_parser(pattern: str) -> Callable[[str, dt.tzinfo], dt.datetime]:
    """A function parsing text in `pattern` to an aware datetime (zone from the text or the default).

    Raises KsqlError at once for an invalid pattern (TIMESTAMP_FORMAT validation)."""
    _parser(pattern)

    def parse(text: str, default_zone: dt.tzinfo = dt.UTC) -> dt.datetime:
        return parse_datetime(text, pattern, default_zone)

    return parse


def to_epoch_millis(value: dt.datetime) -> int:
    delta = value - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def parse_to_millis(text: str, pattern: str, zone: dt.tzinfo = dt.UTC) -> int:
    return to_epoch_millis(parse_datetime(text, pattern, zone))


# --- formatting -----------------------------------------------------------------------------


def _us_dow(d: dt.date) -> int:
    """Localized day-of-week for Locale.US: Sunday = 1 ... Saturday = 7."""
    return d.isoweekday() % 7 + 1


def _start_of_week_offset(day: int, dow: int) -> int:
    week_start = (day - dow) % 7
    offset = -week_start
    if week_start + 1 > 1:  # minimal days in the first week = 1 (Locale.US)
        offset = 7 - week_start
    return offset


def _compute_week(offset: int, day: int) -> int:
    return (7 + offset + (day - 1)) // 7


def _week_based(d: dt.date) -> tuple[int, int]:
    """(week-based year, week of week-based year) under Locale.US week rules."""
    dow = _us_dow(d)
    doy = d.timetuple().tm_yday
    offset = _start_of_week_offset(doy, dow)
    week = _compute_week(offset, doy)
    if week == 0:
        return _week_based(d - dt.timedelta(days=doy))
    days_in_year = 366 if calendar.isleap(d.year) else 365
    new_year_week = _compute_week(offset, days_in_year + 1)
    if week >= new_year_week:
        return d.year + 1, week - new_year_week + 1
    return d.year, week


def _week_of_month(d: dt.date) -> int:
    offset = _start_of_week_offset(d.day, _us_dow(d))
    return _compute_week(offset, d.day)


def _pad(value: int, width: int, exceeds_pad: bool = False) -> str:
    s = str(abs(value)).rjust(width, "0")
    if value < 0:
        return "-" + s
    if exceeds_pad and len(s) > width:
        return "+" + s
    return s


def _offset_text(total: int, count: int, letter: str) -> str:
    """X/x/Z offsets: +HHmm, +HHMM, +HH:MM, +HHMMss, +HH:MM:ss, with Java's zero texts."""
    if total == 0:
        if letter == "X" or (letter == "Z" and count == 5):
            return "Z"
        if letter == "Z":
            return "+0000"
        return {1: "+00", 2: "+0000", 3: "+00:00", 4: "+0000", 5: "+00:00"}[count]
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, rem = divmod(total, 3600)
    mm, ss = divmod(rem, 60)
    if letter == "Z" and count <= 3:
        count = 2
    if count == 1:
        return f"{sign}{hh:02d}" + (f"{mm:02d}" if mm else "")
    if count == 2:
        return f"{sign}{hh:02d}{mm:02d}"
    if count == 3:
        return f"{sign}{hh:02d}:{mm:02d}"
    if count == 4:
        return f"{sign}{hh:02d}{mm:02d}" + (f"{ss:02d}" if ss else "")
    return f"{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")


def _localized_offset(total: int, full: bool) -> str:
    """O / OOOO / ZZZZ: GMT, GMT+8, GMT+05:30, GMT+08:00."""
    if total == 0:
        return "GMT"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, rem = divmod(total, 3600)
    mm, ss = divmod(rem, 60)
    if full:
        return f"GMT{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")
    return f"GMT{sign}{hh}" + (f":{mm:02d}" if mm or ss else "") + (f":{ss:02d}" if ss else "")


def _zone_text(d: dt.datetime, full: bool) -> str:
    tz = d.tzinfo
    key = getattr(tz, "key", None)
    if not key:  # a fixed offset prints its id
        return zone_id(tz) if tz is not None else "Z"
    if full:
        names = _ZONE_FULL_NAMES.get(key)
        if names is not None:
            return names[1] if (d.dst() or dt.timedelta(0)) else names[0]
        return key
    return d.tzname() or key


def _numeric(get: Callable[[dt.datetime], int], count: int) -> Callable[[dt.datetime], str]:
    """A zero-padded non-negative field (every field but years is one)."""
    if count == 1:
        return lambda d: str(get(d))
    spec = "0" + str(count) + "d"
    return lambda d: format(get(d), spec)


def _field_renderer(letter: str, count: int) -> Callable[[dt.datetime], str]:
    """The function printing one pattern field of a datetime (built once per pattern)."""
    words = _text_words(letter, count)
    if letter == "G":
        era = words[0] if words else "AD"  # years 1..9999 are all AD
        return lambda d: era
    if letter in "uy":
        if count == 2:
            return lambda d: f"{d.year % 100:02d}"
        return lambda d: _pad(d.year, count, exceeds_pad=count >= 4)
    if letter == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if words is not None:
        w = words
        if letter in "ML":
            return lambda d: w[d.month - 1]
        if letter in "Qq":
            return lambda d: w[(d.month - 1) // 3]
        return lambda d: w[d.weekday()]  # E e c
    if letter == "Y":
        def week_year(d: dt.datetime) -> str:
            y = _week_based(d.date())[0]
            return f"{y % 100:02d}" if count == 2 else _pad(y, count, exceeds_pad=count >= 4)
        return week_year
    simple: dict[str, Callable[[dt.datetime], int]] = {
        "M": lambda d: d.month, "L": lambda d: d.month, "Q": lambda d: (d.month - 1) // 3 + 1,
        "q": lambda d: (d.month - 1) // 3 + 1, "e": lambda d: _us_dow(d.date()), "c": lambda d: _us_dow(d.date()),
        "w": lambda d: _week_based(d.date())[1], "W": lambda d: _week_of_month(d.date()),
        "F": lambda d: (d.day - 1) % 7 + 1, "d": lambda d: d.day, "D": lambda d: d.timetuple().tm_yday,
        "H": lambda d: d.hour, "k": lambda d: d.hour or 24, "h": lambda d: d.hour % 12 or 12,
        "K": lambda d: d.hour % 12, "m": lambda d: d.minute, "s": lambda d: d.second,
        "n": lambda d: d.microsecond * 1000,
        "A": lambda d: ((d.hour * 60 + d.minute) * 60 + d.second) * 1000 + d.microsecond // 1000,
        "N": lambda d: (((d.hour * 60 + d.minute) * 60 + d.second) * 10**6 + d.microsecond) * 1000,
    }
    if letter in simple:
        return _numeric(simple[letter], count)
    if letter == "S":
        return lambda d: f"{d.microsecond * 1000:09d}"[:count]

    def offset_seconds(d: dt.datetime) -> int:
        return int((d.utcoffset() or dt.timedelta(0)).total_seconds())

    if letter in "Xx" or (letter == "Z" and count != 4):
        return lambda d: _offset_text(offset_seconds(d), count, letter)
    if letter == "O" or letter == "Z":
        return lambda d: _localized_offset(offset_seconds(d), full=count == 4)
    if letter == "V":
        return lambda d: zone_id(d.tzinfo) if d.tzinfo is not None else "Z"
    return lambda d: _zone_text(d, full=count == 4)  # z, v


def _kind(letter: str) -> str:
    return "d" if letter in _DATE_LETTERS else "t" if letter in _TIME_LETTERS else "z"


def _plan(nodes: tuple) -> tuple:
    """(None, text) for literals, (letter, kind, renderer) for fields, (kinds, plan) for optional parts."""
    out: list[tuple] = []
    for node in nodes:
        if isinstance(node, _Lit):
            out.append((None, node.text))
        elif isinstance(node, _Field):
            out.append((node.letter, _kind(node.letter), _field_renderer(node.letter, node.count)))
        else:
            out.append(({_kind(x) for x in _letters(node.nodes)}, _plan(node.nodes)))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _render_plan(pattern: str) -> tuple:
    return _plan(_compile(pattern))


def _render(plan: tuple, d: dt.datetime, kinds: str, out: list[str]) -> None:
    for item in plan:
        head = item[0]
        if head is None:
            out.append(item[1])
        elif isinstance(head, str):
            if item[1] not in kinds:
                if item[1] == "z" and head not in _FIELD_NAMES or head == "O":
                    raise KsqlError(f"Unable to extract ZoneId from temporal {d.isoformat()}")
                raise KsqlError(f"Unsupported field: {_FIELD_NAMES[head]}")
            out.append(item[2](d))
        elif all(k in kinds for k in head):  # an optional section prints when the value has its fields
            _render(item[1], d, kinds, out)


def format_datetime(value: dt.datetime, pattern: str, kinds: str = "dtz") -> str:
    """Render `value` in `pattern`. kinds: which fields the value has ('d'ate, 't'ime, 'z'one);
    a pattern field outside them is Java's 'Unsupported field' error."""
    out: list[str] = []
    _render(_render_plan(pattern), value, kinds, out)
    return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_formatter(pattern: str) -> Callable[[dt.datetime], str]:
    """A function rendering an aware datetime in `pattern` (raises KsqlError for an invalid pattern)."""
    plan = _render_plan(pattern)

    def render(value: dt.datetime) -> str:
        out: list[str] = []
        _render(plan, value, "dtz", out)
        return "".join(out)

    return render


def millis_to_datetime(millis: int, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    try:
        return (EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone)
    except OverflowError:
        raise KsqlError(f"Timestamp {millis} is outside the supported range of years 1 - 9999") from None


def format_millis(millis: int, pattern: str, zone: dt.tzinfo = dt.UTC) -> str:
    """A TIMESTAMP (epoch millis) in `pattern`, seen from `zone`."""
    return format_datetime(millis_to_datetime(millis, zone), pattern)


def format_date_days(days: int, pattern: str) -> str:
    """A DATE (days since the epoch) in `pattern`; time and zone fields are unsupported."""
    try:
        day = _EPOCH_DATE + dt.timedelta(days=days)
    except OverflowError:
        raise KsqlError(f"Date {days} is outside the supported range of years 1 - 9999") from None
    return format_datetime(dt.datetime(day.year, day.month, day.day), pattern, "d")


def format_time_millis(millis: int, pattern: str) -> str:
    """A TIME (milliseconds of the day) in `pattern`; date and zone fields are unsupported."""
    if not 0 <= millis < _MS_PER_DAY:
        raise KsqlError(f"Invalid value for NanoOfDay (valid values 0 - 86399999999999): {millis * 1_000_000}")
    h, rem = divmod(millis, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return format_datetime(dt.datetime(1970, 1, 1, h, m, s, ms * 1000), pattern, "t")
