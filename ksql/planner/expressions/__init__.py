"""Expression layer: name resolution, type checking and compilation of SQL expressions to Python.

The planner's entry points:

    Scope([ScopeColumn(name, type, index, source), ...]).resolve(ColumnRef) -> ScopeColumn
    ExpressionTyper(scope, registry).type_of(expr) -> SqlType
    ExpressionCompiler(scope, registry).compile(expr) -> str (Python source over `row`)
    compile_projection(filter, projections, scope, registry, on_error) -> row -> tuple | None
    compile_batch(filter, projections, scope, registry, on_error) -> rows -> list[tuple]
"""

from ksql.planner.expressions.compiler import (
    ExpressionCompiler,
    compile_batch,
    compile_predicate,
    compile_projection,
)
from ksql.planner.expressions.formatter import format_expr
from ksql.planner.expressions.scope import Scope, ScopeColumn, UnknownColumnError
from ksql.planner.expressions.typer import ExpressionTyper, castable

__all__ = [
    "ExpressionCompiler", "ExpressionTyper", "Scope", "ScopeColumn", "UnknownColumnError", "castable",
    "compile_batch", "compile_predicate", "compile_projection", "format_expr",
]
