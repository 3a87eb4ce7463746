"""Array and map functions, including the lambda-taking FILTER, TRANSFORM and REDUCE."""

from __future__ import annotations

from ksql.functions.registry import Generic, K, LambdaType, S, T, U, V, scalar
from ksql.types import BOOLEAN, INTEGER, ArrayType, MapType

_CAT = "ARRAY"
_K2, _V2 = Generic("K2"), Generic("V2")


@scalar("ARRAY_LENGTH", [ArrayType(T)], INTEGER, category=_CAT, param_names=("array",),
        description="The number of elements of an array.")
def array_length(a):
    return len(a)


def _sort_key(x):
    return x


@scalar("ARRAY_MAX", [ArrayType(T)], T, category=_CAT, param_names=("array",),
        description="The largest non-null element, or null.")
def array_max(a):
    vals = [x for x in a if x is not None]
    return max(vals) if vals else None


@scalar("ARRAY_MIN", [ArrayType(T)], T, category=_CAT, param_names=("array",),
        description="The smallest non-null element, or null.")
def array_min(a):
    vals = [x for x in a if x is not None]
    return min(vals) if vals else None


@scalar("ARRAY_UNION", [ArrayType(T), ArrayType(T)], ArrayType(T), category=_CAT,
        param_names=("left", "right"), description="Distinct elements of both arrays, in order.")
def array_union(a, b):
    out: list = []
    for x in list(a) + list(b):
        if x not in out:
            out.append(x)
    return out


@scalar("ARRAY_CONTAINS", [ArrayType(T), T], BOOLEAN, category=_CAT, null_on_null=False,
        param_names=("array", "value"), description="True when the array contains the value.")
def array_contains(a, v):
    return False if a is None else v in a


@scalar("AS_MAP", [ArrayType(T), ArrayType(U)], MapType(T, U), category="MAP", null_on_null=False,
        param_names=("keys", "values"), description="A map from parallel key and value arrays.")
def as_map(keys, vals):
    if keys is None or vals is None:
        return None
    return {k: vals[i] if i < len(vals) else None for i, k in enumerate(keys)}


# --- lambdas ----------------------------------------------------------------------------------

@scalar("TRANSFORM", [ArrayType(T), LambdaType((T,), U)], ArrayType(U), category="LAMBDA",
        param_names=("array", "function"), description="Applies the lambda to every element.")
def transform_array(a, fn):
    return [fn(x) for x in a]


@scalar("TRANSFORM", [MapType(K, V), LambdaType((K, V), _K2), LambdaType((K, V), _V2)], MapType(_K2, _V2),
        category="LAMBDA", param_names=("map", "key_function", "value_function"))
def transform_map(m, kf, vf):
    return {kf(k, v): vf(k, v) for k, v in m.items()}


@scalar("FILTER", [ArrayType(T), LambdaType((T,), BOOLEAN)], ArrayType(T), category="LAMBDA",
        param_names=("array", "function"), description="Keeps the elements the lambda accepts.")
def filter_array(a, fn):
    return [x for x in a if fn(x)]


@scalar("FILTER", [MapType(K, V), LambdaType((K, V), BOOLEAN)], MapType(K, V), category="LAMBDA",
        param_names=("map", "function"))
def filter_map(m, fn):
    return {k: v for k, v in m.items() if fn(k, v)}


@scalar("REDUCE", [ArrayType(T), S, LambdaType((S, T), S)], S, category="LAMBDA", null_on_null=False,
        param_names=("array", "initialState", "function"),
        description="Folds the elements into a state with the lambda.")
def reduce_array(a, state, fn):
    if state is None:
        return None
    if a is None:
        return state
    for x in a:
        state = fn(state, x)
    return state


@scalar("REDUCE", [MapType(K, V), S, LambdaType((S, K, V), S)], S, category="LAMBDA", null_on_null=False,
        param_names=("map", "initialState", "function"))
def reduce_map(m, state, fn):
    if state is None:
        return None
    if m is None:
        return state
    for k, v in m.items():
        state = fn(state, k, v)
    return state
