"""Type inference for expressions, with ksqlDB's rules and error messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import parse_boolean_exact, parse_date, parse_time, parse_timestamp
from ksql.functions.registry import INTERVAL_UNIT, FunctionRegistry, LambdaArg, ResolvedFunction
from ksql.parser import ast
from ksql.planner.expressions.formatter import format_expr
from ksql.planner.expressions.options import current_options
from ksql.planner.expressions.scope import Scope, ScopeColumn
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    NULL,
    STRING,
    ArrayType,
    DecimalType,
    MapType,
    NullType,
    SqlType,
    StructField,
    StructType,
    common_type,
    decimal_for_integer,
)

OP_NAMES = {
    "=": "EQUAL", "<>": "NOT_EQUAL", "!=": "NOT_EQUAL", "<": "LESS_THAN", "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN", ">=": "GREATER_THAN_OR_EQUAL", "IS DISTINCT FROM": "IS_DISTINCT_FROM",
    "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM",
}
EQUALITY_OPS = ("=", "<>", "!=", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")
TEMPORAL = ("DATE", "TIME", "TIMESTAMP")
_MAX_PRECISION = 38


def _dec(t: SqlType) -> DecimalType:
    return t if isinstance(t, DecimalType) else decimal_for_integer(t)


def _cap(precision: int, scale: int) -> DecimalType:
    precision = max(precision, 1)
    if precision > _MAX_PRECISION:
        scale = max(scale - (precision - _MAX_PRECISION), 0)
        precision = _MAX_PRECISION
    return DecimalType(precision, min(scale, precision))


def decimal_result(op: str, a: DecimalType, b: DecimalType) -> DecimalType:
    """ksqlDB's DecimalUtil result precision/scale for a binary operator."""
    p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
    if op in "+-":
        s = max(s1, s2)
        return _cap(max(p1 - s1, p2 - s2) + s + 1, s)
    if op == "*":
        return _cap(p1 + p2 + 1, s1 + s2)
    if op == "/":
        s = max(6, s1 + p2 + 1)
        return _cap(p1 - s1 + s2 + s, s)
    s = max(s1, s2)  # %
    return _cap(min(p1 - s1, p2 - s2) + s, s)


def arithmetic_type(op: str, lt: SqlType, rt: SqlType) -> SqlType | None:
    """The result type of `lt op rt`, or None when ksqlDB refuses the operands."""
    if isinstance(lt, NullType):
        lt = rt
    if isinstance(rt, NullType):
        rt = lt
    if isinstance(lt, NullType):
        return None
    if lt == STRING and rt == STRING:
        return STRING if op == "+" else None
    if not (lt.is_numeric and rt.is_numeric):
        return None
    if DOUBLE in (lt, rt):
        return DOUBLE
    if isinstance(lt, DecimalType) or isinstance(rt, DecimalType):
        return decimal_result(op, _dec(lt), _dec(rt))
    if BIGINT in (lt, rt):
        return BIGINT
    return INTEGER


def comparable(op: str, lt: SqlType, rt: SqlType) -> bool:
    """Can values of these types be compared with `op` (ksqlDB's ComparisonUtil)?"""
    if lt.is_numeric and rt.is_numeric:
        return True
    if lt.base in TEMPORAL and rt.base in TEMPORAL:
        return lt == rt or {lt.base, rt.base} == {"DATE", "TIMESTAMP"}
    if (lt.base in TEMPORAL and rt == STRING) or (rt.base in TEMPORAL and lt == STRING):
        return True
    if lt.base != rt.base:
        return False
    if lt.base in ("ARRAY", "MAP", "STRUCT"):
        return op in EQUALITY_OPS and union_type(lt, rt) is not None
    return lt.base in ("STRING", "BOOLEAN", "BYTES")


def union_type(a: SqlType, b: SqlType) -> SqlType | None:
    """The type both values coerce to in a list (array elements, IN items, map values)."""
    if isinstance(a, NullType):
        return b
    if isinstance(b, NullType) or a == b:
        return a
    if a.is_numeric and b.is_numeric:
        return common_type([a, b])
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        item = union_type(a.item, b.item)
        return ArrayType(item) if item is not None else None
    if isinstance(a, MapType) and isinstance(b, MapType):
        k, v = union_type(a.key, b.key), union_type(a.value, b.value)
        return MapType(k, v) if k is not None and v is not None else None
    if isinstance(a, StructType) and isinstance(b, StructType):
        fields: dict[str, SqlType] = {f.name: f.type for f in a.fields}
        for f in b.fields:
            if f.name in fields:
                u = union_type(fields[f.name], f.type)
                if u is None:
                    return None
                fields[f.name] = u
            else:
                fields[f.name] = f.type
        return StructType(tuple(StructField(n, t) for n, t in fields.items()))
    return None


_INTEGRAL_TEXT = re.compile(r"[+-]?\d+")


def _decimal_literal_type(d: Decimal) -> DecimalType:
    """DecimalUtil.fromValue: the DECIMAL holding a literal value (a negative scale counts as 0)."""
    sign, digits, exp = d.as_tuple()
    scale = max(-int(exp), 0)
    precision = len(digits) + max(int(exp), 0)
    return DecimalType(min(max(precision, scale + 1 if abs(d) < 1 else scale, 1), 38), min(scale, 38))


def _numeric_text_type(text: str) -> SqlType | None:
    """The type of the number a string literal spells (as the literal would be typed in SQL:
    INTEGER, BIGINT or the DECIMAL holding it), or None when it spells no finite number."""
    text = text.strip()
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    if _INTEGRAL_TEXT.fullmatch(text):
        return INTEGER if -2**31 <= d < 2**31 else BIGINT if -2**63 <= d < 2**63 else _decimal_literal_type(d)
    return _decimal_literal_type(d)


_LITERALS = (ast.IntegerLiteral, ast.LongLiteral, ast.DecimalLiteral, ast.DoubleLiteral, ast.BooleanLiteral)


_TEMPORAL_PARSERS = {"DATE": parse_date, "TIME": parse_time, "TIMESTAMP": parse_timestamp}


def parse_literal(text: str, target: SqlType) -> Any:
    """A string literal coerced to `target` at plan time (ksqlDB's DefaultSqlValueCoercer)."""
    bad = KsqlError(f'invalid input syntax for type {target.base}: "{text}"')
    if target == BOOLEAN:
        v = parse_boolean_exact(text)
        if v is None:
            raise bad
        return v
    if target.is_numeric:
        try:
            d = Decimal(text.strip())
        except InvalidOperation:
            raise bad from None
        if not d.is_finite():
            raise bad
        if target == DOUBLE:
            return float(d)
        if target.base in ("INTEGER", "BIGINT"):
            return int(d) if d == d.to_integral_value() else d
        return d
    parse_temporal = _TEMPORAL_PARSERS.get(target.base)
    if parse_temporal is not None:
        try:
            return parse_temporal(text)
        except (KsqlError, ValueError):
            raise bad from None
    raise bad


class InvalidExpression(KsqlError):
    """A mistake ksqlDB finds only generating code for an expression, after its clause type-checked:
    BETWEEN's bounds, compared as `value >= low` and `value <= high`."""

    def __init__(self, message: str):
        super().__init__(f"Invalid expression: {message}")


class ExpressionTyper:
    """Computes SQL types of expressions over a Scope; raises KsqlError for ill-typed ones.

    `expr_columns` maps whole expressions (aggregate calls, GROUP BY expressions) to
    the scope column holding their value, for expressions evaluated after aggregation.
    Results are cached by node identity; the compiler reads `coerced` to learn which
    list items (IN, ARRAY[...], MAP(...)) must be converted to which type.
    """

    def __init__(self, scope: Scope, registry: FunctionRegistry,
                 expr_columns: Mapping[ast.Expr, ScopeColumn] | None = None):
        self.scope = scope
        self.registry = registry
        self.expr_columns = dict(expr_columns or {})
        self._types: dict[int, SqlType] = {}
        self._functions: dict[int, ResolvedFunction] = {}
        self._keep: list[ast.Expr] = []  # keeps cached nodes alive so ids stay unique
        self.lambda_vars: list[dict[str, SqlType]] = []
        self.coerced: dict[int, SqlType] = {}  # id(item) -> type the item's value converts to
        self.literal_values: dict[int, Any] = {}  # id(string literal) -> coerced Python value
        self.struct_targets: dict[int, StructType] = {}  # id(STRUCT(...)) -> struct type it fills
        self.in_types: dict[int, SqlType] = {}  # id(IN predicate) -> the type its operands compare in

    # --- public -----------------------------------------------------------------

    def type_of(self, expr: ast.Expr) -> SqlType:
        """The SQL type of `expr` (NULL for an untyped null)."""
        key = id(expr)
        if not self.lambda_vars and key in self._types:
            return self._types[key]
        col = self.expr_columns.get(expr) if self.expr_columns and not isinstance(expr, ast.Lambda) else None
        t = col.type if col is not None else self._visit(expr)
        if not self.lambda_vars:
            self._types[key] = t
            self._keep.append(expr)
        return t

    def type_of_select(self, expr: ast.Expr) -> SqlType:
        """The type of a projected expression: a bare NULL is refused as in ksqlDB."""
        t = self.type_of(expr)
        if isinstance(t, NullType):
            raise KsqlError("Can't infer a type of null. Please explicitly cast it to a required type, "
                            "e.g. CAST(null AS VARCHAR).")
        return t

    def check_predicate(self, expr: ast.Expr, clause: str = "WHERE") -> None:
        """A WHERE/HAVING condition must be BOOLEAN; messages carry the clause as in ksqlDB."""
        try:
            t = self.type_of(expr)
        except InvalidExpression:
            raise
        except KsqlError as e:
            raise KsqlError(f"Error in {clause} expression: {e}") from e
        if t != BOOLEAN and not isinstance(t, NullType):
            raise KsqlError(f"Type error in {clause} expression: Should evaluate to boolean but is "
                            f"{format_expr(expr)} ({t}) instead.")

    def function(self, call: ast.FunctionCall) -> ResolvedFunction:
        """The overload a call resolved to (types the call first if needed)."""
        if id(call) not in self._functions or self.lambda_vars:
            self._visit(call)
        return self._functions[id(call)]

    def lambda_param_types(self, call: ast.FunctionCall, arg_index: int) -> list[SqlType]:
        rf = self.function(call)
        lt = rf.param_types[arg_index]
        return list(getattr(lt, "params", ()))

    # --- visitors ------------------------------------------------------------------

    def _visit(self, e: ast.Expr) -> SqlType:
        m = getattr(self, "_t_" + type(e).__name__, None)
        if m is None:
            raise KsqlError(f"Unsupported expression: {format_expr(e)}")
        return m(e)

    def _t_NullLiteral(self, e: ast.NullLiteral) -> SqlType:
        return NULL

    def _t_BooleanLiteral(self, e: ast.Expr) -> SqlType:
        return BOOLEAN

    def _t_IntegerLiteral(self, e: ast.Expr) -> SqlType:
        return INTEGER

    def _t_LongLiteral(self, e: ast.Expr) -> SqlType:
        return BIGINT

    def _t_DoubleLiteral(self, e: ast.Expr) -> SqlType:
        return DOUBLE

    def _t_StringLiteral(self, e: ast.Expr) -> SqlType:
        return STRING

    def _t_DecimalLiteral(self, e: ast.DecimalLiteral) -> SqlType:
        sign, digits, exp = e.value.as_tuple()
        scale = max(-int(exp), 0)
        precision = max(len(digits) + max(int(exp), 0), scale, 1)
        if e.value == 0:
            precision = max(scale, 1)
        return DecimalType(precision, scale)

    def _t_ColumnRef(self, e: ast.ColumnRef) -> SqlType:
        if e.source is None:
            for frame in reversed(self.lambda_vars):
                if e.name in frame:
                    return frame[e.name]
        return self.scope.resolve(e).type

    def _t_LambdaVariable(self, e: ast.LambdaVariable) -> SqlType:
        for frame in reversed(self.lambda_vars):
            if e.name in frame:
                return frame[e.name]
        raise KsqlError(f"Unknown lambda variable: {e.name}")

    def _t_Dereference(self, e: ast.Dereference) -> SqlType:
        bt = self.type_of(e.base)
        if not isinstance(bt, StructType):
            raise KsqlError(f"Can't dereference field '{e.field}' of non-struct expression "
                            f"{format_expr(e.base)} ({bt}).")
        f = bt.field(e.field)
        if f is None:
            raise KsqlError(f"Could not find field '{e.field}' in '{format_expr(e.base)}'.")
        return f.type

    def _t_Subscript(self, e: ast.Subscript) -> SqlType:
        bt = self.type_of(e.base)
        it = self.type_of(e.index)
        if isinstance(bt, ArrayType):
            if it.base not in ("INTEGER", "BIGINT") and not isinstance(it, NullType):
                raise KsqlError(f"Array index must be an INTEGER, but was {format_expr(e.index)} ({it}).")
            return bt.item
        if isinstance(bt, MapType):
            if not isinstance(it, NullType) and union_type(it, bt.key) is None:
                raise KsqlError(f"Map key {format_expr(e.index)} ({it}) does not match the map's key type "
                                f"{bt.key}.")
            return bt.value
        raise KsqlError(f"Subscript expression ({format_expr(e)}) must be on an ARRAY or MAP, "
                        f"but {format_expr(e.base)} is {bt}.")

    def _t_FunctionCall(self, e: ast.FunctionCall) -> SqlType:
        if self.registry.is_aggregate(e.name) or self.registry.is_table_function(e.name):
            kind = "Aggregate" if self.registry.is_aggregate(e.name) else "Table"
            raise KsqlError(f"{kind} function {format_expr(e)} is not supported in this context.")
        args: list[SqlType | LambdaArg] = []
        for a in e.args:
            if isinstance(a, ast.Lambda):
                if not current_options().lambdas:
                    raise KsqlError(f"Lambda {format_expr(a)} refused: lambdas are disabled on this server. To "
                                    "enable them, set 'ksql.lambdas.enabled'=true")
                args.append(LambdaArg(len(a.params), self._lambda_typer(a)))
            elif isinstance(a, ast.IntervalUnit):
                args.append(INTERVAL_UNIT)
            else:
                args.append(self.type_of(a))
        rf = self.registry.resolve_scalar(e.name, args)
        self._functions[id(e)] = rf
        self._keep.append(e)
        return rf.return_type

    def _lambda_typer(self, lam: ast.Lambda):
        def body_type(param_types: list[SqlType]) -> SqlType:
            self.lambda_vars.append(dict(zip(lam.params, param_types, strict=True)))
            try:
                return self._visit(lam.body)
            finally:
                self.lambda_vars.pop()
        return body_type

    def _t_Lambda(self, e: ast.Lambda) -> SqlType:
        raise KsqlError(f"Lambda {format_expr(e)} is only allowed as a function argument.")

    def _t_Arithmetic(self, e: ast.Arithmetic) -> SqlType:
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if isinstance(lt, NullType) or isinstance(rt, NullType):  # an untyped NULL operand, as ksqlDB refuses
            def shown(t):
                return "null" if isinstance(t, NullType) else str(t)
            raise KsqlError(f"Error processing expression: {format_expr(e)}. Arithmetic on types {shown(lt)} and "
                            f"{shown(rt)} are not supported.")
        t = arithmetic_type(e.op, lt, rt)
        if t is None:
            raise KsqlError(f"Error processing expression: {format_expr(e)}. Unsupported arithmetic types. "
                            f"{lt} {rt}")
        return t

    def _t_Negation(self, e: ast.Negation) -> SqlType:
        t = self.type_of(e.operand)
        if not t.is_numeric:
            raise KsqlError(f"Unsupported arithmetic types. Cannot negate {format_expr(e.operand)} ({t}).")
        return t

    def _t_Comparison(self, e: ast.Comparison) -> SqlType:
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if isinstance(lt, NullType) or isinstance(rt, NullType):
            if e.op in ("IS DISTINCT FROM", "IS NOT DISTINCT FROM"):
                return BOOLEAN
            raise KsqlError(f"Comparison with NULL not supported: {lt.base} {e.op} {rt.base}\n"
                            "Use 'IS NULL' or 'IS NOT NULL' instead.")
        if not comparable(e.op, lt, rt):
            raise KsqlError(f"Cannot compare {format_expr(e.left)} ({lt}) to {format_expr(e.right)} ({rt}) "
                            f"with {OP_NAMES.get(e.op, e.op)}.")
        return BOOLEAN

    def _boolean_operand(self, x: ast.Expr, what: str) -> None:
        t = self.type_of(x)
        if t != BOOLEAN and not isinstance(t, NullType):
            raise KsqlError(f"{what} expects BOOLEAN operands, but {format_expr(x)} is {t}.")

    def _t_And(self, e: ast.And) -> SqlType:
        self._boolean_operand(e.left, "AND")
        self._boolean_operand(e.right, "AND")
        return BOOLEAN

    def _t_Or(self, e: ast.Or) -> SqlType:
        self._boolean_operand(e.left, "OR")
        self._boolean_operand(e.right, "OR")
        return BOOLEAN

    def _t_Not(self, e: ast.Not) -> SqlType:
        self._boolean_operand(e.operand, "NOT")
        return BOOLEAN

    def _t_IsNull(self, e: ast.IsNull) -> SqlType:
        self.type_of(e.operand)
        return BOOLEAN

    def _t_Like(self, e: ast.Like) -> SqlType:
        for x in (e.value, e.pattern):
            t = self.type_of(x)
            if t != STRING and not isinstance(t, NullType):
                raise KsqlError(f"Cannot apply LIKE to {format_expr(x)} ({t}): LIKE requires STRING operands.")
        if e.escape is not None and len(e.escape) != 1:
            raise KsqlError(f"ESCAPE must be a single character, got '{e.escape}'.")
        return BOOLEAN

    def _t_Between(self, e: ast.Between) -> SqlType:
        vt = self.type_of(e.value)
        for b, op in ((e.low, ">="), (e.high, "<=")):
            bt = self.type_of(b)
            if isinstance(vt, NullType) or isinstance(bt, NullType):
                continue
            if not comparable(op, vt, bt):
                raise InvalidExpression(f"Cannot compare {format_expr(e.value)} ({vt}) to {format_expr(b)} ({bt}) "
                                        f"with {OP_NAMES[op]}.")
        return BOOLEAN

    def _t_InList(self, e: ast.InList) -> SqlType:
        """ksqlDB's InListEvaluator: the value and every item are converted to their common type (the
        widest of them, string literals parsed into it) and compared there, so none is narrowed."""
        operands = [e.value, *e.items]
        try:
            common = self._in_common_type(operands)
            for x in operands:
                if not _equal_unconverted(self.type_of(x), common):
                    self._coerce(x, common)
        except _Mismatch as m:
            target = m.target if m.target is not None else common
            raise KsqlError(f"Invalid Predicate: operator does not exist: {target} = {m.type} "
                            f"({format_expr(m.expr)})\nHint: You might need to add explicit type casts.") from None
        except KsqlError as err:
            raise KsqlError(f"Invalid Predicate: {err}.") from None
        self.in_types[id(e)] = common
        self._keep.append(e)
        return BOOLEAN

    def _in_common_type(self, operands: list[ast.Expr]) -> SqlType:
        """The type every operand of IN widens to, found as ksqlDB's CoercionUtil does: the first typed
        operand's type, widened by each following one; raises _Mismatch naming the type so far."""
        common: SqlType = NULL
        for x in operands:
            common = self.type_of(x) if isinstance(common, NullType) else self._widen_to_hold(common, x)
        return common

    def _widen_to_hold(self, common: SqlType, x: ast.Expr) -> SqlType:
        """`common` widened to hold `x` too: literals adapt to it (string literals widen a number type
        to hold their value), constructors are widened element by element."""
        if isinstance(x, ast.NullLiteral):
            return common
        if isinstance(x, ast.StringLiteral):
            if common == STRING:
                return common
            if common.is_numeric:
                lt = _numeric_text_type(x.value)
                if lt is None:
                    raise KsqlError(f'invalid input syntax for type {common.base}: "{x.value}"')
                return common_type([common, lt]) or common
            parse_literal(x.value, common)
            return common
        if common == STRING and isinstance(x, _LITERALS):
            return common
        try:
            if isinstance(x, ast.CreateArray) and isinstance(common, ArrayType):
                item = common.item
                for i in x.items:
                    item = self._widen_to_hold(item, i)
                return ArrayType(item)
            if isinstance(x, ast.CreateMap) and isinstance(common, MapType):
                key, value = common.key, common.value
                for k, v in x.entries:
                    key, value = self._widen_to_hold(key, k), self._widen_to_hold(value, v)
                return MapType(key, value)
            if isinstance(x, ast.CreateStruct) and isinstance(common, StructType):
                fields = {f.name: f.type for f in common.fields}
                for name, v in x.fields:
                    fields[name] = self._widen_to_hold(fields[name], v) if name in fields else self.type_of(v)
                return StructType(tuple(StructField(n, t) for n, t in fields.items()))
        except _Mismatch:
            raise _Mismatch(x, self.type_of(x), common) from None
        t = self.type_of(x)
        u = union_type(common, t)
        if u is None:
            raise _Mismatch(x, t, common)
        return u

    def _t_SearchedCase(self, e: ast.SearchedCase) -> SqlType:
        for w in e.whens:
            t = self.type_of(w.condition)
            if t != BOOLEAN and not isinstance(t, NullType):
                raise KsqlError(f"WHEN operand type should be boolean.\nType for '{format_expr(w.condition)}' "
                                f"is {t}")
        return self._case_result(e)

    def _t_SimpleCase(self, e: ast.SimpleCase) -> SqlType:
        ot = self.type_of(e.operand)
        for w in e.whens:
            t = self.type_of(w.condition)
            if not isinstance(t, NullType) and not isinstance(ot, NullType) and not comparable("=", ot, t):
                raise KsqlError(f"Operand of WHEN clause {format_expr(w.condition)} ({t}) does not match "
                                f"the CASE operand {format_expr(e.operand)} ({ot}).")
        return self._case_result(e)

    def _case_result(self, e: ast.SearchedCase | ast.SimpleCase) -> SqlType:
        results = [w.result for w in e.whens] + ([e.default] if e.default is not None else [])
        types = [self.type_of(r) for r in results]
        if all(isinstance(t, NullType) for t in types):
            raise KsqlError("Invalid Case expression. All case branches have NULL type")
        t = common_type(types)
        if t is None:
            first = next(x for x in types if not isinstance(x, NullType))
            bad = next((r, x) for r, x in zip(results, types, strict=True)
                       if not isinstance(x, NullType) and common_type([first, x]) is None)
            raise KsqlError(f"Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
                            f"THEN expression '{format_expr(bad[0])}' has type: {bad[1]}.")
        for r, x in zip(results, types, strict=True):
            if x != t and not isinstance(x, NullType):
                self.coerced[id(r)] = t
                self._keep.append(r)
        return t

    def _t_Cast(self, e: ast.Cast) -> SqlType:
        src = self.type_of(e.expr)
        if not castable(src, e.type):
            raise KsqlError(f"Cast of {src} to {e.type} is not supported")
        return e.type

    def _t_IntervalUnit(self, e: ast.IntervalUnit) -> SqlType:
        return INTERVAL_UNIT

    # --- constructors with ksqlDB's literal coercion ---------------------------------

    def _list_type(self, items: list[ast.Expr]) -> SqlType:
        """Element type of a constructor (ksqlDB's CoercionUtil): the union of the non-literal
        items; literals only decide when there are none; string literals are parsed into it."""
        t: SqlType = NULL
        for group in ([i for i in items if not isinstance(i, _LITERALS + (ast.StringLiteral,))],
                      [i for i in items if isinstance(i, _LITERALS)]):
            for i in group:
                it = self.type_of(i)
                u = union_type(t, it)
                if u is None:
                    return _Conflict(t, it, i)
                t = u
            if not isinstance(t, NullType):
                return self._widen_for_numeric_strings(t, items)
        if any(isinstance(i, ast.StringLiteral) for i in items):
            return STRING
        return t

    @staticmethod
    def _widen_for_numeric_strings(t: SqlType, items: list[ast.Expr]) -> SqlType:
        """String literals joining numbers widen the type to hold them: '2e1' among BIGINTs makes
        DECIMAL(19, 0), as ksqlDB's CoercionUtil (unparseable text is reported by the coercion)."""
        if not t.is_numeric:
            return t
        for i in items:
            lt = _numeric_text_type(i.value) if isinstance(i, ast.StringLiteral) else None
            if lt is not None:
                t = common_type([t, lt]) or t
        return t

    def _t_CreateArray(self, e: ast.CreateArray) -> SqlType:
        if not e.items:
            raise KsqlError("Array constructor cannot be empty. Please supply at least one element "
                            "(see https://github.com/confluentinc/ksql/issues/4239).")
        t = self._list_type(list(e.items))
        if isinstance(t, _Conflict):
            raise KsqlError(f"invalid input syntax for type {t.a}: {format_expr(t.expr)}")
        if isinstance(t, NullType):
            raise KsqlError("Cannot construct an array with all NULL elements "
                            "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, "
                            "you may cast a NULL value to the desired type.")
        for i in e.items:
            self._coerce_or_raise(i, t)
        return ArrayType(t)

    def _t_CreateMap(self, e: ast.CreateMap) -> SqlType:
        if not e.entries:
            raise KsqlError("Map constructor cannot be empty. Please supply at least one key value pair "
                            "(see https://github.com/confluentinc/ksql/issues/4239).")
        keys = [k for k, _ in e.entries]
        vals = [v for _, v in e.entries]
        kt, vt = self._list_type(keys), self._list_type(vals)
        for t in (kt, vt):
            if isinstance(t, _Conflict):
                raise KsqlError(f"invalid input syntax for type {t.a}: {format_expr(t.expr)}")
        if isinstance(kt, NullType):
            raise KsqlError("Cannot construct a map with all NULL keys")
        if isinstance(vt, NullType):
            raise KsqlError("Cannot construct a map with all NULL values")
        for k in keys:
            self._coerce_or_raise(k, kt, literal_to_string=True)
        for v in vals:
            self._coerce_or_raise(v, vt)
        return MapType(kt, vt)

    def _t_CreateStruct(self, e: ast.CreateStruct) -> SqlType:
        seen: set[str] = set()
        fields = []
        for name, v in e.fields:
            if name in seen:
                raise KsqlError(f"Duplicate field names found in STRUCT: '{name}'")
            seen.add(name)
            fields.append(StructField(name, self.type_of(v)))
        return StructType(tuple(fields))

    def _coerce_or_raise(self, item: ast.Expr, target: SqlType, literal_to_string: bool = False) -> None:
        try:
            self._coerce(item, target, literal_to_string)
        except _Mismatch as m:
            raise KsqlError(f"Cannot coerce {format_expr(m.expr)} ({m.type}) to {target}") from None

    def _coerce(self, item: ast.Expr, target: SqlType, literal_to_string: bool = True) -> None:
        """Check `item` can become a `target` value; record the conversion for the compiler."""
        if isinstance(item, ast.NullLiteral) or isinstance(target, NullType):
            return
        if isinstance(item, ast.StringLiteral):
            if target != STRING:
                self.literal_values[id(item)] = parse_literal(item.value, target)
                self.coerced[id(item)] = target
                self._keep.append(item)
            return
        if target == STRING and isinstance(item, _LITERALS):
            self.literal_values[id(item)] = format_expr(item)
            self.coerced[id(item)] = target
            self._keep.append(item)
            return
        if isinstance(item, ast.CreateArray) and isinstance(target, ArrayType):
            for i in item.items:
                self._coerce(i, target.item, literal_to_string)
            return
        if isinstance(item, ast.CreateMap) and isinstance(target, MapType):
            for k, v in item.entries:
                self._coerce(k, target.key, literal_to_string)
                self._coerce(v, target.value, literal_to_string)
            return
        if isinstance(item, ast.CreateStruct) and isinstance(target, StructType):
            names = {f.name for f in target.fields}
            for name, v in item.fields:
                f = target.field(name) if name in names else None
                if f is not None:
                    try:
                        self._coerce(v, f.type, literal_to_string)
                    except _Mismatch:
                        raise _Mismatch(item, self.type_of(item)) from None
            self.struct_targets[id(item)] = target
            self._keep.append(item)
            return
        it = self.type_of(item)
        if union_type(it, target) is None:
            raise _Mismatch(item, it)
        if it != target:
            self._mark(item, target)

    def _mark(self, item: ast.Expr, target: SqlType) -> None:
        self.coerced[id(item)] = target
        self._keep.append(item)


_EXACT_NUMBERS = ("INTEGER", "BIGINT", "DECIMAL")


def _equal_unconverted(source: SqlType, target: SqlType) -> bool:
    """Whether `source` values compare with `==` as they would once converted to `target`: ints and
    Decimals compare by value, so widening among INTEGER, BIGINT and DECIMAL (lossless into a
    common type) changes no outcome and is skipped; conversions to DOUBLE or STRING, and STRUCTs
    gaining fields, do change it."""
    if source == target or isinstance(source, NullType):
        return True
    if source.base in _EXACT_NUMBERS and target.base in _EXACT_NUMBERS:
        return True
    if isinstance(source, ArrayType) and isinstance(target, ArrayType):
        return _equal_unconverted(source.item, target.item)
    if isinstance(source, MapType) and isinstance(target, MapType):
        return _equal_unconverted(source.key, target.key) and _equal_unconverted(source.value, target.value)
    if isinstance(source, StructType) and isinstance(target, StructType):
        fields = {f.name: f.type for f in target.fields}
        return len(fields) == len(source.fields) and all(
            f.name in fields and _equal_unconverted(f.type, fields[f.name]) for f in source.fields)
    return False


class _Mismatch(Exception):
    """`expr`, of type `type`, cannot become a `target` value."""

    def __init__(self, expr: ast.Expr, t: SqlType, target: SqlType | None = None):
        self.expr, self.type, self.target = expr, t, target


class _Conflict(SqlType):
    """Marker: two constructor items have no common type."""

    def __init__(self, a: SqlType, b: SqlType, expr: ast.Expr):
        self.a, self.b, self.expr = a, b, expr
        self.base = "CONFLICT"


def castable(src: SqlType, dst: SqlType) -> bool:
    """ksqlDB's supported CASTs."""
    if isinstance(src, NullType) or src == dst or dst == STRING:
        return True
    if src.is_numeric and dst.is_numeric:
        return True
    if src == STRING:
        return dst.base in ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "DATE", "TIME", "TIMESTAMP",
                            "BYTES") and dst.base != "BYTES"
    if src.base == "TIMESTAMP":
        return dst.base in ("DATE", "TIME")
    if src.base == "DATE":
        return dst.base == "TIMESTAMP"
    if isinstance(src, ArrayType) and isinstance(dst, ArrayType):
        return castable(src.item, dst.item)
    if isinstance(src, MapType) and isinstance(dst, MapType):
        return castable(src.key, dst.key) and castable(src.value, dst.value)
    if isinstance(src, StructType) and isinstance(dst, StructType):
        for f in dst.fields:
            sf = src.field(f.name)
            if sf is not None and not castable(sf.type, f.type):
                return False
        return True
    return False
