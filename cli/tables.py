"""Text layouts shared by the renderers: ksqlDB's entity tables, query-result grids, values and types.

Entity tables (SHOW, DESCRIBE) look like ksqlDB's CLI prints them:

     Stream Name | Kafka Topic | Key Format
    ----------------------------------------
     S           | s           | KAFKA
    ----------------------------------------

Query results are grids with `+`/`|` borders; cells wider than their column wrap.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def value_text(value: Any) -> str:
    """A result value as the CLI shows it: null, true/false, numbers as sent, nested values as JSON."""
    if isinstance(value, str):
        return value
    return json_text(value)


def json_text(value: Any, indent: int | None = None, _level: int = 0) -> str:
    """JSON with DECIMAL and DOUBLE numbers written exactly as the server sent them (parsed as Decimal)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}:{' ' if indent else ''}"
                 f"{json_text(v, indent, _level + 1)}" for k, v in value.items()]
        return _container("{", items, "}", indent, _level)
    if isinstance(value, (list, tuple)):
        return _container("[", [json_text(v, indent, _level + 1) for v in value], "]", indent, _level)
    return json.dumps(str(value), ensure_ascii=False)


def _container(open_: str, items: list[str], close: str, indent: int | None, level: int) -> str:
    if not indent or not items:
        return open_ + ",".join(items) + close
    inner = " " * (indent * (level + 1))
    return open_ + "\n" + ",\n".join(inner + item for item in items) + "\n" + " " * (indent * level) + close


def entity_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """ksqlDB's tabular entity layout: a header, a dash line, the rows, a dash line."""
    cells = [[_one_line(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "|".join(f" {v.ljust(w)} " for v, w in zip(values, widths, strict=True))

    header = line(headers)
    dashes = "-" * len(header)
    return [header, dashes] + [line(r) for r in cells] + [dashes]


def _one_line(value: Any) -> str:
    return (value if isinstance(value, str) else value_text(value)).replace("\r", " ").replace("\n", " ")


def type_text(schema: dict[str, Any] | None) -> str:
    """A REST schema entity as ksqlDB's CLI writes types (VARCHAR(STRING), STRUCT<A INTEGER>, ...)."""
    if not isinstance(schema, dict):
        return "?"
    kind = str(schema.get("type", "?"))
    member = schema.get("memberSchema")
    if kind == "STRING":
        return "VARCHAR(STRING)"
    if kind == "ARRAY":
        return f"ARRAY<{type_text(member)}>"
    if kind == "MAP":
        return f"MAP<STRING, {type_text(member)}>"
    if kind == "STRUCT":
        fields = schema.get("fields") or []
        return "STRUCT<" + ", ".join(f"{f.get('name')} {type_text(f.get('schema'))}" for f in fields) + ">"
    if kind == "DECIMAL":
        params = schema.get("parameters") or {}
        if "precision" in params:
            return f"DECIMAL({params['precision']}, {params.get('scale', 0)})"
    return kind


class Grid:
    """Query results: column widths fixed up front, long cells wrapped onto more lines."""

    def __init__(self, headers: list[str], widths: list[int]):
        self.headers = headers
        self.widths = widths

    @classmethod
    def fitted(cls, headers: list[str], rows: list[list[str]], total: int) -> Grid:
        """Widths from the content, shrunk to fit `total` columns when they can."""
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        return cls(headers, _shrink(widths, [len(h) for h in headers], total))

    @classmethod
    def even(cls, headers: list[str], total: int) -> Grid:
        """Equal widths over the terminal (rows of a push query are not known in advance)."""
        n = max(1, len(headers))
        share = max(8, (total - n - 1) // n)
        return cls(headers, [max(len(h), share) for h in headers])

    def border(self) -> str:
        return "+" + "+".join("-" * w for w in self.widths) + "+"

    def row(self, cells: list[str]) -> list[str]:
        pieces = [_wrap(c, w) for c, w in zip(cells, self.widths, strict=False)]
        height = max((len(p) for p in pieces), default=1)
        return ["|" + "|".join((p[i] if i < len(p) else "").ljust(w) for p, w in zip(pieces, self.widths, strict=False))
                + "|" for i in range(height)]

    def header(self) -> list[str]:
        return [self.border(), *self.row(self.headers), self.border()]


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for part in text.replace("\r", "").split("\n"):
        while len(part) > width:
            out.append(part[:width])
            part = part[width:]
        out.append(part)
    return out


def _shrink(widths: list[int], minimums: list[int], total: int) -> list[int]:
    """Narrow the widest columns (never below their header) until the grid fits `total` characters."""
    widths = list(widths)
    while sum(widths) + len(widths) + 1 > total:
        i = max(range(len(widths)), key=lambda k: widths[k] - minimums[k])
        if widths[i] <= max(minimums[i], 8):
            break
        widths[i] -= 1
    return widths


def schema_columns(schema: str) -> list[str]:
    """Column names of a /query header's schema string: "`ID` INTEGER KEY, `S` STRUCT<`A` INT>"."""
    names: list[str] = []
    depth, i, n = 0, 0, len(schema)
    expecting_name = True
    while i < n:
        ch = schema[i]
        if ch == "`":
            j = i + 1
            while j < n and not (schema[j] == "`" and not schema.startswith("``", j)):
                j += 2 if schema.startswith("``", j) else 1
            if depth == 0 and expecting_name:
                names.append(schema[i + 1:j].replace("``", "`"))
                expecting_name = False
            i = j + 1
            continue
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            expecting_name = True
        elif depth == 0 and expecting_name and not ch.isspace():
            j = i
            while j < n and not schema[j].isspace():
                j += 1
            names.append(schema[i:j])
            expecting_name = False
            i = j
            continue
        i += 1
    return names
