"""ksql.timeformat: Java DateTimeFormatter patterns, parsed and formatted as java.time does."""

from __future__ import annotations

import datetime as dt

import pytest

from ksql.errors import KsqlError
from ksql.timeformat import (
    compile_parser,
    format_date_days,
    format_millis,
    format_time_millis,
    parse_date_days,
    parse_time_millis,
    parse_to_millis,
    validate_pattern,
    zone_by_name,
    zone_id,
)

LA = zone_by_name("America/Los_Angeles")
TS = 1589234313000  # 2020-05-11T21:58:33Z, a Monday


@pytest.mark.parametrize("pattern,message", [
    ("yyyy-MM-ddd", "Too many pattern letters: d"),
    ("bb", "Unknown pattern letter: b"),
    ("'abc", "Pattern ends with an incomplete string literal: 'abc"),
    ("yyyy#", "Pattern includes reserved character: '#'"),
    ("yyyy]", "Pattern invalid as it contains ] without previous ["),
    ("V", "Pattern letter count must be 2: V"),
    ("aa", "Too many pattern letters: a"),
])
def test_invalid_patterns_fail_with_javas_message(pattern, message):
    with pytest.raises(KsqlError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_pattern(pattern)


@pytest.mark.parametrize("pattern,expected", [
    ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2020-05-11T14:58:33.000-07:00"),
    ("yy M d H h K k a", "20 5 11 14 2 2 14 PM"),
    ("MMM MMMM MMMMM LLL", "May May M May"),
    ("E EE EEE EEEE EEEEE e ee eee c", "Mon Mon Mon Monday M 2 02 Mon 2"),
    ("D DDD Q QQ QQQ QQQQ F", "132 132 2 02 Q2 2nd quarter 4"),
    ("w W Y YY", "20 3 2020 20"),
    ("X XX XXX XXXX XXXXX", "-07 -0700 -07:00 -0700 -07:00"),
    ("x Z ZZZZ ZZZZZ O OOOO", "-07 -0700 GMT-07:00 -07:00 GMT-7 GMT-07:00"),
    ("VV z zzzz", "America/Los_Angeles PDT Pacific Daylight Time"),
    ("G GGGG u uuuu", "AD Anno Domini 2020 2020"),
    ("A n N S SSSSSSSSS", "53913000 0 53913000000000 0 000000000"),
    ("'It''s' '' yyyy [HH:mm]", "It's ' 2020 14:58"),
])
def test_formatting_every_letter(pattern, expected):
    assert format_millis(TS, pattern, LA) == expected


def test_offsets_at_utc_use_javas_zero_texts():
    assert format_millis(TS, "X|x|xx|xxx|Z|ZZZZ|ZZZZZ|O", dt.UTC) == "Z|+00|+0000|+00:00|+0000|GMT|Z|GMT"
    assert format_millis(TS, "VV|z", zone_by_name("UTC")) == "UTC|UTC"
    assert format_millis(TS, "VV|z", zone_by_name("+05:30")) == "+05:30|+05:30"


def test_date_and_time_values_only_have_their_fields():
    assert format_date_days(18993, "dd-MMM-yyyy") == "01-Jan-2022"
    assert format_date_days(18993, "yyyy[ HH:mm]") == "2022"  # optional section skipped
    with pytest.raises(KsqlError, match="Unsupported field: HourOfDay"):
        format_date_days(18993, "yyyy HH")
    assert format_time_millis(1234567, "HHmmss'AAAAA'") == "002034AAAAA"
    assert format_time_millis(65000, "HH_mm_ss_SSS") == "00_01_05_000"
    with pytest.raises(KsqlError, match="Unsupported field: YearOfEra"):
        format_time_millis(0, "yyyy")
    with pytest.raises(KsqlError, match="Unable to extract ZoneId"):
        format_date_days(0, "VV")


@pytest.mark.parametrize("text,pattern,millis", [
    ("2018-05-11T21:58:33Z", "yyyy-MM-dd'T'HH:mm:ssX", 1526075913000),
    ("2019-08-27T13:31:09.2+0000", "yyyy-MM-dd'T'HH:mm:ss.SX", 1566912669200),
    ("2020-05-11 14:58:33 America/Los_Angeles", "yyyy-MM-dd HH:mm:ss VV", TS),
    ("2020-05-11 14:58:33 PDT", "yyyy-MM-dd HH:mm:ss z", TS),
    ("2020-05-11 14:58:33 GMT-07:00", "yyyy-MM-dd HH:mm:ss OOOO", TS),
    ("2020-05-11 02:58:33.000 pm -0700", "yyyy-MM-dd hh:mm:ss.SSS a Z", TS),
    ("20200511", "yyyyMMdd", 1589155200000),
    ("2020", "yyyy", 1577836800000),
    ("10:00", "HH:mm", 36000000),  # the date defaults to 1970-01-01
    ("2020-132", "yyyy-DDD", 1589155200000),
    ("2021-02-30", "yyyy-MM-dd", 1614470400000),  # SMART resolution: clamped to February 28th
    ("2020-05-11 24:00", "yyyy-MM-dd HH:mm", 1589241600000),  # 24:00 is the next midnight
])
def test_parsing_timestamps(text, pattern, millis):
    assert parse_to_millis(text, pattern) == millis


def test_parsing_uses_the_default_zone_only_without_one_in_the_text():
    assert parse_to_millis("2020-05-11 14:58:33", "yyyy-MM-dd HH:mm:ss", LA) == TS
    assert parse_to_millis("2020-05-11 21:58:33Z", "yyyy-MM-dd HH:mm:ssX", LA) == TS
    assert compile_parser("yyyy")("1970", dt.UTC) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("text,pattern,message", [
    ("2021-13-01", "yyyy-MM-dd", "Invalid value for MonthOfYear \\(valid values 1 - 12\\): 13"),
    ("2021-01-01x", "yyyy-MM-dd", "unparsed text found at index 10"),
    ("20x1", "yyyy", "could not be parsed at index 0"),
    ("2021-x", "yyyy-MM", "could not be parsed at index 5"),
    ("Tue 2020-05-11", "EEE yyyy-MM-dd", "Conflict found: Field DayOfWeek 1 differs from DayOfWeek 2"),
    ("13:00 AM", "HH:mm a", "Conflict found"),
])
def test_parse_errors(text, pattern, message):
    with pytest.raises(KsqlError, match=message):
        parse_to_millis(text, pattern)


def test_parse_date_and_time_semantics():
    assert parse_date_days("JAN-2022", "MMM-yyyy") == 18993
    assert parse_date_days("01-jan-2022", "dd-MMM-yyyy") == 18993  # case-insensitive
    assert parse_date_days("2003-12-24-01-01", "yyyy-MM-dd") == 12410  # trailing text ignored
    with pytest.raises(KsqlError, match="Date format contains time field."):
        parse_date_days("2020-01-01 10", "yyyy-MM-dd HH")
    assert parse_time_millis("01:00:00 Pm", "hh:mm:ss a") == 46800000
    assert parse_time_millis("11/05/19", "HH/mm/ss") == 39919000
    with pytest.raises(KsqlError, match="Time format contains date field."):
        parse_time_millis("2020 10", "yyyy HH")
    with pytest.raises(KsqlError, match="Unable to obtain LocalTime"):
        parse_time_millis("30", "mm")


def test_zone_ids_as_java_accepts_them():
    assert zone_id(zone_by_name("Z")) == "Z"
    assert zone_id(zone_by_name("+0200")) == "+02:00"
    assert zone_id(zone_by_name("-5")) == "-05:00"
    assert zone_id(zone_by_name("UTC+01:30")) == "UTC+01:30"
    assert zone_id(zone_by_name("GMT")) == "GMT"
    assert zone_id(zone_by_name("America/New_York")) == "America/New_York"
    with pytest.raises(KsqlError, match="Unknown time-zone ID: Mars/Base"):
        zone_by_name("Mars/Base")
    with pytest.raises(KsqlError, match="Zone offset not in valid range"):
        zone_by_name("+19:00")
