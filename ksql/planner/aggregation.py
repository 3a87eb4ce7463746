"""Analysis of aggregations: GROUP BY, aggregate functions, HAVING and windows.

An aggregation runs in two compiled stages around the aggregate state:
- the *pre* stage, over the source row: WHERE, then the grouping expressions and
  the aggregate functions' arguments;
- the *post* stage, over the *aggregate row* (grouping values, aggregate results,
  WINDOWSTART, WINDOWEND): the select list split into key and value columns, and
  HAVING.
Select items are rewritten onto the aggregate row: a grouping expression becomes
a reference to its slot, an aggregate call to its result; whatever still refers
to the source is a non-aggregate expression not part of GROUP BY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ksql.engine.metastore import DataSource
from ksql.engine.properties import SUPPRESS_BUFFER_SIZE_BYTES_CONFIG, long_property
from ksql.engine.schema import (
    KEY,
    ROWPARTITION,
    ROWTIME,
    VALUE,
    WINDOWEND,
    WINDOWSTART,
    LogicalSchema,
    SchemaColumn,
)
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry
from ksql.functions.aggregates import AggregateSpec
from ksql.parser import ast
from ksql.planner.analysis import (
    RAW_HEADERS,
    RAW_NULL,
    Analyzer,
    _Namer,
    rewrite,
    rewrite_magic_timestamps,
    row_position_ref,
    walk,
)
from ksql.planner.expressions import ExpressionTyper, Scope, ScopeColumn, format_expr
from ksql.types import BIGINT

DEFAULT_GRACE_MS = 24 * 3600 * 1000  # Kafka Streams' default grace period


@dataclass(frozen=True)
class AggregateCall:
    """One distinct aggregate call: its function and the expressions feeding it."""

    call: ast.FunctionCall
    spec: AggregateSpec
    args: tuple[ast.Expr, ...]


@dataclass(frozen=True)
class WindowPlan:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int  # the gap for SESSION
    advance_ms: int
    grace_ms: int
    retention_ms: int
    emit_final: bool
    # EMIT FINAL: the most bytes its windows waiting to close may take (ksql.suppress.buffer.size.bytes,
    # negative: unbounded); beyond it the query fails
    suppress_buffer_bytes: int = -1


@dataclass(frozen=True)
class AggregateInput:
    """What the aggregated rows carry besides the grouped columns, as expressions over `scope`: a
    source's pseudo columns, or a join's hidden columns when a join feeds the aggregation."""

    kind: str  # STREAM | TABLE: a table input is a changelog, aggregated with undo
    key_exprs: tuple[ast.Expr, ...]  # a table input's row identity
    rowtime: ast.Expr
    partition: ast.Expr
    is_null: ast.Expr
    headers: ast.Expr


@dataclass(frozen=True)
class AggregatePlan:
    source: DataSource
    scope: Scope  # the source row
    where: ast.Expr | None
    group_exprs: tuple[ast.Expr, ...]  # over the source row
    aggregates: tuple[AggregateCall, ...]
    window: WindowPlan | None
    agg_scope: Scope  # the aggregate row
    key_exprs: tuple[ast.Expr, ...]  # over the aggregate row
    value_exprs: tuple[ast.Expr, ...]
    having: ast.Expr | None  # over the aggregate row
    schema: LogicalSchema
    registry: FunctionRegistry
    joined: AggregateInput | None = None  # set when a join's result is aggregated

    @property
    def input(self) -> AggregateInput:
        """The input's shape: the join's, else the source's own pseudo columns."""
        if self.joined is not None:
            return self.joined
        return AggregateInput(self.source.kind, tuple(ast.ColumnRef(c.name) for c in self.source.schema.key),
                              ast.ColumnRef(ROWTIME), row_position_ref(self.scope, ROWPARTITION),
                              ast.ColumnRef(RAW_NULL),
                              ast.ColumnRef(RAW_HEADERS))

    @property
    def groups_by_key(self) -> bool:
        """A stream grouped by exactly its key columns, in order: each record already lives in the
        partition of its group, so no repartition is needed (ksqlDB's groupByKey)."""
        keys = [c.name for c in self.source.schema.key]
        names = [e.name if isinstance(e, ast.ColumnRef) else None for e in self.group_exprs]
        return self.source.kind == "STREAM" and bool(keys) and names == keys


def _group_slot(i: int) -> str:
    return f"\x00group{i}"


def _agg_slot(j: int) -> str:
    return f"\x00agg{j}"


def _window_bound(expr: ast.Expr) -> str | None:
    """The first WINDOWSTART/WINDOWEND `expr` references, if any."""
    return next((e.name for e in walk(expr) if isinstance(e, ast.ColumnRef) and e.name in (WINDOWSTART, WINDOWEND)),
                None)


def _bounds_outside_select(name: str) -> KsqlError:
    return KsqlError(f"Window bounds column {name} can only be used in the SELECT clause of windowed aggregations")


WINDOWED_REPARTITION = ("Implicit repartitioning of windowed sources is not supported. "
                        "See https://github.com/confluentinc/ksql/issues/4385.")


class AggregateAnalyzer(Analyzer):
    """Analyzes `SELECT ... GROUP BY ... [WINDOW ...] [HAVING ...]` over one source."""

    def __init__(self, source: DataSource, alias: str | None, registry: FunctionRegistry,
                 config: dict[str, Any]):
        super().__init__(source, alias, registry)
        self.config = config
        self.input_kind = source.kind  # what is aggregated: the source, or a join's result

    def _check_input(self) -> None:
        """A windowed source cannot be regrouped."""
        if self.source.window is not None:
            raise KsqlError("KSQL does not support persistent queries on windowed tables."
                            if self.source.kind == "TABLE" else
                            WINDOWED_REPARTITION)

    def _taken_names(self) -> set[str]:
        """Column names a generated KSQL_COL_n must not repeat."""
        return {c.name for c in self.source.schema.columns}

    def analyze_aggregate(self, query: ast.Query, sink_name: str) -> AggregatePlan:
        if not query.group_by:
            if query.window is not None:
                raise KsqlError("WINDOW clause requires a GROUP BY clause.")
            raise KsqlError("GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
        if query.emit == "FINAL" and query.window is None:
            raise KsqlError("EMIT FINAL is only supported for windowed aggregations.")
        if query.partition_by is not None:
            raise KsqlError("PARTITION BY cannot be combined with GROUP BY.")
        self._check_input()
        where = None
        if query.where is not None:
            where = rewrite_magic_timestamps(self.normalize(query.where, "WHERE"))
            bound = _window_bound(where)
            if bound is not None:  # the WHERE filters input rows, which have no window yet
                raise KsqlError(f"Error in WHERE expression: Unknown column {bound}.")
            self.typer.check_predicate(where, "WHERE")

        group_exprs = [self.normalize(e, "GROUP BY") for e in query.group_by]
        for e in group_exprs:
            for sub in walk(e):
                if isinstance(sub, ast.ColumnRef) and sub.name in (WINDOWSTART, WINDOWEND):
                    raise _bounds_outside_select(sub.name)
                if isinstance(sub, ast.FunctionCall) and self.registry.is_aggregate(sub.name):
                    raise KsqlError(f"GROUP BY does not support aggregate functions: {format_expr(sub)}")
            self.typer.type_of(e)

        items = self._select_items(query)
        having = self.normalize(query.having, "HAVING") if query.having is not None else None
        if having is not None and _window_bound(having) is not None:
            raise _bounds_outside_select(_window_bound(having))

        calls: list[AggregateCall] = []
        for expr in [e for e, _ in items] + ([having] if having is not None else []):
            for sub in walk(expr):
                if isinstance(sub, ast.FunctionCall) and self.registry.is_aggregate(sub.name) and \
                        all(c.call != sub for c in calls):
                    if _window_bound(sub) is not None:  # aggregated rows have no window yet
                        raise _bounds_outside_select(_window_bound(sub))
                    calls.append(self._aggregate_call(sub))
        if not calls:
            raise KsqlError("GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
        if self.input_kind == "TABLE":
            cannot = sorted({c.spec.name for c in calls if c.spec.undo is None})
            if cannot:
                raise KsqlError(f"The aggregation function(s) ({', '.join(cannot)}) cannot be applied to a "
                                "table source, only to a stream source.")

        window = self._window(query)
        agg_cols = [ScopeColumn(_group_slot(i), self.typer.type_of(e), i, None)
                    for i, e in enumerate(group_exprs)]
        agg_cols += [ScopeColumn(_agg_slot(j), c.spec.return_type, len(group_exprs) + j, None)
                     for j, c in enumerate(calls)]
        n = len(agg_cols)
        start_name, end_name = (WINDOWSTART, WINDOWEND) if window else ("\x00ws", "\x00we")
        agg_cols += [ScopeColumn(start_name, BIGINT, n, None), ScopeColumn(end_name, BIGINT, n + 1, None)]
        agg_scope = Scope(agg_cols)

        def onto_aggregate_row(expr: ast.Expr, clause: str) -> ast.Expr:
            def visit(e):
                for i, g in enumerate(group_exprs):
                    if e == g:
                        return ast.ColumnRef(_group_slot(i))
                if isinstance(e, ast.FunctionCall) and self.registry.is_aggregate(e.name):
                    j = next(j for j, c in enumerate(calls) if c.call == e)
                    return ast.ColumnRef(_agg_slot(j))
                return None
            out = rewrite(expr, visit)
            leftover = [s for s in walk(out) if isinstance(s, ast.ColumnRef)
                        and not s.name.startswith("\x00") and s.name not in (WINDOWSTART, WINDOWEND)]
            if leftover:
                shown = ", ".join(format_expr(self.qualified(x)) for x in leftover)
                raise KsqlError(f"Non-aggregate {clause} expression(s) not part of GROUP BY: {shown}")
            if window is None and any(isinstance(s, ast.ColumnRef) and s.name in (WINDOWSTART, WINDOWEND)
                                      for s in walk(out)):
                raise _bounds_outside_select(WINDOWSTART)
            return out

        rewritten = [(onto_aggregate_row(e, "SELECT"), alias, e) for e, alias in items]
        post_having = None
        if having is not None:
            post_having = onto_aggregate_row(having, "HAVING")
            # typed as written (aggregate calls and GROUP BY expressions read their aggregate-row slots), so
            # a refusal names SUM(VALUE) rather than the slot holding it
            slots = {g: agg_cols[i] for i, g in enumerate(group_exprs)}
            slots.update({c.call: agg_cols[len(group_exprs) + j] for j, c in enumerate(calls)})
            ExpressionTyper(self.scope, self.registry, slots).check_predicate(having, "HAVING")

        schema, key_exprs, value_exprs = self._output(rewritten, group_exprs, agg_scope, sink_name)
        return AggregatePlan(
            source=self.source, scope=self.scope, where=where, group_exprs=tuple(group_exprs),
            aggregates=tuple(calls), window=window, agg_scope=agg_scope, key_exprs=key_exprs,
            value_exprs=value_exprs, having=post_having, schema=schema, registry=self.registry)

    def _normalize_ref(self, e: ast.Expr, clause: str) -> ast.Expr | None:
        """As the Analyzer's, but WINDOWSTART/WINDOWEND resolve too (onto the aggregate row)."""
        if isinstance(e, ast.ColumnRef) and e.name in (WINDOWSTART, WINDOWEND) and \
                e.source in (None, self.qualifier, self.source.name) and self.source.window is None:
            return ast.ColumnRef(e.name)
        return super()._normalize_ref(e, clause)

    def _select_items(self, query: ast.Query) -> list[tuple[ast.Expr, str | None]]:
        items: list[tuple[ast.Expr, str | None]] = []
        for item in query.select:
            if isinstance(item, ast.AllColumns):
                raise KsqlError("Non-aggregate SELECT expression(s) not part of GROUP BY: *")
            if isinstance(item, ast.StructAll):
                raise KsqlError("Non-aggregate SELECT expression(s) not part of GROUP BY: "
                                f"{format_expr(item.base)}->*")
            items.append((self.normalize(item.expr, "SELECT"), item.alias))
        return items

    def _aggregate_call(self, call: ast.FunctionCall) -> AggregateCall:
        name = call.name.upper()
        args = list(call.args)
        n_cols = self.registry.aggregate_arity(name, len(args))
        columns, literals = args[:n_cols], args[n_cols:]
        for a in columns:
            for sub in walk(a):
                if isinstance(sub, ast.FunctionCall) and self.registry.is_aggregate(sub.name):
                    raise KsqlError(f"Aggregate functions can not be nested: {format_expr(call)}")
        values = []
        for lit in literals:
            value = _literal_value(lit)
            if value is _NOT_LITERAL:
                raise KsqlError(f"Function '{name}' expects literal arguments after the column: "
                                f"{format_expr(lit)}")
            values.append(value)
        arg_types = [self.typer.type_of(a) for a in columns]
        spec = self.registry.resolve_aggregate(name, arg_types, values, self.config)
        return AggregateCall(call, spec, tuple(columns))

    def _window(self, query: ast.Query) -> WindowPlan | None:
        w = query.window
        if w is None:
            return None
        size = w.size.millis
        advance = w.advance.millis if w.advance is not None else size
        if w.kind == "HOPPING":
            if w.advance is None:
                raise KsqlError("HOPPING windows require ADVANCE BY.")
            if advance > size:
                raise KsqlError(f"Window advance must be less than or equal to window size. Got size: "
                                f"{size}ms, advance: {advance}ms")
        if size <= 0 or advance <= 0:
            raise KsqlError("Window size must be positive.")
        # without GRACE PERIOD: 24 hours, but none for EMIT FINAL, which would otherwise wait a day
        grace = w.grace.millis if w.grace is not None else (0 if query.emit == "FINAL" else DEFAULT_GRACE_MS)
        retention = w.retention.millis if w.retention is not None else size + grace
        if w.retention is not None and retention < size + grace:
            raise KsqlError(f"The retention period ({retention} ms) must be at least as large as the window "
                            f"size plus grace period ({size + grace} ms).")
        return WindowPlan(w.kind, size, advance, grace, retention, query.emit == "FINAL",
                          long_property(self.config, SUPPRESS_BUFFER_SIZE_BYTES_CONFIG))

    def transient_output(self, rewritten, agg_scope):
        """(schema, key expressions, value expressions) of a push query's aggregation: no sink, so every
        item is a value, in select order, and no rule asks for the grouping expressions."""
        used = self._taken_names() | {a for _, a, _ in rewritten if a}
        namer = _Namer({n for n in used if re.fullmatch(r"KSQL_COL_\d+", n)})
        typer = ExpressionTyper(agg_scope, self.registry)
        columns = []
        for expr, alias, original in rewritten:
            if alias is not None:
                name = alias
            elif isinstance(original, ast.FunctionCall) and self.registry.is_aggregate(original.name):
                name = namer.fresh()
            elif isinstance(original, ast.ColumnRef):  # WINDOWSTART and the like keep their names here
                name = self._column_name(original)
            else:
                name = self._implicit(original, namer, used)
            columns.append(SchemaColumn(name, typer.type_of_select(expr)))
        return LogicalSchema(tuple(columns)), (), tuple(expr for expr, _, _ in rewritten)

    def _column_name(self, ref: ast.ColumnRef) -> str:
        """The name a selected column keeps in a push query's aggregation."""
        return ref.name

    def _output(self, rewritten, group_exprs, agg_scope, sink_name):
        used = self._taken_names() | {a for _, a, _ in rewritten if a}
        namer = _Namer({n for n in used if re.fullmatch(r"KSQL_COL_\d+", n)})
        key_slots = {ast.ColumnRef(_group_slot(i)): i for i in range(len(group_exprs))}
        key_names: dict[int, str] = {}
        names: list[str] = []
        key_items: set[int] = set()
        for pos, (expr, alias, original) in enumerate(rewritten):
            slot = key_slots.get(expr)
            if alias is not None:
                name = alias
            elif isinstance(original, ast.FunctionCall) and self.registry.is_aggregate(original.name):
                name = namer.fresh()
                used.add(name)
            else:
                name = self._implicit(original, namer, used)
            names.append(name)
            if slot is not None and slot not in key_names:
                key_names[slot] = name
                key_items.add(pos)
        missing = [format_expr(g) for i, g in enumerate(group_exprs) if i not in key_names]
        if missing:
            noun = "expression" if len(missing) == 1 else "expressions"
            raise KsqlError(f"The query used to build `{sink_name}` must include the grouping {noun} "
                            f"{' and '.join(missing)} in its projection (eg, SELECT {', '.join(missing)}...).")
        columns: list[SchemaColumn] = []
        typer = ExpressionTyper(agg_scope, self.registry)
        key_exprs = []
        for i in range(len(group_exprs)):
            key_exprs.append(ast.ColumnRef(_group_slot(i)))
            columns.append(SchemaColumn(key_names[i], typer.type_of(ast.ColumnRef(_group_slot(i))), KEY))
        value_exprs = []
        seen = set(key_names.values())
        for pos, (expr, _, _) in enumerate(rewritten):
            if pos in key_items:
                continue
            name = names[pos]
            self._check_reserved(name)
            if name in seen:
                raise KsqlError(f"Duplicate column names: {name}")
            seen.add(name)
            value_exprs.append(expr)
            columns.append(SchemaColumn(name, typer.type_of_select(expr), VALUE))
        if not value_exprs:
            raise KsqlError("The projection contains no value columns.")
        return LogicalSchema(tuple(columns)), tuple(key_exprs), tuple(value_exprs)


_NOT_LITERAL = object()


def _literal_value(e: ast.Expr) -> Any:
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral, ast.BooleanLiteral, ast.StringLiteral)):
        return e.value
    if isinstance(e, ast.DoubleLiteral):
        return e.value
    if isinstance(e, ast.DecimalLiteral):
        return e.value
    if isinstance(e, ast.Negation) and isinstance(e.operand, (ast.IntegerLiteral, ast.LongLiteral)):
        return -e.operand.value
    return _NOT_LITERAL


