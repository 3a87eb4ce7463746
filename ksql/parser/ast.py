"""Typed AST of ksqlDB's SQL dialect: what the parser produces and the planner consumes.

Names: unquoted identifiers are upper-cased by the parser; quoted ones
(`back-ticked` or "double-quoted") keep their case. So every `name` here is
already the canonical, case-sensitive name ksqlDB would use.

Every node is a frozen dataclass; `Statement.text` keeps the statement's own
source text (for the command log, EXPLAIN and error messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ksql.types import SqlType

# ---------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------


class Expr:
    """Base of every expression node."""


@dataclass(frozen=True)
class NullLiteral(Expr):
    pass


@dataclass(frozen=True)
class BooleanLiteral(Expr):
    value: bool


@dataclass(frozen=True)
class IntegerLiteral(Expr):
    """A whole number that fits in 32 bits (ksqlDB's INTEGER literal)."""

    value: int


@dataclass(frozen=True)
class LongLiteral(Expr):
    """A whole number beyond 32 bits (BIGINT)."""

    value: int


@dataclass(frozen=True)
class DecimalLiteral(Expr):
    """A number with a decimal point and no exponent, e.g. 1.50 -> DECIMAL(3, 2)."""

    value: Decimal


@dataclass(frozen=True)
class DoubleLiteral(Expr):
    """A number with an exponent, e.g. 1.5E0 -> DOUBLE."""

    value: float


@dataclass(frozen=True)
class StringLiteral(Expr):
    value: str


@dataclass(frozen=True)
class ColumnRef(Expr):
    """A column, optionally qualified by a source name or alias: `S.COL` or `COL`."""

    name: str
    source: str | None = None


@dataclass(frozen=True)
class Dereference(Expr):
    """Struct field access: `base->field`."""

    base: Expr
    field: str


@dataclass(frozen=True)
class Subscript(Expr):
    """Array index (1-based, negative from the end) or map lookup: `base[index]`."""

    base: Expr
    index: Expr


@dataclass(frozen=True)
class FunctionCall(Expr):
    """A scalar, aggregate or table function call. `COUNT(*)` has star=True and no args."""

    name: str
    args: tuple[Expr, ...] = ()
    star: bool = False
    distinct: bool = False


@dataclass(frozen=True)
class LambdaVariable(Expr):
    """A lambda parameter used in the lambda's body."""

    name: str


@dataclass(frozen=True)
class Lambda(Expr):
    """`(x, y) => body` or `x => body`, only valid as a function argument."""

    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class Arithmetic(Expr):
    """Binary arithmetic; op is one of + - * / %."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Negation(Expr):
    """Unary minus (unary plus is dropped by the parser)."""

    operand: Expr


@dataclass(frozen=True)
class Comparison(Expr):
    """op is one of = <> != < <= > >= 'IS DISTINCT FROM' 'IS NOT DISTINCT FROM'.

    The parser normalises != to <>.
    """

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class And(Expr):
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or(Expr):
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr
    negated: bool = False


@dataclass(frozen=True)
class Like(Expr):
    value: Expr
    pattern: Expr
    escape: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class InList(Expr):
    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class WhenClause:
    condition: Expr
    result: Expr


@dataclass(frozen=True)
class SearchedCase(Expr):
    """CASE WHEN cond THEN x ... ELSE y END."""

    whens: tuple[WhenClause, ...]
    default: Expr | None = None


@dataclass(frozen=True)
class SimpleCase(Expr):
    """CASE operand WHEN value THEN x ... ELSE y END."""

    operand: Expr
    whens: tuple[WhenClause, ...]
    default: Expr | None = None


@dataclass(frozen=True)
class Cast(Expr):
    expr: Expr
    type: SqlType


@dataclass(frozen=True)
class CreateArray(Expr):
    """ARRAY[a, b, ...]."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class CreateMap(Expr):
    """MAP(k1 := v1, k2 := v2, ...)."""

    entries: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class CreateStruct(Expr):
    """STRUCT(name := expr, ...)."""

    fields: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class IntervalUnit(Expr):
    """A bare time unit used as a function argument, e.g. TIMESTAMPADD(SECONDS, 1, ts)."""

    unit: str


# ---------------------------------------------------------------------------
# Query parts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A time span as written (`10 SECONDS`); `millis` is its length."""

    value: int
    unit: str  # canonical plural upper-case: MILLISECONDS SECONDS MINUTES HOURS DAYS

    @property
    def millis(self) -> int:
        return self.value * _UNIT_MILLIS[self.unit]


_UNIT_MILLIS = {
    "MILLISECONDS": 1,
    "SECONDS": 1000,
    "MINUTES": 60_000,
    "HOURS": 3_600_000,
    "DAYS": 86_400_000,
}


@dataclass(frozen=True)
class SelectItem:
    """One projected expression with its alias (None when the user gave none)."""

    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class AllColumns:
    """`*` or `source.*` in a select list."""

    source: str | None = None


@dataclass(frozen=True)
class StructAll:
    """`expr->*` in a select list: every field of a struct, each as its own column."""

    base: Expr


@dataclass(frozen=True)
class WindowSpec:
    """WINDOW TUMBLING/HOPPING/SESSION (...)."""

    kind: str  # TUMBLING | HOPPING | SESSION
    size: Duration  # for SESSION: the inactivity gap
    advance: Duration | None = None
    retention: Duration | None = None
    grace: Duration | None = None


@dataclass(frozen=True)
class Within:
    """WITHIN n unit | WITHIN (before, after), with an optional GRACE PERIOD."""

    before: Duration
    after: Duration
    grace: Duration | None = None


class Relation:
    """Base of FROM-clause items."""


@dataclass(frozen=True)
class Table(Relation):
    """A named stream or table in FROM, with an optional alias."""

    name: str
    alias: str | None = None


@dataclass(frozen=True)
class Join(Relation):
    """left [INNER|LEFT|RIGHT|FULL] JOIN right [WITHIN ...] ON condition.

    N-way joins nest on the left: ((a JOIN b) JOIN c).
    """

    left: Relation
    right: Table
    kind: str  # INNER | LEFT | RIGHT | FULL
    on: Expr
    within: Within | None = None


@dataclass(frozen=True)
class Query:
    """A SELECT. `emit` is 'CHANGES', 'FINAL' or None (a pull query)."""

    select: tuple[SelectItem | AllColumns, ...]
    from_: Relation
    where: Expr | None = None
    window: WindowSpec | None = None
    group_by: tuple[Expr, ...] = ()
    partition_by: tuple[Expr, ...] | None = None  # None: no PARTITION BY clause
    having: Expr | None = None
    emit: str | None = None
    limit: int | None = None


# ---------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """Base of every statement; `text` is the statement's source, without its `;`."""


@dataclass(frozen=True)
class TableElement:
    """A column in CREATE STREAM/TABLE: `NAME TYPE [KEY|PRIMARY KEY|HEADERS|HEADER('k')]`."""

    name: str
    type: SqlType
    constraint: str | None = None  # KEY | PRIMARY KEY | HEADERS | HEADER
    header_key: str | None = None  # for HEADER('k')


# WITH (...) properties: upper-cased property name -> literal value
# (str, int, Decimal, float, bool or None). The parser upper-cases names.
Properties = dict[str, Any]


@dataclass(frozen=True)
class CreateSource(Statement):
    """CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (elements) WITH (...)."""

    kind: str  # STREAM | TABLE
    name: str
    elements: tuple[TableElement, ...]
    properties: Properties
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False
    text: str = ""


@dataclass(frozen=True)
class CreateAsSelect(Statement):
    """CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name [WITH (...)] AS SELECT ..."""

    kind: str  # STREAM | TABLE
    name: str
    query: Query
    properties: Properties
    or_replace: bool = False
    if_not_exists: bool = False
    text: str = ""


@dataclass(frozen=True)
class InsertInto(Statement):
    """INSERT INTO target [WITH (...)] SELECT ..."""

    target: str
    query: Query
    properties: Properties = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class InsertValues(Statement):
    """INSERT INTO target [(col, ...)] VALUES (expr, ...)."""

    target: str
    columns: tuple[str, ...] | None
    values: tuple[Expr, ...]
    text: str = ""


@dataclass(frozen=True)
class SelectStatement(Statement):
    """A transient query: a push query (EMIT CHANGES/FINAL) or a pull query."""

    query: Query
    text: str = ""


@dataclass(frozen=True)
class DropSource(Statement):
    """DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]."""

    kind: str
    name: str
    if_exists: bool = False
    delete_topic: bool = False
    text: str = ""


@dataclass(frozen=True)
class CreateType(Statement):
    """CREATE TYPE [IF NOT EXISTS] name AS type."""

    name: str
    type: SqlType
    if_not_exists: bool = False
    text: str = ""


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False
    text: str = ""


@dataclass(frozen=True)
class AlterSource(Statement):
    """ALTER STREAM|TABLE name ADD [COLUMN] col type, ..."""

    kind: str
    name: str
    columns: tuple[TableElement, ...]
    text: str = ""


@dataclass(frozen=True)
class Terminate(Statement):
    """TERMINATE query_id | TERMINATE ALL (query_id None)."""

    query_id: str | None
    text: str = ""


@dataclass(frozen=True)
class PauseResume(Statement):
    """PAUSE|RESUME query_id | ALL."""

    action: str  # PAUSE | RESUME
    query_id: str | None
    text: str = ""


@dataclass(frozen=True)
class Show(Statement):
    """SHOW|LIST STREAMS|TABLES|TOPICS|QUERIES|PROPERTIES|FUNCTIONS|TYPES|VARIABLES|CONNECTORS.

    `all_topics` is SHOW ALL TOPICS; `extended` is the EXTENDED suffix;
    `connector_kind` is SOURCE/SINK for SHOW SOURCE|SINK CONNECTORS.
    """

    what: str
    extended: bool = False
    all_topics: bool = False
    connector_kind: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Describe(Statement):
    """DESCRIBE [EXTENDED] name, or DESCRIBE STREAMS|TABLES [EXTENDED] (name None, what set)."""

    name: str | None
    extended: bool = False
    what: str | None = None  # STREAMS | TABLES for the list form
    text: str = ""


@dataclass(frozen=True)
class DescribeFunction(Statement):
    name: str
    text: str = ""


@dataclass(frozen=True)
class DescribeConnector(Statement):
    name: str
    text: str = ""


@dataclass(frozen=True)
class Explain(Statement):
    """EXPLAIN query_id | EXPLAIN <statement>."""

    query_id: str | None = None
    statement: Statement | None = None
    text: str = ""


@dataclass(frozen=True)
class SetProperty(Statement):
    name: str
    value: str
    text: str = ""


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str
    text: str = ""


@dataclass(frozen=True)
class DefineVariable(Statement):
    name: str
    value: str
    text: str = ""


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str
    text: str = ""


@dataclass(frozen=True)
class RunScript(Statement):
    path: str
    text: str = ""


@dataclass(frozen=True)
class Print(Statement):
    """PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]."""

    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None
    text: str = ""


@dataclass(frozen=True)
class AssertTopic(Statement):
    """ASSERT [NOT EXISTS] TOPIC name [WITH (...)] [TIMEOUT n unit]."""

    topic: str
    exists: bool = True
    properties: Properties = field(default_factory=dict)
    timeout: Duration | None = None
    text: str = ""


@dataclass(frozen=True)
class AssertSchema(Statement):
    """ASSERT [NOT EXISTS] SCHEMA [SUBJECT s] [ID n] [TIMEOUT n unit]."""

    subject: str | None = None
    schema_id: int | None = None
    exists: bool = True
    timeout: Duration | None = None
    text: str = ""


@dataclass(frozen=True)
class CreateConnector(Statement):
    """CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...)."""

    name: str
    kind: str  # SOURCE | SINK
    properties: Properties
    if_not_exists: bool = False
    text: str = ""


@dataclass(frozen=True)
class DropConnector(Statement):
    name: str
    if_exists: bool = False
    text: str = ""
