"""Built-in functions. Importing this package declares every built-in scalar and table function."""

from __future__ import annotations

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
from ksql.functions.registry import FunctionRegistry

# Names ksqlDB ships as aggregates; their runtimes come with the aggregation operator,
# but the planner must recognise them now.
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


def install_non_scalar(reg: FunctionRegistry) -> None:
    for name, desc in AGGREGATES.items():
        reg.add_aggregate(name, description=desc)
