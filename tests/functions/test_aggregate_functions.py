"""ATTR and SUM_LIST (ksqlDB 0.29's aggregates), the reference list, and aggregate signatures in the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksql.engine.state_codec import decode, encode, tag, untag
from ksql.errors import KsqlError
from ksql.functions import default_registry
from ksql.types import BIGINT, DOUBLE, INTEGER, STRING, ArrayType, StructField, StructType

REFERENCE = Path("/work/shared/reference/ksqldb-functions.txt")


def _fold(spec, values, undo=()):
    acc = spec.init()
    for v in values:
        acc = spec.add(acc, v)
    for v in undo:
        acc = spec.undo(acc, v)
    return acc


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference list is not on this machine")
def test_every_function_of_the_reference_exists():
    reg = default_registry()
    names = [n.strip() for n in REFERENCE.read_text().splitlines() if n.strip() and not n.startswith("#")]
    assert [n for n in names if not reg.exists(n)] == []


@pytest.mark.parametrize("values, undo, expected", [
    (["a", "a", "a"], (), "a"),
    (["a", "b", "a"], (), None),
    (["a", "b", "a"], ("b",), "a"),  # a table taking the odd row out
    (["a", None], (), None),  # null is one of the values
    ([], (), None),
])
def test_attr_is_the_value_only_while_every_value_is_the_same(values, undo, expected):
    spec = default_registry().resolve_aggregate("ATTR", [STRING], [])
    assert spec.return_type == STRING and spec.undo is not None
    assert spec.result(_fold(spec, values, undo)) == expected


def test_attr_takes_structs_and_merges_sessions():
    point = StructType((StructField("X", INTEGER),))
    spec = default_registry().resolve_aggregate("ATTR", [point], [])
    assert spec.return_type == point
    a, b = _fold(spec, [{"X": 1}, {"X": 1}]), _fold(spec, [{"X": 1}])
    assert spec.result(spec.merge(a, b)) == {"X": 1}
    assert spec.result(spec.merge(a, _fold(spec, [{"X": 2}]))) is None
    restored = untag(decode(encode(tag(a))))  # as a changelog restore reads it back
    assert spec.valid(restored) and not spec.valid([["x", "many"]]) and not spec.valid({"x": 1})


@pytest.mark.parametrize("item, lists, expected", [
    (INTEGER, [[1, 1], [2, 2], [100, 100, None]], 206),
    (INTEGER, [[2**31 - 1], [1]], -2**31),  # Java int arithmetic
    (BIGINT, [[2**63 - 1, 1]], -2**63),
    (DOUBLE, [[1.0, 1.0], [922337203685.0, 1.0], None], 922337203688.0),
    (BIGINT, [], 0),
])
def test_sum_list_sums_every_element_of_every_array(item, lists, expected):
    spec = default_registry().resolve_aggregate("SUM_LIST", [ArrayType(item)], [])
    assert spec.return_type == item
    assert spec.result(_fold(spec, lists)) == expected


def test_sum_list_undoes_merges_and_refuses_other_arrays():
    spec = default_registry().resolve_aggregate("SUM_LIST", [ArrayType(BIGINT)], [])
    assert spec.result(_fold(spec, [[1, 2], [3]], undo=[[1, 2]])) == 3
    assert spec.merge(3, 4) == 7 and spec.valid(7) and not spec.valid("7")
    with pytest.raises(KsqlError, match=r"Function 'SUM_LIST' does not accept parameters \(ARRAY<STRING>\)"):
        default_registry().resolve_aggregate("SUM_LIST", [ArrayType(STRING)], [])
    with pytest.raises(KsqlError, match="does not accept parameters"):
        default_registry().resolve_aggregate("SUM_LIST", [BIGINT], [])


def test_every_aggregate_has_its_signatures():
    reg = default_registry()
    aggregates = [f for f in reg.list_functions() if f.kind == "AGGREGATE"]
    assert {f.name for f in aggregates} >= {"ATTR", "SUM_LIST", "COUNT", "TOPK"}
    assert all(f.overloads and f.description for f in aggregates)
    sum_list = reg.describe("sum_list")
    assert [(list(map(str, o.params)), str(o.returns)) for o in sum_list.overloads] == [
        (["ARRAY<INTEGER>"], "INTEGER"), (["ARRAY<BIGINT>"], "BIGINT"), (["ARRAY<DOUBLE>"], "DOUBLE")]


@pytest.mark.parametrize("points, undo, expected", [
    ([(1.5, 8.0)], (), "nan"),  # one point: 0 / 0
    ([(1.5, 8.0), (-3.5, -2.0)], (), 1.0),
    # a table replacing a row: ksqlDB divides by the square root of the product of the two spreads,
    # which rounds differently from the product of two square roots
    ([(1.5, 8.0), (-3.5, -2.0), (-1.0, -2.0), (-4.5, -1.0)], ((1.5, 8.0),), -0.7205766921228921),
    ([(1.0, 2.0), (2.0, 1.0)], (), -1.0),
    ([(1.0, 5.0), (2.0, 5.0)], (), "nan"),  # no spread in y
])
def test_correlation_rounds_as_ksqldb_does(points, undo, expected):
    spec = default_registry().resolve_aggregate("CORRELATION", [DOUBLE, DOUBLE], [])
    acc = spec.init()
    for x, y in points:
        acc = spec.add(acc, x, y)
    for x, y in undo:
        acc = spec.undo(acc, x, y)
    got = spec.result(acc)
    assert (got != got) if expected == "nan" else got == expected
