"""Row values as ksqlDB's REST API writes them, and the JSON bytes of the streamed messages.

Runtime values (see ksql.types) become JSON the way ksqlDB's REST server renders
them: DOUBLE as Java prints it, DECIMAL as a number with its scale, BYTES as
base64, DATE / TIME / TIMESTAMP as ISO text, STRUCT as an object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ksql.engine.schema import SchemaColumn
from ksql.engine.serde.json_serde import ser_converter
from ksql.engine.transient import PushRow
from ksql.functions.javalib import format_date, format_time, format_timestamp
from ksql.types import ArrayType, MapType, SqlType, StructType, contains_type

Converter = Callable[[Any], Any]

_TEMPORAL = {"DATE": format_date, "TIME": format_time, "TIMESTAMP": format_timestamp}


def _has_temporal(t: SqlType) -> bool:
    return contains_type(t, lambda nested: nested.base in _TEMPORAL)


def converter(t: SqlType) -> Converter | None:
    """A function turning a non-null runtime value of `t` into what orjson should write (None: as is)."""
    if not _has_temporal(t):
        return ser_converter(t)
    if t.base in _TEMPORAL:
        return _TEMPORAL[t.base]
    if isinstance(t, ArrayType):
        c = converter(t.item)
        return lambda v: [None if e is None else c(e) for e in v]
    if isinstance(t, MapType):
        c = converter(t.value)
        return lambda v: {k: (None if e is None else c(e)) for k, e in v.items()}
    assert isinstance(t, StructType)
    fields = [(f.name, converter(f.type)) for f in t.fields]
    return lambda v: {name: (v.get(name) if c is None or v.get(name) is None else c(v.get(name)))
                      for name, c in fields}


class RowWriter:
    """Converts result rows of fixed column types to JSON-ready lists."""

    def __init__(self, types: Sequence[SqlType]):
        self.converters = [converter(t) for t in types]
        self.identity = all(c is None for c in self.converters)

    def values(self, row: Sequence[Any]) -> list[Any]:
        if self.identity:
            return list(row)
        return [v if (c is None or v is None) else c(v) for c, v in zip(self.converters, row, strict=True)]

    def push_json(self, row: PushRow) -> bytes:
        """A push row's values as JSON, rendered by the first subscriber that sends the row and then kept
        on it for the others (push queries of one statement share their rows, and their column types)."""
        data = row.json
        if data is None:
            data = row.json = dumps(self.values(row.columns))
        return data


def query_row(values_json: bytes, tombstone: bool) -> bytes:
    """/query's row message, {"row": {"columns": [...]}} (with "tombstone": true for a table's deletion),
    around values already rendered: the bytes dumps() writes for that object."""
    return b'{"row":{"columns":' + values_json + (b',"tombstone":true}}' if tombstone else b"}}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def column_types(columns: Sequence[SchemaColumn]) -> list[str]:
    return [str(c.type) for c in columns]


def column_names(columns: Sequence[SchemaColumn]) -> list[str]:
    return [c.name for c in columns]
