"""The metastore: the streams, tables and named types the engine knows, by name."""

from __future__ import annotations

from dataclasses import dataclass, field

from ksql.engine.formats import SourceFormats
from ksql.engine.schema import LogicalSchema
from ksql.errors import KsqlError
from ksql.types import ArrayType, MapType, SqlType, StructField, StructType, TypeRef


@dataclass(frozen=True)
class WindowInfo:
    """A windowed source's window type (TUMBLING, HOPPING, SESSION) and size in ms."""

    kind: str
    size_ms: int | None = None


@dataclass
class DataSource:
    """A stream or table: its schema, topic, formats and how its rows get their time."""

    name: str
    kind: str  # STREAM | TABLE
    schema: LogicalSchema
    topic: str
    formats: SourceFormats
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    window: WindowInfo | None = None
    is_source: bool = False  # CREATE SOURCE STREAM/TABLE: read-only
    sql: str = ""
    writer_query_ids: set[str] = field(default_factory=set)  # queries writing to it
    reader_query_ids: set[str] = field(default_factory=set)  # queries reading from it
    # False for a CREATE SOURCE TABLE run with ksql.source.table.materialization.enabled=false: no pull queries
    materialized: bool = True

    @property
    def kind_lower(self) -> str:
        return self.kind.lower()


class MetaStore:
    """Sources and types by canonical (case-sensitive) name."""

    def __init__(self) -> None:
        self.sources: dict[str, DataSource] = {}
        self.types: dict[str, SqlType] = {}

    def get(self, name: str) -> DataSource | None:
        return self.sources.get(name)

    def require(self, name: str, what: str = "Source") -> DataSource:
        source = self.sources.get(name)
        if source is None:
            raise KsqlError(f"{what} {name} does not exist." + self.case_hint(name))
        return source

    def case_hint(self, name: str) -> str:
        """ksqlDB's hint when a name only differs by case from an existing one."""
        for other in self.sources:
            if other.upper() == name.upper() and other != name:
                if other == other.upper():
                    return f" Did you mean {other}? Hint: try removing double quotes from the source name."
                return (f' Did you mean "{other}"? Hint: wrap the source name in double quotes to make '
                        "it case-sensitive.")
        return ""

    def resolve_type(self, t: SqlType) -> SqlType:
        """Replace named types (CREATE TYPE) with their definitions, recursively."""
        if isinstance(t, TypeRef):
            resolved = self.types.get(t.name) or self.types.get(t.name.upper())
            if resolved is None:
                raise KsqlError(f"Unknown type: {t.name}")
            return resolved
        if isinstance(t, ArrayType):
            return ArrayType(self.resolve_type(t.item))
        if isinstance(t, MapType):
            return MapType(self.resolve_type(t.key), self.resolve_type(t.value))
        if isinstance(t, StructType):
            return StructType(tuple(StructField(f.name, self.resolve_type(f.type)) for f in t.fields))
        return t
