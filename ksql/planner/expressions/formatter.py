"""SQL text of expressions as ksqlDB's ExpressionFormatter prints them in error messages."""

from __future__ import annotations

import re

from ksql.functions.javalib import java_double_str
from ksql.parser import ast
from ksql.types import format_identifier

_PLAIN = re.compile(r"[A-Z_][A-Z0-9_@]*")


def fmt_name(name: str) -> str:
    return name if _PLAIN.fullmatch(name) else format_identifier(name)


def format_expr(e: ast.Expr) -> str:
    f = format_expr
    if isinstance(e, ast.ColumnRef):
        return f"{fmt_name(e.source)}.{fmt_name(e.name)}" if e.source else fmt_name(e.name)
    if isinstance(e, ast.NullLiteral):
        return "null"
    if isinstance(e, ast.BooleanLiteral):
        return "true" if e.value else "false"
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral)):
        return str(e.value)
    if isinstance(e, ast.DecimalLiteral):
        return format(e.value, "f")
    if isinstance(e, ast.DoubleLiteral):
        return java_double_str(e.value)
    if isinstance(e, ast.StringLiteral):
        return "'" + e.value.replace("'", "''") + "'"
    if isinstance(e, ast.LambdaVariable):
        return e.name
    if isinstance(e, ast.Dereference):
        return f"{f(e.base)}->{fmt_name(e.field)}"
    if isinstance(e, ast.Subscript):
        return f"{f(e.base)}[{f(e.index)}]"
    if isinstance(e, ast.FunctionCall):
        if e.star:
            return f"{e.name}(*)"
        args = ", ".join(f(a) for a in e.args)
        return f"{e.name}({'DISTINCT ' if e.distinct else ''}{args})"
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
        esc = f" ESCAPE '{e.escape}'" if e.escape else ""
        return f"({f(e.value)} {'NOT ' if e.negated else ''}LIKE {f(e.pattern)}{esc})"
    if isinstance(e, ast.Between):
        return f"({f(e.value)} {'NOT ' if e.negated else ''}BETWEEN {f(e.low)} AND {f(e.high)})"
    if isinstance(e, ast.InList):
        return f"({f(e.value)} {'NOT ' if e.negated else ''}IN ({', '.join(f(i) for i in e.items)}))"
    if isinstance(e, ast.SearchedCase):
        whens = " ".join(f"WHEN {f(w.condition)} THEN {f(w.result)}" for w in e.whens)
        default = f" ELSE {f(e.default)}" if e.default is not None else ""
        return f"(CASE {whens}{default} END)"
    if isinstance(e, ast.SimpleCase):
        whens = " ".join(f"WHEN {f(w.condition)} THEN {f(w.result)}" for w in e.whens)
        default = f" ELSE {f(e.default)}" if e.default is not None else ""
        return f"(CASE {f(e.operand)} {whens}{default} END)"
    if isinstance(e, ast.Cast):
        return f"CAST({f(e.expr)} AS {e.type})"
    if isinstance(e, ast.CreateArray):
        return "ARRAY[" + ", ".join(f(i) for i in e.items) + "]"
    if isinstance(e, ast.CreateMap):
        return "MAP(" + ", ".join(f"{f(k)}:={f(v)}" for k, v in e.entries) + ")"
    if isinstance(e, ast.CreateStruct):
        return "STRUCT(" + ", ".join(f"{fmt_name(n)}:={f(v)}" for n, v in e.fields) + ")"
    if isinstance(e, ast.IntervalUnit):
        return e.unit
    return repr(e)
