"""JSON functions: EXTRACTJSONFIELD with the JSONPath subset ksqlDB supports."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from ksql.functions.registry import scalar
from ksql.types import STRING


class _Num(str):
    """A JSON number kept as its source text (Jackson prints numbers as written)."""


_SEG = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d+)\s*\]")


@lru_cache(maxsize=1024)
def _parse_path(path: str) -> tuple[object, ...] | None:
    p = path.strip()
    if not p.startswith("$"):
        return None
    out: list[object] = []
    pos = 1
    while pos < len(p):
        m = _SEG.match(p, pos)
        if not m:
            return None
        name, q1, q2, idx = m.groups()
        out.append(int(idx) if idx is not None else (name if name is not None else (q1 if q1 is not None else q2)))
        pos = m.end()
    return tuple(out)


def _render(v: object) -> str:
    if isinstance(v, _Num):
        return str.__str__(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, list):
        return "[" + ",".join(_render(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _render(x) for k, x in v.items()) + "}"
    return str(v)


@scalar("EXTRACTJSONFIELD", [STRING, STRING], STRING, category="JSON", param_names=("jsonString", "jsonPath"),
        description="The value at a JSONPath in a JSON string: text values as-is, others as JSON; "
                    "null when missing or not JSON.")
def extractjsonfield(text, path):
    segs = _parse_path(path)
    if segs is None:
        return None
    try:
        node = json.loads(text, parse_float=_Num, parse_int=_Num)
    except ValueError:
        return None
    for s in segs:
        if isinstance(s, int):
            if not isinstance(node, list) or s < 0 or s >= len(node):
                return None
            node = node[s]
        else:
            if not isinstance(node, dict) or s not in node:
                return None
            node = node[s]
    if node is None:
        return None
    if isinstance(node, str) and not isinstance(node, _Num):
        return node
    return _render(node)
