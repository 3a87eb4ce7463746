"""Built-in aggregate functions (ksqlDB's UDAFs): resolution by argument types, and their accumulators.

An aggregate is a `AggregateSpec`: an initial accumulator, `add` (fold one row in),
`undo` (take one row out, for aggregations over tables; None when the function
cannot be applied to a table), `merge` (two accumulators, for session windows),
`result` (the value an output row carries) and `valid` (whether a value has the
accumulator's shape). Accumulators are plain values (numbers, lists, dicts, sets of
SQL values) because state stores write them to a changelog topic
(ksql.engine.state_codec); `valid` vets what a restore read back before `add` may
meet it. `add`/`undo`/`merge` may mutate the accumulator in place and return it. Arguments arrive already evaluated; literal parameters (TOPK's k,
LATEST_BY_OFFSET's n) are bound at resolution.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import DEC_CTX, wrap32, wrap64
from ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    SqlType,
    StructField,
    StructType,
    hashable,
)

AGGREGATE_NAMES = (
    "COUNT", "SUM", "AVG", "MIN", "MAX", "COUNT_DISTINCT", "COLLECT_LIST", "COLLECT_SET", "TOPK",
    "TOPKDISTINCT", "HISTOGRAM", "EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET", "STDDEV_SAMP", "STDDEV_POP",
    "STDDEV_SAMPLE", "CORRELATION", "ATTR", "SUM_LIST",
)


class AggregateOverflow(KsqlError):
    """A DECIMAL sum that no longer fits its type: ksqlDB stops the query with this error."""


@dataclass(frozen=True)
class AggregateSpec:
    name: str
    return_type: SqlType
    init: Callable[[], Any]
    add: Callable[..., Any]  # (acc, *args) -> acc
    result: Callable[[Any], Any]
    undo: Callable[..., Any] | None = None  # (acc, *args) -> acc
    merge: Callable[[Any, Any], Any] | None = None
    valid: Callable[[Any], bool] = lambda acc: False  # noqa: E731 - each aggregate says what it keeps
    arg_count: int = 1  # how many evaluated (non-literal) arguments add/undo take
    # the intermediate state is a struct/array/map although the result is not (AVG's sum and count)
    complex_intermediate: bool = False

    @property
    def intermediate_is_complex(self) -> bool:
        """Whether ksqlDB's state for this aggregate is a STRUCT, ARRAY or MAP (which KAFKA and DELIMITED
        values cannot carry): the result's type when that is complex, else as `complex_intermediate` says."""
        return self.complex_intermediate or isinstance(self.return_type, ArrayType | MapType | StructType)


_ORDERED = (INTEGER, BIGINT, DOUBLE, STRING, BYTES, DATE, TIME, TIMESTAMP)


def _numeric(t: SqlType) -> bool:
    return t in (INTEGER, BIGINT, DOUBLE) or isinstance(t, DecimalType)


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return type(v) in (int, float, Decimal)


def _is_scalar(v: Any) -> bool:
    """A value MIN/MAX can hold: a primitive SQL value or null."""
    return v is None or type(v) in (int, float, Decimal, str, bytes, bool)


def _is_list(v: Any) -> bool:
    return type(v) is list


def _numbers(first: Callable[[Any], bool], n: int) -> Callable[[Any], bool]:
    """A list of n numbers whose first passes `first` (statistics accumulators: [count, sums...])."""
    return lambda acc: type(acc) is list and len(acc) == n and first(acc[0]) and all(map(_is_number, acc[1:]))


def _literal_int(value: Any, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KsqlError(f"Function '{name}' expects an INTEGER literal for {what}, got: {value}")
    return value


# --- COUNT -------------------------------------------------------------------------------------

def _count(arg_types: Sequence[SqlType]) -> AggregateSpec:
    if not arg_types:  # COUNT(*) / COUNT()
        return AggregateSpec("COUNT", BIGINT, lambda: 0, lambda acc: acc + 1, lambda acc: acc,
                             undo=lambda acc: acc - 1, merge=lambda a, b: a + b, valid=_is_int, arg_count=0)
    return AggregateSpec(
        "COUNT", BIGINT, lambda: 0, lambda acc, v: acc if v is None else acc + 1, lambda acc: acc,
        undo=lambda acc, v: acc if v is None else acc - 1, merge=lambda a, b: a + b, valid=_is_int)


# --- SUM / AVG ---------------------------------------------------------------------------------

def _sum(t: SqlType) -> AggregateSpec:
    if t == INTEGER:
        def fix(v): return wrap32(v)
    elif t == BIGINT:
        def fix(v): return wrap64(v)
    elif isinstance(t, DecimalType):
        limit = Decimal(10) ** (t.precision - t.scale)
        neg_limit = -limit

        def fix(v):
            if v >= limit or v <= neg_limit:
                raise AggregateOverflow("Numeric field overflow")
            return v
    elif t == DOUBLE:
        def fix(v): return v
    else:
        raise KsqlError(f"Function 'SUM' does not accept parameters ({t}).")
    zero: Any = 0.0 if t == DOUBLE else Decimal(0).scaleb(-t.scale) if isinstance(t, DecimalType) else 0
    add, subtract = (DEC_CTX.add, DEC_CTX.subtract) if isinstance(t, DecimalType) else (operator.add, operator.sub)
    return AggregateSpec(
        "SUM", t, lambda: zero,
        lambda acc, v: acc if v is None else fix(add(acc, v)), lambda acc: acc,
        undo=lambda acc, v: acc if v is None else fix(subtract(acc, v)), merge=lambda a, b: fix(add(a, b)),
        valid=_is_number)


def _avg(t: SqlType) -> AggregateSpec:
    if not _numeric(t):
        raise KsqlError(f"Function 'AVG' does not accept parameters ({t}).")
    long_sum = t in (INTEGER, BIGINT)
    plus, minus = (DEC_CTX.add, DEC_CTX.subtract) if isinstance(t, DecimalType) else (operator.add, operator.sub)

    def add(acc, v):
        if v is not None:
            acc[0] = wrap64(acc[0] + v) if long_sum else plus(acc[0], v)
            acc[1] += 1
        return acc

    def undo(acc, v):
        if v is not None:
            acc[0] = wrap64(acc[0] - v) if long_sum else minus(acc[0], v)
            acc[1] -= 1
        return acc

    def result(acc):
        return None if acc[1] == 0 else float(acc[0]) / acc[1]

    def merge(a, b):
        return [plus(a[0], b[0]), a[1] + b[1]]

    zero = Decimal(0) if isinstance(t, DecimalType) else (0 if long_sum else 0.0)
    return AggregateSpec("AVG", DOUBLE, lambda: [zero, 0], add, result, undo=undo, merge=merge,
                         valid=lambda acc: type(acc) is list and len(acc) == 2 and _is_number(acc[0])
                         and _is_int(acc[1]), complex_intermediate=True)


# --- MIN / MAX ---------------------------------------------------------------------------------

def _extreme(name: str, t: SqlType) -> AggregateSpec:
    better = (lambda a, b: b < a) if name == "MIN" else (lambda a, b: b > a)

    def add(acc, v):
        if v is None:
            return acc
        return v if acc is None or better(acc, v) else acc

    def merge(a, b):
        return add(a, b)

    return AggregateSpec(name, t, lambda: None, add, lambda acc: acc, merge=merge, valid=_is_scalar)


def _sum_list(t: SqlType) -> AggregateSpec:
    """SUM_LIST(array): the sum of every element of every array of the group (nulls skipped)."""
    item = t.item if isinstance(t, ArrayType) else None
    fixes: dict[SqlType, Callable[[Any], Any]] = {INTEGER: wrap32, BIGINT: wrap64, DOUBLE: lambda v: v}
    if item not in fixes:
        raise KsqlError(f"Function 'SUM_LIST' does not accept parameters ({t}).")
    fix = fixes[item]

    def total(values):
        return sum(v for v in values if v is not None) if values else 0

    zero: Any = 0.0 if item == DOUBLE else 0
    return AggregateSpec(
        "SUM_LIST", item, lambda: zero, lambda acc, values: fix(acc + total(values)), lambda acc: acc,
        undo=lambda acc, values: fix(acc - total(values)), merge=lambda a, b: fix(a + b), valid=_is_number)


# --- collections -------------------------------------------------------------------------------

def _collect_list(t: SqlType, limit: int) -> AggregateSpec:
    def add(acc, v):
        if len(acc) < limit:
            acc.append(v)
        return acc

    def undo(acc, v):
        if v in acc:
            acc.remove(v)
        return acc

    def merge(a, b):
        return (a + b)[:limit]

    return AggregateSpec("COLLECT_LIST", ArrayType(t), list, add, list, undo=undo, merge=merge, valid=_is_list)


def _collect_set(t: SqlType, limit: int) -> AggregateSpec:
    def add(acc, v):
        if v not in acc and len(acc) < limit:
            acc.append(v)
        return acc

    def undo(acc, v):
        if v in acc:
            acc.remove(v)
        return acc

    def merge(a, b):
        for v in b:
            add(a, v)
        return a

    return AggregateSpec("COLLECT_SET", ArrayType(t), list, add, list, undo=undo, merge=merge, valid=_is_list)


def _attr(t: SqlType) -> AggregateSpec:
    """ATTR(col): the value when every value of the group is the same one, else null.

    The accumulator counts each distinct value ([value, count] pairs, so STRUCT, ARRAY
    and MAP values count too), which lets an aggregation over a table take rows out.
    """
    def find(acc, v):
        return next((entry for entry in acc if entry[0] == v), None)

    def add(acc, v, n=1):
        entry = find(acc, v)
        if entry is None:
            acc.append([v, n])
        else:
            entry[1] += n
        return acc

    def undo(acc, v):
        entry = find(acc, v)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                acc.remove(entry)
        return acc

    def merge(a, b):
        for v, n in b:
            add(a, v, n)
        return a

    def valid(acc):
        return _is_list(acc) and all(_is_list(entry) and len(entry) == 2 and _is_int(entry[1]) for entry in acc)

    return AggregateSpec("ATTR", t, list, add, lambda acc: acc[0][0] if len(acc) == 1 else None, undo=undo,
                         merge=merge, valid=valid, complex_intermediate=True)


def _count_distinct(t: SqlType) -> AggregateSpec:
    def add(acc, v):
        if v is not None:
            acc.add(hashable(v))
        return acc

    def merge(a, b):
        return a | b

    return AggregateSpec("COUNT_DISTINCT", BIGINT, set, add, len, merge=merge,
                         valid=lambda acc: type(acc) is set, complex_intermediate=True)  # ksqlDB: a list


def _histogram(t: SqlType, limit: int) -> AggregateSpec:
    if t != STRING:
        raise KsqlError(f"Function 'HISTOGRAM' does not accept parameters ({t}).")

    def add(acc, v):
        if v is not None and (v in acc or len(acc) < limit):
            acc[v] = acc.get(v, 0) + 1
        return acc

    def undo(acc, v):
        if v in acc:
            acc[v] -= 1
            if acc[v] <= 0:
                del acc[v]
        return acc

    def merge(a, b):
        for k, n in b.items():
            a[k] = a.get(k, 0) + n
        return a

    def valid(acc):
        return type(acc) is dict and all(type(k) is str and _is_int(n) for k, n in acc.items())

    return AggregateSpec("HISTOGRAM", MapType(STRING, BIGINT), dict, add, dict, undo=undo, merge=merge,
                         valid=valid)


def _topk(name: str, types: Sequence[SqlType], k: int) -> AggregateSpec:
    """TOPK(col, k) / TOPKDISTINCT(col, k); TOPK(sort_col, other_cols..., k) returns structs."""
    t = types[0]
    if not (t in _ORDERED or isinstance(t, DecimalType)):
        raise KsqlError(f"Function '{name}' does not accept parameters ({t}, INTEGER).")
    distinct = name == "TOPKDISTINCT"
    if len(types) == 1:
        def add(acc, v):
            if v is None or (distinct and v in acc):
                return acc
            acc.append(v)
            acc.sort(reverse=True)
            del acc[k:]
            return acc

        def merge(a, b):
            for v in b:
                add(a, v)
            return a

        return AggregateSpec(name, ArrayType(t), list, add, list, merge=merge,
                             valid=lambda acc: _is_list(acc) and all(map(_is_scalar, acc)))
    fields = (StructField("sort_col", t),) + tuple(StructField(f"col{i}", ct) for i, ct in enumerate(types[1:]))

    def add_struct(acc, v, *others):
        if v is None:
            return acc
        acc.append([v, *others])
        acc.sort(key=lambda entry: entry[0], reverse=True)
        del acc[k:]
        return acc

    def merge_struct(a, b):
        for entry in b:
            add_struct(a, *entry)
        return a

    def result(acc):
        return [dict(zip((f.name for f in fields), entry, strict=True)) for entry in acc]

    def valid_struct(acc):
        return _is_list(acc) and all(_is_list(entry) and len(entry) == len(fields) and _is_scalar(entry[0])
                                     for entry in acc)

    return AggregateSpec(name, ArrayType(StructType(fields)), list, add_struct, result, merge=merge_struct,
                         valid=valid_struct, arg_count=len(types))


# --- by offset ---------------------------------------------------------------------------------

def _by_offset(name: str, t: SqlType, n: int | None, ignore_nulls: bool) -> AggregateSpec:
    latest = name == "LATEST_BY_OFFSET"
    if n is None:
        def add(acc, v):
            if v is None and ignore_nulls:
                return acc
            if latest or not acc[1]:
                return [v, True]
            return acc
        return AggregateSpec(name, t, lambda: [None, False], add, lambda acc: acc[0],
                             merge=lambda a, b: (b if b[1] else a) if latest else (a if a[1] else b),
                             valid=lambda acc: _is_list(acc) and len(acc) == 2 and type(acc[1]) is bool,
                             complex_intermediate=True)  # ksqlDB: STRUCT<SEQ, VAL>

    def add_n(acc, v):
        if v is None and ignore_nulls:
            return acc
        if latest:
            acc.append(v)
            del acc[:-n]
        elif len(acc) < n:
            acc.append(v)
        return acc

    def merge_n(a, b):
        return (a + b)[-n:] if latest else (a + b)[:n]

    return AggregateSpec(name, ArrayType(t), list, add_n, list, merge=merge_n, valid=_is_list)


# --- statistics --------------------------------------------------------------------------------

def _stddev(name: str, t: SqlType) -> AggregateSpec:
    """ksqlDB's STDDEV_SAMP returns the sample variance; STDDEV_SAMPLE its square root."""
    if not _numeric(t):
        raise KsqlError(f"Function '{name}' does not accept parameters ({t}).")

    def add(acc, v):  # acc = [count, sum, m2], m2 updated as ksqlDB does (same rounding)
        if v is not None:
            v = float(v)
            count, total, m2 = acc
            n, new_total = count + 1, total + v
            if count > 0:
                m2 += (n * v - new_total) * (n * v - new_total) / (n * count)
            acc[0], acc[1], acc[2] = n, new_total, m2
        return acc

    def undo(acc, v):
        if v is not None:
            v = float(v)
            n, total, m2 = acc
            if n > 1:
                m2 -= (n * v - total) * (n * v - total) / (n * (n - 1))
            else:
                m2 = 0.0
            acc[0], acc[1], acc[2] = n - 1, total - v, m2
        return acc

    def variance(acc, population: bool):
        n = acc[0]
        if n == 0:
            return None
        if population:
            return acc[2] / n
        return 0.0 if n < 2 else acc[2] / (n - 1)

    def merge(a, b):
        if a[0] == 0:
            return list(b)
        if b[0] == 0:
            return a
        n = a[0] + b[0]
        delta = b[1] / b[0] - a[1] / a[0]
        return [n, a[1] + b[1], a[2] + b[2] + delta * delta * a[0] * b[0] / n]

    if name == "STDDEV_SAMP":
        result = lambda acc: variance(acc, False)  # noqa: E731
    elif name == "STDDEV_SAMPLE":
        def result(acc):
            var = variance(acc, False)
            return None if var is None else math.sqrt(max(var, 0.0))
    else:
        def result(acc):
            var = variance(acc, True)
            return None if var is None else math.sqrt(max(var, 0.0))
    return AggregateSpec(name, DOUBLE, lambda: [0, 0.0, 0.0], add, result, undo=undo, merge=merge,
                         valid=_numbers(_is_int, 3), complex_intermediate=True)


def _correlation(tx: SqlType, ty: SqlType) -> AggregateSpec:
    if not (_numeric(tx) and _numeric(ty)):
        raise KsqlError(f"Function 'CORRELATION' does not accept parameters ({tx}, {ty}).")

    def add(acc, x, y):
        if x is not None and y is not None:
            x, y = float(x), float(y)
            acc[0] += 1
            acc[1] += x
            acc[2] += y
            acc[3] += x * x
            acc[4] += y * y
            acc[5] += x * y
        return acc

    def undo(acc, x, y):
        if x is not None and y is not None:
            x, y = float(x), float(y)
            acc[0] -= 1
            acc[1] -= x
            acc[2] -= y
            acc[3] -= x * x
            acc[4] -= y * y
            acc[5] -= x * y
        return acc

    def result(acc):  # ksqlDB's formula and operation order, Java's division by zero
        n, sx, sy, sxx, syy, sxy = acc
        if n == 0:
            return None
        numerator = n * sxy - sx * sy
        # one square root of the product, not a product of roots: the last bit differs otherwise
        denominator = math.sqrt(max(n * sxx - sx * sx, 0.0) * max(n * syy - sy * sy, 0.0))
        if denominator == 0.0:
            return float("nan") if numerator == 0.0 else math.copysign(math.inf, numerator)
        return numerator / denominator

    def merge(a, b):
        return [p + q for p, q in zip(a, b, strict=True)]

    return AggregateSpec("CORRELATION", DOUBLE, lambda: [0, 0.0, 0.0, 0.0, 0.0, 0.0], add, result,
                         undo=undo, merge=merge, valid=_numbers(_is_int, 6), arg_count=2,
                         complex_intermediate=True)


# --- resolution --------------------------------------------------------------------------------

def is_builtin_aggregate(name: str) -> bool:
    return name.upper() in AGGREGATE_NAMES


def builtin_column_count(name: str, n_args: int) -> int:
    """How many of a built-in aggregate call's arguments are columns (the rest are literal parameters)."""
    name = name.upper()
    if name == "COUNT":
        return n_args
    if name == "CORRELATION":
        return 2
    if name in ("TOPK", "TOPKDISTINCT"):
        return max(1, n_args - 1)
    return min(1, n_args)


def resolve_aggregate(name: str, arg_types: Sequence[SqlType], literals: Sequence[Any],
                      config: dict[str, Any] | None = None) -> AggregateSpec:
    """The aggregate `name` for column arguments of `arg_types` and trailing literal parameters.

    `literals` holds the values of the literal arguments that follow the columns
    (TOPK's k, *_BY_OFFSET's n and ignoreNulls).
    """
    config = config or {}
    name = name.upper()
    shown = ", ".join(str(t) for t in list(arg_types) + [_literal_type(v) for v in literals])

    def refuse() -> KsqlError:
        return KsqlError(f"Function '{name}' does not accept parameters ({shown}).")

    if name == "COUNT":
        if len(arg_types) > 1 or literals:
            raise refuse()
        return _count(arg_types)
    if name == "CORRELATION":
        if len(arg_types) != 2 or literals:
            raise refuse()
        return _correlation(arg_types[0], arg_types[1])
    if len(arg_types) != 1 and not (name == "TOPK" and arg_types):
        raise refuse()
    t = arg_types[0]
    if name in ("SUM", "AVG", "MIN", "MAX", "COUNT_DISTINCT", "COLLECT_LIST", "COLLECT_SET", "HISTOGRAM",
                "STDDEV_SAMP", "STDDEV_POP", "STDDEV_SAMPLE", "ATTR", "SUM_LIST") and literals:
        raise refuse()
    if name == "SUM":
        return _sum(t)
    if name == "AVG":
        return _avg(t)
    if name == "SUM_LIST":
        return _sum_list(t)
    if name == "ATTR":
        return _attr(t)
    if name in ("MIN", "MAX"):
        if not (t in _ORDERED or isinstance(t, DecimalType)) or t == BOOLEAN:
            raise refuse()
        return _extreme(name, t)
    if name == "COUNT_DISTINCT":
        return _count_distinct(t)
    if name == "COLLECT_LIST":
        return _collect_list(t, _limit(config, "collect_list"))
    if name == "COLLECT_SET":
        return _collect_set(t, _limit(config, "collect_set"))
    if name == "HISTOGRAM":
        return _histogram(t, 1000)
    if name in ("TOPK", "TOPKDISTINCT"):
        if len(literals) != 1:
            raise refuse()
        return _topk(name, arg_types, _literal_int(literals[0], name, "k"))
    if name in ("EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET"):
        n: int | None = None
        ignore_nulls = True
        rest = list(literals)
        if rest and not isinstance(rest[0], bool):
            n = _literal_int(rest.pop(0), name, "the number of values")
            if n < 1:
                raise KsqlError(f"{name} must be called with a positive integer, got: {n}")
        if rest:
            if not isinstance(rest[0], bool):
                raise refuse()
            ignore_nulls = rest.pop(0)
        if rest:
            raise refuse()
        return _by_offset(name, t, n, ignore_nulls)
    if name in ("STDDEV_SAMP", "STDDEV_SAMPLE", "STDDEV_POP"):
        return _stddev(name, t)
    raise KsqlError(f"Can't find any functions with the name '{name}'")


def _literal_type(v: Any) -> str:
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, int):
        return "INTEGER"
    if isinstance(v, float):
        return "DOUBLE"
    return "STRING"


def _limit(config: dict[str, Any], fn: str) -> int:
    value = config.get(f"ksql.functions.{fn}.limit", 1000)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise KsqlError(f"ksql.functions.{fn}.limit must be an integer, got: {value}") from None



# --- user-defined aggregates -------------------------------------------------------------------

class UserAggregateError(KsqlError):
    """A user-defined aggregate raised: a processing error for the record, not the query's end."""


def user_aggregate_spec(name: str, factory: Callable[[], Any], arg_count: int, return_type: SqlType,
                        intermediate: SqlType) -> AggregateSpec:
    """An AggregateSpec running a user's aggregate object (see registry.aggregate).

    Its methods follow ksqlDB's Udaf/TableUdaf: initialize(), aggregate(current, agg),
    merge(agg1, agg2), map(agg) and optional undo(current, agg), where `current` is the
    argument's value (a tuple of them for several arguments). Their exceptions become
    UserAggregateError, and so does a state that is not of type `intermediate` (the changelog
    could not give it back as it was): a restore checks what it reads against that type too.
    """
    udaf = factory()

    def call(method: str, *args: Any) -> Any:
        try:
            return getattr(udaf, method)(*args)
        except Exception as err:
            raise UserAggregateError(f"Function '{name}' failed in {method}: {err}") from err

    def state(method: str, *args: Any) -> Any:
        acc = call(method, *args)
        if not conforms(acc, intermediate):
            raise UserAggregateError(f"Function '{name}' returned from {method} a state that is not "
                                     f"{intermediate}: {str(acc)[:100]}")
        return acc

    def current(values: tuple) -> Any:
        return values[0] if arg_count == 1 else tuple(values)

    def add(acc, *values):
        return state("aggregate", current(values), acc)

    def undo(acc, *values):
        return state("undo", current(values), acc)

    return AggregateSpec(
        name, return_type, lambda: state("initialize"), add, lambda acc: call("map", acc),
        undo=undo if callable(getattr(udaf, "undo", None)) else None,
        merge=lambda a, b: state("merge", a, b), valid=lambda acc: conforms(acc, intermediate),
        arg_count=arg_count, complex_intermediate=isinstance(intermediate, (ArrayType, MapType, StructType)))


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "BOOLEAN": (bool,), "INTEGER": (int,), "BIGINT": (int,), "DOUBLE": (float, int), "STRING": (str,),
    "BYTES": (bytes,), "DATE": (int,), "TIME": (int,), "TIMESTAMP": (int,), "DECIMAL": (Decimal,),
}


def conforms(value: Any, t: SqlType) -> bool:
    """Whether `value` is a value of SQL type `t` (null is of every type): vets restored state."""
    if value is None:
        return True
    if isinstance(t, ArrayType):
        return type(value) is list and all(conforms(v, t.item) for v in value)
    if isinstance(t, MapType):
        return type(value) is dict and all(conforms(k, t.key) and conforms(v, t.value) for k, v in value.items())
    if isinstance(t, StructType):
        types = {f.name: f.type for f in t.fields}
        return type(value) is dict and all(k in types and conforms(v, types[k]) for k, v in value.items())
    return type(value) in _PYTHON_TYPES.get(t.base, ())
