"""JSON functions: EXTRACTJSONFIELD, IS_JSON_STRING, JSON_ARRAY_CONTAINS, JSON_ARRAY_LENGTH,
JSON_CONCAT, JSON_ITEMS, JSON_KEYS, JSON_RECORDS and TO_JSON_STRING.

JSON text is read and written as ksqlDB's Jackson mapper does (see `java_json`). Text
that is not JSON is an error for the functions that parse a whole document (the row's
value becomes null and the processing log says why); IS_JSON_STRING and
JSON_ARRAY_CONTAINS answer false instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.builtins.java_json import (
    MISSING,
    parse_json,
    read_value,
    sql_writer,
    try_parse_json,
    write_json,
)
from ksql.functions.registry import T, scalar
from ksql.types import BOOLEAN, INTEGER, STRING, ArrayType, MapType, SqlType

_CAT = "JSON"

# --- EXTRACTJSONFIELD -------------------------------------------------------------------------


def _invalid_path(path: str) -> KsqlError:
    return KsqlError(f"Invalid JSON path: '{path}'")


@lru_cache(maxsize=1024)
def _path_tokens(path: str) -> tuple[str, ...]:
    """ksqlDB's JsonPathTokenizer: '$' then .name, ["name"] / ['name'] or [index] segments."""
    if not path.startswith("$"):
        raise _invalid_path(path)
    out: list[str] = []
    i, n = 1, len(path)
    while i < n:
        c = path[i]
        if c == ".":
            j = i + 1
            while j < n and path[j] not in ".[":
                j += 1
            if j == i + 1:
                raise _invalid_path(path)
            out.append(path[i + 1:j])
            i = j
        elif c == "[":
            i += 1
            if i < n and path[i] in "\"'":
                quote, token = path[i], []
                i += 1
                while i < n and path[i] != quote:
                    if path[i] == "\\":
                        i += 1
                        if i >= n or path[i] not in (quote, "\\"):
                            raise _invalid_path(path)
                    token.append(path[i])
                    i += 1
                if i >= n:
                    raise _invalid_path(path)
                i += 1
                out.append("".join(token))
            else:
                j = i
                while j < n and (path[j].isalnum() or path[j] in "_-+"):
                    j += 1
                if j == i:
                    raise _invalid_path(path)
                out.append(path[i:j])
                i = j
            if i >= n or path[i] != "]":
                raise _invalid_path(path)
            i += 1
        else:
            raise _invalid_path(path)
    return tuple(out)


_JAVA_INT = re.compile(r"[+-]?\d+")


@scalar("extractjsonfield", [STRING, STRING], STRING, category=_CAT, param_names=("jsonString", "jsonPath"),
        description="The value at a JSONPath in a JSON string: text values as they are, other values "
                    "as JSON text; null when the path does not exist.")
def extractjsonfield(text: str, path: str) -> str | None:
    tokens = _path_tokens(path)
    node = parse_json(text)
    for tok in tokens:
        if isinstance(node, list):
            if not _JAVA_INT.fullmatch(tok):
                return None
            idx = int(tok)
            if not 0 <= idx < len(node):
                return None
            node = node[idx]
        elif isinstance(node, dict):
            if tok not in node:
                return None
            node = node[tok]
        else:
            return None
    if isinstance(node, str):
        return node
    return write_json(node)


# --- whole-document functions ------------------------------------------------------------------


@scalar("is_json_string", [STRING], BOOLEAN, null_on_null=False, category=_CAT, param_names=("input",),
        description="Whether the string is valid JSON (false for null and blank strings).")
def is_json_string(text: str | None) -> bool:
    if text is None:
        return False
    return try_parse_json(text) is not MISSING


@scalar("json_array_length", [STRING], INTEGER, category=_CAT, param_names=("jsonArray",),
        description="The number of elements of a JSON array; null when the string is not an array.")
def json_array_length(text: str) -> int | None:
    node = parse_json(text)
    return len(node) if isinstance(node, list) else None


@scalar("json_keys", [STRING], ArrayType(STRING), category=_CAT, param_names=("jsonObj",),
        description="The keys of a JSON object; null when the string is not an object.")
def json_keys(text: str) -> list[str] | None:
    node = parse_json(text)
    return list(node) if isinstance(node, dict) else None


@scalar("json_records", [STRING], MapType(STRING, STRING), category=_CAT, param_names=("jsonObj",),
        description="The entries of a JSON object, each value as JSON text; null when the string is not "
                    "an object.")
def json_records(text: str) -> dict[str, str] | None:
    node = parse_json(text)
    if not isinstance(node, dict):
        return None
    return {k: write_json(v) for k, v in node.items()}


@scalar("json_items", [STRING], ArrayType(STRING), category=_CAT, param_names=("jsonItems",),
        description="The elements of a JSON array, each as JSON text; null when the string is not an array.")
def json_items(text: str) -> list[str] | None:
    node = parse_json(text)
    if not isinstance(node, list):
        return None
    return [write_json(v) for v in node]


@scalar("json_concat", [STRING], STRING, variadic=True, category=_CAT, param_names=("jsonStrings",),
        description="Merges JSON objects (later keys win), or concatenates arrays (other values are "
                    "appended as elements); null when any argument is null or blank.")
def json_concat(*texts: str) -> str | None:
    if not texts:
        raise KsqlError("JSON_CONCAT needs at least one argument")
    nodes = []
    for t in texts:
        node = parse_json(t)
        if node is MISSING:
            return None
        nodes.append(node)
    result = nodes[0]
    if all(isinstance(n, dict) for n in nodes):
        merged = dict(result)
        for n in nodes[1:]:
            merged.update(n)
        result = merged
    else:
        for n in nodes[1:]:
            result = (result if isinstance(result, list) else [result]) + (n if isinstance(n, list) else [n])
    return write_json(result)


# --- JSON_ARRAY_CONTAINS ------------------------------------------------------------------------


def _double_equals(a: float, b: float) -> bool:
    """Double.equals: NaN equals NaN, 0.0 differs from -0.0."""
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _element_test(val_type: SqlType, val: Any) -> Callable[[Any], bool | None]:
    """For one JSON element: True (match), False (no match) or None (Jackson would fail: answer false)."""
    if val is None:
        return lambda e: e is None
    base = val_type.base
    if base in ("INTEGER", "BIGINT"):
        lo, hi = (-(2**31), 2**31 - 1) if base == "INTEGER" else (-(2**63), 2**63 - 1)
        return lambda e: (None if not lo <= e <= hi else e == val) if type(e) is int else False
    if base == "DOUBLE":
        return lambda e: _double_equals(float(e), val) if isinstance(e, Decimal) else False
    if base == "STRING":
        return lambda e: isinstance(e, str) and e == val
    if base == "BOOLEAN":
        return lambda e: isinstance(e, bool) and e == val
    return lambda e: False


def _json_array_contains(val_type: SqlType) -> Callable[[str | None, Any], bool | None]:
    def contains(text: str | None, val: Any) -> bool | None:
        if text is None:
            return None
        test = _element_test(val_type, val)
        n, i = len(text), 0
        ws = " \t\n\r"
        while i < n and text[i] in ws:
            i += 1
        if i >= n or text[i] != "[":
            return False
        i += 1
        first = True
        while True:
            while i < n and text[i] in ws:
                i += 1
            if i >= n:
                return False
            if text[i] == "]" and first:
                return False
            try:
                elem, i = read_value(text, i)
            except ValueError:
                return False
            hit = test(elem)
            if hit is None:
                return False
            if hit:
                return True
            first = False
            while i < n and text[i] in ws:
                i += 1
            if i >= n:
                return False
            if text[i] == "]":
                return False
            if text[i] != ",":
                return False
            i += 1

    return contains


scalar("json_array_contains", [STRING, T], BOOLEAN, null_on_null=False, typed=True, category=_CAT,
       param_names=("jsonArray", "val"),
       description="Whether a JSON array contains the value (compared with its JSON type: integers, "
                   "doubles, strings, booleans or null).")(lambda types: _json_array_contains(types[1]))


# --- TO_JSON_STRING ------------------------------------------------------------------------------


def _to_json_string(arg_type: SqlType) -> Callable[[Any], str]:
    return sql_writer(arg_type)


scalar("to_json_string", [T], STRING, null_on_null=False, typed=True, category=_CAT, param_names=("input",),
       description="The JSON text of any value: structs and maps as objects, arrays as arrays, DATE, "
                   "TIME and TIMESTAMP as ISO text, BYTES as base64, null as null.")(
    lambda types: _to_json_string(types[0]))
