"""The serde interface: bytes <-> rows of Python values for one side (key or value) of a record.

A row is a list of values, one per column of that side, in column order,
using the runtime representation documented in ksql.types. A whole-record
null (tombstone, or no key) is None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from ksql.types import SqlType


@dataclass(frozen=True)
class Column:
    """A column as a serde sees it: its name and SQL type."""

    name: str
    type: SqlType


class Serde(ABC):
    """Serializes and deserializes one side of a record. Raises SerdeError with the reason."""

    @abstractmethod
    def serialize(self, row: list | None) -> bytes | None: ...

    @abstractmethod
    def deserialize(self, data: bytes | None) -> list | None: ...

    # Batch versions: one call per batch lets a serde hoist lookups and run tight loops.
    # Implementations must give the same results and raise what the first failing
    # element would raise (typically by redoing the batch one element at a time).

    def serialize_many(self, rows: Sequence[Sequence], start: int, stop: int) -> list[bytes | None]:
        """[serialize(list(row[start:stop])) for row in rows]: serialize a slice of each row."""
        ser = self.serialize
        return [ser(list(row[start:stop])) for row in rows]

    def deserialize_many(self, datas: Sequence[bytes | None]) -> list[Sequence | None]:
        """[deserialize(data) for data in datas]; the rows may be tuples (read-only)."""
        de = self.deserialize
        return [de(data) for data in datas]
