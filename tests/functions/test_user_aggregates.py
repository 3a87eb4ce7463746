"""User-defined aggregates (@aggregate): registration, resolution, their state's checks, DESCRIBE."""

from __future__ import annotations

import importlib.metadata

import pytest

from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry, T, default_registry
from ksql.functions.aggregates import UserAggregateError
from ksql.testing import TestDriver
from ksql.types import BIGINT, DOUBLE, INTEGER, STRING, ArrayType, MapType, StructField, StructType

_AVG_STATE = StructType((StructField("SUM", DOUBLE), StructField("COUNT", BIGINT)))


def _registry() -> FunctionRegistry:
    reg = FunctionRegistry()

    @reg.aggregate("MY_AVG", [BIGINT], DOUBLE, intermediate=_AVG_STATE, param_names=("val",),
                   description="Average of the non-null values.")
    class MyAvg:
        def initialize(self):
            return {"SUM": 0.0, "COUNT": 0}

        def aggregate(self, current, agg):
            if current is None:
                return agg
            return {"SUM": agg["SUM"] + current, "COUNT": agg["COUNT"] + 1}

        def undo(self, current, agg):
            if current is None:
                return agg
            return {"SUM": agg["SUM"] - current, "COUNT": agg["COUNT"] - 1}

        def merge(self, a, b):
            return {"SUM": a["SUM"] + b["SUM"], "COUNT": a["COUNT"] + b["COUNT"]}

        def map(self, agg):
            return agg["SUM"] / agg["COUNT"] if agg["COUNT"] else None

    @reg.aggregate("PAIRS", [T, STRING], ArrayType(T), intermediate=MapType(STRING, T))
    class Pairs:
        """The last value of the first column for each value of the second, in order of arrival."""

        def initialize(self):
            return {}

        def aggregate(self, current, agg):
            value, label = current
            if label == "boom":
                raise ValueError("no boom allowed")
            return {**agg, label: value}

        def merge(self, a, b):
            return {**a, **b}

        def map(self, agg):
            return list(agg.values())

    return reg


def test_a_user_aggregate_resolves_and_runs_with_ksqldb_method_shapes():
    spec = _registry().resolve_aggregate("my_avg", [INTEGER])  # implicit widening, as for scalar functions
    assert spec.return_type == DOUBLE and spec.arg_count == 1 and spec.complex_intermediate
    acc = spec.init()
    for v in (1, 2, None, 6):
        acc = spec.add(acc, v)
    assert spec.result(acc) == 3.0
    assert spec.result(spec.undo(acc, 6)) == 1.5
    assert spec.result(spec.merge(acc, spec.add(spec.init(), 3))) == 3.0


def test_generics_bind_return_and_intermediate_types_and_the_state_is_vetted():
    spec = _registry().resolve_aggregate("PAIRS", [BIGINT, STRING])
    assert spec.return_type == ArrayType(BIGINT) and spec.undo is None and spec.arg_count == 2
    acc = spec.add(spec.add(spec.init(), 1, "a"), 2, "b")
    assert spec.result(acc) == [1, 2]
    assert spec.valid(acc) and spec.valid({"a": None})
    assert not spec.valid({"a": "x"}) and not spec.valid([1, 2]) and not spec.valid({1: 1})


def test_a_failing_user_aggregate_raises_a_processing_error_naming_it():
    spec = _registry().resolve_aggregate("PAIRS", [BIGINT, STRING])
    with pytest.raises(UserAggregateError, match="Function 'PAIRS' failed in aggregate: no boom allowed"):
        spec.add(spec.init(), 1, "boom")


def test_a_state_not_of_the_intermediate_type_is_refused_before_it_reaches_the_changelog():
    reg = FunctionRegistry()

    @reg.aggregate("AS_SET", [BIGINT], BIGINT, intermediate=ArrayType(BIGINT))
    class AsSet:  # a set would come back from the changelog as no ARRAY
        def initialize(self): return []
        def aggregate(self, current, agg): return set(agg) | {current}
        def merge(self, a, b): return a + b
        def map(self, agg): return len(agg)

    spec = reg.resolve_aggregate("AS_SET", [BIGINT])
    with pytest.raises(UserAggregateError, match=r"'AS_SET' returned from aggregate a state that is not ARRAY<BIGINT>"):
        spec.add(spec.init(), 1)


def test_resolution_errors_are_clear():
    reg = _registry()
    with pytest.raises(KsqlError, match=r"Function 'MY_AVG' does not accept parameters \(STRING\)"):
        reg.resolve_aggregate("MY_AVG", [STRING])
    with pytest.raises(KsqlError, match="takes no literal parameters"):
        reg.resolve_aggregate("MY_AVG", [BIGINT], [5])
    assert reg.is_aggregate("my_avg") and reg.aggregate_arity("PAIRS", 2) == 2


@pytest.mark.parametrize("name, cls, message", [
    ("NO_MERGE", type("NoMerge", (), {"initialize": lambda s: 0, "aggregate": lambda s, c, a: a,
                                      "map": lambda s, a: a}), "lacks method.*merge"),
    ("SUM", type("Shadow", (), {m: (lambda s, *a: 0) for m in ("initialize", "aggregate", "merge", "map")}),
     "is a built-in function"),
])
def test_registration_refuses_incomplete_or_shadowing_aggregates(name, cls, message):
    with pytest.raises(KsqlError, match=message):
        FunctionRegistry().aggregate(name, [BIGINT], BIGINT, intermediate=BIGINT)(cls)


def test_a_plugin_module_installs_its_module_level_declarations():
    from tests.functions import udf_plugin

    reg = FunctionRegistry()
    reg.load(udf_plugin)
    assert reg.is_scalar("SHOUT") and reg.is_aggregate("LONGEST")
    spec = reg.resolve_aggregate("LONGEST", [STRING])
    assert spec.result(spec.add(spec.add(spec.init(), "abc"), "a")) == 3
    assert not default_registry().exists("LONGEST")  # a plugin reaches only the registries that load it


def test_entry_points_publish_module_level_declarations(monkeypatch):
    entry = importlib.metadata.EntryPoint("mine", "tests.functions.udf_plugin", "ksql.functions")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [entry] if group == "ksql.functions" else [])
    reg = FunctionRegistry()
    reg.load_entry_points()
    assert reg.describe("longest").overloads[0].params == (STRING,) and reg.is_scalar("shout")


def test_describe_function_shows_a_user_aggregate():
    d = TestDriver(registry=_registry())
    entity = d.engine.execute("DESCRIBE FUNCTION MY_AVG;")[0].entity
    d.close()
    assert entity["type"] == "AGGREGATE" and entity["name"] == "MY_AVG"
    assert entity["functions"] == [{
        "arguments": [{"name": "val", "type": "BIGINT", "description": "", "isVariadic": False}],
        "returnType": "DOUBLE", "description": "Average of the non-null values.", "argumentTypes": ["BIGINT"]}]
