"""Records no serde can read are skipped into the processing log, whatever their bytes.

Each case appends one batch [valid, poison, valid] to a source topic in one format and
checks that the persistent queries stay RUNNING with both valid records in their sinks,
that a push query and a pull query over the stream deliver both valid records, and that
the processing log names the poison record's topic, partition and offset (unless the
bytes happen to decode, which some corruptions of lenient formats do).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from ksql.engine.log import Record
from ksql.engine.serde.json_serde import JsonWrappedSerde
from ksql.engine.transient import TransientQueries
from ksql.testing import TestDriver

DEPTH = 100_000
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
HUGE_INT = b"1" + b"0" * 400  # 10**400 as an integer literal
SR_FORMATS = ("AVRO", "PROTOBUF", "JSON_SR")
FORMATS = ("JSON", "DELIMITED", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")

Poison = Callable[[bytes, bytes], tuple[bytes | None, bytes | None]]


def _header(data: bytes, fmt: str) -> bytes:
    """The Confluent framing of a record (magic byte, schema id; Protobuf's message index too)."""
    if fmt == "PROTOBUF":
        return data[:6]
    return data[:5] if fmt in SR_FORMATS else b""


def _value_poisons(fmt: str) -> dict[str, Poison]:
    """Corrupt value bytes for a stream of `fmt` given one valid (key, value) of it."""
    def framed(body: bytes) -> Poison:
        return lambda k, v: (k, _header(v, fmt) + body)

    poisons: dict[str, Poison] = {
        "deep_array": framed(DEEP_ARRAY),
        "deep_object": framed(DEEP_OBJECT),
        "deep_array_in_field": framed(b'{"T":' + DEEP_ARRAY + b"}"),
        "deep_object_in_field": framed(b'{"T":' + DEEP_OBJECT + b"}"),
        "nul_byte": lambda k, v: (k, b"\x00"),
        "empty": lambda k, v: (k, b""),
        "garbage": framed(bytes(range(256)) * 4),
        "truncated_to_1": lambda k, v: (k, v[:1]),
        "truncated_half": lambda k, v: (k, v[:len(v) // 2]),
        "truncated_by_1": lambda k, v: (k, v[:-1]),
        "invalid_utf8_in_string": lambda k, v: (k, v.replace(b"ok-", b"\xff\xfe\xfd")),
    }
    if fmt in ("JSON", "JSON_SR"):
        for column in ("I", "B", "D", "X"):
            poisons[f"1e400_in_{column}"] = framed(b'{"%s": 1e400, "T": "x"}' % column.encode())
            poisons[f"10**400_in_{column}"] = framed(b'{"%s": %s, "T": "x"}' % (column.encode(), HUGE_INT))
        poisons["invalid_utf8"] = framed(b'{"T": "\xff\xfe"}')
        poisons["lone_surrogate"] = framed(b'{"T": "\\ud800"}')
    if fmt == "DELIMITED":
        for i, column in enumerate(("I", "B", "D", "X")):
            for name, number in (("1e400", b"1e400"), ("10**400", HUGE_INT)):
                fields = [b"1", b"1", b"0.5", b"1.25", b"x"]
                fields[i] = number
                poisons[f"{name}_in_{column}"] = framed(b",".join(fields))
        poisons["too_few_fields"] = framed(b"1,2")
        poisons["too_many_fields"] = framed(b"1,2,3,4,5,6,7")
        poisons["invalid_utf8"] = framed(b"1,1,0.5,1.25,\xff\xfe")
    if fmt in SR_FORMATS:
        poisons["unknown_schema_id"] = lambda k, v: (k, b"\x00\x00\x00\x7f\xff" + v[5:])
        poisons["no_magic_byte"] = lambda k, v: (k, b"\x07" + v[1:])
        poisons["magic_byte_only"] = lambda k, v: (k, b"\x00")
    return poisons


def _key_poisons(fmt: str) -> dict[str, Poison]:
    """Corrupt key bytes, the value left valid."""
    poisons: dict[str, Poison] = {
        "key_deep_array": lambda k, v: (_header(k, fmt) + DEEP_ARRAY, v),
        "key_deep_object": lambda k, v: (_header(k, fmt) + DEEP_OBJECT, v),
        "key_garbage": lambda k, v: (_header(k, fmt) + bytes(range(256)), v),
        "key_invalid_utf8": lambda k, v: (_header(k, fmt) + b"\xff\xfe", v),
        "key_huge_int": lambda k, v: (_header(k, fmt) + HUGE_INT, v),
        "key_truncated": lambda k, v: (k[:-1], v),
        "key_empty": lambda k, v: (b"", v),
    }
    if fmt == "KAFKA":  # an INT key is exactly 4 bytes
        poisons["key_too_short"] = lambda k, v: (b"\x01", v)
        poisons["key_too_long"] = lambda k, v: (b"\x00" * 9, v)
    return poisons


# poisons that a lenient reader may turn into a row; every other one must be skipped
MAY_DECODE = {
    "empty", "truncated_to_1", "truncated_half", "truncated_by_1", "nul_byte", "key_empty", "key_truncated",
    "key_huge_int", "key_invalid_utf8", "key_garbage", "invalid_utf8_in_string", "garbage",
    *(f"{n}_in_{c}" for n in ("1e400", "10**400") for c in "IBDX"),
}
# as their ksqlDB readers do, Avro ignores bytes after the datum and JSON_SR does not look up the schema id
MAY_DECODE_IN = {("AVRO", "key_deep_array"), ("AVRO", "key_deep_object"), ("JSON_SR", "unknown_schema_id")}

CASES = [(fmt, fmt, name) for fmt in FORMATS for name in (*_value_poisons(fmt), *_key_poisons(fmt))]
CASES += [("KAFKA", "JSON", name) for name in _key_poisons("KAFKA")]


def _driver(key_format: str, value_format: str) -> TestDriver:
    driver = TestDriver()
    driver.execute(
        "CREATE STREAM S (K INT KEY, I INT, B BIGINT, D DOUBLE, X DECIMAL(10, 2), T STRING) WITH "
        f"(KAFKA_TOPIC='s', PARTITIONS=1, KEY_FORMAT='{key_format}', VALUE_FORMAT='{value_format}');")
    driver.execute("CREATE STREAM COPY AS SELECT * FROM S;")
    driver.execute("CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;")
    return driver


def _valid(driver: TestDriver, n: int) -> tuple[bytes, bytes]:
    """A valid record of S: key n, T = 'ok-<n>'."""
    source = driver.engine.metastore.get("S")
    key: object = {"K": n} if source.formats.key.name.startswith("PROTOBUF") else n
    value: object = {"I": n, "B": n, "D": 0.5, "X": 1.25, "T": f"ok-{n}"}
    if source.formats.value.name == "DELIMITED":
        value = f"{n},{n},0.5,1.25,ok-{n}"
    return driver._encode_side(key, source, True), driver._encode_side(value, source, False)


def _column_t(value: dict | str) -> str | None:
    """Column T of a COPY record as the driver reads it (DELIMITED values come as their text)."""
    return value.rsplit(",", 1)[-1] if isinstance(value, str) else value["T"]


def _skipped_offsets(messages: list[str]) -> set[int]:
    return {int(m.group(1)) for m in (re.search(r"skipped record at s/0 offset (\d+)", x) for x in messages) if m}


@pytest.mark.parametrize("key_format, value_format, poison", CASES)
def test_poison_record_is_skipped_and_the_batch_delivered(key_format, value_format, poison, caplog) -> None:
    driver = _driver(key_format, value_format)
    push = TransientQueries()
    [stmt] = driver.engine.prepare("SELECT T FROM S EMIT CHANGES;")
    push_query = push.start(driver.engine, stmt, {"auto.offset.reset": "earliest"})
    first, last = _valid(driver, 1), _valid(driver, 2)
    corrupt = {**_value_poisons(value_format), **_key_poisons(key_format)}[poison]
    bad_key, bad_value = corrupt(*first)
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        driver.log.append("s", 0, [Record(*first, 0, []), Record(bad_key, bad_value, 0, []),
                                   Record(*last, 0, [])])
        driver.engine.run_until_idle()
        while push_query.poll():
            pass
        pulled = driver.engine.pull_query("SELECT T FROM S;").rows
    assert {q.query_id: q.state for q in driver.engine.queries.values()} == {
        "CSAS_COPY_1": "RUNNING", "CTAS_COUNTS_2": "RUNNING"}
    copied = [_column_t(r["value"]) for r in driver.read_output("COPY")]
    assert [copied[0], copied[-1]] == ["ok-1", "ok-2"] and len(copied) in (2, 3)
    decoded = len(copied) == 3
    pushed = [r.columns[0] for r in push_query.take()]
    assert not push_query.failed and [pushed[0], pushed[-1]] == ["ok-1", "ok-2"]
    assert [pulled[0], pulled[-1]] == [["ok-1"], ["ok-2"]]
    skipped = _skipped_offsets(caplog.messages)
    if decoded:
        assert poison in MAY_DECODE or (value_format, poison) in MAY_DECODE_IN, f"{poison} was read as a row"
        assert len(pushed) == len(pulled) == 3
    else:
        assert skipped == {1}, caplog.messages
        assert len(pushed) == len(pulled) == 2
        assert any("s/0 offset 1" in m and "CSAS_COPY_1" in m for m in caplog.messages)
    driver.close()


def test_any_exception_while_decoding_skips_only_that_record(monkeypatch, caplog) -> None:
    """A MemoryError (or any exception) from a serde is that record's deserialization error."""
    def deserialize(self, data):
        if data == b'{"T": "boom"}':
            raise MemoryError("cannot allocate")
        return original(self, data)

    original = JsonWrappedSerde.deserialize
    monkeypatch.setattr(JsonWrappedSerde, "deserialize", deserialize)
    monkeypatch.setattr(JsonWrappedSerde, "deserialize_many",
                        lambda self, datas: [self.deserialize(d) for d in datas])
    driver = _driver("KAFKA", "JSON")
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        driver.log.append("s", 0, [Record(*_valid(driver, 1), 0, []), Record(b"\x00\x00\x00\x05", b'{"T": "boom"}', 0, []),
                                   Record(*_valid(driver, 2), 0, [])])
        driver.engine.run_until_idle()
    assert [_column_t(r["value"]) for r in driver.read_output("COPY")] == ["ok-1", "ok-2"]
    assert any("s/0 offset 1: MemoryError: cannot allocate" in m for m in caplog.messages)
    assert all(q.state == "RUNNING" for q in driver.engine.queries.values())
    driver.close()


def test_table_view_skips_poison_records_of_its_topic(caplog) -> None:
    """A pull query over a table whose topic holds unreadable records answers with the readable rows."""
    driver = _driver("KAFKA", "JSON")
    driver.execute("CREATE TABLE LATEST AS SELECT K, LATEST_BY_OFFSET(T) AS T FROM S GROUP BY K;")
    driver.log.append("s", 0, [Record(*_valid(driver, 1), 0, [])])
    driver.engine.run_until_idle()
    topic = driver.engine.metastore.get("LATEST").topic
    with caplog.at_level(logging.WARNING, logger="ksql.processing"):
        driver.log.append(topic, 0, [Record(b"\x00\x00\x00\x07", DEEP_OBJECT, 0, []),
                                     Record(b"\x00\x00", b'{"T": "short key"}', 0, []),
                                     Record(b"\x00\x00\x00\x08", b'{"T": "\xff"}', 0, [])])
        driver.log.append("s", 0, [Record(*_valid(driver, 2), 0, [])])
        driver.engine.run_until_idle()
        rows = driver.engine.pull_query("SELECT K, T FROM LATEST;").rows
    assert sorted(rows) == [[1, "ok-1"], [2, "ok-2"]]
    assert len([m for m in caplog.messages if m.startswith("view LATEST: skipped record")]) == 3
    driver.close()
