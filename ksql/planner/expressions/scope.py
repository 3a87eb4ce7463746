"""Name resolution for a row layout: which slot of the runtime row a column reference reads."""

from __future__ import annotations

from dataclasses import dataclass

from ksql.errors import KsqlError
from ksql.parser.ast import ColumnRef
from ksql.types import SqlType


class UnknownColumnError(KsqlError):
    """A column reference that matches nothing; `shown` is the name as ksqlDB prints it."""

    def __init__(self, shown: str):
        self.shown = shown
        super().__init__(f"Column '{shown}' cannot be resolved.")


@dataclass(frozen=True)
class ScopeColumn:
    """A column of the row: its name, type, slot in the row tuple and the source it came from."""

    name: str
    type: SqlType
    index: int
    source: str | None = None


class Scope:
    """The columns visible to an expression; rows at runtime are sequences, a column is row[index]."""

    def __init__(self, columns: list[ScopeColumn]):
        self.columns = list(columns)
        self._by_name: dict[str, list[ScopeColumn]] = {}
        for c in self.columns:
            self._by_name.setdefault(c.name, []).append(c)

    def resolve(self, ref: ColumnRef) -> ScopeColumn:
        """The column `ref` names; KsqlError when unknown or ambiguous."""
        cands = self._by_name.get(ref.name, [])
        if ref.source is not None:
            for c in cands:
                if c.source == ref.source:
                    return c
            raise UnknownColumnError(f"{ref.source}.{ref.name}")
        if not cands:
            raise UnknownColumnError(ref.name)
        if len(cands) > 1:
            names = [f"{c.source}.{c.name}" for c in cands]
            alts = " or ".join(names) if len(names) == 2 else "any of: " + ", ".join(names)
            raise KsqlError(f"Column '{ref.name}' is ambiguous. Could be {alts}.")
        return cands[0]

    def find(self, ref: ColumnRef) -> ScopeColumn | None:
        try:
            return self.resolve(ref)
        except KsqlError:
            return None
