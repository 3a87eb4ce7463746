"""Helpers the generated expression code calls: Java arithmetic, LIKE, subscripts, casts, conversions.

Each helper is small and null-aware where ksqlDB is null-safe; where ksqlDB's generated
Java would throw (e.g. a null operand of `+`), the helpers raise too, so the expression
fails and yields null with an error logged, as in ksqlDB.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ksql.errors import KsqlError
from ksql.functions import javalib as J
from ksql.types import (
    ArrayType,
    DecimalType,
    MapType,
    NullType,
    SqlType,
    StructType,
)

Conv = Callable[[Any], Any]


def not_null(v: Any) -> Any:
    """Unboxing a null Boolean in Java throws; AND/OR/NOT on a null operand fail the same way."""
    if v is None:
        raise KsqlError("Null value in boolean expression")
    return v


def string_concat(*parts: str | None) -> str:
    """A chain of Java string `+`s, `a + b + c ...`, in one call: null prints as "null"."""
    return "".join("null" if p is None else p for p in parts)


def array_index(arr: list | None, idx: int | None) -> Any:
    """ksqlDB arrays are 1-based, negative indexes count from the end; out of range is null."""
    if arr is None or idx is None:
        return None
    n = len(arr)
    if idx > 0:
        return arr[idx - 1] if idx <= n else None
    if idx < 0:
        return arr[n + idx] if -idx <= n else None
    return None


def map_get(m: dict | None, k: Any) -> Any:
    if m is None:
        return None
    return m.get(k)


def struct_get(s: dict | None, name: str) -> Any:
    if s is None:
        return None
    return s.get(name)


@lru_cache(maxsize=1024)
def like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    """SQL LIKE pattern (% any run, _ one char, optional escape char) as a whole-string regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def like(value: str | None, pattern: str | None, escape: str | None) -> bool:
    if value is None or pattern is None:
        return False
    return like_regex(pattern, escape).fullmatch(value) is not None


def decimal_op(op: str, scale: int) -> Callable[[Any, Any], Decimal]:
    """DECIMAL arithmetic at full precision, rounded HALF_UP to the result scale."""
    ctx = J.DEC_CTX
    q = Decimal(1).scaleb(-scale)
    fn = {"+": ctx.add, "-": ctx.subtract, "*": ctx.multiply, "/": ctx.divide, "%": ctx.remainder}[op]

    def run(a: Any, b: Any) -> Decimal:
        return fn(a, b).quantize(q, context=ctx)

    return run


def decimal_chain(steps: tuple[tuple[str, int], ...]) -> Callable[..., Decimal]:
    """A left-deep chain `a + b - c ...` of DECIMAL arithmetic in one call: step i applies
    steps[i] = (operator, result scale) to the result so far and operand i + 1, exactly as nested
    decimal_op calls would."""
    ops = [decimal_op(op, scale) for op, scale in steps]

    def run(first: Any, *rest: Any) -> Decimal:
        value = first
        for op, operand in zip(ops, rest, strict=True):
            value = op(value, operand)
        return value

    return run


# --- conversions between types (implicit coercion and CAST) ----------------------------------


def _nullsafe(f: Conv) -> Conv:
    def g(v: Any) -> Any:
        return None if v is None else f(v)
    return g


def _identity(v: Any) -> Any:
    return v


def _to_string_fn(src: SqlType) -> Conv:
    b = src.base
    if b in ("INTEGER", "BIGINT"):
        return str
    if b == "DOUBLE":
        return J.java_double_str
    if b == "DECIMAL":
        return J.decimal_plain
    if b == "BOOLEAN":
        return lambda v: "true" if v else "false"
    if b == "STRING":
        return _identity
    if b == "DATE":
        return J.format_date
    if b == "TIME":
        return J.format_time
    if b == "TIMESTAMP":
        return J.format_timestamp
    if b == "BYTES":
        import base64
        return lambda v: base64.b64encode(v).decode("ascii")
    if isinstance(src, StructType):
        return J.struct_str
    return J.java_str


def converter(src: SqlType, dst: SqlType, cast: bool = False) -> Conv:
    """A function turning a `src` value into a `dst` value (null stays null).

    With cast=True it implements CAST's conversions; otherwise only the implicit ones
    (numeric widening, struct/array/map element coercion) are expected.
    """
    if src == dst or isinstance(src, NullType):
        return _identity
    s, d = src.base, dst.base
    if d == "STRING":
        return _nullsafe(_to_string_fn(src))
    if isinstance(dst, DecimalType):
        p, sc = dst.precision, dst.scale
        if s == "STRING":
            def from_str(v: str) -> Decimal:
                try:
                    return J.to_decimal(Decimal(v.strip()), p, sc)
                except ArithmeticError:
                    raise
                except Exception as e:
                    raise KsqlError(f"Cannot cast '{v}' to DECIMAL({p}, {sc})") from e
            return _nullsafe(from_str)
        return _nullsafe(lambda v: J.to_decimal(v, p, sc))
    if d == "DOUBLE":
        if s == "STRING":
            return _nullsafe(J.parse_double)
        return _nullsafe(float)
    if d in ("INTEGER", "BIGINT"):
        lo, hi = (J.INT_MIN, J.INT_MAX) if d == "INTEGER" else (J.LONG_MIN, J.LONG_MAX)
        wrap = J.wrap32 if d == "INTEGER" else J.wrap64
        if s == "STRING":
            return _nullsafe(lambda v: J.parse_int(v, lo, hi, d))
        if s == "DOUBLE":
            if d == "INTEGER":
                return _nullsafe(lambda v: J.double_to_long(v, J.INT_MIN, J.INT_MAX))
            return _nullsafe(J.double_to_long)
        if s == "DECIMAL":
            return _nullsafe(lambda v: wrap(int(v)))
        if s in ("INTEGER", "BIGINT"):
            return _identity if d == "BIGINT" else _nullsafe(wrap)
    if d == "BOOLEAN" and s == "STRING":
        return _nullsafe(J.parse_boolean_lenient)
    if d == "TIMESTAMP":
        if s == "STRING":
            return _nullsafe(J.parse_timestamp)
        if s == "DATE":
            return _nullsafe(lambda v: v * J.MS_PER_DAY)
    if d == "DATE":
        if s == "STRING":
            return _nullsafe(J.parse_date)
        if s == "TIMESTAMP":
            return _nullsafe(lambda v: v // J.MS_PER_DAY)
    if d == "TIME":
        if s == "STRING":
            return _nullsafe(J.parse_time)
        if s == "TIMESTAMP":
            return _nullsafe(lambda v: v % J.MS_PER_DAY)
    if isinstance(src, ArrayType) and isinstance(dst, ArrayType):
        item = converter(src.item, dst.item, cast)
        if item is _identity:
            return _identity
        return _nullsafe(lambda v: [item(x) for x in v])
    if isinstance(src, MapType) and isinstance(dst, MapType):
        kc, vc = converter(src.key, dst.key, cast), converter(src.value, dst.value, cast)
        if kc is _identity and vc is _identity:
            return _identity
        return _nullsafe(lambda v: {kc(k): vc(x) for k, x in v.items()})
    if isinstance(src, StructType) and isinstance(dst, StructType):
        plan: list[tuple[str, str | None, Conv]] = []
        source_fields = {f.name: f for f in src.fields}  # by exact name, as ksqlDB's SqlStruct.field
        for f in dst.fields:
            sf = source_fields.get(f.name)
            plan.append((f.name, sf.name if sf else None, converter(sf.type, f.type, cast) if sf else _identity))

        def conv_struct(v: dict) -> dict:
            return {n: (c(v.get(sn)) if sn is not None else None) for n, sn, c in plan}
        return _nullsafe(conv_struct)
    if s == d:
        return _identity
    raise KsqlError(f"Cast of {src} to {dst} is not supported")


def call_safely(report: Callable[[str], None], name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Invoke a function; a failure is logged and the call yields null (ksqlDB's UDF invoker)."""
    try:
        return fn(*args)
    except Exception as e:
        report(f"Error invoking function {name}: {e}")
        return None


def nested_or_null(report: Callable[[str], None], what: str, element: Callable[[], Any]) -> Any:
    """An element of an ARRAY, MAP or STRUCT constructor; a failure is logged and only the element is
    null (ksql.nested.error.set.null=true)."""
    try:
        return element()
    except Exception as e:
        report(f"Error processing {what}: {e}")
        return None


HELPERS: dict[str, Any] = {
    "_nn": not_null,
    "_sconcat": string_concat,
    "_aidx": array_index,
    "_mget": map_get,
    "_sget": struct_get,
    "_like": like,
    "_idiv": J.java_idiv,
    "_imod": J.java_imod,
    "_ddiv": J.java_ddiv,
    "_dmod": J.java_dmod,
    "_w32": J.wrap32,
    "_w64": J.wrap64,
    "_f2d": J.float_to_decimal,
    "_safe": call_safely,
    "_nested": nested_or_null,
    "_Decimal": Decimal,
}
