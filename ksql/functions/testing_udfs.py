"""The extra functions ksqlDB's functional-test harness loads beside the built-ins.

ksqlDB's query-validation tests (the conformance suite) call a few functions that
ship in ksqlDB's test jars, not in the product: TEST_UDF (overload resolution,
varargs, struct parameters and results), TOSTRUCT, BAD_UDF (fails on demand),
TEST_UDTF (a table function over every parameter type) and THROWING_UDTF. They are
a plugin like any user's: `install(registry)` adds them, and `testing_registry()`
is the default registry plus them, for a TestDriver that runs those tests. They are
not part of a server's function list.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.javalib import java_double_str, struct_str
from ksql.functions.registry import FunctionRegistry, default_registry
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    DecimalType,
    MapType,
    SqlType,
    StructField,
    StructType,
)

_STRUCT_A = StructType((StructField("A", STRING),))
_DECIMAL = DecimalType(20, 10)  # any DECIMAL: the registry matches DECIMAL parameters of any precision


def _java_string(v: Any) -> str:
    """String.valueOf / toString of a runtime value, as the test UDTF renders its inputs."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, dict):
        return struct_str(v)
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


def _require(*values: Any) -> None:
    """Java primitive parameters: a null argument fails the call."""
    if any(v is None for v in values):
        raise KsqlError("null argument for a primitive parameter")


def _install_test_udf(reg: FunctionRegistry) -> None:
    def scalar(params: list[SqlType], returns: SqlType, **kw: Any):
        return reg.scalar("test_udf", params, returns, null_on_null=False, category="OTHER",
                          description="A test UDF from ksqlDB's functional tests.", **kw)

    @scalar([INTEGER, STRING], STRING, param_names=("arg1", "arg2"))
    def do_stuff_int_string(i, s):
        _require(i)
        return "doStuffIntString"

    @scalar([BIGINT, STRING], STRING, param_names=("arg1", "arg2"))
    def do_stuff_long_string(i, s):
        _require(i)
        return "doStuffLongString"

    @scalar([BIGINT, BIGINT, STRING], STRING, param_names=("arg1", "arg2", "arg3"))
    def do_stuff_long_long_string(a, b, s):
        _require(a, b)
        return "doStuffLongLongString"

    @scalar([BIGINT], STRING, variadic=True, param_names=("longs",))
    def do_stuff_long_varargs(*longs):
        return "doStuffLongVarargs"

    @scalar([_STRUCT_A], STRING, param_names=("struct",))
    def do_stuff_struct(struct):
        return None if struct is None else struct.get("A")

    @scalar([], _STRUCT_A)
    def return_struct():
        return {"A": "foo"}


def install(reg: FunctionRegistry) -> None:
    """Add the test harness's functions to `reg`."""
    _install_test_udf(reg)

    @reg.scalar("tostruct", [STRING], _STRUCT_A, category="OTHER", param_names=("a",),
                description="A test UDF: a struct holding its argument in field A.")
    def to_struct(a):
        return {"A": a}

    @reg.scalar("bad_udf", [BOOLEAN], INTEGER, null_on_null=False, category="OTHER", param_names=("shouldThrow",),
                description="A test UDF that fails when its argument is true.")
    def bad_udf(should_throw):
        _require(should_throw)
        if should_throw:
            raise KsqlError("boom!")
        return 0

    @reg.table_function("throwing_udtf", [BOOLEAN], BOOLEAN, param_names=("shouldThrow",),
                        description="A test table function that fails when its argument is true.")
    def throwing_udtf(should_throw):
        _require(should_throw)
        if should_throw:
            raise KsqlError("You asked me to throw...")
        return [False]

    def udtf(params: list[SqlType], returns: Any, names: tuple[str, ...]):
        return reg.table_function("test_udtf", params, returns, param_names=names,
                                  description="A test table function over every parameter type.")

    simple = [INTEGER, BIGINT, DOUBLE, BOOLEAN, STRING, _DECIMAL, _STRUCT_A]
    names = ("i", "l", "d", "b", "s", "bd", "struct")

    @udtf(simple, STRING, names)
    def standard_params(i, l, d, b, s, bd, struct):  # noqa: E741 - ksqlDB's parameter names
        _require(i, l, d, b)
        return [_java_string(v) if v is not None else "null" for v in (i, l, d, b, s, bd, struct)]

    @udtf([ArrayType(t) for t in simple], STRING, names)
    def list_params(*lists):
        return [_java_string(x[0]) if x and x[0] is not None else "null" for x in lists]

    @udtf([MapType(STRING, t) for t in simple], STRING, names)
    def map_params(*maps):
        return [_java_string(next(iter(m.values()))) if m else "null" for m in maps]

    for t in (INTEGER, BIGINT, DOUBLE, BOOLEAN, STRING, _STRUCT_A):
        primitive = t in (INTEGER, BIGINT, DOUBLE, BOOLEAN)

        def single(v, _primitive=primitive):
            if _primitive:
                _require(v)
            return [v]

        udtf([t], t, ("val",))(single)

    udtf([_DECIMAL], DecimalType(30, 10), ("bd",))(lambda bd: [bd])


def testing_registry() -> FunctionRegistry:
    """A fresh registry: every built-in and installed plugin, plus the test harness's functions."""
    reg = default_registry().copy()
    install(reg)
    return reg
