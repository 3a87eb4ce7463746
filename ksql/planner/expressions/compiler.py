"""Compilation of expressions to Python source, built once per query.

`ExpressionCompiler.compile(expr)` returns the source of a Python expression over
the row (columns are `row[i]`, or locals `_c<i>` in the batch loop); constants and
helpers live in `compiler.namespace`. `compile_batch` generates ONE function that
loops over a batch with the filter and every projection inlined; a row whose
evaluation raises is re-run on a slow path that evaluates each expression in its
own try, so a failing expression yields null (and is reported) while the row is
still emitted, as in ksqlDB; an error in the WHERE clause drops the row.

Nothing from the SQL text reaches the generated source as code: values are written
with repr() of an exact str/int/bool/finite float, or hoisted into the namespace
(`const`); columns become row slots, lambda variables generated names, and names
(struct fields, function names in error reports) repr()'d strings; operators come
from fixed tables.
"""

from __future__ import annotations

import ast as pyast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import DEC_CTX
from ksql.functions.registry import FunctionRegistry, LambdaType
from ksql.parser import ast
from ksql.parser.limits import too_deep_to_compile
from ksql.planner.expressions import runtime as R
from ksql.planner.expressions.formatter import format_expr
from ksql.planner.expressions.options import ExpressionOptions, current_options
from ksql.planner.expressions.scope import Scope, ScopeColumn
from ksql.planner.expressions.typer import ExpressionTyper
from ksql.types import (
    BOOLEAN,
    DOUBLE,
    STRING,
    ArrayType,
    DecimalType,
    MapType,
    NullType,
    SqlType,
    StructType,
)

_NON_NULL_BOOL = (ast.Comparison, ast.IsNull, ast.Like, ast.Between, ast.InList, ast.BooleanLiteral)
_PY_CMP = {"=": "==", "<>": "!=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
# operators whose left-deep chains compile to one flat expression: + and - group together, * alone
_CHAIN_GROUP = {"+": "additive", "-": "additive", "*": "multiplicative"}
_CHAIN_OPS = frozenset(_CHAIN_GROUP)
# a CASE with more WHENs becomes a generated function (an inline chain is faster but nests per WHEN)
_INLINE_WHENS = 64
_COLUMN_LOCAL = re.compile(r"_c[0-9]+")
# generated code nesting brackets deeper than this moves into a function of its own (see _hoist)
_HOIST_NESTING = 100


def _wrap(code: str, base: str) -> str:
    """Inline Java overflow: two's complement wrap to 32 or 64 bits (pure int ops, no call)."""
    if base == "INTEGER":
        return f"(({code} + 2147483648 & 4294967295) - 2147483648)"
    return f"(({code} + 9223372036854775808 & 18446744073709551615) - 9223372036854775808)"


def _load(src: str, filename: str, namespace: dict[str, Any]) -> None:
    """Define the generated code's functions in `namespace`. Python refuses code nested too deeply
    (200 parentheses, or its recursion limit): that is the statement's nesting, refused as such."""
    try:
        code = compile(src, filename, "exec")
    except SyntaxError as err:
        if "too many nested parentheses" not in str(err.msg):
            raise
        raise too_deep_to_compile() from None
    except (RecursionError, MemoryError):
        raise too_deep_to_compile() from None
    exec(code, namespace)


class ExpressionCompiler:
    """Turns typed expressions into Python source over `row`; see the module docstring."""

    def __init__(self, scope: Scope, registry: FunctionRegistry, typer: ExpressionTyper | None = None,
                 expr_columns: Mapping[ast.Expr, ScopeColumn] | None = None,
                 report: Callable[[str], None] | None = None, options: ExpressionOptions | None = None):
        self.scope = scope
        self.options = options or current_options()  # the statement's ksql.* configs for expressions
        self.registry = registry
        self.typer = typer or ExpressionTyper(scope, registry, expr_columns)
        self.namespace: dict[str, Any] = dict(R.HELPERS)
        self.namespace["_report"] = report or (lambda msg: None)
        self.used_columns: set[int] = set()
        self._n = 0
        self._const_ids: dict[Any, str] = {}
        self._local_columns = False
        self._safe = False
        self._lambda_names: list[dict[str, str]] = []

    # --- public -----------------------------------------------------------------

    def compile(self, expr: ast.Expr, *, local_columns: bool = False, safe: bool = False) -> str:
        """Python source evaluating `expr`. local_columns: read `_c<i>` locals instead of row[i];
        safe: a failing function call yields null (reported) instead of failing the expression."""
        self.typer.type_of(expr)
        old = (self._local_columns, self._safe)
        self._local_columns, self._safe = local_columns, safe
        try:
            return self._c(expr)
        finally:
            self._local_columns, self._safe = old

    def function(self, expr: ast.Expr, name: str = "_expr") -> Callable[[Sequence[Any]], Any]:
        """A Python function row -> value for one expression (errors propagate)."""
        src = f"def {name}(row):\n    return {self.compile(expr)}\n"
        _load(src, f"<ksql-expr {name}>", self.namespace)
        return self.namespace[name]

    def const(self, value: Any) -> str:
        """Hoist a constant into the namespace; returns its name."""
        key = (type(value), value) if _hashable(value) else id(value)
        name = self._const_ids.get(key)
        if name is None:
            self._n += 1
            name = f"_k{self._n}"
            self.namespace[name] = value
            self._const_ids[key] = name
        return name

    # --- internals -------------------------------------------------------------------

    def _tmp(self) -> str:
        self._n += 1
        return f"_t{self._n}"

    def _type(self, e: ast.Expr) -> SqlType:
        return self.typer.type_of(e)

    def _c(self, e: ast.Expr) -> str:
        key = id(e)
        if key in self.typer.literal_values:
            return self._literal(self.typer.literal_values[key])
        col = self.typer.expr_columns.get(e) if self.typer.expr_columns and not isinstance(e, ast.Lambda) else None
        if col is not None:
            code = self._column(col.index)
        else:
            m = getattr(self, "_c_" + type(e).__name__, None)
            if m is None:
                raise KsqlError(f"Cannot compile expression: {format_expr(e)}")
            code = m(e)
        target = self.typer.coerced.get(key)
        if target is not None:
            code = self._convert(code, self._type(e), target)
        if _bracket_nesting(code) > _HOIST_NESTING:
            code = self._hoist(code)
        return code

    def _hoist(self, code: str) -> str:
        """`code` as a call of a generated function returning it: Python parses at most 200 nested
        brackets in one piece of source, so deeply nested expressions are compiled in pieces of
        at most _HOIST_NESTING levels. The function takes the row's columns and the lambda
        variables `code` reads."""
        params = ", ".join(sorted(self._free_names([code])))
        self._n += 1
        name = f"_sub{self._n}"
        _load(f"def {name}({params}):\n    return {code}\n", f"<ksql-expr {name}>", self.namespace)
        return f"{name}({params})"

    def _checked(self, code: str, checks: list[str]) -> str:
        """Bind `code` and append its `is not None` test to `checks` unless it is a literal."""
        if _is_literal_code(code):
            return code
        a, b = self._bind(code)
        checks.append(f"{a} is not None")
        return b

    def _bind(self, code: str) -> tuple[str, str]:
        """(first use, later uses) of a value: simple names are reused, others go to a walrus temp."""
        if code.isidentifier() or _is_simple(code):
            return code, code
        t = self._tmp()
        return f"({t} := {code})", t

    def _literal(self, v: Any) -> str:
        kind = type(v)  # exact types: a subclass could repr() as anything
        if v is None or kind in (bool, int, str) or kind is float and math.isfinite(v):
            return repr(v)
        return self.const(v)

    def _column(self, index: int) -> str:
        self.used_columns.add(index)
        return f"_c{index}" if self._local_columns else f"row[{index}]"

    def _convert(self, code: str, src: SqlType, dst: SqlType, cast: bool = False) -> str:
        if src == dst or isinstance(src, NullType) or isinstance(dst, NullType):
            return code
        if src.base in ("INTEGER", "BIGINT") and dst.base == "BIGINT":
            return code
        if src.base in ("INTEGER", "BIGINT", "DECIMAL") and dst == DOUBLE and not cast:
            if _is_literal_code(code):
                return f"float({code})"
            a, b = self._bind(code)
            return f"(None if {a} is None else float({b}))"
        if isinstance(src, DecimalType) and isinstance(dst, DecimalType) and not cast \
                and src.scale == dst.scale:
            return code
        conv = R.converter(src, dst, cast)
        if conv is R._identity:
            return code
        return f"{self.const(conv)}({code})"

    # literals
    def _c_NullLiteral(self, e: ast.Expr) -> str:
        return "None"

    def _c_BooleanLiteral(self, e: ast.BooleanLiteral) -> str:
        return "True" if e.value else "False"

    def _c_IntegerLiteral(self, e: ast.IntegerLiteral) -> str:
        return self._literal(e.value)

    _c_LongLiteral = _c_IntegerLiteral

    def _c_DecimalLiteral(self, e: ast.DecimalLiteral) -> str:
        return self.const(e.value)

    def _c_DoubleLiteral(self, e: ast.DoubleLiteral) -> str:
        return self._literal(float(e.value))

    def _c_StringLiteral(self, e: ast.StringLiteral) -> str:
        return self._literal(e.value)

    def _c_IntervalUnit(self, e: ast.IntervalUnit) -> str:
        return self._literal(e.unit)

    # references
    def _c_ColumnRef(self, e: ast.ColumnRef) -> str:
        if e.source is None:
            for frame in reversed(self._lambda_names):
                if e.name in frame:
                    return frame[e.name]
        return self._column(self.scope.resolve(e).index)

    def _c_LambdaVariable(self, e: ast.LambdaVariable) -> str:
        for frame in reversed(self._lambda_names):
            if e.name in frame:
                return frame[e.name]
        raise KsqlError(f"Unknown lambda variable: {e.name}")

    def _c_Dereference(self, e: ast.Dereference) -> str:
        bt = self._type(e.base)
        assert isinstance(bt, StructType)
        f = bt.field(e.field)
        assert f is not None
        a, b = self._bind(self._c(e.base))
        return f"(None if {a} is None else {b}.get({f.name!r}))"

    def _c_Subscript(self, e: ast.Subscript) -> str:
        bt = self._type(e.base)
        if isinstance(bt, ArrayType):
            return f"_aidx({self._c(e.base)}, {self._c(e.index)})"
        assert isinstance(bt, MapType)
        key = self._convert(self._c(e.index), self._type(e.index), bt.key)
        return f"_mget({self._c(e.base)}, {key})"

    # functions and lambdas
    def _c_FunctionCall(self, e: ast.FunctionCall) -> str:
        rf = self.typer.function(e)
        fname = self.const(rf.impl)
        firsts: list[str] = []
        uses: list[str] = []
        checks: list[str] = []
        for i, a in enumerate(e.args):
            pt = rf.param_types[i]
            if isinstance(a, ast.Lambda):
                code = self._lambda(a, pt)
                firsts.append(code)
                uses.append(code)
                continue
            code = self._c(a)
            code = self._convert(code, self._type(a), pt)
            if rf.null_on_null and not _never_null(a):
                first, later = self._bind(code)
                checks.append(f"{first} is None")
                uses.append(later)
            else:
                uses.append(code)
        if self._safe:
            call = f"_safe(_report, {e.name!r}, {fname}{''.join(', ' + u for u in uses)})"
        else:
            call = f"{fname}({', '.join(uses)})"
        if checks:
            return f"(None if {' or '.join(checks)} else {call})"
        if rf.null_on_null and any(isinstance(a, ast.NullLiteral) for a in e.args):
            return "None"
        return call

    def _lambda(self, lam: ast.Lambda, lt: SqlType) -> str:
        assert isinstance(lt, LambdaType)
        names = {}
        for p in lam.params:
            self._n += 1
            names[p] = f"_v{self._n}"
        self._lambda_names.append(names)
        self.typer.lambda_vars.append(dict(zip(lam.params, lt.params, strict=True)))
        try:
            body = self._c(lam.body)
            body = self._convert(body, self.typer.type_of(lam.body), lt.returns)
        finally:
            self.typer.lambda_vars.pop()
            self._lambda_names.pop()
        return f"(lambda {', '.join(names.values())}: {body})"

    # arithmetic
    def _c_Arithmetic(self, e: ast.Arithmetic) -> str:
        t = self._type(e)
        op = e.op
        if op not in _ARITHMETIC:
            raise KsqlError(f"Unknown arithmetic operator: {op}")
        if op in _CHAIN_OPS:
            return self._arithmetic_chain(e, t)
        lt, rt = self._type(e.left), self._type(e.right)
        left, right = self._c(e.left), self._c(e.right)
        if isinstance(t, DecimalType):
            return f"{self.const(R.decimal_op(op, t.scale))}({left}, {right})"
        if t == DOUBLE:
            if isinstance(lt, DecimalType):
                left = f"float({left})"
            if isinstance(rt, DecimalType):
                right = f"float({right})"
            if op == "/":
                return f"_ddiv({left}, {right})"
            return f"_dmod({left}, {right})"
        wname = "_w32" if t.base == "INTEGER" else "_w64"
        if op == "/":
            return f"{wname}(_idiv({left}, {right}))"
        return f"_imod({left}, {right})"

    def _arithmetic_chain(self, e: ast.Arithmetic, t: SqlType) -> str:
        """A left-deep chain `a + b - c ...` (or `a * b * c ...`) of one result type as ONE flat Python
        expression: Java's wrap-around is applied once at the end (two's complement arithmetic is exact
        modulo 2^n, so wrapping each step or only the last gives the same value), string `+` is one
        n-ary concatenation, DECIMAL one call rounding each step to its own scale, and the generated
        code does not nest one level per term."""
        group = _CHAIN_GROUP[e.op]
        links: list[ast.Arithmetic] = [e]
        node = e.left
        while (isinstance(node, ast.Arithmetic) and _CHAIN_GROUP.get(node.op) == group
               and self._compiles_plainly(node) and _same_chain_type(self._type(node), t)):
            links.append(node)
            node = node.left
        links.reverse()
        operands = [links[0].left, *(link.right for link in links)]
        if t == STRING:
            return f"_sconcat({', '.join(self._c(o) for o in operands)})"
        if isinstance(t, DecimalType):
            steps = tuple((link.op, self._decimal_scale(link)) for link in links)
            return f"{self.const(R.decimal_chain(steps))}({', '.join(self._c(o) for o in operands)})"
        codes = []
        for o in operands:
            code = self._c(o)
            codes.append(f"float({code})" if t == DOUBLE and isinstance(self._type(o), DecimalType) else code)
        expr = codes[0] if t == DOUBLE else f"({codes[0]})"
        for link, code in zip(links, codes[1:], strict=True):
            expr += f" {link.op} {code}" if t == DOUBLE else f" {link.op} ({code})"
        if t == DOUBLE:
            return f"({expr})"
        return _wrap(f"({expr})", t.base)

    def _decimal_scale(self, e: ast.Expr) -> int:
        t = self._type(e)
        assert isinstance(t, DecimalType)
        return t.scale

    def _compiles_plainly(self, e: ast.Expr) -> bool:
        """Whether `e` compiles by its own kind's rule: not folded to a literal, read from a column
        (a grouped expression) or converted to another type, so it can merge into a parent chain."""
        key = id(e)
        return (key not in self.typer.literal_values and key not in self.typer.coerced
                and not (self.typer.expr_columns and e in self.typer.expr_columns))

    def _c_Negation(self, e: ast.Negation) -> str:
        t = self._type(e)
        inner = self._c(e.operand)
        if t.base in ("INTEGER", "BIGINT"):
            return _wrap(f"(-({inner}))", t.base)
        if isinstance(t, DecimalType):
            return f"{self.const(DEC_CTX.minus)}({inner})"  # `-d` would round to 28 digits
        return f"(-({inner}))"

    # comparisons
    def _comparable_pair(self, le: ast.Expr, re_: ast.Expr) -> tuple[str, str]:
        lt, rt = self._type(le), self._type(re_)
        left, right = self._c(le), self._c(re_)
        if isinstance(lt, DecimalType) and rt == DOUBLE and isinstance(le, ast.DecimalLiteral):
            left = self._literal(float(le.value))  # compare as doubles: no per-row Decimal conversion
        elif isinstance(rt, DecimalType) and lt == DOUBLE and isinstance(re_, ast.DecimalLiteral):
            right = self._literal(float(re_.value))
        elif isinstance(lt, DecimalType) and rt == DOUBLE:
            right = f"_f2d({right})" if _never_null(re_) else self._convert_nullable(right, "_f2d")
        elif isinstance(rt, DecimalType) and lt == DOUBLE:
            left = f"_f2d({left})" if _never_null(le) else self._convert_nullable(left, "_f2d")
        elif lt.base in ("DATE", "TIME", "TIMESTAMP") and rt != lt:
            right = self._convert(right, rt, lt, cast=True) if rt == STRING else self._convert(right, rt, lt, True)
        elif rt.base in ("DATE", "TIME", "TIMESTAMP") and lt != rt:
            left = self._convert(left, lt, rt, cast=True)
        return left, right

    def _convert_nullable(self, code: str, fn: str) -> str:
        a, b = self._bind(code)
        return f"(None if {a} is None else {fn}({b}))"

    def _c_Comparison(self, e: ast.Comparison) -> str:
        left, right = self._comparable_pair(e.left, e.right)
        if e.op == "IS DISTINCT FROM":
            return f"({left} != {right})"
        if e.op == "IS NOT DISTINCT FROM":
            return f"({left} == {right})"
        checks: list[str] = []
        lb = self._checked(left, checks)
        rb = self._checked(right, checks)
        checks.append(f"{lb} {_PY_CMP[e.op]} {rb}")
        return "(" + " and ".join(checks) + ")"

    def _bool(self, e: ast.Expr) -> str:
        code = self._c(e)
        return code if isinstance(e, _NON_NULL_BOOL) else f"_nn({code})"

    def _c_And(self, e: ast.And) -> str:
        return "(" + " and ".join(self._bool(t) for t in self._same_operator_terms(e)) + ")"

    def _c_Or(self, e: ast.Or) -> str:
        return "(" + " or ".join(self._bool(t) for t in self._same_operator_terms(e)) + ")"

    def _same_operator_terms(self, e: ast.And | ast.Or) -> list[ast.Expr]:
        """The operands, left to right, of a chain of ANDs (or of ORs) however it is grouped: Python's
        `and`/`or` are n-ary with the same left-to-right short circuit, so `a and b and c` evaluates
        exactly as `(a and b) and c` without nesting a level per term."""
        kind = type(e)
        terms: list[ast.Expr] = []
        stack: list[ast.Expr] = [e.right, e.left]
        while stack:
            node = stack.pop()
            if type(node) is kind and self._compiles_plainly(node):
                stack += [node.right, node.left]
            else:
                terms.append(node)
        return terms

    def _c_Not(self, e: ast.Not) -> str:
        return f"(not {self._bool(e.operand)})"

    def _c_IsNull(self, e: ast.IsNull) -> str:
        return f"({self._c(e.operand)} is {'not ' if e.negated else ''}None)"

    def _c_Like(self, e: ast.Like) -> str:
        value = self._c(e.value)
        if isinstance(e.pattern, ast.StringLiteral):
            rx = self.const(R.like_regex(e.pattern.value, e.escape))
            checks: list[str] = []
            b = self._checked(value, checks)
            checks.append(f"{rx}.fullmatch({b}) is not None")
            code = "(" + " and ".join(checks) + ")"
        else:
            code = f"_like({value}, {self._c(e.pattern)}, {e.escape!r})"
        return f"(not {code})" if e.negated else code

    def _c_Between(self, e: ast.Between) -> str:
        v, lo = self._comparable_pair(e.value, e.low)
        _, hi = self._comparable_pair(e.value, e.high)
        checks: list[str] = []
        vb, lb, hb = self._checked(v, checks), self._checked(lo, checks), self._checked(hi, checks)
        checks.append(f"{lb} <= {vb} <= {hb}")
        code = "(" + " and ".join(checks) + ")"
        return f"(not {code})" if e.negated else code

    def _c_InList(self, e: ast.InList) -> str:
        """The typer converted the value and the items to their common type where that changes how
        they compare, so plain equality decides; all-literal lists of a hashable type become one set
        lookup."""
        common = self.typer.in_types[id(e)]
        checks: list[str] = []
        b = self._checked(self._c(e.value), checks)
        a = checks[0] if checks else "True"
        if common.base in _SET_LOOKUP_TYPES and all(isinstance(i, _LITERAL_NODES) for i in e.items):
            values = frozenset(v for v in (self._literal_in(i, common) for i in e.items) if v is not None)
            code = f"({a} and {b} in {self.const(values)})"
        else:
            ors = " or ".join(f"{b} == {self._c(i)}" for i in e.items)
            code = f"({a} and ({ors}))"
        return f"(not {code})" if e.negated else code

    def _literal_in(self, item: ast.Expr, common: SqlType) -> Any:
        """A literal IN item's value in the list's common type, converted at plan time."""
        if id(item) in self.typer.literal_values:
            return self.typer.literal_values[id(item)]
        return R.converter(self._type(item), common)(_literal_value(item))

    # CASE
    def _c_SearchedCase(self, e: ast.SearchedCase) -> str:
        whens = [(self._c(w.condition), self._c(w.result)) for w in e.whens]
        default = self._c(e.default) if e.default is not None else "None"
        if len(whens) <= _INLINE_WHENS:
            return "(" + "".join(f"{result} if {cond} else " for cond, result in whens) + default + ")"
        return self._case_function(None, whens, default)

    def _c_SimpleCase(self, e: ast.SimpleCase) -> str:
        operand = self._c(e.operand)
        default = self._c(e.default) if e.default is not None else "None"
        if len(e.whens) > _INLINE_WHENS:
            whens = [(f"_o == {self._c(w.condition)}", self._c(w.result)) for w in e.whens]
            return self._case_function(operand, whens, default)
        a, b = self._bind(operand)
        out = "".join(f"{self._c(w.result)} if {b} == {self._c(w.condition)} else " for w in e.whens)
        return f"(({out}{default}) if {a} is not None else {default})"

    def _case_function(self, operand: str | None, whens: list[tuple[str, str]], default: str) -> str:
        """A long CASE as a call of a generated function testing one WHEN per flat `if` statement (an
        inline conditional expression nests one level per WHEN, which Python compiles only so deep).
        The function takes the row's columns and lambda variables its branches read; a simple CASE's
        operand is evaluated once, as `_o` (a null operand selects the default)."""
        pieces = [code for pair in whens for code in pair] + [default]
        params = sorted(self._free_names(pieces))
        self._n += 1
        name = f"_case{self._n}"
        lines = [f"def {name}({', '.join(['_o', *params] if operand is not None else params)}):"]
        if operand is not None:
            lines.append(f"    if _o is None: return {default}")
        lines += [f"    if {cond}: return {result}" for cond, result in whens]
        lines.append(f"    return {default}")
        _load("\n".join(lines) + "\n", f"<ksql-case {name}>", self.namespace)
        args = [operand, *params] if operand is not None else params
        return f"{name}({', '.join(args)})"

    def _free_names(self, codes: Sequence[str]) -> set[str]:
        """The names in generated `codes` that are bound where they are used, not in the namespace: the
        row, column locals and the enclosing lambdas' variables."""
        lambda_vars = {name for frame in self._lambda_names for name in frame.values()}
        names: set[str] = set()
        for code in codes:
            try:
                tree = pyast.parse(code, mode="eval")
            except (SyntaxError, RecursionError, MemoryError):
                raise too_deep_to_compile() from None
            names.update(node.id for node in pyast.walk(tree) if isinstance(node, pyast.Name)
                         and (node.id == "row" or node.id in lambda_vars or _COLUMN_LOCAL.fullmatch(node.id)))
        return names

    # CAST and constructors
    def _c_Cast(self, e: ast.Cast) -> str:
        src = self._type(e.expr)
        code = self._convert(self._c(e.expr), src, e.type, cast=True)
        if e.type.base == "STRING" and src != e.type and not isinstance(src, NullType) \
                and not self.options.cast_strings_preserve_nulls:
            first, later = self._bind(code)  # ksqlDB's legacy String.valueOf: null becomes 'null'
            return f"('null' if {first} is None else {later})"
        return code

    def _c_CreateArray(self, e: ast.CreateArray) -> str:
        t = self._type(e)
        assert isinstance(t, ArrayType)
        return "[" + ", ".join(self._elem(i, t.item, "array item") for i in e.items) + "]"

    def _c_CreateMap(self, e: ast.CreateMap) -> str:
        t = self._type(e)
        assert isinstance(t, MapType)
        return "{" + ", ".join(f"{self._elem(k, t.key, 'map key')}: {self._elem(v, t.value, 'map value')}"
                               for k, v in e.entries) + "}"

    def _c_CreateStruct(self, e: ast.CreateStruct) -> str:
        target = self.typer.struct_targets.get(id(e))
        given = {n: v for n, v in e.fields}
        if target is None:
            return "{" + ", ".join(f"{n!r}: {self._element(v, 'struct field')}" for n, v in e.fields) + "}"
        names = [f.name for f in target.fields]
        parts = [f"{n!r}: {self._element(given[n], 'struct field') if n in given else 'None'}" for n in names]
        parts += [f"{n!r}: {self._element(v, 'struct field')}" for n, v in e.fields if n not in names]
        return "{" + ", ".join(parts) + "}"

    def _elem(self, item: ast.Expr, target: SqlType, what: str) -> str:
        if id(item) in self.typer.coerced:
            return self._element(item, what)
        return self._element(item, what, lambda code: self._convert(code, self._type(item), target))

    def _element(self, item: ast.Expr, what: str, convert: Callable[[str], str] | None = None) -> str:
        """An element of an ARRAY, MAP or STRUCT constructor (`what` it is), converted by `convert`. On
        the slow path (safe) its error is ksql.nested.error.set.null's: true, the element alone is null
        (reported); false, the error reaches the whole expression (function calls inside it too)."""
        if self._safe and not self.options.nested_error_set_null:
            self._safe = False
            try:
                code = self._c(item)
                return convert(code) if convert else code
            finally:
                self._safe = True
        code = self._c(item)
        code = convert(code) if convert else code
        if not self._safe or isinstance(item, (*_LITERAL_NODES, ast.ColumnRef)):
            return code
        return f"_nested(_report, {what!r}, lambda: {code})"


def _bracket_nesting(code: str) -> int:
    """How deeply brackets nest in generated `code` (those inside its string literals, which are
    repr()'d so quoted with ' or " and backslash escapes, do not count)."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in code:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
        elif char in "'\"":
            quote = char
    return deepest


def _same_chain_type(inner: SqlType, outer: SqlType) -> bool:
    """Whether an inner link of an arithmetic chain computes in the outer link's type (DECIMALs of any
    precision do: each step keeps its own scale)."""
    return inner == outer or isinstance(inner, DecimalType) and isinstance(outer, DecimalType)


def _hashable(v: Any) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


def _is_simple(code: str) -> bool:
    """A name, a row slot or a literal: cheap and side-effect free to repeat."""
    if code.isidentifier() or code in ("None", "True", "False"):
        return True
    if code.startswith("row[") and code.endswith("]") and code[4:-1].isdigit():
        return True
    try:
        v = pyast.literal_eval(code)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return isinstance(v, (int, str, float, bool))


def _is_literal_code(code: str) -> bool:
    if code in ("True", "False"):
        return True
    if code.isidentifier() or code.startswith("row["):
        return False
    return _is_simple(code)


def _never_null(e: ast.Expr) -> bool:
    return isinstance(e, (ast.BooleanLiteral, ast.IntegerLiteral, ast.LongLiteral, ast.DecimalLiteral,
                          ast.DoubleLiteral, ast.StringLiteral, ast.IntervalUnit) + _NON_NULL_BOOL)


_SET_LOOKUP_TYPES = ("INTEGER", "BIGINT", "DECIMAL", "DOUBLE", "STRING", "BOOLEAN")  # hashed as compared
_LITERAL_NODES = (ast.BooleanLiteral, ast.IntegerLiteral, ast.LongLiteral, ast.StringLiteral, ast.DecimalLiteral,
                  ast.DoubleLiteral, ast.NullLiteral)


def _literal_value(e: ast.Expr) -> Any:
    if isinstance(e, (ast.BooleanLiteral, ast.IntegerLiteral, ast.LongLiteral, ast.StringLiteral,
                      ast.DecimalLiteral)):
        return e.value
    if isinstance(e, ast.DoubleLiteral):
        return float(e.value)
    return None


# --- the planner's entry points ------------------------------------------------------------


def _prepare(filter_: ast.Expr | None, projections: Sequence[ast.Expr], scope: Scope,
             registry: FunctionRegistry, on_error: Callable[[str], None],
             expr_columns: Mapping[ast.Expr, ScopeColumn] | None):
    comp = ExpressionCompiler(scope, registry, expr_columns=expr_columns, report=on_error)
    if filter_ is not None:
        comp.typer.check_predicate(filter_)
    for p in projections:
        comp.typer.type_of_select(p)
    fast_filter = comp.compile(filter_, local_columns=True) if filter_ is not None else None
    filter_cols = sorted(comp.used_columns)
    fast_proj = [comp.compile(p, local_columns=True) for p in projections]
    slow_filter = comp.compile(filter_, safe=True) if filter_ is not None else None
    slow_proj = [comp.compile(p, safe=True) for p in projections]
    ns = comp.namespace
    ns["_on_error"] = on_error
    ns["_texts"] = [format_expr(p) for p in projections]
    ns["_where_text"] = format_expr(filter_) if filter_ is not None else ""
    # slow path: each expression in its own try
    lines = ["def _slow(row):"]
    if slow_filter is not None:
        lines += ["    try:", f"        _ok = {slow_filter}", "    except Exception as _e:",
                  "        _on_error(f'Error evaluating WHERE expression {_where_text}: {_e}')",
                  "        return None", "    if not _ok:", "        return None"]
    for i, code in enumerate(slow_proj):
        lines += ["    try:", f"        _v{i} = {code}", "    except Exception as _e:",
                  f"        _on_error(f'Error computing expression {{_texts[{i}]}}: {{_e}}')",
                  f"        _v{i} = None"]
    tup = "(" + "".join(f"_v{i}, " for i in range(len(slow_proj))) + ")"
    lines.append(f"    return {tup}")
    unpack = _unpack(filter_cols)
    unpack_rest = _unpack(sorted(comp.used_columns - set(filter_cols)))
    return comp, ns, lines, fast_filter, fast_proj, unpack, unpack_rest


def _unpack(cols: list[int]) -> str:
    """Statement loading row[i] into _c<i> for the columns `cols` (sorted): one slice unpacked
    into names when they are many and dense (faster than a subscript each), else subscripts.
    A short row raises either way (ValueError / IndexError), sending the row to the slow path."""
    if not cols:
        return "pass"
    lo, hi = cols[0], cols[-1] + 1
    if len(cols) >= 4 and 2 * len(cols) >= hi - lo:
        used = set(cols)
        names = ", ".join(f"_c{i}" if i in used else "_" for i in range(lo, hi))
        return f"{names}, = row[{lo}:{hi}]"
    return "; ".join(f"_c{i} = row[{i}]" for i in cols)


def _locals_signature(ns: dict[str, Any], sources: list[str]) -> str:
    """Bind the namespace names the code uses as default arguments: LOAD_FAST in the hot loop."""
    import re
    used = set()
    text = "\n".join(sources)
    for name in re.findall(r"\b_[A-Za-z0-9_]+\b", text):
        if name in ns and not name.startswith("_c"):
            used.add(name)
    return "".join(f", {n}={n}" for n in sorted(used))


def compile_batch(filter_: ast.Expr | None, projections: Sequence[ast.Expr], scope: Scope,
                  registry: FunctionRegistry, on_error: Callable[[str], None],
                  expr_columns: Mapping[ast.Expr, ScopeColumn] | None = None
                  ) -> Callable[[Sequence[Sequence[Any]]], list[tuple]]:
    """A function rows -> projected tuples of the rows that pass the filter (one generated loop)."""
    comp, ns, slow, ff, fp, unpack, unpack_rest = _prepare(filter_, projections, scope, registry, on_error,
                                                           expr_columns)
    tup = "(" + "".join(f"{p}, " for p in fp) + ")"
    body = [f"        {unpack}"]
    if ff is not None:  # the other columns are only loaded for rows that pass the filter
        body += [f"        if not {ff}:", "            continue"]
    body += [f"        {unpack_rest}", f"        _append({tup})"]
    sig = _locals_signature(ns, [ff or "", *fp])
    src = "\n".join(slow) + "\n\n" + "\n".join([
        f"def _batch(rows, _slow=_slow{sig}):",
        "    out = []",
        "    _append = out.append",
        "    for row in rows:",
        "        try:",
        *["    " + b for b in body],
        "        except Exception:",
        "            _r = _slow(row)",
        "            if _r is not None:",
        "                _append(_r)",
        "    return out",
    ]) + "\n"
    _load(src, "<ksql-batch>", ns)
    fn = ns["_batch"]
    fn.__ksql_source__ = src
    return fn


def compile_projection(filter_: ast.Expr | None, projections: Sequence[ast.Expr], scope: Scope,
                       registry: FunctionRegistry, on_error: Callable[[str], None],
                       expr_columns: Mapping[ast.Expr, ScopeColumn] | None = None
                       ) -> Callable[[Sequence[Any]], tuple | None]:
    """A function row -> projected tuple, or None when the filter rejects the row."""
    comp, ns, slow, ff, fp, unpack, unpack_rest = _prepare(filter_, projections, scope, registry, on_error,
                                                           expr_columns)
    tup = "(" + "".join(f"{p}, " for p in fp) + ")"
    sig = _locals_signature(ns, [ff or "", *fp])
    lines = [f"def _one(row, _slow=_slow{sig}):", "    try:", f"        {unpack}"]
    if ff is not None:
        lines += [f"        if not {ff}:", "            return None"]
    lines += [f"        {unpack_rest}", f"        return {tup}", "    except Exception:", "        return _slow(row)"]
    src = "\n".join(slow) + "\n\n" + "\n".join(lines) + "\n"
    _load(src, "<ksql-projection>", ns)
    fn = ns["_one"]
    fn.__ksql_source__ = src
    return fn


def compile_predicate(expr: ast.Expr, scope: Scope, registry: FunctionRegistry,
                      on_error: Callable[[str], None]) -> Callable[[Sequence[Any]], bool]:
    """A row -> bool filter (errors and nulls reject the row)."""
    proj = compile_projection(expr, [], scope, registry, on_error)
    return lambda row: proj(row) is not None


__all__ = ["ExpressionCompiler", "compile_batch", "compile_projection", "compile_predicate", "BOOLEAN",
           "Decimal"]
