"""The ksqlDB configs that change what a compiled expression computes, for the statement being planned.

A statement's properties (server config, SET, the request's) decide them; the engine sets them around
everything that plans or compiles the statement's expressions (`compiling_with`), as it refuses deep
nesting around the same work, so the many compile sites of the planner need not each be handed them.
A query compiled later (a worker process, a processor restored after a failure) is compiled inside
the options it was planned with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ksql.engine.schema import LEGACY_RESERVED_COLUMN_NAMES, RESERVED_COLUMN_NAMES


@dataclass(frozen=True)
class ExpressionOptions:
    """ksql.cast.strings.preserve.nulls: CAST(<null> AS STRING) is null (true) or the string 'null'
    (false, ksqlDB's legacy String.valueOf). ksql.nested.error.set.null: an error in an element of an
    ARRAY, MAP or STRUCT constructor nulls that element only (true) or the whole expression (false).
    ksql.rowpartition.rowoffset.enabled: ROWPARTITION and ROWOFFSET are pseudo columns (true) or
    ordinary names, unknown unless a source has such a column (false). ksql.lambdas.enabled: lambda
    arguments (x => ...) are accepted (true) or refused (false)."""

    cast_strings_preserve_nulls: bool = True
    nested_error_set_null: bool = True
    rowpartition_rowoffset: bool = True
    lambdas: bool = True

    def reserved_column_names(self) -> frozenset[str]:
        """The names a column may not take: the pseudo and window columns in force."""
        return RESERVED_COLUMN_NAMES if self.rowpartition_rowoffset else LEGACY_RESERVED_COLUMN_NAMES


DEFAULTS = ExpressionOptions()
_CURRENT: ContextVar[ExpressionOptions | None] = ContextVar("expression_options", default=None)


def current_options() -> ExpressionOptions:
    """The options expressions compiled now get (ksqlDB's defaults outside any `compiling_with`)."""
    return _CURRENT.get() or DEFAULTS


@contextmanager
def compiling_with(options: ExpressionOptions) -> Iterator[None]:
    """Compile the expressions of the enclosed work with `options`."""
    token = _CURRENT.set(options)
    try:
        yield
    finally:
        _CURRENT.reset(token)
