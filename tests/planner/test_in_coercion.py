"""IN compares the value and its list in their common type, as ksqlDB's InListEvaluator does.

ksqlDB widens every operand to the widest type among them (string literals parsed into it)
and compares there: no operand is narrowed, so a BIGINT outside INTEGER's range never
equals an INTEGER that it would wrap to, and 5 is not in (5.10) because both are compared
as decimals (or doubles). These cover the type pairs in.json does not show.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksql.errors import KsqlError
from ksql.types import (
    BIGINT,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)
from tests.planner.helpers import evaluate, passes, type_of

I, L, D, S = INTEGER, BIGINT, DOUBLE, STRING  # noqa: E741
DEC = DecimalType(4, 2)


def _struct(**fields) -> StructType:
    return StructType(tuple(StructField(n, t) for n, t in fields.items()))


@pytest.mark.parametrize("value_type,item_type,value,item,expected", [
    (I, L, -2147483648, 2147483648, False),  # the BIGINT is not narrowed (it would wrap to the INT)
    (L, I, 2147483648, -2147483648, False),
    (I, L, 7, 7, True),
    (L, D, 11, 11.01, False),  # the DOUBLE is not truncated to 11
    (L, D, 2147483648, 2147483648.0, True),
    (L, D, 2**53 + 1, 2.0**53, True),  # compared as doubles, where 2^53 + 1 rounds to 2^53
    (I, D, 3, 3.5, False),
    (D, I, 3.5, 3, False),
    (I, DEC, 11, Decimal("11.01"), False),
    (I, DEC, 10, Decimal("10.00"), True),
    (DEC, I, Decimal("11.01"), 11, False),
    (DEC, D, Decimal("11.01"), 11.01, True),  # compared as doubles, as DECIMAL widens to DOUBLE
    (D, DEC, 11.01, Decimal("11.01"), True),
    (DecimalType(3, 1), DecimalType(4, 3), Decimal("1.5"), Decimal("1.500"), True),
    (DecimalType(3, 1), DecimalType(4, 3), Decimal("1.5"), Decimal("1.501"), False),
    (ArrayType(I), ArrayType(L), [-2147483648], [2147483648], False),
    (ArrayType(L), ArrayType(I), [2147483648], [-2147483648], False),
    (ArrayType(I), ArrayType(L), [1, 2], [1, 2], True),
    (ArrayType(I), ArrayType(DEC), [1, 2], [Decimal("1.00"), Decimal("2.01")], False),
    (ArrayType(I), ArrayType(DEC), [1, 2], [Decimal("1.00"), Decimal("2.00")], True),
    (ArrayType(DEC), ArrayType(D), [Decimal("11.01")], [11.01], True),
    (ArrayType(D), ArrayType(DEC), [11.01, None], [Decimal("11.01"), None], True),
    (MapType(S, I), MapType(S, L), {"a": -2147483648}, {"a": 2147483648}, False),
    (MapType(S, I), MapType(S, L), {"a": 1}, {"a": 1}, True),
    (MapType(S, DEC), MapType(S, D), {"a": Decimal("0.10")}, {"a": 0.1}, True),
    (_struct(F0=I), _struct(F0=L), {"F0": -2147483648}, {"F0": 2147483648}, False),
    (_struct(F0=I), _struct(F0=L), {"F0": 2}, {"F0": 2}, True),
    (_struct(F0=ArrayType(DEC)), _struct(F0=ArrayType(D)), {"F0": [Decimal("2.20")]}, {"F0": [2.2]}, True),
])
def test_value_and_item_compare_in_their_common_type(value_type, item_type, value, item, expected):
    cols = {"V": value_type, "X": item_type}
    assert evaluate("V IN (X)", cols, (value, item)) is expected
    assert evaluate("V NOT IN (X)", cols, (value, item)) is (not expected)


@pytest.mark.parametrize("value_type,value", [(I, 5), (L, 5), (D, 5.0), (DecimalType(12, 2), Decimal("5.00"))])
def test_literals_widen_the_common_type_instead_of_being_narrowed(value_type, value):
    cols = {"V": value_type}
    assert not passes("V IN (1, 5.10)", cols, (value,))
    assert passes("V IN (1, 5.00)", cols, (value,))
    assert passes("V IN (1, '5.000')", cols, (value,))
    assert not passes("V IN (1, '5.01')", cols, (value,))
    assert passes("V IN (5e0)", cols, (value,))


def test_string_literal_beyond_int_range_widens_to_bigint():
    cols = {"V": I}
    assert not passes("V IN ('2147483648')", cols, (-2147483648,))
    assert not passes("V IN ('4294967297')", cols, (1,))
    assert passes("V IN ('4294967297', 1)", cols, (1,))


def test_literal_value_against_wider_column():
    cols = {"X": L}
    assert evaluate("2147483648 IN (X)", cols, (2147483648,)) is True
    assert evaluate("1 IN (X)", cols, (4294967297,)) is False
    assert evaluate("1 IN (X)", cols, (1,)) is True


def test_narrower_value_against_several_columns_and_literals():
    cols = {"V": I, "A": L, "B": D}
    q = "V IN (A, B, 7)"
    assert evaluate(q, cols, (-2147483648, 2147483648, 0.5)) is False
    assert evaluate(q, cols, (3, 2147483648, 3.0)) is True
    assert evaluate(q, cols, (7, None, None)) is True
    assert evaluate(q, cols, (None, None, None)) is False


def test_constructors_widen_with_the_columns():
    cols = {"V": ArrayType(I)}
    assert passes("V IN (ARRAY[1, 2])", cols, ([1, 2],))
    assert not passes("V IN (ARRAY[4294967297])", cols, ([1],))
    assert not passes("V IN (ARRAY[1.5])", cols, ([1],))
    assert passes("V IN (ARRAY[1.0, 2])", cols, ([1, 2],))
    m = {"V": MapType(S, I)}
    assert not passes("V IN (MAP('a' := 4294967297))", m, ({"a": 1},))
    assert passes("V IN (MAP('a' := 1.0))", m, ({"a": 1},))
    st = {"V": _struct(F0=I)}
    assert not passes("V IN (STRUCT(F0 := 4294967297))", st, ({"F0": 1},))
    assert passes("V IN (STRUCT(F0 := 1.00))", st, ({"F0": 1},))


@pytest.mark.parametrize("text,cols,msg", [
    # the message names the common type of the operands before the one that does not fit
    ("ID IN (10, true)", {"ID": DEC}, "operator does not exist: DECIMAL(12, 2) = BOOLEAN (true)"),
    ("ID IN (10, VAL0)", {"ID": DEC, "VAL0": S}, "operator does not exist: DECIMAL(12, 2) = STRING (VAL0)"),
    ("ID IN (VAL1, VAL0)", {"ID": I, "VAL1": D, "VAL0": S}, "operator does not exist: DOUBLE = STRING (VAL0)"),
    ("ID IN ('x')", {"ID": D}, 'invalid input syntax for type DOUBLE: "x"'),
    ("ID IN (1.5, 'x')", {"ID": I}, 'invalid input syntax for type DECIMAL: "x"'),
    ("'10' IN (ID)", {"ID": I}, "operator does not exist: STRING = INTEGER (ID)"),
    ("V IN (X)", {"V": ArrayType(I), "X": ArrayType(S)},
     "operator does not exist: ARRAY<INTEGER> = ARRAY<STRING> (X)"),
])
def test_in_errors_name_the_accumulated_type(text, cols, msg):
    with pytest.raises(KsqlError) as ei:
        type_of(text, cols)
    assert "Invalid Predicate: " + msg in str(ei.value)


def test_string_value_takes_other_literals_as_text():
    cols = {"V": S}
    assert passes("V IN (10, 1.50, true)", cols, ("1.50",))
    assert passes("V IN (10, 1.50, true)", cols, ("true",))
    assert not passes("V IN (10, 1.50, true)", cols, ("1.5",))
    assert evaluate("'10' IN (10)", {}, ()) is True


def test_struct_fields_match_by_exact_name():
    cols = {"V": _struct(F0=L)}
    q = "V IN (STRUCT(F0 := 10), STRUCT(`f0` := 20))"  # the common type has both F0 and f0
    assert passes(q, cols, ({"F0": 10},))
    assert not passes(q, cols, ({"F0": 20},))


def test_string_literals_are_parsed_into_temporal_types():
    assert passes("V IN ('2020-01-02', '2021')", {"V": DATE}, (18263,))
    assert passes("V IN ('2021')", {"V": DATE}, (18628,))
    assert not passes("V IN ('2020-01-02')", {"V": DATE}, (18262,))
    assert passes("V IN ('1970-01-01T00:00:01.500')", {"V": TIMESTAMP}, (1500,))
    assert passes("V IN ('00:00:02')", {"V": TIME}, (2000,))
    assert passes("V IN (ARRAY['1970-01-02'])", {"V": ArrayType(DATE)}, ([1],))
    with pytest.raises(KsqlError, match='invalid input syntax for type DATE: "soon"'):
        type_of("V IN ('soon')", {"V": DATE})
