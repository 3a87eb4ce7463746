"""Date and time functions, with Java DateTimeFormatter patterns (ksql.timeformat)."""

from __future__ import annotations

import datetime as _dt

from ksql.functions.javalib import EPOCH_DATE
from ksql.functions.registry import scalar
from ksql.timeformat import compile_formatter, compile_parser
from ksql.types import DATE, STRING


@scalar("PARSE_DATE", [STRING, STRING], DATE, category="DATE / TIME", param_names=("formattedDate", "formatPattern"),
        description="Parses a date string with a java.time pattern into a DATE.")
def parse_date(text, pattern):
    return (compile_parser(pattern, trailing_text=True)(text, _dt.UTC).date() - EPOCH_DATE).days


@scalar("FORMAT_DATE", [DATE, STRING], STRING, category="DATE / TIME", param_names=("date", "formatPattern"),
        description="Formats a DATE with a java.time pattern.")
def format_date_fn(days, pattern):
    day = EPOCH_DATE + _dt.timedelta(days=days)
    return compile_formatter(pattern)(_dt.datetime(day.year, day.month, day.day, tzinfo=_dt.UTC))
