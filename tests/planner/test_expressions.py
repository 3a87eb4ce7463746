"""Expression typing and evaluation, with cases lifted from ksqlDB's functional tests."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from ksql.errors import KsqlError
from ksql.parser.ast import ColumnRef
from ksql.planner.expressions import Scope, ScopeColumn
from ksql.types import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)
from tests.planner.helpers import evaluate, passes, type_of

I, L, D, S = INTEGER, BIGINT, DOUBLE, STRING  # noqa: E741


# --- scope ---------------------------------------------------------------------------------

def test_scope_resolution_and_errors():
    sc = Scope([ScopeColumn("F0", I, 0, "I1"), ScopeColumn("F0", I, 1, "I2"), ScopeColumn("X", S, 2, "I1")])
    assert sc.resolve(ColumnRef("F0", "I2")).index == 1
    assert sc.resolve(ColumnRef("X")).index == 2
    with pytest.raises(KsqlError, match="Column 'F0' is ambiguous. Could be I1.F0 or I2.F0."):
        sc.resolve(ColumnRef("F0"))
    with pytest.raises(KsqlError, match="Column 'BOB' cannot be resolved."):
        sc.resolve(ColumnRef("BOB"))
    with pytest.raises(KsqlError, match="Column 'I.BOB' cannot be resolved."):
        sc.resolve(ColumnRef("BOB", "I"))


# --- literals & arithmetic (literals.json, operators.json, binary-arithmetic.json) ---------------

@pytest.mark.parametrize("text,value", [
    ("2 * 3 + 4", 10), ("6 / 3 - 4", -2), ("16 % 6 - 4", 0), ("6 % 4 / 2 * 6", 6), ("6 / 2 % 2 * 2", 2),
    ("10 + 4 > 11 - 2", True), ("NOT 4 > 11", True), ("NOT false AND NOT false", True),
    ("1 BETWEEN 0 AND 2 AND 'b' BETWEEN 'a' AND 'c'", True), ("'this' LIKE '%hi%' AND true", True),
    ("true OR false AND true", True), ("12*4+2", 50), ("-2147483647", -2147483647),
    ("9223372036854775807", 9223372036854775807),
])
def test_operators(text, value):
    assert evaluate(text) == value


def test_literal_types():
    assert type_of("1") == I and type_of("2147483648") == L and type_of("1.5E0") == D
    assert type_of("2.345") == DecimalType(4, 3)
    assert type_of("'x'") == S and type_of("true") == BOOLEAN


def test_arithmetic_types():
    cols = {"A": I, "B": L, "C": D, "E": DecimalType(4, 2), "F": DecimalType(4, 2)}
    assert type_of("A + B", cols) == L and type_of("B + C", cols) == D and type_of("A * A", cols) == I
    assert type_of("E + F", cols) == DecimalType(5, 2)
    assert type_of("E * F", cols) == DecimalType(9, 4)
    assert type_of("E / F", cols) == DecimalType(11, 7)
    assert type_of("E % F", cols) == DecimalType(4, 2)
    assert type_of("E + A", cols) == DecimalType(13, 2)
    assert type_of("E + C", cols) == D


def test_arithmetic_errors_message():
    with pytest.raises(KsqlError, match=r"Error processing expression: \(true \+ 1.5\). "
                                        r"Unsupported arithmetic types. BOOLEAN DECIMAL"):
        type_of("TRUE + 1.5")


def test_java_integer_semantics():
    cols = {"A": I, "B": I, "X": L, "Y": L}
    assert evaluate("A + B", cols, (2147483647, 1)) == -2147483648
    assert evaluate("X * Y", cols and {"X": L, "Y": L}, (2**62, 4)) == 0
    assert evaluate("A / B", cols, (-7, 2)) == -3
    assert evaluate("A % B", cols, (-7, 2)) == -1
    assert evaluate("A / B", cols, (-2147483648, -1)) == -2147483648
    errs: list[str] = []
    assert evaluate("A / B", cols, (1, 0), errs) is None and errs


def test_null_operand_fails_the_expression():
    errs: list[str] = []
    assert evaluate("A + 1", {"A": I}, (None,), errs) is None
    assert errs


def test_double_division_by_zero():
    assert evaluate("A / B", {"A": D, "B": D}, (1.0, 0.0)) == math.inf
    assert math.isnan(evaluate("A / B", {"A": D, "B": D}, (0.0, 0.0)))


def test_decimal_arithmetic():  # decimal.json
    cols = {"A": DecimalType(4, 2), "B": DecimalType(4, 2)}
    assert evaluate("A + B", cols, (Decimal("10.01"), Decimal("5.10"))) == Decimal("15.11")
    assert evaluate("A - B", cols, (Decimal("10.10"), Decimal("-5.00"))) == Decimal("15.10")
    assert evaluate("A * B", cols, (Decimal("10.10"), Decimal("2.00"))) == Decimal("20.2000")
    assert evaluate("A / B", cols, (Decimal("10.10"), Decimal("-2.00"))) == Decimal("-5.05")
    assert evaluate("A % B", cols, (Decimal("10.10"), Decimal("-2.00"))) == Decimal("0.10")
    assert evaluate("A / B", cols, (Decimal("10.10"), Decimal("0.00"))) is None
    assert evaluate("-A", cols, (Decimal("10.12"), None)) == Decimal("-10.12")
    assert evaluate("A + C", {"A": DecimalType(4, 2), "C": D}, (Decimal("10.01"), 5.1)) == pytest.approx(15.11)
    assert evaluate("A + C", {"A": DecimalType(4, 2), "C": I}, (Decimal("10.01"), 5)) == Decimal("15.01")


def test_string_plus():  # concat.json
    assert evaluate("'prefix-' + A + '-postfix'", {"A": S}, ("s1",)) == "prefix-s1-postfix"


# --- comparisons (binary-comparison.json, comparison-expression.json, null.json) -------------------

def test_comparisons_with_null_are_false():
    cols = {"A": I, "B": L}
    assert evaluate("A = B", cols, (None, 1)) is False
    assert evaluate("A < B", cols, (1, None)) is False
    assert evaluate("A IS DISTINCT FROM B", cols, (None, 1)) is True
    assert evaluate("A IS DISTINCT FROM B", cols, (None, None)) is False
    assert evaluate("A IS NOT DISTINCT FROM B", cols, (None, None)) is True


def test_decimal_double_comparisons():
    cols = {"D": DecimalType(4, 3), "C": D}
    assert evaluate("D = 1.20", cols, (Decimal("1.200"), 0.0)) is True
    assert evaluate("C = D", cols, (Decimal("1.100"), 1.1)) is True
    assert evaluate("D < C", cols, (Decimal("1.100"), 1.2)) is True


def test_structured_equality():
    cols = {"G": ArrayType(I), "H": MapType(S, I), "S": StructType((StructField("ID", I),))}
    assert evaluate("G = ARRAY[1,2]", cols, ([1, 2], {}, {})) is True
    assert evaluate("H = MAP('a':=1)", cols, ([], {"a": 1}, {})) is True
    assert evaluate("S = STRUCT(ID:=2)", cols, ([], {}, {"ID": 2})) is True
    assert evaluate("S <> STRUCT(ID:=2)", cols, ([], {}, {"ID": 3})) is True


def test_comparison_errors():
    with pytest.raises(KsqlError, match=r"Cannot compare ID \(INTEGER\) to 'not an int' \(STRING\) with "
                                        r"GREATER_THAN_OR_EQUAL."):
        type_of("ID >= 'not an int'", {"ID": I})
    with pytest.raises(KsqlError, match=r"Cannot compare B \(ARRAY<INTEGER>\) to C \(ARRAY<INTEGER>\) with "
                                        r"LESS_THAN."):
        type_of("B < C", {"B": ArrayType(I), "C": ArrayType(I)})
    with pytest.raises(KsqlError, match="Comparison with NULL not supported: NULL <> NULL\nUse 'IS NULL' or "
                                        "'IS NOT NULL' instead."):
        type_of("NULL <> NULL")
    with pytest.raises(KsqlError, match="Comparison with NULL not supported: INTEGER = NULL"):  # types, not names
        type_of("ID = NULL", {"ID": I})


def test_between_bounds_are_refused_as_the_comparisons_they_stand_for():
    from ksql.functions import default_registry
    from ksql.parser import parse_expression
    from ksql.planner.expressions import ExpressionTyper
    from tests.planner.helpers import scope_of
    t = ExpressionTyper(scope_of({"V": S}), default_registry())
    with pytest.raises(KsqlError) as err:  # not a WHERE typing error: ksqlDB finds it generating code
        t.check_predicate(parse_expression("V BETWEEN 10 AND 'b'"))
    assert str(err.value) == "Invalid expression: Cannot compare V (STRING) to 10 (INTEGER) with GREATER_THAN_OR_EQUAL."
    with pytest.raises(KsqlError, match="Cannot compare V \\(STRING\\) to 10 \\(INTEGER\\) with LESS_THAN_OR_EQUAL"):
        t.check_predicate(parse_expression("V BETWEEN 'a' AND 10"))


def test_where_type_error_message():
    from ksql.functions import default_registry
    from ksql.parser import parse_expression
    from ksql.planner.expressions import ExpressionTyper
    from tests.planner.helpers import scope_of
    t = ExpressionTyper(scope_of({"ID": I}), default_registry())
    with pytest.raises(KsqlError, match=r"Type error in WHERE expression: Should evaluate to boolean but is "
                                        r"\(RANDOM\(\) \+ 1.5\) \(DOUBLE\) instead."):
        t.check_predicate(parse_expression("RANDOM() + 1.5E0"))
    with pytest.raises(KsqlError, match="Should evaluate to boolean but is 'not a boolean' \\(STRING\\)"):
        t.check_predicate(parse_expression("'not a boolean'"))


def test_timestamp_compared_with_string():
    assert evaluate("T > '2022-04-28T21:44:47'", {"T": TIMESTAMP}, (1651182287943,)) is True
    assert evaluate("D = '1970-01-02'", {"D": DATE}, (1,)) is True


# --- boolean logic, IS NULL, LIKE, BETWEEN, IN -----------------------------------------------------

def test_is_null():
    assert evaluate("A IS NULL", {"A": S}, (None,)) is True
    assert evaluate("A IS NOT NULL", {"A": S}, (None,)) is False
    assert evaluate("NULL IS NULL") is True


def test_like():  # like.json
    cols = {"V": S, "P": S}
    assert evaluate("V LIKE '%foo%'", cols, ("barfoobaz", None)) is True
    assert evaluate("V LIKE P", cols, ("foo", "f_o")) is True
    assert evaluate("V LIKE P", cols, ("bar", "foo")) is False
    assert evaluate("V LIKE P", cols, ("foobar", "%oba%")) is True
    assert evaluate("V LIKE P ESCAPE '!'", cols, ("%", "!%")) is True
    assert evaluate("V LIKE P ESCAPE '!'", cols, ("x", "!%")) is False
    assert evaluate("V LIKE 'Foo'", cols, ("foo", None)) is False
    assert evaluate("V NOT LIKE 'a%'", cols, ("abc", None)) is False


def test_between():
    cols = {"A": I, "E": S, "D": DecimalType(4, 3)}
    assert evaluate("A BETWEEN 0 AND 2", cols, (2, "", Decimal(0))) is True
    assert evaluate("A NOT BETWEEN 0 AND 2", cols, (3, "", Decimal(0))) is True
    assert evaluate("E BETWEEN 'eoo' AND 'goo'", cols, (0, "foo", Decimal(0))) is True
    assert evaluate("D BETWEEN 1.19 AND 1.21", cols, (0, "", Decimal("1.200"))) is True
    assert evaluate("A BETWEEN 0 AND 2", cols, (None, "", None)) is False


def test_in():  # in.json
    cols = {"ID": I, "VAL": I}
    assert passes("ID IN (VAL, VAL * 2)", cols, (38, 19))
    assert not passes("ID IN (VAL, VAL * 2)", cols, (11, 110))
    assert passes("ID IN (11, NULL, VAL)", cols, (11, 10))
    assert not passes("ID IN (11, NULL, VAL)", cols, (None, None))
    assert passes("ID NOT IN (11, 20, 10)", cols, (12, None))
    ic = {"VAL0": I}
    q = "VAL0 IN (1, 2.0, 3.00, '4.000', 5.10)"
    assert [passes(q, ic, (v,)) for v in (1, 2, 3, 4, 5)] == [True, True, True, True, False]
    assert not passes("VAL0 IN (1, '2147483648')", ic, (-2147483648,))
    b = {"ID": BOOLEAN, "VAL": BOOLEAN}
    assert passes("ID IN (true, 'TrUe', 'tr', 'Y', VAL)", b, (False, False))
    s = {"VAL0": S, "VAL1": S}
    q = "VAL0 IN (true, 10, '10.1', 10.30, VAL1)"
    assert [passes(q, s, (v, None)) for v in ("true", "10", "10.1", "10.3", "10.30")] == [
        True, True, True, False, True]
    d = {"VAL2": D, "VAL3": DecimalType(4, 2)}
    assert passes("VAL2 IN (VAL3)", d, (11.01, Decimal("11.01")))


@pytest.mark.parametrize("text,cols,msg", [
    ("ID IN (true, 'Not a boolean')", {"ID": BOOLEAN},
     'Invalid Predicate: invalid input syntax for type BOOLEAN: "Not a boolean".'),
    ("ID IN (true, 10)", {"ID": BOOLEAN}, "Invalid Predicate: operator does not exist: BOOLEAN = INTEGER (10)"),
    ("ID IN (10, VAL0)", {"ID": I, "VAL0": S}, "Invalid Predicate: operator does not exist: INTEGER = STRING (VAL0)"),
    ("ID IN (10, '10 - not a number')", {"ID": L},
     'Invalid Predicate: invalid input syntax for type BIGINT: "10 - not a number".'),
    ("ID IN (10, true)", {"ID": DecimalType(4, 2)},
     "Invalid Predicate: operator does not exist: DECIMAL(12, 2) = BOOLEAN (true)"),
    ("VAL0 IN (VAL0, ARRAY[VAL1])", {"VAL0": ArrayType(L), "VAL1": BOOLEAN},
     "Invalid Predicate: operator does not exist: ARRAY<BIGINT> = ARRAY<BOOLEAN> (ARRAY[VAL1])"),
    ("VAL0 IN (VAL0, ARRAY['10', 'not 10'])", {"VAL0": ArrayType(L)},
     'Invalid Predicate: invalid input syntax for type BIGINT: "not 10"'),
    ("VAL0 IN (VAL0, MAP('a' := VAL1))", {"VAL0": MapType(S, L), "VAL1": BOOLEAN},
     "Invalid Predicate: operator does not exist: MAP<STRING, BIGINT> = MAP<STRING, BOOLEAN> (MAP('a':=VAL1))"),
    ("VAL0 IN (STRUCT(F0 := 10), ARRAY[10])", {"VAL0": StructType((StructField("F0", L),))},
     "Invalid Predicate: operator does not exist: STRUCT<`F0` BIGINT> = ARRAY<INTEGER> (ARRAY[10])"),
])
def test_in_errors(text, cols, msg):
    with pytest.raises(KsqlError) as ei:
        type_of(text, cols)
    assert msg in str(ei.value)


def test_in_structured():
    a = {"VAL0": ArrayType(L), "VAL1": ArrayType(L)}
    q = "VAL0 IN (ARRAY[1,2], ARRAY[5,123456789000], ARRAY['3',null], VAL1)"
    assert passes(q, a, ([3, None], None))
    assert passes(q, a, ([4, 5], [4, 5]))
    assert not passes(q, a, ([1], None))
    st = {"VAL0": StructType((StructField("A", L), StructField("B", L)))}
    q = "VAL0 IN (STRUCT(A:=1,B:=2),STRUCT(A:=3,B:=2,C:=4),STRUCT(B:=2,A:=4),STRUCT(A:=5),STRUCT(A:='7',B:=2))"
    res = [passes(q, st, (v,)) for v in ({"A": 1, "B": 2}, {"A": 3, "B": 2}, {"A": 4, "B": 2},
                                         {"A": 5, "B": None}, {"A": 7, "B": 2})]
    assert res == [True, False, True, True, True]


def test_and_or_null_operand_fails_like_java():
    errs: list[str] = []
    assert evaluate("B AND true", {"B": BOOLEAN}, (None,), errs) is None and errs
    assert evaluate("B AND true", {"B": BOOLEAN}, (True,)) is True


# --- CASE (case-expression.json) ---------------------------------------------------------------

@pytest.mark.parametrize("extra_whens", [0, 70])  # inline conditional, and the generated function
def test_case_evaluates_only_the_branch_taken(extra_whens):
    """case-expression.json's lazy-branch cases, with a branch that fails (integer division by zero)
    standing in for ksqlDB's test UDFs: neither a later WHEN nor the ELSE runs once a WHEN matched."""
    more = " ".join(f"WHEN X = {i} THEN 1 / (X - X)" for i in range(100, 100 + extra_whens))
    cols = {"X": I}
    errs: list[str] = []
    assert evaluate(f"CASE WHEN X = 0 THEN -1 WHEN 10 / X = 0 THEN 1 / X {more} ELSE 10 / X END",
                    cols, (0,), errs) == -1
    assert evaluate(f"CASE WHEN X <> 0 THEN 10 / X {more} ELSE -1 END", cols, (0,), errs) == -1
    assert errs == []


def test_case():
    q = "CASE WHEN orderunits < 2.0 THEN 'small' WHEN orderunits < 4.0 THEN 'medium' ELSE 'large' END"
    cols = {"ORDERUNITS": D}
    assert [evaluate(q, cols, (v,)) for v in (6.0, 3.0, 1.0, None)] == ["large", "medium", "small", "large"]
    assert evaluate("CASE WHEN X < 2.0 THEN Y + 2 END", {"X": D, "Y": L}, (2.0, 5)) is None
    assert evaluate("CASE WHEN X < 2.0 THEN null ELSE 'a' END", {"X": D}, (1.0,)) is None
    assert evaluate("CASE X WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END", {"X": I}, (2,)) == "two"
    assert evaluate("CASE X WHEN 1 THEN 'one' ELSE 'many' END", {"X": I}, (None,)) == "many"
    assert evaluate("CASE WHEN X THEN 1 ELSE 2.5E0 END", {"X": BOOLEAN}, (True,)) == 1.0
    assert isinstance(evaluate("CASE WHEN X THEN 1 ELSE 2.5E0 END", {"X": BOOLEAN}, (True,)), float)
    with pytest.raises(KsqlError, match="Invalid Case expression. All case branches have NULL type"):
        type_of("CASE WHEN X < 2.0 THEN null ELSE null END", {"X": D})


# --- CAST (cast.json) ----------------------------------------------------------------------------

def test_cast_support_errors():
    with pytest.raises(KsqlError, match="Cast of STRING to ARRAY<INTEGER> is not supported"):
        type_of("CAST(F0 AS ARRAY<INTEGER>)", {"F0": S})
    with pytest.raises(KsqlError, match=r"Cast of STRING to STRUCT<`F0` STRING, `F1` INTEGER> is not supported"):
        type_of("CAST(F0 AS STRUCT<F0 VARCHAR, F1 INTEGER>)", {"F0": S})


@pytest.mark.parametrize("text,t,v,out", [
    ("CAST(X AS STRING)", ArrayType(I), [1, 3], "[1, 3]"),
    ("CAST(X AS ARRAY<INTEGER>)", ArrayType(L), [1, 3, 2147483648], [1, 3, -2147483648]),
    ("CAST(X AS ARRAY<STRING>)", ArrayType(L), [1, 2147483648], ["1", "2147483648"]),
    ("CAST(X AS STRING)", MapType(S, I), {"this": 1}, "{this=1}"),
    ("CAST(X AS MAP<STRING, MAP<STRING, INTEGER>>)", MapType(S, MapType(S, S)), {"k1": {"k2": "10"}},
     {"k1": {"k2": 10}}),
    ("CAST(X AS STRING)", StructType((StructField("F0", I), StructField("f1", I))), {"F0": 1, "f1": 3},
     "Struct{F0=1,f1=3}"),
    ("CAST(X AS STRUCT<F0 STRING, F3 STRING>)", StructType((StructField("F0", L), StructField("F1", S))),
     {"F0": 1, "F1": "3"}, {"F0": "1", "F3": None}),
    ("CAST(X AS DECIMAL(5,3))", DecimalType(4, 2), Decimal("10.12"), Decimal("10.120")),
    ("CAST(X AS DECIMAL(2,1))", I, 10, None),
    ("CAST(X AS DECIMAL(2,1))", I, -1, Decimal("-1.0")),
    ("CAST(X AS DECIMAL(2,1))", D, 0.99, Decimal("1.0")),
    ("CAST(X AS DECIMAL(2,1))", D, 0.01, Decimal("0.0")),
    ("CAST(X AS DECIMAL(2,1))", S, "0.99", Decimal("1.0")),
    ("CAST(X AS INT)", DecimalType(4, 2), Decimal("10.01"), 10),
    ("CAST(X AS DOUBLE)", DecimalType(4, 2), Decimal("10.01"), 10.01),
    ("CAST(X AS STRING)", DecimalType(4, 2), Decimal("0.00"), "0.00"),
    ("CAST(X AS STRING)", D, 1.0, "1.0"),
    ("CAST(X AS STRING)", D, 1e10, "1.0E10"),
    ("CAST(X AS STRING)", D, None, None),
    ("CAST(X AS STRING)", BOOLEAN, True, "true"),
    ("CAST(X AS INT)", D, 1.2000000000000002, 1),
    ("CAST(X AS TIMESTAMP)", S, "2022-04-28T21:44:47.943", 1651182287943),
    ("CAST(X AS TIMESTAMP)", S, "2022-04-28T21:44:47.943Z", 1651182287943),
    ("CAST(X AS STRING)", TIMESTAMP, 1651182287943, "2022-04-28T21:44:47.943"),
    ("CAST(X AS INT)", S, "12", 12),
    ("CAST(X AS INT)", S, "x", None),
    ("CAST(X AS BOOLEAN)", S, "true", True),
    ("CAST(X AS BIGINT)", I, -1, -1),
])
def test_cast_values(text, t, v, out):
    assert evaluate(text, {"X": t}, (v,)) == out


# --- structs, arrays, maps -----------------------------------------------------------------------

def test_dereference_and_subscripts():
    st = StructType((StructField("Person", StructType((StructField("Name", S),))),))
    assert evaluate("COL1->Person->Name", {"COL1": st}, ({"Person": {"Name": "George"}},)) == "George"
    assert evaluate("COL1->Person->Name", {"COL1": st}, ({"Person": None},)) is None
    assert evaluate("COL1->Person->Name", {"COL1": st}, (None,)) is None
    arr = {"C": ArrayType(S)}
    assert evaluate("C[1]", arr, (["Red", "Green"],)) == "Red"
    assert evaluate("C[-1]", arr, (["Red", "Green"],)) == "Green"
    assert evaluate("C[3]", arr, (["Red"],)) is None
    assert evaluate("C[1]", arr, ([],)) is None
    assert evaluate("C[1][2]", {"C": ArrayType(ArrayType(I))}, ([[0, 1], [2]],)) == 1
    assert evaluate("C[1][2]", {"C": ArrayType(ArrayType(I))}, ([None, [2]],)) is None
    m = {"M": MapType(S, I)}
    assert evaluate("M['expected']", m, ({"expected": 10},)) == 10
    assert evaluate("M['missing']", m, ({"expected": 10},)) is None
    assert evaluate("IFNULL(M['missing'], -1)", m, (None,)) == -1


def test_constructors():  # create_array.json, create_map.json
    cols = {"A": I, "B": L}
    assert evaluate("ARRAY[null, 10, '2e1', A, B]", cols, (30, 40)) == [None, 10, 20, 30, 40]
    got = evaluate("ARRAY[null, struct(x := a, y := b), struct(y := a, z:= b)]", cols, (30, 40))
    assert got == [None, {"X": 30, "Y": 40, "Z": None}, {"X": None, "Y": 30, "Z": 40}]
    mc = {"K1": S, "K2": S, "V1": BOOLEAN}
    assert evaluate("MAP(k1:=v1, k2:='true', 10:='no')", mc, ("a", "b", True)) == {"a": True, "b": True,
                                                                                 "10": False}
    for text, msg in [
        ("ARRAY[1, 'not a number']", 'invalid input syntax for type INTEGER: "not a number"'),
        ("ARRAY[NULL]", "Cannot construct an array with all NULL elements"),
        ("MAP(k1:=NULL, k2:=NULL)", "Cannot construct a map with all NULL values"),
        ("MAP(null:=v1)", "Cannot construct a map with all NULL keys"),
        ("MAP(k1:=v1, k2:='hello')", 'invalid input syntax for type BOOLEAN: "hello"'),
    ]:
        with pytest.raises(KsqlError) as ei:
            type_of(text, mc)
        assert msg in str(ei.value)


# --- functions and lambdas ----------------------------------------------------------------------------

def test_lambdas():  # transform-array.json, complex-lambda.json
    arr = {"N": ArrayType(I)}
    assert evaluate("TRANSFORM(N, x => x + 5)", arr, ([3, 6],)) == [8, 11]
    assert evaluate("TRANSFORM(N, x => x + 5)", arr, ([5, None],)) is None
    assert evaluate("TRANSFORM(N, x => x + 5)", arr, (None,)) is None
    assert evaluate("FILTER(N, x => x > 2)", arr, ([1, 3, None, 5],)) == [3, 5]
    assert evaluate("REDUCE(N, 0, (s, x) => s + x)", arr, ([1, 2, 3],)) == 6
    assert evaluate("REDUCE(N, 5, (s, x) => s + x)", arr, (None,)) == 5
    m = {"VALUE": MapType(S, ArrayType(I))}
    q = ("TRANSFORM(TRANSFORM(VALUE, (x,y) => x, (x,y) => FIlTER(y, z => z < 5)), (x,y) => UCASE(x) , "
         "(k,v) => ARRAY_MAX(v))")
    assert evaluate(q, m, ({"a": [2, None, 5, 4], "b": [-1, -2]},)) == {"A": 4, "B": -1}
    q = ("TRANSFORM(FILTER(MAPPING, (a, b) => LEN(a) > 2 AND REDUCE(b, 0, (c, d) => c+d) < 20), "
         "(X,Y) => LPAD(x, REDUCE(Y, 2, (s, k) => ABS(ABS(k)-s)), 'a'), "
         "(X,Y) => REDUCE(ARRAY_UNION(Y, TRANSFORM(Y, z => z*3)), 0, (e, f) => e+f))")
    mp = {"MAPPING": MapType(S, ArrayType(I))}
    assert evaluate(q, mp, ({"a": [2, 4, 5], "bcd": [-5, 7]},)) == {"abcd": 8}
    assert evaluate(q, mp, ({"hello": [200, 4, 5], "hey": [14, -3, -15, 3], "wow": [2, 3, 4]},)) == {
        "hey": -4, "w": 36}
    assert evaluate(q, mp, ({"a": None, "bcdefg": [-15, 72]},)) == {}
    q = ("reduce(arraying, 5, (s, a) => s + REDUCE(TRANSFORM(FILTER(a, (x, y) => len(x) > 5 AND y % 2 != 0), "
         "(e, f) => concat(e, 'leah'), (g, h) => h + len(g)), 0, (s2,r, b) => s2+2*b))")
    am = {"ARRAYING": ArrayType(MapType(S, I))}
    assert evaluate(q, am, ([{"to be or not to be": 15}, {"hello": 25}],)) == 71
    assert evaluate(q, am, ([{"goodmorning": 23, "gn": 12}, {"woooooow": 9}],)) == 107
    assert evaluate(q, am, (None,)) == 5
    st = {"V": ArrayType(StructType((StructField("C", S), StructField("D", I))))}
    assert evaluate("TRANSFORM(V, x => STRUCT(Q := x->d + 5, P := x->c + 'h'))", st,
                    ([{"C": "ste", "D": 2}],)) == [{"Q": 7, "P": "steh"}]


def test_function_errors_are_local():  # null.json "coalesce - with parse_date", cast.json
    q = ("coalesce(parse_date(S, 'yyyy-MM-dd'), parse_date(concat(S, '-01-01'), 'yyyy-MM-dd'))")
    assert evaluate(q, {"S": S}, ("2003-12-24",)) == 12410
    assert evaluate(q, {"S": S}, ("2004",)) == 12418
    q = "ifnull(cast(PARSE_DATE(f0, 'yyyy-MM-dd') as string),'1900-01-01')"
    assert evaluate(q, {"F0": S}, ("2022-02-02",)) == "2022-02-02"
    assert evaluate(q, {"F0": S}, ("abcd",)) == "1900-01-01"
    assert evaluate(q, {"F0": S}, (None,)) == "1900-01-01"


def test_null_literal_projection_refused():
    from ksql.functions import default_registry
    from ksql.parser import parse_expression
    from ksql.planner.expressions import compile_projection
    from tests.planner.helpers import scope_of
    with pytest.raises(KsqlError, match="Can't infer a type of null"):
        compile_projection(None, [parse_expression("null")], scope_of({"A": I}), default_registry(), print)


def test_where_error_drops_row_projection_error_nulls_column():
    from ksql.functions import default_registry
    from ksql.parser import parse_expression
    from ksql.planner.expressions import compile_batch
    from tests.planner.helpers import scope_of
    errs: list[str] = []
    sc = scope_of({"A": I, "B": I})
    fn = compile_batch(parse_expression("A / B > 0"), [parse_expression("A"), parse_expression("B / A")],
                       sc, default_registry(), errs.append)
    assert fn([(4, 2), (1, 0), (-1, 1), (3, 3)]) == [(4, 0), (3, 1)]
    assert len(errs) == 1
    fn = compile_batch(None, [parse_expression("A"), parse_expression("B / A")], sc, default_registry(),
                       errs.append)
    assert fn([(0, 1), (2, 4)]) == [(0, None), (2, 2)]
