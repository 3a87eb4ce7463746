"""Array and map functions, including the lambda-taking FILTER, TRANSFORM and REDUCE.

Java semantics that show in results: set operations keep first-seen order
(LinkedHashSet) and compare with equals (NaN equals NaN, -0.0 differs from 0.0, maps
ignore order); sorting and min/max use compareTo (java_order_key); collecting a map
(TRANSFORM and FILTER of a map) fails on a duplicate key or a null value, as
Collectors.toMap does; a lambda predicate yielding null fails like Java's unboxing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import java_double_str, java_idiv, java_order_key, wrap32, wrap64
from ksql.functions.registry import Generic, K, LambdaType, S, T, U, V, scalar
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    MapType,
    SqlType,
    StructField,
    StructType,
)

_ARRAY = "ARRAY"
_MAP = "MAP"
_LAMBDA = "LAMBDA"
_K2, _V2 = Generic("K2"), Generic("V2")
_ARR_T = ArrayType(T)
_MAP_T = MapType(STRING, T)


# --- Java equality -------------------------------------------------------------------------------


def _jkey(v: Any) -> Any:
    """A hashable key equal for values Java's equals() finds equal."""
    if isinstance(v, float):
        if v != v:
            return ("NaN",)
        return ("f", v, str(v)[0] == "-")
    if isinstance(v, list):
        return ("l", tuple(_jkey(x) for x in v))
    if isinstance(v, dict):
        return ("m", frozenset((k if _hashable(k) else _jkey(k), _jkey(x)) for k, x in v.items()))
    return v


def _hashable(v: Any) -> bool:
    return isinstance(v, (str, int, bool, bytes, Decimal)) or v is None


def _distinct(values: list) -> list:
    """LinkedHashSet order: the first occurrence of every distinct value."""
    seen: set = set()
    out = []
    for v in values:
        k = _jkey(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


# --- arrays --------------------------------------------------------------------------------------

@scalar("array_length", [_ARR_T], INTEGER, category=_ARRAY, param_names=("array",),
        description="Returns the number of elements in an array. If the supplied parameter is NULL the method "
                    "returns NULL.")
def array_length(a):
    return len(a)


def _extreme(a: list, pick: Callable) -> Any:
    present = [x for x in a if x is not None]
    return pick(present, key=java_order_key) if present else None


@scalar("array_max", [_ARR_T], T, category=_ARRAY, param_names=("array",),
        description="Return the maximum value from within an array of primitive values, according to their "
                    "natural sort order. If the array is NULL or empty, or holds only NULLs, the result is NULL.")
def array_max(a):
    return _extreme(a, max)


@scalar("array_min", [_ARR_T], T, category=_ARRAY, param_names=("array",),
        description="Return the minimum value from within an array of primitive values, according to their "
                    "natural sort order. If the array is NULL or empty, or holds only NULLs, the result is NULL.")
def array_min(a):
    return _extreme(a, min)


_ASC = ("ASC", "ASCENDING")
_DESC = ("DESC", "DESCENDING")


@scalar("array_sort", [_ARR_T, STRING], _ARR_T, category=_ARRAY, param_names=("input", "direction"),
        description="Sorts an array of primitive values, according to their natural sort order. Any NULLs in "
                    "the array will be placed at the end. The direction, ASC (the default) or DESC.")
def array_sort_direction(a, direction):
    d = direction.upper()
    if d not in _ASC and d not in _DESC:
        return None
    present = sorted((x for x in a if x is not None), key=java_order_key, reverse=d in _DESC)
    return present + [None] * (len(a) - len(present))


@scalar("array_sort", [_ARR_T], _ARR_T, category=_ARRAY, param_names=("input",))
def array_sort(a):
    return array_sort_direction(a, "ASC")


@scalar("array_distinct", [_ARR_T], _ARR_T, category=_ARRAY, param_names=("array",),
        description="Returns an array of all the distinct values, including NULL if present, from the input "
                    "array. The output array elements will be in order of their first occurrence in the input.")
def array_distinct(a):
    return _distinct(a)


@scalar("array_except", [_ARR_T, _ARR_T], _ARR_T, category=_ARRAY, param_names=("left", "right"),
        description="Returns an array of all the distinct elements from an array, except for those also present "
                    "in a second array. The order of entries in the first array is preserved.")
def array_except(left, right):
    drop = {_jkey(x) for x in right}
    return [x for x in _distinct(left) if _jkey(x) not in drop]


@scalar("array_intersect", [_ARR_T, _ARR_T], _ARR_T, category=_ARRAY, param_names=("left", "right"),
        description="Returns an array of all the distinct elements from the intersection of both input arrays. "
                    "The order of entries in the output is the same as in the first input array.")
def array_intersect(left, right):
    keep = {_jkey(x) for x in right}
    return [x for x in _distinct(left) if _jkey(x) in keep]


@scalar("array_union", [_ARR_T, _ARR_T], _ARR_T, category=_ARRAY, param_names=("left", "right"),
        description="Returns an array of all the distinct elements from both input arrays, in the order they're "
                    "encountered.")
def array_union(left, right):
    return _distinct(list(left) + list(right))


@scalar("array_concat", [_ARR_T, _ARR_T], _ARR_T, category=_ARRAY, null_on_null=False,
        param_names=("left", "right"),
        description="Returns an array representing the concatenation of both input arrays. Returns NULL if both "
                    "input arrays are NULL; if only one is NULL, the result is the other.")
def array_concat(left, right):
    if left is None and right is None:
        return None
    return list(left or []) + list(right or [])


@scalar("array_contains", [_ARR_T, T], BOOLEAN, category=_ARRAY, null_on_null=False,
        param_names=("array", "val"),
        description="Returns true if the array is non-null and contains the supplied value.")
def array_contains(a, v):
    if a is None:
        return False
    k = _jkey(v)
    return any(_jkey(x) == k for x in a)


@scalar("array_remove", [_ARR_T, T], _ARR_T, category=_ARRAY, null_on_null=False,
        param_names=("array", "victim"),
        description="Removes all elements from the input array equal to the second argument (NULL removes the "
                    "NULL elements).")
def array_remove(a, victim):
    if a is None:
        return None
    k = _jkey(victim)
    return [x for x in a if _jkey(x) != k]


_JOINABLE = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "NULL")


def _array_join_impl(param_types: tuple[SqlType, ...]) -> Callable[..., Any]:
    """ARRAY_JOIN only joins primitive elements; the element type decides how they print."""
    item = param_types[0].item if isinstance(param_types[0], ArrayType) else param_types[0]
    supported = item.base in _JOINABLE
    to_str: Callable[[Any], str]
    if item.base == "DOUBLE":
        to_str = java_double_str
    elif item.base == "BOOLEAN":
        def to_str(v: Any) -> str:
            return "true" if v else "false"
    else:
        to_str = str

    def join(a, delimiter=","):
        if a is None:
            return None
        parts = []
        for v in a:
            if v is None:
                parts.append("null")
                continue
            if not supported:
                raise KsqlError(f"error: array_join does not support array element type {item}; only primitive "
                                "types are supported")
            parts.append(to_str(v))
        return ("" if delimiter is None else delimiter).join(parts)

    return join


_JOIN_DOC = ("Creates a flat string representation of all the primitive elements contained in the given array, "
             "separated by the delimiter (',' by default).")
scalar("array_join", [_ARR_T, STRING], STRING, category=_ARRAY, null_on_null=False, typed=True,
       param_names=("array", "delimiter"), description=_JOIN_DOC)(_array_join_impl)
scalar("array_join", [_ARR_T], STRING, category=_ARRAY, null_on_null=False, typed=True,
       param_names=("array",), description=_JOIN_DOC)(_array_join_impl)


@scalar("slice", [_ARR_T, INTEGER, INTEGER], _ARR_T, category=_ARRAY, null_on_null=False,
        param_names=("list", "from", "to"),
        description="Slices a list based on the supplied indices. The indices start at 1 and include both "
                    "endpoints; a NULL index means the start or the end of the list.")
def slice_(a, start, end):
    if a is None:
        return None
    lo = 0 if start is None else start - 1
    hi = len(a) if end is None else end
    if lo < 0 or hi > len(a) or lo > hi:
        return None
    return a[lo:hi]


# ksqlDB allocates the whole list; past this many values the JVM would run out of memory, so the
# call fails instead of taking the server down.
MAX_SERIES = 10_000_000


def _series(start: int, end: int, step: int, wrap: Callable[[int], int]) -> list[int]:
    """ksqlDB's GenerateSeries, int arithmetic included (the size is an int: a wrapped, negative
    size is Java's 'Illegal Capacity')."""
    if step == 0:
        raise KsqlError("GENERATE_SERIES step cannot be zero")
    diff = wrap(end - start)
    if (diff > 0 and step < 0) or (diff < 0 and step > 0):
        raise KsqlError("GENERATE_SERIES step has wrong sign")
    size = wrap32(1 + wrap32(java_idiv(diff, step)))
    if size < 0:
        raise KsqlError(f"Illegal Capacity: {size}")
    if size > MAX_SERIES:
        raise KsqlError(f"GENERATE_SERIES would produce {size} values, more than the {MAX_SERIES} allowed")
    return [wrap(start + i * step) for i in range(size)]


@scalar("generate_series", [INTEGER, INTEGER], ArrayType(INTEGER), category=_ARRAY, param_names=("start", "end"),
        description="Constructs an array of values between start and end (inclusive), by steps of 1 or -1, or "
                    "of the given step.")
def generate_series_int(start, end):
    return _series(start, end, 1 if wrap32(end - start) > 0 else -1, wrap32)


@scalar("generate_series", [INTEGER, INTEGER, INTEGER], ArrayType(INTEGER), category=_ARRAY,
        param_names=("start", "end", "step"))
def generate_series_int_step(start, end, step):
    return _series(start, end, step, wrap32)


@scalar("generate_series", [BIGINT, BIGINT], ArrayType(BIGINT), category=_ARRAY, param_names=("start", "end"))
def generate_series_long(start, end):
    return _series(start, end, 1 if wrap64(end - start) > 0 else -1, wrap64)


@scalar("generate_series", [BIGINT, BIGINT, INTEGER], ArrayType(BIGINT), category=_ARRAY,
        param_names=("start", "end", "step"))
def generate_series_long_step(start, end, step):
    return _series(start, end, step, wrap64)


# --- maps ----------------------------------------------------------------------------------------

@scalar("as_map", [ArrayType(STRING), _ARR_T], _MAP_T, category=_MAP, param_names=("keys", "values"),
        description="Construct a map from a list of keys and a list of values; missing values are NULL, extra "
                    "values are ignored.")
def as_map(keys, vals):
    return {k: vals[i] if i < len(vals) else None for i, k in enumerate(keys)}


@scalar("map_keys", [_MAP_T], ArrayType(STRING), category=_MAP, param_names=("input",),
        description="Returns an array of all the keys of a map, or NULL when the map is NULL.")
def map_keys(m):
    return list(m.keys())


@scalar("map_values", [_MAP_T], _ARR_T, category=_MAP, param_names=("input",),
        description="Returns an array of all the values of a map, or NULL when the map is NULL.")
def map_values(m):
    return list(m.values())


@scalar("map_union", [_MAP_T, _MAP_T], _MAP_T, category=_MAP, null_on_null=False, param_names=("map1", "map2"),
        description="Returns a new map containing the union of all entries from both input maps. If a key is "
                    "present in both input maps, the corresponding value from map2 is returned.")
def map_union(m1, m2):
    if m1 is None and m2 is None:
        return None
    out = dict(m1 or {})
    out.update(m2 or {})
    return out


def _entries_type(value: SqlType) -> ArrayType:
    return ArrayType(StructType((StructField("K", STRING), StructField("V", value))))


def _entries(m: dict, sort: bool) -> list[dict]:
    items = sorted(m.items(), key=lambda kv: java_order_key(kv[0])) if sort else m.items()
    return [{"K": k, "V": v} for k, v in items]


for _vt in (INTEGER, BIGINT, DOUBLE, BOOLEAN, STRING):
    scalar("entries", [MapType(STRING, _vt), BOOLEAN], _entries_type(_vt), category=_MAP,
           param_names=("map", "sorted"),
           description="Constructs an array of structs from the entries in a map. Each struct has a field named "
                       "K containing the key, and a field named V that holds the value. If sorted is true, the "
                       "entries are sorted by key.")(_entries)


# --- lambdas -------------------------------------------------------------------------------------


def _predicate(result: Any) -> bool:
    if result is None:  # Java unboxes the lambda's Boolean
        raise KsqlError("Null value returned by the lambda's condition")
    return bool(result)


def _to_map(pairs) -> dict:
    """Collectors.toMap: a duplicate key or a null value is an error."""
    out: dict = {}
    seen: dict = {}
    for k, v in pairs:
        if v is None:
            raise KsqlError(f"Null value for key {k} collecting the map")
        key = _jkey(k)
        if key in seen:
            raise KsqlError(f"Duplicate key {k} (attempted merging values {out[seen[key]]} and {v})")
        seen[key] = k
        out[k] = v
    return out


@scalar("transform", [_ARR_T, LambdaType((T,), U)], ArrayType(U), category=_LAMBDA,
        param_names=("array", "function"),
        description="Apply a function to each element in an array or map. The transformed collection is "
                    "returned.")
def transform_array(a, fn):
    return [fn(x) for x in a]


@scalar("transform", [MapType(K, V), LambdaType((K, V), _K2), LambdaType((K, V), _V2)], MapType(_K2, _V2),
        category=_LAMBDA, param_names=("map", "key_function", "value_function"))
def transform_map(m, kf, vf):
    return _to_map((kf(k, v), vf(k, v)) for k, v in m.items())


@scalar("filter", [_ARR_T, LambdaType((T,), BOOLEAN)], _ARR_T, category=_LAMBDA,
        param_names=("array", "function"),
        description="Filter the input array or map using a lambda function; only the elements for which it "
                    "returns true are kept.")
def filter_array(a, fn):
    return [x for x in a if _predicate(fn(x))]


@scalar("filter", [MapType(K, V), LambdaType((K, V), BOOLEAN)], MapType(K, V), category=_LAMBDA,
        param_names=("map", "function"))
def filter_map(m, fn):
    return _to_map((k, v) for k, v in m.items() if _predicate(fn(k, v)))


@scalar("reduce", [_ARR_T, S, LambdaType((S, T), S)], S, category=_LAMBDA, null_on_null=False,
        param_names=("array", "initialState", "function"),
        description="Reduce the input array or map down to a single value using an initial state and a lambda "
                    "function. A NULL collection gives the initial state.")
def reduce_array(a, state, fn):
    if state is None:
        return None
    if a is None:
        return state
    for x in a:
        state = fn(state, x)
    return state


@scalar("reduce", [MapType(K, V), S, LambdaType((S, K, V), S)], S, category=_LAMBDA, null_on_null=False,
        param_names=("map", "initialState", "function"))
def reduce_map(m, state, fn):
    if state is None:
        return None
    if m is None:
        return state
    for k, v in m.items():
        state = fn(state, k, v)
    return state
