"""Built-in functions. Importing this package declares every built-in scalar and table function."""

from __future__ import annotations

from ksql.functions.aggregates import resolve_aggregate
from ksql.functions.builtins import (  # noqa: F401  (declarations happen on import)
    scalar_bytes,
    scalar_collections,
    scalar_core,
    scalar_json,
    scalar_mask,
    scalar_math,
    scalar_regex,
    scalar_string,
    scalar_time,
    scalar_url,
    table_functions,
)
from ksql.functions.registry import DECIMAL_ANY, FunctionRegistry, Overload, T
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
    MapType,
    SqlType,
)

# ksqlDB's aggregate functions and their signatures as DESCRIBE FUNCTION shows them: (description,
# [(parameter types, return type, parameter names)]). Their accumulators are in ksql.functions.aggregates.
_NUMBERS: list[SqlType] = [INTEGER, BIGINT, DOUBLE, DECIMAL_ANY]
_ORDERED: list[SqlType] = [INTEGER, BIGINT, DOUBLE, DECIMAL_ANY, STRING, BYTES, DATE, TIME, TIMESTAMP]
_Signature = tuple[list[SqlType], SqlType, tuple[str, ...]]


def _same(types: list[SqlType]) -> list[_Signature]:
    return [([t], t, ("val",)) for t in types]


def _to(types: list[SqlType], returns: SqlType) -> list[_Signature]:
    return [([t], returns, ("val",)) for t in types]


def _topk(types: list[SqlType]) -> list[_Signature]:
    return [([t, INTEGER], ArrayType(t), ("val", "k")) for t in types]


def _by_offset() -> list[_Signature]:
    return [([T], T, ("val",)), ([T, BOOLEAN], T, ("val", "ignoreNulls")),
            ([T, INTEGER], ArrayType(T), ("val", "earliestN")),
            ([T, INTEGER, BOOLEAN], ArrayType(T), ("val", "earliestN", "ignoreNulls"))]


AGGREGATES: dict[str, tuple[str, list[_Signature]]] = {
    "COUNT": ("Counts records by key.", [([], BIGINT, ()), ([T], BIGINT, ("val",))]),
    "SUM": ("Computes the sum for a key.", _same(_NUMBERS)),
    "AVG": ("Returns the average value of a column.", _to(_NUMBERS, DOUBLE)),
    "MIN": ("Computes the minimum value for a key.", _same(_ORDERED)),
    "MAX": ("Computes the maximum value for a key.", _same(_ORDERED)),
    "COUNT_DISTINCT": ("Returns the approximate number of distinct entries.", [([T], BIGINT, ("val",))]),
    "COLLECT_LIST": ("Gathers all the values of a key into an array.", [([T], ArrayType(T), ("val",))]),
    "COLLECT_SET": ("Gathers the distinct values of a key into an array.", [([T], ArrayType(T), ("val",))]),
    "TOPK": ("Computes the top k values for a key.", _topk(_ORDERED)),
    "TOPKDISTINCT": ("Calculates the top k distinct values for a column and key.", _topk(_ORDERED)),
    "HISTOGRAM": ("Returns a map of each distinct String to the number of times it occurs.",
                  [([STRING], MapType(STRING, BIGINT), ("val",))]),
    "EARLIEST_BY_OFFSET": ("Returns the earliest value of a column (or the earliest n).", _by_offset()),
    "LATEST_BY_OFFSET": ("Returns the latest value of a column (or the latest n).", _by_offset()),
    "STDDEV_SAMP": ("Returns the sample variance of a column.", _to(_NUMBERS, DOUBLE)),
    "STDDEV_SAMPLE": ("Returns the sample standard deviation of a column.", _to(_NUMBERS, DOUBLE)),
    "STDDEV_POP": ("Returns the population standard deviation of a column.", _to(_NUMBERS, DOUBLE)),
    "CORRELATION": ("Computes the Pearson correlation coefficient of two columns.",
                    [([t, t], DOUBLE, ("x", "y")) for t in _NUMBERS]),
    "ATTR": ("Returns the value of a column if every value of the group is the same one, otherwise null.",
             [([T], T, ("val",))]),
    "SUM_LIST": ("Returns the sum of the values of the arrays of a column.",
                 [([ArrayType(t)], t, ("list",)) for t in (INTEGER, BIGINT, DOUBLE)]),
}


def install_non_scalar(reg: FunctionRegistry) -> None:
    """Register the built-in aggregates (their overloads describe them; resolution is ksqlDB's, with literal
    parameters, in ksql.functions.aggregates)."""
    for name, (description, signatures) in AGGREGATES.items():
        reg.add_aggregate(name, description=description)
        for params, returns, names in signatures:
            reg.add_aggregate(name, Overload(tuple(params), returns, resolve_aggregate, names,
                                             description=description))
