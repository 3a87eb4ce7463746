"""Records no format can read, for server tests: generators of poison values and an appender.

Values are written through POST /topics/{topic}/records as rawValue bytes, exactly as
another producer could write them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx

DEPTH = 100_000  # levels of nesting of the deepest poison values


def unreadable_json() -> list[bytes]:
    """JSON values no reader accepts: 100k-level nesting, invalid UTF-8, a lone surrogate, cut text."""
    return [
        b"[" * DEPTH + b"]" * DEPTH, b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
        b'{"T": "\xff\xfe"}', b'{"T": "\\ud800"}', b"\x00", b"", b'{"V": 1, "T": "ok', b"\xde\xad\xbe\xef",
        b"[" * 2000 + b"]" * 2000, b'{"T": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ]


def json_poisons() -> list[bytes]:
    """unreadable_json() and numbers too big for INT/BIGINT/DOUBLE/DECIMAL columns: some of those columns
    read them (wrapped, infinite), so their rows carry T = 'bad'."""
    huge = b"1" + b"0" * 400
    return [*unreadable_json(), *(b'{"%s": %s, "T": "bad"}' % (column, number)
                                  for column in (b"V", b"B", b"D", b"X") for number in (b"1e400", huge))]


def framed_poisons() -> list[bytes]:
    """Truncated or garbage Avro / Protobuf records, with and without Confluent's framing."""
    return [b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00\x01", b"\x00\x00\x00\x00\x01\x02",
            b"\x00\x00\x00\x00\x02\x00\x0a", b"\x00\x00\x00\x7f\xff\x02\x02", b"\x00\x00\x00\x00\x01\xff\xff\xff",
            b"\x00\x00\x00\x00\x02" + b"\x80" * 1000, b"\x07garbage", b"",
            b"\x00\x00\x00\x00\x01" + b"[" * DEPTH]


def raw_record(key: str, value: bytes) -> dict:
    return {"key": key, "rawValue": base64.b64encode(value).decode()}


def interleaved(poisons: list[bytes], bad: int, valid: int, deep_every: int) -> Iterator[tuple[bool, dict]]:
    """(is_valid, record) for `bad` poison records with `valid` valid ones (T = ok-<i>) spread among them;
    the poisons of 100k-level nesting (the first two of a list, if that long) only every `deep_every`."""
    shallow = [p for p in poisons if len(p) < DEPTH]
    deep = [p for p in poisons if len(p) >= DEPTH]
    step = bad // valid
    n_valid = 0
    for i in range(bad):
        if deep and i % deep_every == 0:
            value = deep[(i // deep_every) % len(deep)]
        else:
            value = shallow[i % len(shallow)]
        yield False, raw_record(f"k{i % 5}", value)
        if i % step == step - 1 and n_valid < valid:
            yield True, {"key": f"k{n_valid % 5}", "value": {"V": n_valid, "T": f"ok-{n_valid}"}}
            n_valid += 1


def produce(client: httpx.Client, topic: str, records: list[dict], per_request: int = 500) -> None:
    for start in range(0, len(records), per_request):
        response = client.post(f"/topics/{topic}/records", json={"records": records[start:start + per_request]})
        assert response.status_code == 200, response.text[:500]
