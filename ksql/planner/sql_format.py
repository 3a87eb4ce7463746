"""Render expressions back to SQL text the way ksqlDB's ExpressionFormatter does.

Used in error messages ("must include the partitioning expression ABS(INPUT.ID)")
and for naming. Column references can be qualified with a source name.
"""

from __future__ import annotations

from ksql.parser import ast
from ksql.types import format_identifier


def _name(name: str) -> str:
    """Identifiers print bare when they are plain upper-case words, else back-quoted."""
    if name and (name[0].isalpha() or name[0] == "_") and all(
            c.isalnum() or c == "_" for c in name) and name == name.upper():
        return name
    return format_identifier(name)


def format_expr(e: ast.Expr, qualifier: str | None = None) -> str:
    """SQL text of `e`; unqualified column references get `qualifier.` when given."""
    f = lambda x: format_expr(x, qualifier)  # noqa: E731
    if isinstance(e, ast.ColumnRef):
        src = e.source or qualifier
        return f"{_name(src)}.{_name(e.name)}" if src else _name(e.name)
    if isinstance(e, ast.NullLiteral):
        return "null"
    if isinstance(e, ast.BooleanLiteral):
        return "true" if e.value else "false"
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral)):
        return str(e.value)
    if isinstance(e, ast.DecimalLiteral):
        return str(e.value)
    if isinstance(e, ast.DoubleLiteral):
        return repr(e.value).replace("e", "E")
    if isinstance(e, ast.StringLiteral):
        return "'" + e.value.replace("'", "''") + "'"
    if isinstance(e, ast.Dereference):
        return f"{f(e.base)}->{_name(e.field)}"
    if isinstance(e, ast.Subscript):
        return f"{f(e.base)}[{f(e.index)}]"
    if isinstance(e, ast.FunctionCall):
        if e.star:
            return f"{e.name}(*)"
        return f"{e.name}({', '.join(f(a) for a in e.args)})"
    if isinstance(e, ast.LambdaVariable):
        return e.name
    if isinstance(e, ast.Lambda):
        params = e.params[0] if len(e.params) == 1 else "(" + ", ".join(e.params) + ")"
        return f"{params} => {f(e.body)}"
    if isinstance(e, ast.Arithmetic):
        return f"({f(e.left)} {e.op} {f(e.right)})"
    if isinstance(e, ast.Negation):
        return f"-{f(e.operand)}"
    if isinstance(e, ast.Comparison):
        return f"({f(e.left)} {e.op} {f(e.right)})"
    if isinstance(e, ast.And):
        return f"({f(e.left)} AND {f(e.right)})"
    if isinstance(e, ast.Or):
        return f"({f(e.left)} OR {f(e.right)})"
    if isinstance(e, ast.Not):
        return f"(NOT {f(e.operand)})"
    if isinstance(e, ast.IsNull):
        return f"({f(e.operand)} IS {'NOT ' if e.negated else ''}NULL)"
    if isinstance(e, ast.Like):
        text = f"{f(e.value)} {'NOT ' if e.negated else ''}LIKE {f(e.pattern)}"
        if e.escape:
            text += f" ESCAPE '{e.escape}'"
        return f"({text})"
    if isinstance(e, ast.Between):
        return f"({f(e.value)} {'NOT ' if e.negated else ''}BETWEEN {f(e.low)} AND {f(e.high)})"
    if isinstance(e, ast.InList):
        return f"({f(e.value)} {'NOT ' if e.negated else ''}IN ({', '.join(f(i) for i in e.items)}))"
    if isinstance(e, ast.SearchedCase):
        parts = [f"WHEN {f(w.condition)} THEN {f(w.result)}" for w in e.whens]
        if e.default is not None:
            parts.append(f"ELSE {f(e.default)}")
        return f"(CASE {' '.join(parts)} END)"
    if isinstance(e, ast.SimpleCase):
        parts = [f"WHEN {f(w.condition)} THEN {f(w.result)}" for w in e.whens]
        if e.default is not None:
            parts.append(f"ELSE {f(e.default)}")
        return f"(CASE {f(e.operand)} {' '.join(parts)} END)"
    if isinstance(e, ast.Cast):
        return f"CAST({f(e.expr)} AS {e.type})"
    if isinstance(e, ast.CreateArray):
        return f"ARRAY[{', '.join(f(i) for i in e.items)}]"
    if isinstance(e, ast.CreateMap):
        return f"MAP({', '.join(f'{f(k)}:={f(v)}' for k, v in e.entries)})"
    if isinstance(e, ast.CreateStruct):
        return f"STRUCT({', '.join(f'{_name(n)}:={f(v)}' for n, v in e.fields)})"
    if isinstance(e, ast.IntervalUnit):
        return e.unit
    return str(e)
