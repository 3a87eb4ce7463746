"""A table's view decodes values when they are read, and its rows are exactly those of decoding every record.

Until its mirror is built, an unwindowed table's view keeps values as stored and decodes a key's value on
its lookup (a scan or the mirror read the topic again, decoding every value). Whatever the topic holds (updates,
tombstones, JSON null values, values no serde reads, several partitions), lookups, scans and the mirror
must give what a view decoding every record as it comes gives (in the same order within a partition).
"""

from __future__ import annotations

import random

import orjson
import pytest

from ksql.engine.log import Record, TopicConfig
from ksql.engine.materialization import TableView
from tests.engine.test_pull_mirror import expected_mirror, mirror
from tests.engine.test_pull_safety import pull


class CountingSerde:
    """A serde that counts the keys or values it decodes."""

    def __init__(self, inner):
        self.inner = inner
        self.decoded = 0

    def deserialize(self, data):
        self.decoded += 1
        return self.inner.deserialize(data)

    def deserialize_many(self, datas):
        self.decoded += len(datas)
        return self.inner.deserialize_many(datas)


def test_a_key_lookup_decodes_only_the_value_it_reads(driver):
    driver.execute("CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', FORMAT='JSON', "
                   "PARTITIONS=2);")
    for i in range(500):
        driver.pipe("t", f"k{i}", {"V": i})
    view = driver.engine.table_view(driver.engine.metastore.get("T"))
    counting = CountingSerde(view.decoder.value_serde)
    for decoder in (view.decoder, view._value_decoder, view._rereader):  # whichever the view decodes with
        decoder.value_serde = counting
    assert pull(driver, "SELECT V FROM T WHERE K = 'k7';") == [[7]]
    assert counting.decoded == 1
    assert pull(driver, "SELECT K, V FROM T WHERE V >= 498;") == [["k498", 498], ["k499", 499]]
    assert counting.decoded == 501  # the mirror needs every row: the topic read again, every value decoded
    assert mirror(view) == expected_mirror(view)


def test_only_the_first_read_keeps_values_as_stored(driver):
    """Later reads are small: decoded as applied, so no batch of theirs is held by a value kept as stored."""
    driver.execute("CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', FORMAT='JSON');")
    for i in range(100):
        driver.pipe("t", f"k{i}", {"V": i})
    view = driver.engine.table_view(driver.engine.metastore.get("T"))
    counting = CountingSerde(view.decoder.value_serde)
    for decoder in (view.decoder, view._value_decoder, view._rereader):
        decoder.value_serde = counting
    assert pull(driver, "SELECT V FROM T WHERE K = 'k7';") == [[7]]
    for i in range(10):
        driver.pipe("t", f"new{i}", {"V": i})
    assert pull(driver, "SELECT V FROM T WHERE K = 'new3';") == [[3]]
    assert counting.decoded == 1 + 10


@pytest.mark.parametrize("sql", ["SELECT K, V FROM T WHERE V >= 498;", "SELECT K, V FROM T WHERE K LIKE 'k49_';"])
def test_a_first_pull_reading_every_row_reads_the_topic_once(driver, sql):
    """A range pull (the mirror) or a scan as the first pull decodes each record as it applies it: nothing
    kept as stored first, to be read and decoded again."""
    driver.execute("CREATE SOURCE TABLE T (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='t', FORMAT='JSON', "
                   "PARTITIONS=2);")
    for i in range(500):
        driver.pipe("t", f"k{i}", {"V": i})
    view = driver.engine.table_view(driver.engine.metastore.get("T"))
    keys, values = CountingSerde(view.decoder.key_serde), CountingSerde(view.decoder.value_serde)
    for decoder in (view.decoder, view._value_decoder, view._rereader):
        decoder.key_serde, decoder.value_serde = keys, values
    assert sorted(pull(driver, sql))[-2:] == [["k498", 498], ["k499", 499]]
    assert (keys.decoded, values.decoded) == (500, 500)


def eager_view(driver, name: str) -> TableView:
    """A view of the table that decodes every record as it applies it (the rows to compare with)."""
    view = TableView(driver.engine.metastore.get(name), driver.engine.log)
    view._defer_values = False
    return view


def append(driver, partition: int, key: str, value: bytes | None, ts: int) -> None:
    driver.engine.log.append("h", partition, [Record(orjson.dumps(key), value, ts, [("h", str(ts).encode())])])


@pytest.mark.parametrize("seed", range(6))
def test_rows_decoded_when_read_equal_rows_decoded_as_applied(driver, seed):
    """Random histories with every kind of record; lookups and catch-ups interleaved."""
    rng = random.Random(seed)
    driver.engine.log.create_topic("h", TopicConfig(partitions=2))
    driver.execute("CREATE SOURCE TABLE H (K STRING PRIMARY KEY, V INT, S STRING, HS ARRAY<STRUCT<KEY STRING, "
                   "VALUE BYTES>> HEADERS) WITH (KAFKA_TOPIC='h', FORMAT='JSON');")
    lazy = driver.engine.table_view(driver.engine.metastore.get("H"))
    eager = eager_view(driver, "H")
    keys = [f"k{i}" for i in range(30)]
    ts = 0
    for _round in range(4):
        for _ in range(rng.randrange(20, 80)):
            ts += 1
            kind = rng.random()
            value = (None if kind < 0.1 else b"null" if kind < 0.15 else b"{not json" if kind < 0.2
                     else orjson.dumps({"V": ts, "S": f"s{ts}"}))
            key = rng.randrange(len(keys))
            append(driver, key % 2, keys[key], value, ts)  # a key's records in one partition, as producers do
        lazy.catch_up()
        eager.catch_up()
        for key in rng.sample(keys, 10):
            assert lazy.lookup([(key,)]) == eager.lookup([(key,)]), key
    # a view read again from the topic (after a value that decodes to no row) applies each partition's
    # records in one go, so keys of different partitions may come in another order than incremental reads
    assert sorted(lazy.scan()) == sorted(eager.scan())
    assert lazy.lookup([(k,) for k in keys]) == eager.lookup([(k,) for k in keys])


def test_a_value_that_does_not_decode_leaves_the_key_to_its_earlier_row(driver):
    driver.engine.log.create_topic("h", TopicConfig(partitions=1))
    driver.execute("CREATE SOURCE TABLE H (K STRING PRIMARY KEY, V INT) WITH (KAFKA_TOPIC='h', FORMAT='JSON');")
    append(driver, 0, "a", orjson.dumps({"V": 1}), 1)
    append(driver, 0, "b", orjson.dumps({"V": 2}), 2)
    append(driver, 0, "a", b"{not json", 3)  # skipped: "a" stays 1
    append(driver, 0, "b", b"null", 4)       # a null value deletes "b"
    assert pull(driver, "SELECT K, V FROM H WHERE K = 'a';") == [["a", 1]]
    assert pull(driver, "SELECT K, V FROM H WHERE K = 'b';") == []
    append(driver, 0, "b", orjson.dumps({"V": 5}), 5)
    append(driver, 0, "c", orjson.dumps({"V": 6}), 6)
    assert pull(driver, "SELECT K, V FROM H WHERE V > 0;") == [["a", 1], ["b", 5], ["c", 6]]
