"""Long chains compile to flat code with today's semantics: a CASE with 1,000 WHENs, 1,000 ORed or
ANDed conditions, 500-term `+`/`-`/`*` chains of every numeric type and of strings; and expressions
nested far deeper than Python parses in one piece."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest

from ksql.functions import default_registry
from ksql.parser import parse_expression
from ksql.parser.limits import UNLIMITED, refusing_deep_nesting
from ksql.planner.expressions import compile_projection
from ksql.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, ArrayType, DecimalType
from tests.planner.helpers import evaluate, scope_of, type_of

I, L, D, S, B = INTEGER, BIGINT, DOUBLE, STRING, BOOLEAN  # noqa: E741
INT_MAX, LONG_MAX = 2**31 - 1, 2**63 - 1


@pytest.fixture(autouse=True)
def planning_recursion_headroom():
    """Planning a chain of 1,000 terms recurses deeper than Python's default limit; the engine plans
    within refusing_deep_nesting, which gives it room."""
    with refusing_deep_nesting():
        yield


def java_int(value: int, bits: int = 32) -> int:
    return (value + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)


def test_a_searched_case_with_1000_whens():
    case = "CASE " + " ".join(f"WHEN A = {i} THEN {i * 10}" for i in range(1000)) + " WHEN A = 999 THEN 1 ELSE -1 END"
    assert [evaluate(case, {"A": I}, (a,)) for a in (0, 998, 999, 1000, None)] == [0, 9980, 9990, -1, -1]
    no_else = case.replace(" ELSE -1", "")
    assert evaluate(no_else, {"A": I}, (5000,)) is None


def test_a_simple_case_with_1000_whens():
    case = "CASE A " + " ".join(f"WHEN {i} THEN 'v{i}'" for i in range(1000)) + " ELSE 'other' END"
    assert [evaluate(case, {"A": I}, (a,)) for a in (0, 777, 1000, None)] == ["v0", "v777", "other", "other"]


def test_a_long_case_in_a_lambda_reads_the_lambda_variable_and_the_row():
    case = ("TRANSFORM(N, x => CASE WHEN x = A THEN 'same' "
            + " ".join(f"WHEN x = {i} THEN 'v{i}'" for i in range(100)) + " ELSE 'other' END)")
    assert evaluate(case, {"N": ArrayType(I), "A": I}, ([3, 6, 500], 6)) == ["v3", "same", "other"]


def test_1000_ored_and_anded_conditions_keep_null_logic_and_short_circuit():
    ors = " OR ".join(f"A = {i}" for i in range(1000))
    assert [evaluate(ors, {"A": I}, (a,)) for a in (0, 999, 1000, None)] == [True, True, False, False]
    cols = {"A": I, "B": B}
    with_null = "A = 1 OR B OR " + ors  # a null operand reached fails the expression, as in ksqlDB
    assert evaluate(with_null, cols, (1, None)) is True
    errors: list[str] = []
    assert evaluate(with_null, cols, (2, None), errors) is None and "Null value in boolean expression" in errors[0]
    ands = "A <> 1 AND B AND " + " AND ".join(f"A <> {i}" for i in range(2, 1000))
    assert evaluate(ands, cols, (1, None)) is False
    assert evaluate(ands, cols, (1000, True)) is True
    assert evaluate(ands, cols, (500, True)) is False
    assert evaluate("(A = 1 OR A = 2) OR (A = 3 OR (A = 4 OR B))", cols, (4, None)) is True


def test_500_term_integer_chains_wrap_as_java_does():
    sum_int = " + ".join(["A"] * 500)
    assert evaluate(sum_int, {"A": I}, (INT_MAX,)) == java_int(500 * INT_MAX)
    assert evaluate(sum_int, {"A": I}, (None,)) is None
    assert evaluate(" + ".join(["A"] * 500), {"A": L}, (LONG_MAX,)) == java_int(500 * LONG_MAX, 64)
    mixed = "A - A - A + A * A * A - A"
    assert evaluate(mixed, {"A": I}, (65536,)) == java_int(-65536 + java_int(65536**3) - 65536)
    # the INTEGER part of the chain wraps at 32 bits before the BIGINT part starts
    assert evaluate("A + A + C + C", {"A": I, "C": L}, (INT_MAX, 1)) == -2 + 2
    assert type_of("A + A + C + C", {"A": I, "C": L}) == L


def test_500_term_double_decimal_and_string_chains():
    assert evaluate(" + ".join(["X"] * 500), {"X": D}, (0.1,)) == functools.reduce(lambda a, b: a + b, [0.1] * 500)
    assert evaluate("X + Y - X * X", {"X": D, "Y": DecimalType(4, 2)}, (0.5, Decimal("1.25"))) == 0.5 + 1.25 - 0.25
    decimals = {"X": DecimalType(4, 2), "Y": DecimalType(5, 3)}
    assert evaluate(" + ".join(["X"] * 30), decimals, (Decimal("1.25"), None)) == Decimal("37.50")
    # past 38 digits of precision the sum's scale drops to 0 (as ksqlDB types it): each step rounds
    assert type_of(" + ".join(["X"] * 500), decimals) == DecimalType(38, 0)
    assert evaluate(" + ".join(["X"] * 500), decimals, (Decimal("1.25"), None)) == Decimal("509")
    assert evaluate("X - Y + X * X", decimals, (Decimal("1.25"), Decimal("0.001"))) == Decimal("1.249") + Decimal(
        "1.5625")
    assert evaluate("X * Y * Y", decimals, (Decimal("1.25"), Decimal("0.001"))) == Decimal("0.00000125")
    assert evaluate(" + ".join(["V"] * 500), {"V": S}, ("ab",)) == "ab" * 500
    assert evaluate("'<' + " + " + ".join(["V"] * 500) + " + '>'", {"V": S}, (None,)) == "<" + "null" * 500 + ">"


@pytest.mark.parametrize("shape", ["-(" * 1000 + "A" + ")" * 1000, "ABS(" * 1000 + "A" + ")" * 1000,
                                   "1 + (" * 1000 + "A" + ")" * 1000,
                                   "CASE WHEN A > 0 THEN " * 300 + "A" + " END" * 300])
def test_expressions_nested_1000_deep_compile_in_pieces(shape):
    expr = parse_expression(shape, UNLIMITED)
    fn = compile_projection(None, [expr], scope_of({"A": I}), default_registry(), lambda message: None)
    assert fn((-7,))[0] == {"-": -7, "A": 7, "1": 993, "C": None}[shape[0]]


def test_brackets_and_quotes_in_string_literals_do_not_confuse_the_splitting_of_deep_code():
    text = "CONCAT(" * 300 + "V" + ", ')(''\\[')" * 300
    expr = parse_expression(text, UNLIMITED)
    fn = compile_projection(None, [expr], scope_of({"V": S}), default_registry(), lambda message: None)
    assert fn(("v",))[0] == "v" + ")('\\[" * 300
