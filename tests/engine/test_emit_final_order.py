"""EMIT FINAL: the order of windows that close together.

Kafka Streams' suppress buffer orders what it holds by window end, then by the serialized windowed
key (unsigned bytes), so windows closing at the same stream time come out in key-byte order, not in
the order their records arrived.
"""

from __future__ import annotations

import pytest

from ksql.testing import TestDriver


def _closed_keys(key_type: str, key_format: str, keys: list) -> list:
    d = TestDriver()
    try:
        d.execute(f"CREATE STREAM S (K {key_type} KEY, V INT) WITH (kafka_topic='s', key_format='{key_format}', "
                  "value_format='JSON', partitions=1);")
        d.execute("CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 10 MILLISECONDS, "
                  "GRACE PERIOD 0 MILLISECONDS) GROUP BY K EMIT FINAL;")
        for i, key in enumerate(keys):  # later records in the window carry later timestamps
            d.pipe("s", key, {"V": 1}, timestamp=i)
        d.pipe("s", keys[0], {"V": 1}, timestamp=10)  # closes the window above, within its retention
        return [r["key"] for r in d.read_output("T")]
    finally:
        d.close()


@pytest.mark.parametrize("key_type, key_format, keys, expected", [
    # KAFKA INT: big-endian two's complement, so a negative key's bytes sort after every positive one
    ("INT", "KAFKA", [5, -1, 0, 3], [0, 3, 5, -1]),
    ("STRING", "KAFKA", ["b", "a", "B", "ab"], ["B", "a", "ab", "b"]),
    # JSON: the text of the key, so 10 sorts before 9
    ("INT", "JSON", [9, 10, 1], [1, 10, 9]),
    ("BIGINT", "KAFKA", [2**40, 1], [1, 2**40]),
])
def test_windows_closing_together_come_out_in_key_byte_order(key_type, key_format, keys, expected):
    assert _closed_keys(key_type, key_format, keys) == expected


def test_windows_come_out_by_window_end_first():
    d = TestDriver()
    try:
        d.execute("CREATE STREAM S (K INT KEY, V INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
        d.execute("CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 10 MILLISECONDS) "
                  "GROUP BY K EMIT FINAL;")
        d.pipe("s", 2, {"V": 1}, timestamp=1)
        d.pipe("s", 1, {"V": 1}, timestamp=10)
        d.pipe("s", 0, {"V": 1}, timestamp=20)
        assert [(r["key"], r["window"]["start"]) for r in d.read_output("T")] == [(2, 0), (1, 10)]
    finally:
        d.close()


def test_a_join_aggregated_in_one_query_closes_windows_in_key_byte_order():
    d = TestDriver()
    try:
        for name in ("L", "R"):
            d.execute(f"CREATE STREAM {name} (A INT KEY, B INT) WITH (kafka_topic='{name.lower()}', "
                      "value_format='JSON', partitions=1);")
        d.execute("CREATE TABLE T AS SELECT L.A, COUNT(*) AS N FROM L JOIN R WITHIN 1 SECONDS ON L.A = R.A "
                  "WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY L.A EMIT FINAL;")
        for i, key in enumerate([7, -2, 3]):
            d.pipe("l", key, {"B": 1}, timestamp=i)
            d.pipe("r", key, {"B": 1}, timestamp=i)
        d.pipe("l", 0, {"B": 1}, timestamp=10)
        d.pipe("r", 0, {"B": 1}, timestamp=10)
        assert [r["key"] for r in d.read_output("T")] == [3, 7, -2]
    finally:
        d.close()


def test_struct_keys_close_in_the_order_of_their_json_text():
    d = TestDriver()
    try:
        d.execute("CREATE STREAM S (K INT KEY, V STRING) WITH (kafka_topic='s', key_format='JSON', "
                  "value_format='JSON', partitions=1);")
        d.execute("CREATE TABLE T WITH (key_format='JSON') AS SELECT STRUCT(X := V) AS SK, COUNT(*) AS N "
                  "FROM S WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) "
                  "GROUP BY STRUCT(X := V) EMIT FINAL;")
        for i, v in enumerate(["b", "B", "a"]):
            d.pipe("s", i, {"V": v}, timestamp=i)
        d.pipe("s", 9, {"V": "z"}, timestamp=10)
        assert [r["key"] for r in d.read_output("T")] == [{"X": "B"}, {"X": "a"}, {"X": "b"}]
    finally:
        d.close()
