"""Lark transformer turning ksql.lark's parse into the typed AST (ksql.parser.ast).

Runs inline with the LALR parser (no intermediate tree). Callbacks return AST
nodes, plain strings for names, or small private markers (`_Flag`, `_Props`,
...) that the enclosing rule consumes; none of the markers reach the caller.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal, InvalidOperation

from lark import Token, Transformer

from ksql import types as T
from ksql.errors import KsqlError
from ksql.parser import ast as A

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_UNITS = {
    "MILLISECOND": "MILLISECONDS",
    "MILLISECONDS": "MILLISECONDS",
    "SECOND": "SECONDS",
    "SECONDS": "SECONDS",
    "MINUTE": "MINUTES",
    "MINUTES": "MINUTES",
    "HOUR": "HOURS",
    "HOURS": "HOURS",
    "DAY": "DAYS",
    "DAYS": "DAYS",
}


class _Flag:
    """An optional keyword that was present (OR REPLACE, IF EXISTS, ...)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Props(dict):
    """WITH (...) properties."""


class _PropName(str):
    """A WITH property name, upper-cased, that remembers how it was written (connector properties are
    case-sensitive, as in Kafka Connect)."""

    original: str


class _Elements(tuple):
    """CREATE's column list."""


class _Columns(tuple):
    """INSERT's column list."""


class _Clause:
    """A query clause: kind + value."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value):
        self.kind = kind
        self.value = value


def _flags(children) -> set[str]:
    return {c.name for c in children if isinstance(c, _Flag)}


def _first(children, cls):
    for c in children:
        if isinstance(c, cls):
            return c
    return None


def _unquote_string(tok: str) -> str:
    return tok[1:-1].replace("''", "'")


def _name_of(tok: Token) -> str:
    """Canonical name of an identifier token: unquoted upper-cased, quoted kept."""
    t = tok.type
    if t == "QUOTED_IDENTIFIER":
        return tok[1:-1].replace('""', '"')
    if t == "BACKQUOTED_IDENTIFIER":
        return tok[1:-1].replace("``", "`")
    return tok.upper()


def _raw_name_of(tok: Token) -> str:
    """An identifier token as written (quotes removed, case kept)."""
    t = tok.type
    if t in ("QUOTED_IDENTIFIER", "BACKQUOTED_IDENTIFIER"):
        return _name_of(tok)
    return str(tok)


class ParseState:
    """Per-parse bookkeeping (literal overflows that a unary minus may still fix)."""

    def __init__(self):
        self.pending: dict[int, tuple[A.Expr, str, Token]] = {}


class AstBuilder(Transformer):
    """Inline LALR callbacks. `state` is reset by the caller before each parse."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.state = ParseState()

    # ------------------------------------------------------------ entries

    def stmt_start(self, c):
        return c[0]

    def expr_start(self, c):
        return c[0]

    def type_start(self, c):
        return c[0]

    # ------------------------------------------------------------ names

    def name_tok(self, c):
        return c[0]

    def nonreserved(self, c):
        return c[0]

    def alias_nonreserved(self, c):
        return c[0]

    def identifier(self, c):
        return _name_of(c[0])

    def alias_name(self, c):
        return _name_of(c[0])

    def source_name(self, c):
        return c[0]

    def resource_name(self, c):
        tok = c[0]
        if tok.type == "STRING":
            return _unquote_string(tok)
        return _raw_name_of(tok)

    # ------------------------------------------------------------ flags

    def or_replace(self, c):
        return _Flag("OR_REPLACE")

    def source_flag(self, c):
        return _Flag("SOURCE")

    def if_not_exists(self, c):
        return _Flag("IF_NOT_EXISTS")

    def if_exists(self, c):
        return _Flag("IF_EXISTS")

    def delete_topic(self, c):
        return _Flag("DELETE_TOPIC")

    def extended(self, c):
        return _Flag("EXTENDED")

    def not_exists(self, c):
        return _Flag("NOT_EXISTS")

    def not_(self, c):
        return _Flag("NOT")

    def distinct(self, c):
        return _Flag("DISTINCT")

    def source_kind(self, c):
        return _Clause("kind", c[0].upper())

    def connector_kind(self, c):
        return _Clause("connector_kind", c[0].upper())

    # ------------------------------------------------------------ DDL

    def table_elements(self, c):
        return _Elements(c)

    def table_element(self, c):
        tok, typ = c[0], c[1]
        constraint = c[2] if len(c) > 2 else None
        el = A.TableElement(_name_of(tok), typ)
        if constraint is not None:
            kind, key = constraint
            el = A.TableElement(el.name, typ, kind, key)
        return (el, tok)

    def key_constraint(self, c):
        return ("KEY", None)

    def primary_key_constraint(self, c):
        return ("PRIMARY KEY", None)

    def headers_constraint(self, c):
        return ("HEADERS", None)

    def header_constraint(self, c):
        return ("HEADER", _unquote_string(c[0]))

    def with_props(self, c):
        props = _Props()
        for name, value in c:
            props[name] = value
        return props

    def property(self, c):
        return (c[0], _literal_value(c[1]))

    def prop_name(self, c):
        v = c[0]
        original = _unquote_string(v) if isinstance(v, Token) and v.type == "STRING" else str(v)
        name = _PropName(original.upper())
        name.original = original
        return name

    def _elements(self, c, kind):
        raw = _first(c, _Elements) or ()
        out = []
        for el, tok in raw:
            if kind == "TABLE" and el.constraint == "KEY":
                raise _located(
                    f"Column `{el.name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.", tok)
            if kind == "STREAM" and el.constraint == "PRIMARY KEY":
                raise _located(
                    f"Column `{el.name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.", tok)
            out.append(el)
        return tuple(out)

    def create_source(self, c):
        f = _flags(c)
        kind = _first(c, _Clause).value
        name = next(x for x in c if type(x) is str)
        return A.CreateSource(
            kind=kind,
            name=name,
            elements=self._elements(c, kind),
            properties=dict(_first(c, _Props) or {}),
            or_replace="OR_REPLACE" in f,
            if_not_exists="IF_NOT_EXISTS" in f,
            is_source="SOURCE" in f,
        )

    def create_as(self, c):
        f = _flags(c)
        return A.CreateAsSelect(
            kind=_first(c, _Clause).value,
            name=next(x for x in c if type(x) is str),
            query=_first(c, A.Query),
            properties=dict(_first(c, _Props) or {}),
            or_replace="OR_REPLACE" in f,
            if_not_exists="IF_NOT_EXISTS" in f,
        )

    def drop_source(self, c):
        f = _flags(c)
        return A.DropSource(
            kind=_first(c, _Clause).value,
            name=next(x for x in c if type(x) is str),
            if_exists="IF_EXISTS" in f,
            delete_topic="DELETE_TOPIC" in f,
        )

    def create_type(self, c):
        return A.CreateType(
            name=next(x for x in c if type(x) is str),
            type=c[-1],
            if_not_exists="IF_NOT_EXISTS" in _flags(c),
        )

    def drop_type(self, c):
        return A.DropType(name=c[-1], if_exists="IF_EXISTS" in _flags(c))

    def alter_source(self, c):
        return A.AlterSource(
            kind=c[0].value,
            name=c[1],
            columns=tuple(x for x in c[2:]),
        )

    def alter_option(self, c):
        return A.TableElement(_name_of(c[0]), c[1])

    def create_connector(self, c):
        return A.CreateConnector(
            name=next(x for x in c if type(x) is str),
            kind=_first(c, _Clause).value,
            properties={getattr(k, "original", k): v for k, v in (_first(c, _Props) or {}).items()},
            if_not_exists="IF_NOT_EXISTS" in _flags(c),
        )

    def drop_connector(self, c):
        return A.DropConnector(name=c[-1], if_exists="IF_EXISTS" in _flags(c))

    # ------------------------------------------------------------ DML

    def insert_into(self, c):
        return A.InsertInto(
            target=c[0],
            query=_first(c, A.Query),
            properties=dict(_first(c, _Props) or {}),
        )

    def insert_values(self, c):
        """Refused here as ksqlDB's AST builder refuses them: system columns, a column list and values of
        different lengths, and qualified column references (VALUES has no source to qualify by)."""
        cols = _first(c, _Columns)
        values = tuple(x for x in c[1:] if isinstance(x, A.Expr))
        for name in cols or ():
            if name in ("ROWPARTITION", "ROWOFFSET"):
                raise _located(f"Inserting into column `{name}` is not allowed.", None)
        if cols is not None and len(cols) != len(values):
            raise _located(f"Expected number columns and values to match: {len(cols)}, {len(values)}", None)
        for ref in _column_refs(values):
            if ref.source is not None:
                raise _located(f"'{ref.source}' is not a valid stream/table name or alias.", None)
        return A.InsertValues(target=c[0], columns=tuple(cols) if cols is not None else None, values=values)

    def column_list(self, c):
        return _Columns(c)

    # ------------------------------------------------------------ queries

    def select_statement(self, c):
        return A.SelectStatement(query=c[0])

    def query(self, c):
        items = []
        clauses = {}
        relation = None
        for x in c:
            if isinstance(x, (A.SelectItem, A.AllColumns, A.StructAll)):
                items.append(x)
            elif isinstance(x, A.Relation):
                relation = x
            elif isinstance(x, _Clause):
                clauses[x.kind] = x.value
        return A.Query(
            select=tuple(items),
            from_=relation,
            where=clauses.get("where"),
            window=clauses.get("window"),
            group_by=clauses.get("group_by", ()),
            partition_by=clauses.get("partition_by"),
            having=clauses.get("having"),
            emit=clauses.get("emit"),
            limit=clauses.get("limit"),
        )

    def select_single(self, c):
        return A.SelectItem(c[0])

    def select_aliased(self, c):
        return A.SelectItem(c[0], c[1])

    def select_all(self, c):
        return A.AllColumns()

    def select_all_from(self, c):
        return A.AllColumns(c[0])

    def select_struct_all(self, c):
        return A.StructAll(c[0])

    def aliased_relation(self, c):
        return A.Table(c[0], c[1] if len(c) > 1 else None)

    def join(self, c):
        left, kind, right = c[0], c[1], c[2]
        within = c[3] if len(c) > 4 else None
        on = c[-1]
        return A.Join(left=left, right=right, kind=kind, on=on, within=within)

    def inner_join(self, c):
        return "INNER"

    def left_join(self, c):
        return "LEFT"

    def right_join(self, c):
        return "RIGHT"

    def full_join(self, c):
        return "FULL"

    def within_single(self, c):
        return A.Within(before=c[0], after=c[0], grace=c[1] if len(c) > 1 else None)

    def within_pair(self, c):
        return A.Within(before=c[0], after=c[1], grace=c[2] if len(c) > 2 else None)

    def window_clause(self, c):
        return _Clause("window", c[-1])

    def tumbling(self, c):
        size, opts = c[0], c[1]
        return A.WindowSpec("TUMBLING", size, retention=opts.get("retention"), grace=opts.get("grace"))

    def hopping(self, c):
        size, advance, opts = c[0], c[1], c[2]
        return A.WindowSpec("HOPPING", size, advance=advance, retention=opts.get("retention"),
                            grace=opts.get("grace"))

    def session(self, c):
        size, opts = c[0], c[1]
        return A.WindowSpec("SESSION", size, retention=opts.get("retention"), grace=opts.get("grace"))

    def window_opts(self, c):
        out = {}
        for kind, d in c:
            out[kind] = d
        return out

    def window_opt(self, c):
        return ("grace", c[0])

    def retention(self, c):
        return ("retention", c[0])

    def grace_period(self, c):
        return c[0]

    def duration(self, c):
        value = int(c[0])
        if value > LONG_MAX:
            raise _located(f"Invalid numeric literal: {c[0]}", c[0])
        return A.Duration(value, c[1])

    def time_unit(self, c):
        return _UNITS[c[0].upper()]

    def unit_plural(self, c):
        return _UNITS[c[0].upper()]

    def where_clause(self, c):
        return _Clause("where", c[0])

    def group_by(self, c):
        return _Clause("group_by", c[0])

    def partition_by(self, c):
        return _Clause("partition_by", c[0])

    def expr_group(self, c):
        return tuple(c)

    def having(self, c):
        return _Clause("having", c[0])

    def emit(self, c):
        return _Clause("emit", c[1].upper())

    def limit(self, c):
        return _Clause("limit", _small_int(c[0]))

    def negative_limit(self, c):
        """Parsed so the query kind decides (pull queries refuse it with their own message)."""
        return _Clause("limit", -_small_int(c[0]))

    def non_integer_limit(self, c):
        raise _located("Value must be integer for command: LIMIT", None)

    # ------------------------------------------------------------ other statements

    def terminate(self, c):
        return A.Terminate(c[0])

    def terminate_all(self, c):
        return A.Terminate(None)

    def pause_resume(self, c):
        action = c[0].upper()
        target = c[1]
        if isinstance(target, Token):  # ALL
            return A.PauseResume(action, None)
        return A.PauseResume(action, target)

    def show(self, c):
        what = c[1]
        extended = len(c) > 2
        words = [w.upper() for w in what]
        if words[0] == "ALL":
            return A.Show("TOPICS", extended=extended, all_topics=True)
        if words[0] in ("SOURCE", "SINK"):
            return A.Show("CONNECTORS", extended=extended, connector_kind=words[0])
        return A.Show(words[0], extended=extended)

    def show_what(self, c):
        return c

    def describe(self, c):
        name = next(x for x in c if type(x) is str)
        return A.Describe(name=name, extended="EXTENDED" in _flags(c))

    def describe_list(self, c):
        return A.Describe(name=None, extended="EXTENDED" in _flags(c), what=c[0])

    def list_kind(self, c):
        return c[0].upper()

    def describe_function(self, c):
        return A.DescribeFunction(c[0])

    def describe_connector(self, c):
        return A.DescribeConnector(c[0])

    def explain_id(self, c):
        return A.Explain(query_id=c[0])

    def explain_statement(self, c):
        return A.Explain(statement=c[0])

    def set_property(self, c):
        return A.SetProperty(_unquote_string(c[0]), _unquote_string(c[1]))

    def unset_property(self, c):
        return A.UnsetProperty(_unquote_string(c[0]))

    def define_variable(self, c):
        return A.DefineVariable(c[0], _unquote_string(c[1]))

    def undefine_variable(self, c):
        return A.UndefineVariable(c[0])

    def run_script(self, c):
        return A.RunScript(_unquote_string(c[0]))

    def print_topic(self, c):
        opts = dict(x for x in c[1:])
        return A.Print(
            topic=c[0],
            from_beginning=opts.get("from_beginning", False),
            interval=opts.get("interval"),
            limit=opts.get("limit"),
        )

    def from_beginning(self, c):
        return ("from_beginning", True)

    def print_interval(self, c):
        return ("interval", _small_int(c[0]))

    def print_limit(self, c):
        return ("limit", _small_int(c[0]))

    def assert_topic(self, c):
        topic = next(x for x in c if type(x) is str)
        return A.AssertTopic(
            topic=topic,
            exists="NOT_EXISTS" not in _flags(c),
            properties=dict(_first(c, _Props) or {}),
            timeout=_clause_value(c, "timeout"),
        )

    def assert_schema(self, c):
        return A.AssertSchema(
            subject=_clause_value(c, "subject"),
            schema_id=_clause_value(c, "schema_id"),
            exists="NOT_EXISTS" not in _flags(c),
            timeout=_clause_value(c, "timeout"),
        )

    def subject(self, c):
        return _Clause("subject", c[0])

    def schema_id(self, c):
        return _Clause("schema_id", _small_int(c[0]))

    def timeout(self, c):
        return _Clause("timeout", c[0])

    # ------------------------------------------------------------ expressions

    def or_(self, c):
        return A.Or(c[0], c[1])

    def and_(self, c):
        return A.And(c[0], c[1])

    def logical_not(self, c):
        return A.Not(c[0])

    def comparison(self, c):
        op = str(c[1])
        if op == "!=":
            op = "<>"
        return A.Comparison(op, c[0], c[2])

    def comp_op(self, c):
        return c[0]

    def between(self, c):
        negated = isinstance(c[1], _Flag)
        rest = c[2:] if negated else c[1:]
        return A.Between(c[0], rest[0], rest[1], negated)

    def in_list(self, c):
        negated = isinstance(c[1], _Flag)
        items = tuple(c[2:] if negated else c[1:])
        return A.InList(c[0], items, negated)

    def like(self, c):
        negated = isinstance(c[1], _Flag)
        rest = c[2:] if negated else c[1:]
        escape = None
        if len(rest) > 1:
            escape = _unquote_string(rest[1])
            if len(escape) != 1:
                raise _located(f"Expected single character escape but got: {escape}", rest[1])
        return A.Like(c[0], rest[0], escape, negated)

    def is_null(self, c):
        return A.IsNull(c[0], negated=len(c) > 1)

    def distinct_from(self, c):
        negated = isinstance(c[1], _Flag)
        op = "IS NOT DISTINCT FROM" if negated else "IS DISTINCT FROM"
        return A.Comparison(op, c[0], c[-1])

    def add(self, c):
        return A.Arithmetic("+", c[0], c[1])

    def sub(self, c):
        return A.Arithmetic("-", c[0], c[1])

    def mul(self, c):
        return A.Arithmetic("*", c[0], c[1])

    def div(self, c):
        return A.Arithmetic("/", c[0], c[1])

    def mod(self, c):
        return A.Arithmetic("%", c[0], c[1])

    def neg(self, c):
        operand = c[0]
        pending = self.state.pending
        key = id(operand)
        if key in pending:
            node, text, tok = pending.pop(key)
            if isinstance(node, A.LongLiteral) and -node.value >= LONG_MIN:
                return A.LongLiteral(-node.value)
            if isinstance(node, A.LongLiteral):
                raise _located(f"Invalid numeric literal: -{text}", tok)
            raise _located(f"Number overflows DOUBLE: -{text}", tok)
        if isinstance(operand, A.IntegerLiteral):
            return A.IntegerLiteral(-operand.value)
        if isinstance(operand, A.LongLiteral):
            v = -operand.value
            return A.IntegerLiteral(v) if v >= INT_MIN else A.LongLiteral(v)
        if isinstance(operand, A.DecimalLiteral):
            return A.DecimalLiteral(-operand.value)
        if isinstance(operand, A.DoubleLiteral):
            return A.DoubleLiteral(-operand.value)
        return A.Negation(operand)

    def pos(self, c):
        return c[0]

    def subscript(self, c):
        return A.Subscript(c[0], c[1])

    def deref(self, c):
        return A.Dereference(c[0], c[1])

    def column_ref(self, c):
        return A.ColumnRef(c[0])

    def qualified_column_ref(self, c):
        return A.ColumnRef(c[1], c[0])

    def call_star(self, c):
        return A.FunctionCall(c[0], (), star=True)

    def call(self, c):
        name = c[0]
        distinct = False
        args = []
        for x in c[1:]:
            if x is None:
                continue
            if isinstance(x, _Flag):
                distinct = True
            else:
                args.append(x)
        return A.FunctionCall(name, tuple(args), distinct=distinct)

    def function_arg(self, c):
        return c[0]

    def interval_unit(self, c):
        return A.IntervalUnit(c[0])

    def lambda_one(self, c):
        return _make_lambda((c[0],), c[1])

    def lambda_paren(self, c):
        param = c[0]
        if not (isinstance(param, A.ColumnRef) and param.source is None):
            raise KsqlError("Lambda parameters must be identifiers")
        return _make_lambda((param.name,), c[1])

    def lambda_many(self, c):
        return _make_lambda(tuple(c[:-1]), c[-1])

    def cast(self, c):
        return A.Cast(c[0], c[1])

    def simple_case(self, c):
        operand = c[0]
        whens = tuple(x for x in c[1:-1] if isinstance(x, A.WhenClause))
        return A.SimpleCase(operand, whens, c[-1])

    def searched_case(self, c):
        whens = tuple(x for x in c[:-1] if isinstance(x, A.WhenClause))
        return A.SearchedCase(whens, c[-1])

    def when_clause(self, c):
        return A.WhenClause(c[0], c[1])

    def create_array(self, c):
        return A.CreateArray(tuple(x for x in c if x is not None))

    def create_map(self, c):
        return A.CreateMap(tuple(x for x in c if x is not None))

    def map_entry(self, c):
        return (c[0], c[1])

    def create_struct(self, c):
        return A.CreateStruct(tuple(x for x in c if x is not None))

    def struct_entry(self, c):
        return (c[0], c[1])

    # ------------------------------------------------------------ literals

    def null(self, c):
        return A.NullLiteral()

    def true(self, c):
        return A.BooleanLiteral(True)

    def false(self, c):
        return A.BooleanLiteral(False)

    def string(self, c):
        return A.StringLiteral(_unquote_string(c[0]))

    def integer(self, c):
        tok = c[0]
        v = int(tok)
        if v <= INT_MAX:
            return A.IntegerLiteral(v)
        if v <= LONG_MAX:
            return A.LongLiteral(v)
        # Out of range unless a unary minus brings it back (-9223372036854775808).
        node = A.LongLiteral(v)
        self.state.pending[id(node)] = (node, str(tok), tok)
        return node

    def decimal(self, c):
        tok = c[0]
        try:
            return A.DecimalLiteral(Decimal(str(tok)))
        except InvalidOperation:
            raise _located(f"Invalid numeric literal: {tok}", tok) from None

    def double(self, c):
        tok = c[0]
        v = float(tok)
        if math.isinf(v):
            node = A.DoubleLiteral(v)
            self.state.pending[id(node)] = (node, str(tok), tok)
            return node
        return A.DoubleLiteral(v)

    def neg_number(self, c):
        return self.neg(c)

    # ------------------------------------------------------------ types

    def array_type(self, c):
        return T.ArrayType(c[0])

    def map_type(self, c):
        return T.MapType(c[0], c[1])

    def struct_type(self, c):
        return T.StructType(tuple(x for x in c if x is not None))

    def struct_field(self, c):
        return T.StructField(c[0], c[1])

    def decimal_type(self, c):
        p, s = int(c[0]), int(c[1])
        try:
            return T.DecimalType(p, s)
        except KsqlError as e:
            raise _located(str(e), c[0]) from None

    def named_type(self, c):
        name = c[0]
        prim = T.primitive(name)
        if prim is not None:
            return prim
        return T.TypeRef(name)


# ---------------------------------------------------------------- helpers


class LocatedError(KsqlError):
    """An error raised by a callback, with the token it is about (made a ParseError by the caller)."""

    def __init__(self, message: str, token: Token | None):
        super().__init__(message)
        self.message = message
        self.token = token


def _column_refs(node):
    """Every column reference within `node` (an expression, or a tuple of them)."""
    if isinstance(node, A.ColumnRef):
        yield node
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from _column_refs(item)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _column_refs(getattr(node, f.name))


def _located(message: str, token) -> LocatedError:
    return LocatedError(message, token if isinstance(token, Token) else None)


def _small_int(tok: Token) -> int:
    v = int(tok)
    if v > LONG_MAX:
        raise _located(f"Invalid numeric literal: {tok}", tok)
    return v


def _literal_value(node):
    if isinstance(node, A.NullLiteral):
        return None
    return node.value


def _clause_value(children, kind):
    for c in children:
        if isinstance(c, _Clause) and c.kind == kind:
            return c.value
    return None


def _make_lambda(params: tuple[str, ...], body: A.Expr) -> A.Lambda:
    if len(set(params)) != len(params):
        raise KsqlError(f"Lambda arguments must be unique: {', '.join(params)}")
    return A.Lambda(params, _bind_lambda_vars(body, frozenset(params)))


def _bind_lambda_vars(node, params: frozenset[str]):
    """Replace unqualified column references to lambda parameters by LambdaVariable."""
    if isinstance(node, A.ColumnRef):
        if node.source is None and node.name in params:
            return A.LambdaVariable(node.name)
        return node
    if isinstance(node, tuple):
        new = tuple(_bind_lambda_vars(x, params) for x in node)
        return node if all(a is b for a, b in zip(new, node, strict=True)) else new
    if isinstance(node, (A.Expr, A.WhenClause)):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, (A.Expr, A.WhenClause, tuple)):
                nv = _bind_lambda_vars(v, params)
                if nv is not v:
                    changes[f.name] = nv
        return dataclasses.replace(node, **changes) if changes else node
    return node
