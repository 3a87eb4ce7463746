"""The changelog state format: every value state holds round-trips with its type; anything else is refused."""

from __future__ import annotations

import math
import pickle
from decimal import Decimal

import pytest

from ksql.engine.state_codec import VERSION, StateFormatError, decode, encode, tag, untag


def roundtrip(value):
    return untag(decode(encode(tag(value))))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**80), 10**40, 1.5, -0.0, "",
    "ünïcödé \x00 \"quoted\" {\"t\": 1}", b"", b"\x00\xff\x80", Decimal("1.50"), Decimal("-0.000"),
    Decimal("1E+5"), Decimal("NaN"), [1, [2, [3]]], (1, "a", (b"x", None)), {"A": 1, "B": {"C": [1]}},
    {1: "int key", (1, 2): "tuple key", None: "null key"}, {"b": 1, "a": 2}, {1, "a", (1, 2), ((("K", 1),),)},
    [Decimal("2.5"), 3], [0, 0.0, 0.0], [[5, "x"], [3, "y"]], {"s": 1}, {"t": [1]}, [{"m": []}],
])
def test_values_roundtrip_with_their_types(value):
    out = roundtrip(value)
    assert out == value or (out != out and value != value)
    assert _types(out) == _types(value)


def _types(value):
    if isinstance(value, (list, tuple)):
        return type(value), [_types(v) for v in value]
    if isinstance(value, dict):
        return dict, [(_types(k), _types(v)) for k, v in value.items()]
    if isinstance(value, set):
        return set, sorted(repr(_types(v)) for v in value)
    if isinstance(value, Decimal):
        return Decimal, str(value)
    return type(value)


def test_non_finite_floats_are_kept():
    nan, inf, minus_inf = roundtrip([math.nan, math.inf, -math.inf])
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf


def test_types_state_never_holds_are_refused_when_writing():
    with pytest.raises(TypeError, match="cannot write a object"):
        tag(object())
    with pytest.raises(TypeError, match="frozenset"):
        tag(frozenset())


class _Payload:
    def __reduce__(self):
        return (print, ("executed",))


@pytest.mark.parametrize("data, reason", [
    (None, "starts with nothing"),
    (b"", "starts with nothing"),
    (pickle.dumps(_Payload()), "starts with byte 0x80"),
    (pickle.dumps(_Payload(), protocol=0), "starts with byte 0x63"),
    (b'{"a": 1}', "starts with byte 0x7b"),
    (b"\x02[]", "starts with byte 0x02"),
    (VERSION + b"[1, 2", "invalid JSON"),
    (VERSION + b"\xff", "invalid JSON"),
])
def test_bytes_not_in_the_format_are_refused(data, reason):
    with pytest.raises(StateFormatError, match=reason):
        decode(data)


@pytest.mark.parametrize("tree, reason", [
    ({"a": 1, "b": 2}, "2 fields"),
    ({}, "0 fields"),
    ({"__reduce__": ["os.system", "id"]}, "unknown type tag"),
    ({"builtins.eval": "1"}, "unknown type tag"),
    ({"t": "abc"}, "a list was expected"),
    ({"m": [[1, 2, 3]]}, r"\[key, value\] pair"),
    ({"m": [[[1], 2]]}, "unhashable"),
    ({"s": [[1]]}, "unhashable"),
    ({"d": "one"}, "invalid 'd' value"),
    ({"d": 1}, "a string was expected"),
    ({"b": "not base64!"}, "invalid 'b' value"),
    ({"F": "1.0"}, "nan, inf or -inf"),
    ({"i": "1e5"}, "digits"),
    ({"i": "１２"}, "digits"),
    ([1, [2, {"x": 1}]], "unknown type tag"),
])
def test_trees_not_made_by_tag_are_refused(tree, reason):
    with pytest.raises(StateFormatError, match=reason):
        untag(tree)


def test_deep_nesting_is_refused_not_a_crash():
    deep: object = 1
    for _ in range(5000):
        deep = {"t": [deep]}
    with pytest.raises(StateFormatError, match="nested too deeply"):
        untag(deep)
    with pytest.raises(StateFormatError):
        decode(VERSION + b"[" * 5000 + b"]" * 5000)
