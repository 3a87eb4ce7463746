"""Stream-stream joins and time: each side keeps its records for WITHIN plus GRACE PERIOD of its own
stream time, as Kafka Streams' join window stores do, while outer results wait for the shared stream
time to close their window."""

from __future__ import annotations

import pytest

from ksql.testing import TestDriver


@pytest.fixture
def driver():
    d = TestDriver()
    d.execute("CREATE STREAM L (ID BIGINT KEY, L1 STRING) WITH (KAFKA_TOPIC='l', PARTITIONS=1, VALUE_FORMAT='JSON');")
    d.execute("CREATE STREAM R (ID BIGINT KEY, R1 STRING) WITH (KAFKA_TOPIC='r', PARTITIONS=1, VALUE_FORMAT='JSON');")
    yield d
    d.close()


def _rows(driver: TestDriver) -> list[tuple]:
    return [(r["key"], r["value"], r["timestamp"]) for r in driver.read_output("J")]


@pytest.mark.parametrize("kind, outer_side", [("RIGHT", "r"), ("LEFT", "l")])
def test_a_late_record_joins_what_the_other_side_still_keeps(driver, kind: str, outer_side: str) -> None:
    driver.execute(f"CREATE STREAM J AS SELECT L.ID, L1, R1 FROM L {kind} JOIN R WITHIN 1 MINUTE GRACE PERIOD "
                   "1 MINUTE ON L.ID = R.ID;")
    late_side = "l" if outer_side == "r" else "r"
    driver.pipe(late_side, 1, {"L1": "far", "R1": "far"}, 330_000)  # that side's stream time moves far ahead
    # the outer side's record is unmatched and its window closed long ago: emitted at once, and kept
    driver.pipe(outer_side, 3, {"L1": "o", "R1": "o"}, 60_000)
    # too late to be kept on its own side, the other record still joins what the outer side keeps
    driver.pipe(late_side, 3, {"L1": "late", "R1": "late"}, 90_000)
    outer = {"L1": "o", "R1": None} if outer_side == "l" else {"L1": None, "R1": "o"}
    joined = {"L1": "o", "R1": "late"} if outer_side == "l" else {"L1": "late", "R1": "o"}
    assert _rows(driver) == [(3, outer, 60_000), (3, joined, 90_000)]


def test_records_too_late_for_their_side_are_not_kept(driver) -> None:
    driver.execute("CREATE STREAM J AS SELECT L.ID, L1, R1 FROM L JOIN R WITHIN 1 MINUTE GRACE PERIOD 1 MINUTE "
                   "ON L.ID = R.ID;")
    driver.pipe("l", 9, {"L1": "far"}, 330_000)
    driver.pipe("l", 2, {"L1": "late"}, 90_000)  # older than the left side keeps: joins nothing later
    driver.pipe("r", 2, {"R1": "r"}, 90_000)
    driver.pipe("l", 4, {"L1": "kept"}, 200_000)  # within what the left side keeps
    driver.pipe("r", 4, {"R1": "r"}, 150_000)
    assert _rows(driver) == [(4, {"L1": "kept", "R1": "r"}, 200_000)]
