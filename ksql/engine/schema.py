"""Logical schemas of streams and tables: key, value and header columns, plus pseudo columns.

A source's schema lists key columns first, then value columns (header columns
are value-side columns filled from record headers rather than the value bytes),
as ksqlDB's LogicalSchema does. Pseudo columns (ROWTIME, ROWPARTITION,
ROWOFFSET, and WINDOWSTART/WINDOWEND on windowed sources) are not part of the
schema but are resolvable in queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from ksql.types import BIGINT, INTEGER, SqlType, format_identifier

KEY = "KEY"
VALUE = "VALUE"
HEADERS = "HEADERS"  # the whole header list: ARRAY<STRUCT<KEY STRING, VALUE BYTES>>
HEADER = "HEADER"  # one header's last value by key: BYTES

ROWTIME = "ROWTIME"
ROWPARTITION = "ROWPARTITION"
ROWOFFSET = "ROWOFFSET"
WINDOWSTART = "WINDOWSTART"
WINDOWEND = "WINDOWEND"

PSEUDO_COLUMNS: dict[str, SqlType] = {ROWTIME: BIGINT, ROWPARTITION: INTEGER, ROWOFFSET: BIGINT}
WINDOW_COLUMNS: dict[str, SqlType] = {WINDOWSTART: BIGINT, WINDOWEND: BIGINT}
RESERVED_COLUMN_NAMES = frozenset({ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND})
ROW_POSITION_COLUMNS = (ROWPARTITION, ROWOFFSET)  # pseudo columns only with ksql.rowpartition.rowoffset.enabled
LEGACY_RESERVED_COLUMN_NAMES = RESERVED_COLUMN_NAMES - set(ROW_POSITION_COLUMNS)


@dataclass(frozen=True)
class SchemaColumn:
    """One column of a logical schema."""

    name: str
    type: SqlType
    namespace: str = VALUE  # KEY | VALUE | HEADERS | HEADER
    header_key: str | None = None

    @property
    def is_key(self) -> bool:
        return self.namespace == KEY

    @property
    def is_header(self) -> bool:
        return self.namespace in (HEADERS, HEADER)

    def sql(self) -> str:
        """ksqlDB's rendering: `NAME` TYPE [KEY|HEADERS|HEADER('k')]."""
        text = f"{format_identifier(self.name)} {self.type}"
        if self.namespace == KEY:
            return text + " KEY"
        if self.namespace == HEADERS:
            return text + " HEADERS"
        if self.namespace == HEADER:
            return text + f" HEADER('{self.header_key}')"
        return text


@dataclass(frozen=True)
class LogicalSchema:
    """Ordered key columns and value columns (headers among the value columns)."""

    columns: tuple[SchemaColumn, ...]

    @property
    def key(self) -> list[SchemaColumn]:
        return [c for c in self.columns if c.is_key]

    @property
    def value(self) -> list[SchemaColumn]:
        """All non-key columns, headers included, in declared order."""
        return [c for c in self.columns if not c.is_key]

    @property
    def serialized_value(self) -> list[SchemaColumn]:
        """The value columns held in the value bytes (headers excluded)."""
        return [c for c in self.columns if c.namespace == VALUE]

    def find(self, name: str) -> SchemaColumn | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def __str__(self) -> str:
        return ", ".join(c.sql() for c in self.key + self.value)

    def with_key_first(self) -> LogicalSchema:
        return LogicalSchema(tuple(self.key + self.value))
