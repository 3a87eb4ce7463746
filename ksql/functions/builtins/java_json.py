"""JSON text as ksqlDB's JSON functions read and write it (Jackson's ObjectMapper, UdfJsonMapper's settings).

Reading: strict JSON, duplicate keys refused, decimals kept exactly (1.23450 stays
1.23450), a blank document is the "missing" node, and text after the first value is
ignored (except that a top-level number or literal must end cleanly). Writing:
compact, with Jackson's escapes (control characters as \\u00XX upper-case, '/' and
non-ASCII as they are) and BigDecimal's toString for decimals.

Nodes are plain Python values: dict (object, in document order), list, str, int,
Decimal (fractional numbers), bool, None (JSON null). MISSING stands for Jackson's
MissingNode (empty input).
"""

from __future__ import annotations

import base64
import json
import unicodedata
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import format_date, format_time, format_timestamp, java_double_str
from ksql.types import ArrayType, DecimalType, MapType, SqlType, StructType


class _Missing:
    """Jackson's MissingNode: what a blank document parses to."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()

_WS = " \t\n\r"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"Duplicate field '{dup}'")
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)


def read_value(text: str, index: int) -> tuple[Any, int]:
    """One JSON value starting exactly at `index`, and the index after it; ValueError if there is none."""
    try:
        return _DECODER.raw_decode(text, index)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _identifier_part(c: str) -> bool:
    """Character.isJavaIdentifierPart, as Jackson checks the character after a literal."""
    return c.isalnum() or c in "_$" or unicodedata.category(c) in ("Mn", "Mc", "Nl", "Pc", "Sc", "Cf")


def parse_json(text: str) -> Any:
    """ObjectMapper.readTree(text): the node, MISSING for a blank text; KsqlError when not JSON."""
    n = len(text)
    i = 0
    while i < n and text[i] in _WS:
        i += 1
    if i == n:
        return MISSING
    try:
        node, end = read_value(text, i)
    except ValueError:
        raise KsqlError(f"Invalid JSON format:{text}") from None
    if end < n:
        first, nxt = text[i], text[end]
        if first in "-0123456789" and nxt not in _WS:  # root-level number must be followed by a space
            raise KsqlError(f"Invalid JSON format:{text}")
        if first in "tfn" and nxt >= "0" and nxt not in "]}" and _identifier_part(nxt):
            raise KsqlError(f"Invalid JSON format:{text}")
    return node


def try_parse_json(text: str) -> Any:
    """parse_json, with MISSING for text that is not JSON."""
    try:
        return parse_json(text)
    except KsqlError:
        return MISSING


# --- writing ----------------------------------------------------------------------------------

_ESCAPES = {i: f"\\u{i:04X}" for i in range(0x20)}
_ESCAPES.update({ord("\b"): "\\b", ord("\t"): "\\t", ord("\n"): "\\n", ord("\f"): "\\f", ord("\r"): "\\r",
                 ord('"'): '\\"', ord("\\"): "\\\\"})


def quote(s: str) -> str:
    """A JSON string literal as Jackson writes it."""
    return '"' + s.translate(_ESCAPES) + '"'


def decimal_str(d: Decimal) -> str:
    """BigDecimal.toString (Java has no negative zero)."""
    if d.is_zero() and d.is_signed():
        d = d.copy_negate()
    return str(d)


def write_json(node: Any) -> str:
    """Compact JSON of a node (JsonNode.toString / ObjectMapper.writeValueAsString)."""
    if node is None:
        return "null"
    if node is True:
        return "true"
    if node is False:
        return "false"
    if isinstance(node, str):
        return quote(node)
    if isinstance(node, int):
        return str(node)
    if isinstance(node, Decimal):
        return decimal_str(node)
    if isinstance(node, float):
        return _double(node)
    if isinstance(node, list):
        return "[" + ",".join(write_json(x) for x in node) + "]"
    if isinstance(node, dict):
        return "{" + ",".join(quote(str(k)) + ":" + write_json(v) for k, v in node.items()) + "}"
    if node is MISSING:
        return ""
    raise KsqlError(f"Cannot write {type(node).__name__} as JSON")


def _double(d: float) -> str:
    if d != d or d in (float("inf"), float("-inf")):
        return quote(java_double_str(d))  # Jackson quotes non-numeric numbers
    return java_double_str(d)


def sql_writer(t: SqlType):
    """A function writing a value of SQL type `t` as JSON (TO_JSON_STRING): dates, times and
    timestamps as ksqlDB's ISO text, BYTES as base64, structs as objects of their fields."""
    base = t.base
    if isinstance(t, ArrayType):
        item = sql_writer(t.item)
        return lambda v: "null" if v is None else "[" + ",".join(item(x) for x in v) + "]"
    if isinstance(t, MapType):
        val = sql_writer(t.value)
        return lambda v: "null" if v is None else "{" + ",".join(
            quote(k if isinstance(k, str) else _key_text(k)) + ":" + val(x) for k, x in v.items()) + "}"
    if isinstance(t, StructType):
        fields = [(f.name, quote(f.name) + ":", sql_writer(f.type)) for f in t.fields]
        return lambda v: "null" if v is None else "{" + ",".join(
            prefix + w(v.get(name)) for name, prefix, w in fields) + "}"
    if isinstance(t, DecimalType):
        return lambda v: "null" if v is None else decimal_str(v)
    simple = {
        "DATE": lambda v: quote(format_date(v)),
        "TIME": lambda v: quote(format_time(v)),
        "TIMESTAMP": lambda v: quote(format_timestamp(v)),
        "BYTES": lambda v: quote(base64.b64encode(v).decode("ascii")),
        "DOUBLE": _double,
    }
    w = simple.get(base)
    if w is not None:
        return lambda v: "null" if v is None else w(v)
    return write_json


def _key_text(k: Any) -> str:
    if k is True or k is False:
        return "true" if k else "false"
    if isinstance(k, float):
        return java_double_str(k)
    return str(k)


__all__ = ["MISSING", "decimal_str", "parse_json", "quote", "read_value", "sql_writer", "try_parse_json",
           "write_json"]
