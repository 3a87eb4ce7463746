"""Built-in table functions (ksqlDB UDTFs): each returns the list of values it expands a row into.

Declared with `table_function` (see ksql.functions.registry for the contract the
flat-map operator relies on): the impl gets every argument, nulls included, and
returns a list; an empty list means the input row produces no output row.
"""

from __future__ import annotations

from ksql.functions.registry import DECIMAL_ANY, SchemaProvider, T, table_function
from ksql.types import ArrayType

_DOC_EXPLODE = ("Explodes an array. This function outputs one value for each element of the array.")


_element = SchemaProvider(lambda args: args[0].item if isinstance(args[0], ArrayType) else args[0], "DECIMAL")


@table_function("explode", [ArrayType(T)], T, param_names=("list",), description=_DOC_EXPLODE)
@table_function("explode", [ArrayType(DECIMAL_ANY)], _element, param_names=("input",), description=_DOC_EXPLODE)
def explode(values: list | None) -> list:
    return [] if values is None else list(values)


@table_function("cube_explode", [ArrayType(T)], ArrayType(T), param_names=("columns",),
                description="Takes as input an array of columns and outputs all possible combinations of them, "
                            "each column being either null or its value (a cube).")
def cube_explode(columns: list | None) -> list[list]:
    """ksqlDB's Cube: combinations in binary-counting order, the first column the most significant;
    a column that is already null has one state only, so its duplicates are left out."""
    if columns is None:
        return []
    n = len(columns)
    null_mask = 0
    for j, v in enumerate(columns):
        if v is None:
            null_mask |= 1 << (n - 1 - j)
    out = []
    for i in range(1 << n):
        if i & null_mask:
            continue
        out.append([columns[j] if i >> (n - 1 - j) & 1 else None for j in range(n)])
    return out
