"""Shared helpers: evaluate an expression text over a one-row scope."""

from __future__ import annotations

from typing import Any

from ksql.functions import default_registry
from ksql.parser import parse_expression
from ksql.parser.ast import ColumnRef
from ksql.planner.expressions import ExpressionTyper, Scope, ScopeColumn, compile_projection
from ksql.types import SqlType


def scope_of(cols: dict[str, SqlType], source: str = "S") -> Scope:
    return Scope([ScopeColumn(n, t, i, source) for i, (n, t) in enumerate(cols.items())])


def type_of(text: str, cols: dict[str, SqlType] | None = None) -> SqlType:
    return ExpressionTyper(scope_of(cols or {}), default_registry()).type_of(parse_expression(text))


def evaluate(text: str, cols: dict[str, SqlType] | None = None, row: tuple = (), errors: list | None = None) -> Any:
    cols = cols or {}
    errs: list[str] = [] if errors is None else errors
    fn = compile_projection(None, [parse_expression(text)], scope_of(cols), default_registry(), errs.append)
    return fn(tuple(row))[0]


def passes(text: str, cols: dict[str, SqlType], row: tuple) -> bool:
    fn = compile_projection(parse_expression(text), [ColumnRef(next(iter(cols)))], scope_of(cols),
                            default_registry(), lambda m: None)
    return fn(tuple(row)) is not None
