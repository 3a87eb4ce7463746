"""Date and time functions: DATE, TIME and TIMESTAMP arithmetic, parsing and formatting.

Runtime values (ksql.types): DATE = days since the epoch, TIME = milliseconds of the
day, TIMESTAMP = epoch milliseconds. Java date patterns and time zones come from
ksql.timeformat. Time units arrive as INTERVALUNIT arguments ('DAYS', 'MILLISECONDS' ...)
and convert like java.util.concurrent.TimeUnit (truncating, saturating at the long range).
"""

from __future__ import annotations

import datetime as _dt
import time as _time

from ksql.errors import KsqlError
from ksql.functions.javalib import LONG_MAX, LONG_MIN, MS_PER_DAY, java_idiv, wrap64
from ksql.functions.registry import INTERVAL_UNIT, scalar
from ksql.timeformat import (
    format_date_days,
    format_millis,
    format_time_millis,
    millis_to_datetime,
    parse_date_days,
    parse_datetime,
    parse_time_millis,
    to_epoch_millis,
    zone_by_name,
)
from ksql.types import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP

_CAT = "DATE / TIME"
_NANOS_PER_DAY = MS_PER_DAY * 1_000_000

# nanoseconds per unit, for TimeUnit conversions
_UNIT_NANOS = {
    "NANOSECONDS": 1, "MICROSECONDS": 1_000, "MILLISECONDS": 1_000_000, "SECONDS": 1_000_000_000,
    "MINUTES": 60_000_000_000, "HOURS": 3_600_000_000_000, "DAYS": 86_400_000_000_000,
}


def _saturate(v: int) -> int:
    return LONG_MAX if v > LONG_MAX else LONG_MIN if v < LONG_MIN else v


def _unit_nanos(unit: str) -> int:
    nanos = _UNIT_NANOS.get(str(unit).upper())
    if nanos is None:
        raise KsqlError(f"Unknown time unit: {unit}")
    return nanos


def unit_to_millis(unit: str, amount: int) -> int:
    """TimeUnit.toMillis: truncating toward zero, saturating at the long range."""
    nanos = _unit_nanos(unit)
    if nanos >= 1_000_000:
        return _saturate(amount * (nanos // 1_000_000))
    return java_idiv(amount, 1_000_000 // nanos)


def unit_to_nanos(unit: str, amount: int) -> int:
    return _saturate(amount * _unit_nanos(unit))


def _zone(name: str) -> _dt.tzinfo:
    return zone_by_name(name)


# --- current date and time, epoch conversions --------------------------------------------------

@scalar("unix_date", [], INTEGER, category=_CAT, deterministic=False,
        description="Gets an integer representing days since epoch. Returns the current date when called with "
                    "no argument.")
def unix_date_now():
    return (_dt.datetime.now(_dt.UTC).date() - _dt.date(1970, 1, 1)).days


@scalar("unix_date", [DATE], INTEGER, category=_CAT, param_names=("date",))
def unix_date(days):
    return days


@scalar("unix_timestamp", [], BIGINT, category=_CAT, deterministic=False,
        description="Gets the Unix timestamp in milliseconds, represented as a BIGINT. Returns the current time "
                    "when called with no argument.")
def unix_timestamp_now():
    return _time.time_ns() // 1_000_000


@scalar("unix_timestamp", [TIMESTAMP], BIGINT, category=_CAT, param_names=("timestamp",))
def unix_timestamp(ms):
    return ms


@scalar("from_unixtime", [BIGINT], TIMESTAMP, category=_CAT, param_names=("epochMilli",),
        description="Converts a BIGINT millisecond timestamp value into a TIMESTAMP value.")
def from_unixtime(ms):
    return ms


@scalar("from_days", [INTEGER], DATE, category=_CAT, param_names=("days",),
        description="Converts an INTEGER number of days since epoch to a DATE value.")
def from_days(days):
    return days


@scalar("convert_tz", [TIMESTAMP, STRING, STRING], TIMESTAMP, category=_CAT,
        param_names=("timestamp", "fromTimeZone", "toTimeZone"),
        description="Converts a TIMESTAMP value from one time zone to another (valid java.time ZoneId names, "
                    "e.g. 'America/Los_Angeles' or '+0200').")
def convert_tz(ms, from_zone, to_zone):
    """Shifts by the difference of the zones' offsets at that instant, as ksqlDB's ConvertTz."""
    src, dst = _zone(from_zone), _zone(to_zone)
    instant = millis_to_datetime(ms)
    delta = (instant.astimezone(dst).utcoffset() or _dt.timedelta(0)) - \
        (instant.astimezone(src).utcoffset() or _dt.timedelta(0))
    return ms + int(delta.total_seconds() * 1000)


# --- arithmetic with time units ----------------------------------------------------------------

_ADD_DOC = "An integer number of intervals to add"
_SUB_DOC = "An integer number of intervals to subtract"


@scalar("dateadd", [INTERVAL_UNIT, INTEGER, DATE], DATE, category=_CAT, param_names=("unit", "interval", "date"),
        description="Adds an interval to a date. Intervals are defined by an integer value and a supported time "
                    "unit: DAYS, HOURS, MINUTES, SECONDS, MILLISECONDS.")
def dateadd(unit, interval, days):
    return java_idiv(days * MS_PER_DAY + unit_to_millis(unit, interval), MS_PER_DAY)


@scalar("datesub", [INTERVAL_UNIT, INTEGER, DATE], DATE, category=_CAT, param_names=("unit", "interval", "date"),
        description="Subtracts an interval from a date. Intervals are defined by an integer value and a "
                    "supported time unit.")
def datesub(unit, interval, days):
    return java_idiv(days * MS_PER_DAY - unit_to_millis(unit, interval), MS_PER_DAY)


def _time_plus(ms: int, nanos: int) -> int:
    """LocalTime.plus: wraps around midnight."""
    return ((ms * 1_000_000 + nanos) % _NANOS_PER_DAY) // 1_000_000


@scalar("timeadd", [INTERVAL_UNIT, INTEGER, TIME], TIME, category=_CAT, param_names=("unit", "interval", "time"),
        description="Adds an interval to a time, wrapping around midnight.")
def timeadd(unit, interval, ms):
    return _time_plus(ms, unit_to_nanos(unit, interval))


@scalar("timesub", [INTERVAL_UNIT, INTEGER, TIME], TIME, category=_CAT, param_names=("unit", "interval", "time"),
        description="Subtracts an interval from a time, wrapping around midnight.")
def timesub(unit, interval, ms):
    return _time_plus(ms, -unit_to_nanos(unit, interval))


@scalar("timestampadd", [INTERVAL_UNIT, INTEGER, TIMESTAMP], TIMESTAMP, category=_CAT,
        param_names=("unit", "interval", "timestamp"), description="Adds an interval to a timestamp.")
def timestampadd(unit, interval, ms):
    return wrap64(ms + unit_to_millis(unit, interval))


@scalar("timestampsub", [INTERVAL_UNIT, INTEGER, TIMESTAMP], TIMESTAMP, category=_CAT,
        param_names=("unit", "interval", "timestamp"), description="Subtracts an interval from a timestamp.")
def timestampsub(unit, interval, ms):
    return wrap64(ms - unit_to_millis(unit, interval))


# --- parsing and formatting with patterns -------------------------------------------------------

def _parse_error(what: str, text: str, pattern: str, err: Exception) -> KsqlError:
    return KsqlError(f"Failed to parse {what} '{text}' with formatter '{pattern}': {err}")


@scalar("parse_date", [STRING, STRING], DATE, category=_CAT, param_names=("formattedDate", "formatPattern"),
        description="Converts a string representation of a date in the given format into a DATE value. The "
                    "format pattern is a java.time.format.DateTimeFormatter pattern.")
def parse_date(text, pattern):
    try:
        return parse_date_days(text, pattern)
    except KsqlError as e:
        raise _parse_error("date", text, pattern, e) from None


@scalar("format_date", [DATE, STRING], STRING, category=_CAT, param_names=("date", "formatPattern"),
        description="Converts a DATE value into a string representation of the date in the given format.")
def format_date(days, pattern):
    try:
        return format_date_days(days, pattern)
    except KsqlError as e:
        raise KsqlError(f"Failed to format date {days} with formatter '{pattern}': {e}") from None


@scalar("parse_time", [STRING, STRING], TIME, category=_CAT, param_names=("formattedTime", "formatPattern"),
        description="Converts a string representation of a time in the given format into a TIME value.")
def parse_time(text, pattern):
    try:
        return parse_time_millis(text, pattern)
    except KsqlError as e:
        raise _parse_error("time", text, pattern, e) from None


@scalar("format_time", [TIME, STRING], STRING, category=_CAT, param_names=("time", "formatPattern"),
        description="Converts a TIME value into the string representation of the time in the given format.")
def format_time(ms, pattern):
    try:
        return format_time_millis(ms, pattern)
    except KsqlError as e:
        raise KsqlError(f"Failed to format time {ms} with formatter '{pattern}': {e}") from None


def _parse_ts(text: str, pattern: str, zone: str | None) -> int:
    try:
        return to_epoch_millis(parse_datetime(text, pattern, _zone(zone) if zone is not None else _dt.UTC))
    except KsqlError as e:
        raise _parse_error("timestamp", text, pattern, e) from None


def _format_ts(ms: int, pattern: str, zone: str | None) -> str:
    try:
        return format_millis(ms, pattern, _zone(zone) if zone is not None else _dt.UTC)
    except KsqlError as e:
        raise KsqlError(f"Failed to format timestamp {ms} with formatter '{pattern}': {e}") from None


@scalar("parse_timestamp", [STRING, STRING], TIMESTAMP, category=_CAT,
        param_names=("formattedTimestamp", "formatPattern"),
        description="Converts a string value in the given format into the TIMESTAMP value (in UTC, or in the "
                    "time zone given as third argument when the text has none).")
def parse_timestamp(text, pattern):
    return _parse_ts(text, pattern, None)


@scalar("parse_timestamp", [STRING, STRING, STRING], TIMESTAMP, category=_CAT,
        param_names=("formattedTimestamp", "formatPattern", "timeZone"))
def parse_timestamp_tz(text, pattern, zone):
    return _parse_ts(text, pattern, zone)


@scalar("format_timestamp", [TIMESTAMP, STRING], STRING, category=_CAT,
        param_names=("timestamp", "formatPattern"),
        description="Converts a TIMESTAMP value into the string representation of the timestamp in the given "
                    "format (in UTC, or in the time zone given as third argument).")
def format_timestamp(ms, pattern):
    return _format_ts(ms, pattern, None)


@scalar("format_timestamp", [TIMESTAMP, STRING, STRING], STRING, category=_CAT,
        param_names=("timestamp", "formatPattern", "timeZone"))
def format_timestamp_tz(ms, pattern, zone):
    return _format_ts(ms, pattern, zone)


# --- the older BIGINT/INTEGER-based versions -----------------------------------------------------

@scalar("stringtodate", [STRING, STRING], INTEGER, category=_CAT, param_names=("formattedDate", "formatPattern"),
        description="Converts a string representation of a date in the given format into an integer "
                    "representing days since epoch.")
def stringtodate(text, pattern):
    return parse_date(text, pattern)


@scalar("datetostring", [INTEGER, STRING], STRING, category=_CAT, param_names=("epochDays", "formatPattern"),
        description="Converts an integer representation of a date (days since epoch) into a string "
                    "representation of the date in the given format.")
def datetostring(days, pattern):
    return format_date(days, pattern)


@scalar("stringtotimestamp", [STRING, STRING], BIGINT, category=_CAT,
        param_names=("formattedTimestamp", "formatPattern"),
        description="Converts a string value in the given format into the BIGINT value that represents the "
                    "millisecond timestamp.")
def stringtotimestamp(text, pattern):
    return _parse_ts(text, pattern, None)


@scalar("stringtotimestamp", [STRING, STRING, STRING], BIGINT, category=_CAT,
        param_names=("formattedTimestamp", "formatPattern", "timeZone"))
def stringtotimestamp_tz(text, pattern, zone):
    return _parse_ts(text, pattern, zone)


@scalar("timestamptostring", [BIGINT, STRING], STRING, category=_CAT, param_names=("epochMilli", "formatPattern"),
        description="Converts a BIGINT millisecond timestamp value into the string representation of the "
                    "timestamp in the given format.")
def timestamptostring(ms, pattern):
    return _format_ts(ms, pattern, None)


@scalar("timestamptostring", [BIGINT, STRING, STRING], STRING, category=_CAT,
        param_names=("epochMilli", "formatPattern", "timeZone"))
def timestamptostring_tz(ms, pattern, zone):
    return _format_ts(ms, pattern, zone)
