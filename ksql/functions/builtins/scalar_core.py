"""Null handling and generic helpers: IFNULL, COALESCE, NULLIF, AS_VALUE."""

from __future__ import annotations

from ksql.functions.registry import T, scalar


@scalar("IFNULL", [T, T], T, null_on_null=False, param_names=("expression", "altValue"),
        category="CONDITIONAL", description="Returns expression, or altValue when expression is null.")
def ifnull(value, alt):
    return alt if value is None else value


@scalar("COALESCE", [T, T], T, variadic=True, null_on_null=False, param_names=("first", "others"),
        category="CONDITIONAL", description="Returns the first non-null argument.")
def coalesce(*args):
    for a in args:
        if a is not None:
            return a
    return None


@scalar("NULLIF", [T, T], T, null_on_null=False, param_names=("expr1", "expr2"), category="CONDITIONAL",
        description="Returns null when expr1 equals expr2, else expr1.")
def nullif(a, b):
    if a is None:
        return None
    return None if a == b else a


@scalar("AS_VALUE", [T], T, null_on_null=False, param_names=("columnName",), category="OTHER",
        description="Copies a key column into the value.")
def as_value(v):
    return v
