"""The consumed offsets of a JDBC sink, kept in the target database itself.

A sink that commits its rows in one database transaction and the consumer offsets in another
(the log's consumer group) writes a batch twice when a crash falls between the two commits. So
the JDBC sink also writes the next offset to consume of each (topic, partition) into the table
`__connect_offsets`, inside the transaction of the rows they cover; a restarted task resumes from
there (SinkTaskContext.offset) rather than from the consumer group, which is at most as far. One
table serves every connector writing to the database: its rows are keyed by the connector name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ksql.connect import data
from ksql.connect.jdbc_dialect import Dialect, quote_identifier, quote_table

OFFSETS_TABLE = "__connect_offsets"
_KEYS = ("connector", "topic", "partition")
_COLUMNS = (*_KEYS, "offset")
_SCHEMAS = (data.primitive("string"), data.primitive("string"), data.primitive("int32"), data.primitive("int64"))

Offsets = dict[tuple[str, int], int]


def next_offsets(coordinates: Iterable[tuple[str, int | None, int]]) -> Offsets:
    """The next offset to consume of each (topic, partition), after the records at `coordinates`."""
    offsets: Offsets = {}
    for topic, partition, offset in coordinates:
        if partition is None or offset < 0:
            continue
        key = (topic, partition)
        offsets[key] = max(offsets.get(key, 0), offset + 1)
    return offsets


class OffsetsTable:
    """The rows of one connector in `__connect_offsets`. Statements run on the caller's connection and
    in its transaction: the caller commits them together with its rows."""

    def __init__(self, dialect: Dialect, connector: str):
        self.dialect = dialect
        self.connector = connector
        self._upsert = dialect.upsert(OFFSETS_TABLE, _KEYS, _COLUMNS)
        self._ready = False

    def ensure(self, conn: Any) -> None:
        """Create the table when it is missing. This commits, so it runs before a transaction of rows begins;
        another task may create the table at the same time."""
        if self._ready:
            return
        if self.dialect.table_columns(conn, OFFSETS_TABLE) is None:
            try:
                conn.execute(self.dialect.create_table(OFFSETS_TABLE, list(zip(_COLUMNS, _SCHEMAS, strict=True)),
                                                       list(_KEYS)))
                conn.commit()
            except Exception:
                conn.rollback()
                if self.dialect.table_columns(conn, OFFSETS_TABLE) is None:
                    raise
        self._ready = True

    def read(self, conn: Any) -> Offsets:
        """The stored offsets of the connector (nothing is left open: the read transaction ends)."""
        self.ensure(conn)
        mark = self.dialect.placeholder
        rows = conn.execute(f"SELECT {quote_identifier('topic')}, {quote_identifier('partition')}, "
                            f"{quote_identifier('offset')} FROM {quote_table(OFFSETS_TABLE)} "
                            f"WHERE {quote_identifier('connector')} = {mark}", (self.connector,)).fetchall()
        conn.rollback()
        return {(str(topic), int(partition)): int(offset) for topic, partition, offset in rows}

    def write(self, conn: Any, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store `offsets` in the open transaction of `conn` (the caller commits; ensure() ran before it began)."""
        if not offsets:
            return
        conn.cursor().executemany(self._upsert, [(self.connector, topic, partition, offset)
                                                 for (topic, partition), offset in offsets.items()])
