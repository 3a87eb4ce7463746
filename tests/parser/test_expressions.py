"""Expressions: precedence, literals, names, constructors, lambdas, types."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksql import types as T
from ksql.errors import ParseError
from ksql.parser import ast as A
from ksql.parser import parse_expression, parse_type

a, b, c = A.ColumnRef("A"), A.ColumnRef("B"), A.ColumnRef("C")
one, two, three = A.IntegerLiteral(1), A.IntegerLiteral(2), A.IntegerLiteral(3)


def test_boolean_precedence():
    assert parse_expression("a OR b AND c") == A.Or(a, A.And(b, c))
    assert parse_expression("NOT a AND b") == A.And(A.Not(a), b)
    assert parse_expression("NOT NOT a") == A.Not(A.Not(a))
    assert parse_expression("a = 1 OR NOT b < 2") == A.Or(A.Comparison("=", a, one),
                                                          A.Not(A.Comparison("<", b, two)))


def test_arithmetic_precedence():
    assert parse_expression("a + b * c") == A.Arithmetic("+", a, A.Arithmetic("*", b, c))
    assert parse_expression("a - b - c") == A.Arithmetic("-", A.Arithmetic("-", a, b), c)
    assert parse_expression("(a + b) % c") == A.Arithmetic("%", A.Arithmetic("+", a, b), c)
    assert parse_expression("-a * b") == A.Arithmetic("*", A.Negation(a), b)
    assert parse_expression("+a / b") == A.Arithmetic("/", a, b)
    assert parse_expression("a + 1 > b * 2") == A.Comparison(
        ">", A.Arithmetic("+", a, one), A.Arithmetic("*", b, two))
    assert parse_expression("1-1") == A.Arithmetic("-", one, one)


@pytest.mark.parametrize("op, norm", [("=", "="), ("<>", "<>"), ("!=", "<>"), ("<", "<"), ("<=", "<="),
                                      (">", ">"), (">=", ">=")])
def test_comparisons(op, norm):
    assert parse_expression(f"a {op} b") == A.Comparison(norm, a, b)


def test_predicates():
    assert parse_expression("a IS NULL") == A.IsNull(a)
    assert parse_expression("a IS NOT NULL") == A.IsNull(a, negated=True)
    assert parse_expression("a IS DISTINCT FROM b") == A.Comparison("IS DISTINCT FROM", a, b)
    assert parse_expression("a IS NOT DISTINCT FROM b") == A.Comparison("IS NOT DISTINCT FROM", a, b)
    assert parse_expression("a BETWEEN 1 AND 2 AND b") == A.And(A.Between(a, one, two), b)
    assert parse_expression("a NOT BETWEEN 1 AND 2") == A.Between(a, one, two, negated=True)
    assert parse_expression("a IN (1, 2, b)") == A.InList(a, (one, two, b))
    assert parse_expression("a NOT IN (1)") == A.InList(a, (one,), negated=True)
    assert parse_expression("a LIKE 'x%'") == A.Like(a, A.StringLiteral("x%"))
    assert parse_expression("a NOT LIKE 'x!%' ESCAPE '!'") == A.Like(a, A.StringLiteral("x!%"), "!", True)
    with pytest.raises(ParseError):
        parse_expression("a IN ()")
    with pytest.raises(ParseError):
        parse_expression("a = b = c")


def test_integer_literals():
    assert parse_expression("2147483647") == A.IntegerLiteral(2147483647)
    assert parse_expression("2147483648") == A.LongLiteral(2147483648)
    assert parse_expression("-2147483648") == A.IntegerLiteral(-2147483648)
    assert parse_expression("-2147483649") == A.LongLiteral(-2147483649)
    assert parse_expression("9223372036854775807") == A.LongLiteral(2**63 - 1)
    assert parse_expression("-9223372036854775808") == A.LongLiteral(-(2**63))
    assert parse_expression("- 1") == A.IntegerLiteral(-1)
    assert parse_expression("--1\n1") == A.IntegerLiteral(1)  # a comment


@pytest.mark.parametrize("text, message", [
    ("9223372036854775808", "Invalid numeric literal: 9223372036854775808"),
    ("-9223372036854775809", "Invalid numeric literal: -9223372036854775809"),
    ("1 + 99999999999999999999999", "Invalid numeric literal: 99999999999999999999999"),
    ("1.7976931348623159E308", "Number overflows DOUBLE: 1.7976931348623159E308"),
    ("-1.7976931348623160E308", "Number overflows DOUBLE: -1.7976931348623160E308"),
])
def test_literal_overflow(text, message):
    with pytest.raises(ParseError, match=message):
        parse_expression(text)


def test_decimal_and_double_literals():
    assert parse_expression("1.50") == A.DecimalLiteral(Decimal("1.50"))
    assert parse_expression("-0.5") == A.DecimalLiteral(Decimal("-0.5"))
    assert parse_expression(".5") == A.DecimalLiteral(Decimal(".5"))
    assert parse_expression("1E3") == A.DoubleLiteral(1000.0)
    assert parse_expression("1.5e-2") == A.DoubleLiteral(0.015)
    assert parse_expression("-2.0E0") == A.DoubleLiteral(-2.0)


def test_other_literals():
    assert parse_expression("'it''s'") == A.StringLiteral("it's")
    assert parse_expression("''") == A.StringLiteral("")
    assert parse_expression("TRUE") == A.BooleanLiteral(True)
    assert parse_expression("false") == A.BooleanLiteral(False)
    assert parse_expression("null") == A.NullLiteral()


def test_identifiers():
    assert parse_expression("abc") == A.ColumnRef("ABC")
    assert parse_expression("`abc`") == A.ColumnRef("abc")
    assert parse_expression('"a""b"') == A.ColumnRef('a"b')
    assert parse_expression("`a``b`") == A.ColumnRef("a`b")
    assert parse_expression("s.col") == A.ColumnRef("COL", "S")
    assert parse_expression("`s`.`Col`") == A.ColumnRef("Col", "s")
    assert parse_expression("rowtime") == A.ColumnRef("ROWTIME")


def test_postfix_chains():
    assert parse_expression("a->b[1]->c") == A.Dereference(A.Subscript(A.Dereference(a, "B"), one), "C")
    assert parse_expression("s.a->`b`") == A.Dereference(A.ColumnRef("A", "S"), "b")
    assert parse_expression("m['k'][-1]") == A.Subscript(A.Subscript(A.ColumnRef("M"), A.StringLiteral("k")),
                                                        A.IntegerLiteral(-1))
    assert parse_expression("-a[1]") == A.Negation(A.Subscript(a, one))
    assert parse_expression("f(x)[2]->y") == A.Dereference(
        A.Subscript(A.FunctionCall("F", (A.ColumnRef("X"),)), two), "Y")


def test_function_calls():
    assert parse_expression("count(*)") == A.FunctionCall("COUNT", star=True)
    assert parse_expression("now()") == A.FunctionCall("NOW")
    assert parse_expression("COUNT_DISTINCT(DISTINCT a)") == A.FunctionCall("COUNT_DISTINCT", (a,), distinct=True)
    assert parse_expression("concat(a, 'x', 1)") == A.FunctionCall("CONCAT", (a, A.StringLiteral("x"), one))
    assert parse_expression("TIMESTAMPADD(SECONDS, 5, ts)") == A.FunctionCall(
        "TIMESTAMPADD", (A.IntervalUnit("SECONDS"), A.IntegerLiteral(5), A.ColumnRef("TS")))
    assert parse_expression("dateadd(days, -5, d)").args[0] == A.IntervalUnit("DAYS")
    assert parse_expression("f(milliseconds, hours, minutes)").args == (
        A.IntervalUnit("MILLISECONDS"), A.IntervalUnit("HOURS"), A.IntervalUnit("MINUTES"))
    # singular units are names (columns), as in ksqlDB
    assert parse_expression("multi_arg(first, second)").args == (A.ColumnRef("FIRST"), A.ColumnRef("SECOND"))
    assert parse_expression("replace(a, 'x', 'y')").name == "REPLACE"
    assert parse_expression("`myFunc`(a)").name == "myFunc"


def test_cast_and_case():
    assert parse_expression("CAST(a AS DECIMAL(4, 2))") == A.Cast(a, T.DecimalType(4, 2))
    assert parse_expression("cast(a as array<string>)") == A.Cast(a, T.ArrayType(T.STRING))
    assert parse_expression("CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END") == A.SearchedCase(
        (A.WhenClause(a, one), A.WhenClause(b, two)), three)
    assert parse_expression("CASE a WHEN 1 THEN b END") == A.SimpleCase(a, (A.WhenClause(one, b),))
    with pytest.raises(ParseError, match="NULL"):
        parse_expression("CAST(a AS NULL)")


def test_constructors():
    assert parse_expression("ARRAY[1, a]") == A.CreateArray((one, a))
    assert parse_expression("ARRAY[]") == A.CreateArray(())
    assert parse_expression("MAP('k' := 1, a := b)") == A.CreateMap(((A.StringLiteral("k"), one), (a, b)))
    assert parse_expression("MAP()") == A.CreateMap(())
    assert parse_expression("STRUCT(x := 1, `y` := a)") == A.CreateStruct((("X", one), ("y", a)))
    assert parse_expression("STRUCT()") == A.CreateStruct(())
    assert parse_expression("ARRAY[STRUCT(a := MAP('x' := ARRAY[1]))][1]->a") == A.Dereference(
        A.Subscript(A.CreateArray((A.CreateStruct((("A", A.CreateMap(((A.StringLiteral("x"),
                                                                        A.CreateArray((one,))),))),)),)),
                    one), "A")


def test_lambdas():
    x, y = A.LambdaVariable("X"), A.LambdaVariable("Y")
    assert parse_expression("transform(arr, x => x + 1)") == A.FunctionCall(
        "TRANSFORM", (A.ColumnRef("ARR"), A.Lambda(("X",), A.Arithmetic("+", x, one))))
    assert parse_expression("reduce(arr, 0, (s, x) => s + x)").args[2] == A.Lambda(
        ("S", "X"), A.Arithmetic("+", A.LambdaVariable("S"), x))
    assert parse_expression("filter(arr, (x) => x > a)").args[1] == A.Lambda(
        ("X",), A.Comparison(">", x, a))
    # qualified references and other names stay columns; nested lambdas bind both
    nested = parse_expression("transform(m, (x, y) => transform(y, z => z + x + t.x))").args[1]
    assert nested.params == ("X", "Y")
    inner = nested.body.args[1]
    assert inner.body == A.Arithmetic("+", A.Arithmetic("+", A.LambdaVariable("Z"), x), A.ColumnRef("X", "T"))
    assert nested.body.args[0] == y
    # (x) as an ordinary parenthesised argument still works
    assert parse_expression("abs((x))") == A.FunctionCall("ABS", (A.ColumnRef("X"),))
    with pytest.raises(ParseError):
        parse_expression("f((a + 1) => a)")
    with pytest.raises(ParseError):
        parse_expression("f((x, x) => x)")


def test_types():
    assert parse_type("INT") == T.INTEGER
    assert parse_type("integer") == T.INTEGER
    assert parse_type("VARCHAR") == T.STRING
    for name in ("BOOLEAN", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME", "TIMESTAMP"):
        assert parse_type(name) == T.primitive(name)
    assert parse_type("DECIMAL(10, 0)") == T.DecimalType(10, 0)
    assert parse_type("ARRAY<MAP<STRING, INT>>") == T.ArrayType(T.MapType(T.STRING, T.INTEGER))
    assert parse_type("MAP<STRING, ARRAY<ARRAY<INT>>>") == T.MapType(T.STRING, T.ArrayType(T.ArrayType(T.INTEGER)))
    assert parse_type("STRUCT<a INT, `b` STRUCT<c STRING>>") == T.StructType((
        T.StructField("A", T.INTEGER), T.StructField("b", T.StructType((T.StructField("C", T.STRING),)))))
    assert parse_type("STRUCT<>") == T.StructType(())
    assert parse_type("my_type") == T.TypeRef("MY_TYPE")
    assert parse_type("STRUCT<key STRING, type INT>").fields[1].name == "TYPE"


@pytest.mark.parametrize("text", ["DECIMAL(2, 3)", "DECIMAL(0, 0)", "ARRAY<NULL>", "MAP<STRING, NULL>",
                                  "STRUCT<fo NULL>", "ARRAY<INT", "DECIMAL", "MAP<STRING>"])
def test_bad_types(text):
    with pytest.raises(ParseError):
        parse_type(text)
