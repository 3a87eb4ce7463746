"""Analysis of a SELECT over one source: names, types, key columns, the output schema.

The result, a `ProjectionPlan`, says which expressions over the source row make
the output key and value columns. The runtime compiles them, with the WHERE
filter, into one batch function. Messages follow ksqlDB's wording, since users
(and ksqlDB's tests) rely on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ksql.engine.metastore import DataSource
from ksql.engine.schema import (
    KEY,
    PSEUDO_COLUMNS,
    ROW_POSITION_COLUMNS,
    ROWTIME,
    VALUE,
    WINDOW_COLUMNS,
    WINDOWEND,
    WINDOWSTART,
    LogicalSchema,
    SchemaColumn,
)
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry
from ksql.functions.javalib import parse_timestamp
from ksql.functions.registry import ResolvedFunction
from ksql.parser import ast
from ksql.planner.expressions import ExpressionTyper, Scope, ScopeColumn, format_expr
from ksql.planner.expressions.options import current_options
from ksql.types import BIGINT, BOOLEAN, SqlType, StructType

RAW_HEADERS = "\x00headers"  # hidden scope column: the record's headers as stored
RAW_NULL = "\x00null"  # hidden scope column: True when the record's value was null
HIDDEN_WINDOW = ("\x00windowstart", "\x00windowend")  # window slots of unwindowed sources
# the ROWPARTITION / ROWOFFSET slots when those are not pseudo columns (ksql.rowpartition.rowoffset.enabled
# false, or a source column of that name): the runtime still fills them, user SQL cannot name them
HIDDEN_ROW_POSITION = {name: "\x00" + name.lower() for name in ROW_POSITION_COLUMNS}


@dataclass(frozen=True)
class ProjectionPlan:
    """A stateless query over one source."""

    source: DataSource
    scope: Scope
    where: ast.Expr | None
    key_exprs: tuple[ast.Expr, ...]
    value_exprs: tuple[ast.Expr, ...]
    schema: LogicalSchema  # output schema: key columns then value columns
    registry: FunctionRegistry
    rekeyed: bool = False  # PARTITION BY computed a new key
    # table functions (EXPLODE...): each (resolved function, argument expressions over the source row);
    # their elements extend the source row, and `scope` then describes the extended row
    table_functions: tuple[tuple[ResolvedFunction, tuple[ast.Expr, ...]], ...] = ()
    source_width: int = 0  # columns of the source row before table-function elements


def source_scope(source: DataSource, alias: str | None) -> Scope:
    """The row layout the runtime decodes a source into.

    key columns, value columns (headers in place), ROWTIME, ROWPARTITION, ROWOFFSET,
    WINDOWSTART, WINDOWEND (hidden names on unwindowed sources), raw headers, value-is-null.
    """
    qualifier = alias or source.name
    cols: list[ScopeColumn] = []
    for c in source.schema.key + source.schema.value:
        cols.append(ScopeColumn(c.name, c.type, len(cols), qualifier))
    visible = pseudo_column_names(source)
    for name, t in PSEUDO_COLUMNS.items():
        cols.append(ScopeColumn(name if name in visible else HIDDEN_ROW_POSITION[name], t, len(cols), qualifier))
    names = list(WINDOW_COLUMNS) if source.window is not None else list(HIDDEN_WINDOW)
    for name in names:
        cols.append(ScopeColumn(name, BIGINT, len(cols), qualifier))
    cols.append(ScopeColumn(RAW_HEADERS, HEADERS_TYPE, len(cols), qualifier))
    cols.append(ScopeColumn(RAW_NULL, BOOLEAN, len(cols), qualifier))
    return Scope(cols)


def pseudo_column_names(source: DataSource) -> list[str]:
    """The pseudo columns user SQL may name on `source`: ROWTIME, and ROWPARTITION and ROWOFFSET unless
    ksql.rowpartition.rowoffset.enabled is false or the source has a column of that name."""
    enabled = current_options().rowpartition_rowoffset
    return [name for name in PSEUDO_COLUMNS if name not in HIDDEN_ROW_POSITION
            or (enabled and source.schema.find(name) is None)]


def row_position_ref(scope: Scope, name: str) -> ast.ColumnRef:
    """A reference to the record's ROWPARTITION or ROWOFFSET slot in `scope`, whether or not user SQL
    may name it there (see HIDDEN_ROW_POSITION)."""
    hidden = HIDDEN_ROW_POSITION[name]
    return ast.ColumnRef(hidden if scope.find(ast.ColumnRef(hidden)) is not None else name)


def _headers_type() -> SqlType:
    from ksql.types import BYTES, STRING, ArrayType, StructField

    return ArrayType(StructType((StructField("KEY", STRING), StructField("VALUE", BYTES))))


HEADERS_TYPE = _headers_type()


class _Namer:
    """ksqlDB's KSQL_COL_n names for expressions without an alias."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self.next = 0

    def fresh(self) -> str:
        while f"KSQL_COL_{self.next}" in self.taken:
            self.next += 1
        name = f"KSQL_COL_{self.next}"
        self.next += 1
        self.taken.add(name)
        return name


class Analyzer:
    """Analyzes a stateless query (projection, filter, PARTITION BY) over one source."""

    def __init__(self, source: DataSource, alias: str | None, registry: FunctionRegistry,
                 new_planner: bool = False):
        self.new_planner = new_planner  # ksql.new.query.planner.enabled
        self.source = source
        self.alias = alias
        self.qualifier = alias or source.name
        self.scope = source_scope(source, alias)
        self.registry = registry
        self.typer = ExpressionTyper(self.scope, registry)

    # -- resolution helpers --------------------------------------------------

    def normalize(self, expr: ast.Expr, clause: str) -> ast.Expr:
        """Check qualifiers and strip them, so equal expressions compare equal."""
        return _rewrite(expr, lambda e: self._normalize_ref(e, clause))

    def _normalize_ref(self, e: ast.Expr, clause: str) -> ast.Expr | None:
        if isinstance(e, ast.ColumnRef):
            if e.source is not None and e.source not in (self.qualifier, self.source.name):
                raise KsqlError(f"'{e.source}' is not a valid stream/table name or alias.")
            if e.name.startswith("\x00") or not any(c.name == e.name for c in self.scope.columns):
                shown = f"{e.source}.{e.name}" if e.source else e.name
                raise KsqlError(f"{clause} column '{shown}' cannot be resolved.")
            return ast.ColumnRef(e.name)
        return None

    def qualified(self, expr: ast.Expr) -> ast.Expr:
        """`expr` with its column references qualified by the source, as ksqlDB prints them."""
        return _rewrite(expr, lambda e: ast.ColumnRef(e.name, self.qualifier)
                        if isinstance(e, ast.ColumnRef) and e.source is None else None)

    # -- the analysis ----------------------------------------------------------

    def analyze(self, query: ast.Query, sink_name: str) -> ProjectionPlan:
        where = None
        if query.where is not None:
            where = rewrite_magic_timestamps(self.normalize(query.where, "WHERE"))
            self.typer.check_predicate(where, "WHERE")
        partition_by = None if query.partition_by is None else \
            [self.normalize(e, "PARTITION BY") for e in query.partition_by]
        items = self.expand_select(query, partition_by)
        if partition_by is None:
            return self._plan_keep_key(query, where, items, sink_name)
        return self._plan_partition_by(query, where, items, partition_by, sink_name)

    def expand_select(self, query: ast.Query, partition_by: list[ast.Expr] | None
                      ) -> list[tuple[ast.Expr, str | None]]:
        """Select items as (normalized expression, alias or None); `*` expanded."""
        out: list[tuple[ast.Expr, str | None]] = []
        schema = self.source.schema
        for item in query.select:
            if isinstance(item, ast.AllColumns):
                if item.source is not None and item.source not in (self.qualifier, self.source.name):
                    raise KsqlError(f"'{item.source}' is not a valid stream/table name or alias.")
                if partition_by is None:
                    names = [c.name for c in schema.key + schema.value]
                else:
                    moved = {e.name for e in partition_by if isinstance(e, ast.ColumnRef)}
                    keys = [e for e in partition_by if not isinstance(e, ast.NullLiteral)]
                    out.extend((e, None) for e in keys)
                    names = [c.name for c in schema.value if c.name not in moved]
                    names += [c.name for c in schema.key if c.name not in moved]
                out.extend((ast.ColumnRef(n), None) for n in names)
            elif isinstance(item, ast.StructAll):
                base = self.normalize(item.base, "SELECT")
                struct = self.typer.type_of(base)
                if not isinstance(struct, StructType):
                    raise KsqlError(f"Cannot use '->*' on a non-STRUCT expression: {format_expr(base)} "
                                    f"({struct})")
                out.extend((ast.Dereference(base, f.name), f.name) for f in struct.fields)
            else:
                out.append((self.normalize(item.expr, "SELECT"), item.alias))
        return out

    def _implicit(self, expr: ast.Expr, namer: _Namer, used: set[str]) -> str:
        """The name of an unaliased item: a column's own name, a struct field's name made
        unique with _1, _2... (as ksqlDB does), or a generated KSQL_COL_n."""
        if isinstance(expr, ast.ColumnRef):
            self._check_reserved(expr.name)
            name = expr.name
        elif isinstance(expr, ast.Dereference):
            name = expr.field
            if name in used:
                n = 1
                while f"{name}_{n}" in used:
                    n += 1
                name = f"{name}_{n}"
        else:
            name = namer.fresh()
        used.add(name)
        return name

    def _used_names(self, items) -> set[str]:
        return {c.name for c in self.source.schema.columns} | {a for _, a in items if a}

    def _check_reserved(self, name: str) -> None:
        if name in current_options().reserved_column_names():
            raise KsqlError(f"Reserved column name in select: `{name}`. Please remove or alias the column.")

    def _namer(self, items) -> _Namer:
        """A KSQL_COL_n generator that skips names the source or the aliases already use."""
        taken = {c.name for c in self.scope.columns}
        taken |= {a for _, a in items if a}
        namer = _Namer({n for n in taken if re.fullmatch(r"KSQL_COL_\d+", n)})
        return namer

    def _name_items(self, items, namer: _Namer) -> list[str]:
        used = self._used_names(items)
        return [alias if alias is not None else self._implicit(expr, namer, used) for expr, alias in items]

    def _plan_keep_key(self, query, where, items, sink_name) -> ProjectionPlan:
        key_cols = self.source.schema.key
        namer = self._namer(items)
        names = self._name_items(items, namer)
        key_positions: dict[str, list[int]] = {c.name: [] for c in key_cols}
        for i, (expr, _) in enumerate(items):
            if isinstance(expr, ast.ColumnRef) and expr.name in key_positions:
                key_positions[expr.name].append(i)
        for kname, positions in key_positions.items():
            if len(positions) > 1:
                aliases = " and ".join(names[i] for i in positions)
                raise KsqlError(f"The projection contains a key column (`{kname}`) more than once, "
                                f"aliased as: {aliases}.")
        missing = [k for k, p in key_positions.items() if not p]
        if self.new_planner:
            # the new planner keys the result by the key columns the projection keeps, in its order
            key_idx = sorted(p[0] for p in key_positions.values() if p)
            return self._finish(where, items, names, key_idx, sink_name)
        if missing:
            noun = "column" if len(missing) == 1 else "columns"
            listed = " and ".join(missing) if len(missing) <= 2 else ", ".join(missing)
            raise KsqlError(f"The query used to build `{sink_name}` must include the key {noun} "
                            f"{listed} in its projection (eg, SELECT {', '.join(missing)}...).")
        key_idx = [key_positions[c.name][0] for c in key_cols]
        return self._finish(where, items, names, key_idx, sink_name)

    def _plan_partition_by(self, query, where, items, partition_by, sink_name) -> ProjectionPlan:
        if not partition_by:
            raise KsqlError("PARTITION BY requires at least one expression")
        nulls = [e for e in partition_by if isinstance(e, ast.NullLiteral)]
        if nulls and len(partition_by) > 1:
            raise KsqlError("Cannot PARTITION BY multiple columns including NULL")
        if nulls:
            namer = self._namer(items)
            names = self._name_items(items, namer)
            return self._finish(where, items, names, [], sink_name, rekeyed=True)
        for e in partition_by:
            self.typer.type_of(e)
        namer = self._namer(items)
        # the partitioning expressions are named first, as ksqlDB repartitions before projecting
        used = self._used_names(items)
        pb_names = [self._implicit(e, namer, used) if not isinstance(e, ast.ColumnRef) else e.name
                    for e in partition_by]
        positions: list[list[int]] = [[] for _ in partition_by]
        for i, (expr, _) in enumerate(items):
            for j, pe in enumerate(partition_by):
                if expr == pe:
                    positions[j].append(i)
        names = []
        for i, (expr, alias) in enumerate(items):
            matched = next((j for j, p in enumerate(positions) if i in p), None)
            if alias is not None:
                names.append(alias)
            elif matched is not None:
                names.append(pb_names[matched])
            else:
                names.append(self._implicit(expr, namer, used))
        for p in positions:
            if len(p) > 1:
                aliases = " and ".join(names[i] for i in p)
                raise KsqlError(f"The projection contains a key column (`{names[p[0]]}`) more than once, "
                                f"aliased as: {aliases}.")
        missing = [format_expr(self.qualified(partition_by[j])) for j, p in enumerate(positions) if not p]
        if missing:
            noun = "expression" if len(missing) == 1 else "expressions"
            raise KsqlError(f"The query used to build `{sink_name}` must include the partitioning {noun} "
                            f"{' and '.join(missing)} in its projection (eg, SELECT {', '.join(missing)}...).")
        return self._finish(where, items, names, [p[0] for p in positions], sink_name, rekeyed=True)

    def _finish(self, where, items, names, key_idx, sink_name, rekeyed: bool = False) -> ProjectionPlan:
        key_set = set(key_idx)
        value_idx = [i for i in range(len(items)) if i not in key_set]
        if not value_idx:
            raise KsqlError("The projection contains no value columns.")
        items, table_functions = self._table_functions(items)
        columns: list[SchemaColumn] = []
        seen: set[str] = set()
        for i in key_idx + value_idx:
            name = names[i]
            if i not in key_set:
                self._check_reserved(name)
            if name in seen:
                raise KsqlError(f"Duplicate column names: {name}" if i not in key_set else
                                f"Duplicate key column name: {name}")
            seen.add(name)
            t = self.typer.type_of_select(items[i][0])
            columns.append(SchemaColumn(name, t, KEY if i in key_set else VALUE))
        return ProjectionPlan(
            source=self.source, scope=self.scope, where=where,
            key_exprs=tuple(items[i][0] for i in key_idx),
            value_exprs=tuple(items[i][0] for i in value_idx),
            schema=LogicalSchema(tuple(columns)), registry=self.registry, rekeyed=rekeyed,
            table_functions=table_functions, source_width=len(source_scope(self.source, self.alias).columns))

    def _table_functions(self, items):
        """Replace table-function calls with references to their element column; extend the scope."""
        calls: list[ast.FunctionCall] = []

        def visit(e):
            if isinstance(e, ast.FunctionCall) and self.registry.is_table_function(e.name):
                if e not in calls:
                    calls.append(e)
                return ast.ColumnRef(f"\x00tf{calls.index(e)}")
            return None

        rewritten = [(rewrite(expr, visit), alias) for expr, alias in items]
        if not calls:
            return items, ()
        if self.source.kind == "TABLE":
            raise KsqlError("Table source is not supported with table functions")
        resolved = []
        columns = list(self.scope.columns)
        for j, call in enumerate(calls):
            for arg in call.args:
                if any(isinstance(x, ast.FunctionCall) and self.registry.is_table_function(x.name)
                       for x in walk(arg)):
                    raise KsqlError("Table functions cannot be nested: " + format_expr(call))
            fn = self.registry.resolve_table(call.name, [self.typer.type_of(a) for a in call.args])
            resolved.append((fn, call.args))
            columns.append(ScopeColumn(f"\x00tf{j}", fn.return_type, len(columns), None))
        self.scope = Scope(columns)
        self.typer = ExpressionTyper(self.scope, self.registry)
        return rewritten, tuple(resolved)


# ---------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------

_TIME_PSEUDO = {ROWTIME, WINDOWSTART, WINDOWEND}


def rewrite_magic_timestamps(expr: ast.Expr) -> ast.Expr:
    """ROWTIME/WINDOWSTART/WINDOWEND compared with a string literal: parse the string to millis."""

    def is_time(e: ast.Expr) -> bool:
        return isinstance(e, ast.ColumnRef) and e.name in _TIME_PSEUDO

    def to_millis(e: ast.Expr) -> ast.Expr:
        if isinstance(e, ast.StringLiteral):
            return ast.LongLiteral(parse_timestamp(e.value))
        return e

    def visit(e: ast.Expr) -> ast.Expr | None:
        if isinstance(e, ast.Comparison) and (is_time(e.left) or is_time(e.right)):
            return ast.Comparison(e.op, to_millis(e.left), to_millis(e.right))
        if isinstance(e, ast.Between) and is_time(e.value):
            return ast.Between(e.value, to_millis(e.low), to_millis(e.high), e.negated)
        return None

    return _rewrite(expr, visit)


def walk(expr):
    """Every expression node in `expr`, depth first (CASE branches, MAP entries and STRUCT fields included)."""
    yield expr
    for name in getattr(expr, "__dataclass_fields__", ()):
        yield from _walk_value(getattr(expr, name))


def _walk_value(value):
    if isinstance(value, ast.Expr):
        yield from walk(value)
    elif isinstance(value, ast.WhenClause):
        yield from walk(value.condition)
        yield from walk(value.result)
    elif isinstance(value, tuple):
        for item in value:
            yield from _walk_value(item)


def _rewrite(expr, fn):
    """Rebuild `expr` bottom-up where `fn` returns a replacement (None = keep, recurse)."""
    replaced = fn(expr)
    if replaced is not None:
        return replaced
    if not hasattr(expr, "__dataclass_fields__"):
        return expr
    changes = {}
    for name in expr.__dataclass_fields__:
        value = getattr(expr, name)
        new = _rewrite_value(value, fn)
        if new is not value:
            changes[name] = new
    if not changes:
        return expr
    return type(expr)(**{**{n: getattr(expr, n) for n in expr.__dataclass_fields__}, **changes})


def _rewrite_value(value, fn):
    if isinstance(value, ast.Expr):
        return _rewrite(value, fn)
    if isinstance(value, ast.WhenClause):
        cond, res = _rewrite(value.condition, fn), _rewrite(value.result, fn)
        if cond is value.condition and res is value.result:
            return value
        return ast.WhenClause(cond, res)
    if isinstance(value, tuple):
        items = tuple(_rewrite_value(v, fn) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def rewrite(expr: ast.Expr, fn) -> ast.Expr:
    """Public bottom-up rewriter (see _rewrite)."""
    return _rewrite(expr, fn)


