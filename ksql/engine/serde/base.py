"""The serde interface: bytes <-> rows of Python values for one side (key or value) of a record.

A row is a list of values, one per column of that side, in column order,
using the runtime representation documented in ksql.types. A whole-record
null (tombstone, or no key) is None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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
