"""The byte format of state written to changelog topics: a version byte, then JSON with type tags.

Changelog topics are ordinary topics, so anyone who can produce to them can put
any bytes there; decoding must therefore build nothing but plain data. A record
is `VERSION` followed by orjson's encoding of a tree in which the values JSON
has no type for are one-key objects naming their type:

    {"t": [...]}       tuple              {"d": "1.50"}    Decimal (scale kept)
    {"m": [[k, v]...]} dict (any keys,    {"b": "AAE="}    bytes (base64)
                       order kept)        {"F": "nan"}     float NaN / inf / -inf
    {"s": [...]}       set                {"i": "1e30"}    int beyond 64 bits (digits)

Lists, strings, booleans, null, finite floats and 64-bit ints are themselves.
Since every JSON object is a tag, decoding a foreign value fails rather than
guessing. Decoding raises StateFormatError for anything else: a wrong version
byte (a pickle starts with 0x80, a JSON document with '{'), bad JSON, an unknown
tag, a payload of the wrong shape, an unhashable set member or dict key.
"""

from __future__ import annotations

import base64
import binascii
import math
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

VERSION = b"\x01"
_LONG_MIN, _ULONG_MAX = -(1 << 63), (1 << 64) - 1
_PLAIN = frozenset({str, bool, type(None)})
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class StateFormatError(ValueError):
    """Bytes that are not state this server wrote: refused, never interpreted."""


# --- encoding ------------------------------------------------------------------------------------

def encode(tree: Any) -> bytes:
    """A record's bytes for a tree already made of `tag()`ged values."""
    return VERSION + orjson.dumps(tree)


def tag(value: Any) -> Any:
    """`value` as a JSON-able tree, with the types JSON lacks tagged (see the module doc)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        return value if _LONG_MIN <= value <= _ULONG_MAX else {"i": str(value)}
    if kind is float:
        return value if math.isfinite(value) else {"F": repr(value)}
    if kind is list:
        return [tag(v) for v in value]
    if kind is tuple:
        return {"t": [tag(v) for v in value]}
    if kind is dict:
        return {"m": [[tag(k), tag(v)] for k, v in value.items()]}
    if kind is Decimal:
        return {"d": str(value)}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is set:
        return {"s": [tag(v) for v in value]}
    raise TypeError(f"cannot write a {kind.__name__} to a state changelog")


# --- decoding ------------------------------------------------------------------------------------

def decode(data: bytes | None) -> Any:
    """The JSON tree of a record's bytes (still tagged: see `untag`)."""
    if not data or data[:1] != VERSION:
        shown = "nothing" if not data else f"byte 0x{data[0]:02x}"
        raise StateFormatError(f"not a state record of format version {VERSION[0]} (starts with {shown})")
    try:
        return orjson.loads(data[1:])
    except orjson.JSONDecodeError as err:
        raise StateFormatError(f"invalid JSON: {err}") from None


def untag(tree: Any) -> Any:
    """The value a `tag()`ged tree stands for; StateFormatError if it is not one."""
    try:
        return _untag(tree)
    except RecursionError:
        raise StateFormatError("value nested too deeply") from None


def _untag(tree: Any) -> Any:
    kind = type(tree)
    if kind is list:
        return [_untag(v) for v in tree]
    if kind is not dict:
        return tree  # orjson.loads makes nothing but str, int, float, bool, None, list and dict
    if len(tree) != 1:
        raise StateFormatError(f"a JSON object of {len(tree)} fields where a type tag was expected")
    [(name, payload)] = tree.items()
    decoder = _TAGS.get(name)
    if decoder is None:
        raise StateFormatError(f"unknown type tag {name[:20]!r}")
    try:
        return decoder(payload)
    except StateFormatError:
        raise
    except (TypeError, ValueError, InvalidOperation, binascii.Error) as err:  # unhashable, bad digits, ...
        raise StateFormatError(f"invalid {name!r} value: {str(err)[:100]}") from None


def _items(payload: Any) -> list:
    if type(payload) is not list:
        raise StateFormatError("a list was expected")
    return [_untag(v) for v in payload]


def _text(payload: Any) -> str:
    if type(payload) is not str:
        raise StateFormatError("a string was expected")
    return payload


def _dict(payload: Any) -> dict:
    out = {}
    for pair in _items(payload):
        if type(pair) is not list or len(pair) != 2:
            raise StateFormatError("a [key, value] pair was expected")
        out[pair[0]] = pair[1]  # an unhashable key raises TypeError: refused by _untag
    return out


def _non_finite(payload: Any) -> float:
    value = _NON_FINITE.get(_text(payload))
    if value is None:
        raise StateFormatError("nan, inf or -inf was expected")
    return value


def _big_int(payload: Any) -> int:
    text = _text(payload)
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise StateFormatError("digits were expected")
    return int(text)


_TAGS = {
    "t": lambda payload: tuple(_items(payload)),
    "m": _dict,
    "s": lambda payload: set(_items(payload)),
    "d": lambda payload: Decimal(_text(payload)),
    "b": lambda payload: base64.b64decode(_text(payload), validate=True),
    "F": _non_finite,
    "i": _big_int,
}
