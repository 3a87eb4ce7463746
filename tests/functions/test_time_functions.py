"""Date and time functions through the expression compiler, with ksqlDB's types and results."""

from __future__ import annotations

import time

import pytest

from ksql.errors import KsqlError
from ksql.functions import default_registry, javalib
from ksql.functions.builtins.scalar_time import unit_to_millis
from ksql.types import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP
from tests.planner.helpers import evaluate, type_of

TS = 1589234313000  # 2020-05-11T21:58:33Z


@pytest.mark.parametrize("text,cols,row,out", [
    ("DATEADD(DAYS, 10, D)", {"D": DATE}, (10,), 20),
    ("DATEADD(DAYS, -5, D)", {"D": DATE}, (2,), -3),
    ("DATEADD(MILLISECONDS, N, D)", {"D": DATE, "N": INTEGER}, (5, None), None),
    ("DATEADD(HOURS, 25, D)", {"D": DATE}, (0,), 1),
    ("DATEADD(MILLISECONDS, 5, D)", {"D": DATE}, (-1,), 0),  # TimeUnit.toDays truncates toward zero
    ("DATESUB(DAYS, 10, D)", {"D": DATE}, (5,), -5),
    ("TIMEADD(HOURS, 1, T)", {"T": TIME}, (82800000,), 0),  # wraps around midnight
    ("TIMESUB(MILLISECONDS, 10, T)", {"T": TIME}, (5,), 86399995),
    ("TIMESUB(MILLISECONDS, -5, T)", {"T": TIME}, (86399997,), 2),
    ("TIMESTAMPADD(MILLISECONDS, 10, T)", {"T": TIMESTAMP}, (10,), 20),
    ("TIMESTAMPADD(SECONDS, 1, T)", {"T": TIMESTAMP}, (0,), 1000),
    ("TIMESTAMPSUB(MINUTES, 1, T)", {"T": TIMESTAMP}, (0,), -60000),
    ("TIMESTAMPSUB(MILLISECONDS, -5, T)", {"T": TIMESTAMP}, (-100,), -95),
    ("UNIX_DATE(D)", {"D": DATE}, (100,), 100),
    ("UNIX_TIMESTAMP(T)", {"T": TIMESTAMP}, (TS,), TS),
    ("FROM_UNIXTIME(M)", {"M": BIGINT}, (TS,), TS),
    ("FROM_DAYS(D)", {"D": INTEGER}, (-10,), -10),
    ("CONVERT_TZ(T, '+0200', '+0500')", {"T": TIMESTAMP}, (100,), 10800100),
    ("CONVERT_TZ(T, 'America/Los_Angeles', 'America/New_York')", {"T": TIMESTAMP}, (TS,), TS + 10800000),
    ("CONVERT_TZ(T, 'UTC', 'Mars/Base')", {"T": TIMESTAMP}, (TS,), None),
    ("PARSE_DATE(S, 'dd-MMM-yyyy')", {"S": STRING}, ("01-Jan-2022",), 18993),
    ("PARSE_DATE(S, 'yyyy-MM-dd')", {"S": STRING}, ("2004",), None),
    ("FORMAT_DATE(D, 'dd/MM/yyyy')", {"D": DATE}, (18027,), "11/05/2019"),
    ("PARSE_TIME(S, 'hh:mm:ss a')", {"S": STRING}, ("01:00:00 PM",), 46800000),
    ("FORMAT_TIME(T, 'HH:mm:ss.SSS')", {"T": TIME}, (65001,), "00:01:05.001"),
    ("FORMAT_TIME(T, 'yyyy')", {"T": TIME}, (0,), None),
    ("PARSE_TIMESTAMP(S, 'yyyy-MM-dd''T''HH:mm:ssX')", {"S": STRING}, ("2020-05-11T21:58:33Z",), TS),
    ("PARSE_TIMESTAMP(S, 'yyyy-MM-dd HH:mm:ss', 'America/Los_Angeles')", {"S": STRING},
     ("2020-05-11 14:58:33",), TS),
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd HH:mm:ss')", {"T": TIMESTAMP}, (TS,), "2020-05-11 21:58:33"),
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd HH:mm:ss z', 'America/Los_Angeles')", {"T": TIMESTAMP}, (TS,),
     "2020-05-11 14:58:33 PDT"),
    ("STRINGTODATE(S, 'yyyy-MM-dd''Lit''')", {"S": STRING}, ("2018-05-11Lit",), 17662),
    ("DATETOSTRING(D, 'dd-MMM-yyyy')", {"D": INTEGER}, (18993,), "01-Jan-2022"),
    ("STRINGTOTIMESTAMP(S, 'yyyy-MM-dd''T''HH:mm:ss.SX')", {"S": STRING}, ("2019-08-27T13:31:09.2+0000",),
     1566912669200),
    ("STRINGTOTIMESTAMP(S, 'yyyy-MM-dd HH:mm', 'GMT+2')", {"S": STRING}, ("1970-01-01 02:00",), 0),
    ("STRINGTOTIMESTAMP(S, 'yyyy')", {"S": STRING}, ("not a year",), None),
    ("TIMESTAMPTOSTRING(M, 'yyyy-MM-dd HH:mm:ss.SSS')", {"M": BIGINT}, (TS + 7,), "2020-05-11 21:58:33.007"),
    ("TIMESTAMPTOSTRING(M, 'HH:mm', 'Asia/Kolkata')", {"M": BIGINT}, (0,), "05:30"),
    ("GREATEST(D, '2022-06-14')", {"D": DATE}, (19187,), 19187),  # STRING casts implicitly to DATE
    ("LEAST(T, '2022-06-14')", {"T": TIMESTAMP}, (1657756800000,), 1655164800000),
    ("GREATEST(T, '09:16:00')", {"T": TIME}, (0,), 33360000),
])
def test_time_functions(text, cols, row, out):
    assert evaluate(text, cols, row) == out


def test_failures_are_reported_and_yield_null():
    errors: list[str] = []
    assert evaluate("STRINGTOTIMESTAMP(S, 'yyyy')", {"S": STRING}, ("x",), errors) is None
    assert "Failed to parse timestamp 'x' with formatter 'yyyy'" in errors[0]


def test_return_types_and_interval_units():
    assert type_of("DATEADD(DAYS, 1, D)", {"D": DATE}) == DATE
    assert type_of("TIMESTAMPADD(SECONDS, 1, T)", {"T": TIMESTAMP}) == TIMESTAMP
    assert type_of("STRINGTODATE(S, 'yyyy')", {"S": STRING}) == INTEGER
    assert type_of("STRINGTOTIMESTAMP(S, 'yyyy')", {"S": STRING}) == BIGINT
    assert type_of("UNIX_DATE()") == INTEGER and type_of("UNIX_TIMESTAMP()") == BIGINT
    with pytest.raises(KsqlError, match=r"Function 'dateadd' does not accept parameters \(DATE, INTEGER, DATE\)"):
        type_of("DATEADD(D, 5, D)", {"D": DATE})
    with pytest.raises(KsqlError, match=r"Function 'timestampsub' does not accept parameters"):
        type_of("TIMESTAMPSUB('DAYS', 5, T)", {"T": TIMESTAMP})
    alternatives = str(pytest.raises(KsqlError, type_of, "TIMEADD(T, 5, T)", {"T": TIME}).value)
    assert "timeadd(INTERVALUNIT unit, INTEGER interval, TIME time)" in alternatives


def test_current_date_and_time():
    now = evaluate("UNIX_TIMESTAMP()")
    assert abs(now - time.time() * 1000) < 5000
    assert evaluate("UNIX_DATE()") == int(time.time() // 86400)
    assert not default_registry().describe("UNIX_TIMESTAMP").deterministic


def test_time_unit_conversion_truncates_and_saturates():
    assert unit_to_millis("NANOSECONDS", 1_999_999) == 1
    assert unit_to_millis("MICROSECONDS", -1500) == -1
    assert unit_to_millis("DAYS", 2) == 172_800_000
    assert unit_to_millis("DAYS", 10**18) == 2**63 - 1


@pytest.mark.parametrize("ms, text", [
    (0, "1970-01-01T00:00:00.000"),
    (-1, "1969-12-31T23:59:59.999"),
    (-30_610_310_400_000, "0999-12-31T00:00:00.000"),  # years before 1000 keep 4 digits, as in Java
    (2**63 - 1, "+292278994-08-17T07:12:55.807"),  # Instant.ofEpochMilli(Long.MAX_VALUE)
    (-(2**63), "-292275055-05-16T16:47:04.192"),
])
def test_timestamps_print_for_every_long(ms: int, text: str) -> None:
    """A TIMESTAMP read from a record may hold any BIGINT; REST rows print it as Java does, never fail."""
    assert javalib.format_timestamp(ms) == text


@pytest.mark.parametrize("days, text", [(0, "1970-01-01"), (2**31 - 1, "+5881580-07-11"),
                                        (-(2**31), "-5877641-06-23")])
def test_dates_print_for_every_int(days: int, text: str) -> None:
    assert javalib.format_date(days) == text
