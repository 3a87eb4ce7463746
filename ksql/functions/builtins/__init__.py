"""Built-in functions. Importing this package declares every built-in scalar overload."""

from __future__ import annotations

from ksql.functions.builtins import (  # noqa: F401  (declarations happen on import)
    scalar_collections,
    scalar_core,
    scalar_json,
    scalar_math,
    scalar_string,
    scalar_time,
)
from ksql.functions.registry import FunctionRegistry

# Names ksqlDB ships as aggregates / table functions; their runtimes come with the
# aggregation and table-function operators, but the planner must recognise them now.
AGGREGATES = {
    "COUNT": "Count the rows, or the non-null values of a column.",
    "SUM": "Sum of the values.",
    "AVG": "Average of the values.",
    "MIN": "Smallest value.",
    "MAX": "Largest value.",
    "COUNT_DISTINCT": "Approximate number of distinct values.",
    "COLLECT_LIST": "Gather the values into an array.",
    "COLLECT_SET": "Gather the distinct values into an array.",
    "TOPK": "The k largest values.",
    "TOPKDISTINCT": "The k largest distinct values.",
    "HISTOGRAM": "Count of each distinct string value.",
    "EARLIEST_BY_OFFSET": "The value with the earliest offset.",
    "LATEST_BY_OFFSET": "The value with the latest offset.",
    "STDDEV_SAMP": "Sample standard deviation.",
    "STDDEV_SAMPLE": "Sample standard deviation.",
    "STDDEV_POP": "Population standard deviation.",
    "CORRELATION": "Correlation of two columns.",
    "AVERAGE": "Average of the values.",
}

TABLE_FUNCTIONS = {
    "EXPLODE": "One row per element of an array.",
    "CUBE_EXPLODE": "One row per combination of nulls in the array (a cube).",
    "GENERATE_SERIES": "One row per value of a series.",
}


def install_non_scalar(reg: FunctionRegistry) -> None:
    for name, desc in AGGREGATES.items():
        reg.add_aggregate(name, description=desc)
    for name, desc in TABLE_FUNCTIONS.items():
        reg.add_table_function(name, description=desc)
