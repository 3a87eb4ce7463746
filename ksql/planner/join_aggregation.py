"""Analysis of aggregations over joins: GROUP BY, aggregates and HAVING over the joined row.

The aggregation is planned as over one source, but its column references resolve
against the joined row (as the join analyzer qualifies them), its implicit column
names follow the join's naming (`ALIAS_COLUMN` where a name is ambiguous), and
what the aggregate processor reads besides the grouped columns (timestamp,
headers, deletion flag, row identity) comes from the join's hidden columns. A
table-table join's result is a changelog: it is aggregated as a table, with undo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.planner.aggregation import WINDOWED_REPARTITION, AggregateAnalyzer, AggregateInput, AggregatePlan

if TYPE_CHECKING:
    from ksql.planner.analysis import _Namer
    from ksql.planner.join import JoinAnalyzer


class JoinAggregateAnalyzer(AggregateAnalyzer):
    """Analyzes `SELECT ... FROM a JOIN b ... GROUP BY ...` once the join itself is analyzed."""

    def __init__(self, joins: JoinAnalyzer, kind: str, config: dict[str, Any], transient: bool = False):
        first = joins.leaves[0]
        super().__init__(first.source, first.alias, joins.registry, config)
        self.joins = joins
        self.scope = joins.scope
        self.typer = joins.typer
        self.input_kind = kind
        self.transient = transient  # a push query's: no sink, every item a value in select order

    def analyze_join_aggregate(self, query: ast.Query, sink_name: str, joined: AggregateInput) -> AggregatePlan:
        plan = self.analyze_aggregate(query, sink_name)
        return AggregatePlan(
            source=plan.source, scope=plan.scope, where=plan.where, group_exprs=plan.group_exprs,
            aggregates=plan.aggregates, window=plan.window, agg_scope=plan.agg_scope, key_exprs=plan.key_exprs,
            value_exprs=plan.value_exprs, having=plan.having, schema=plan.schema, registry=plan.registry,
            joined=joined)

    def normalize(self, expr: ast.Expr, clause: str) -> ast.Expr:
        return self.joins.qualify(expr, clause, window_bounds=True)

    def qualified(self, expr: ast.Expr) -> ast.Expr:
        return expr  # references over the joined row are qualified already

    def _output(self, rewritten, group_exprs, agg_scope, sink_name):
        if self.transient:
            return self.transient_output(rewritten, agg_scope)
        return super()._output(rewritten, group_exprs, agg_scope, sink_name)

    def _column_name(self, ref: ast.ColumnRef) -> str:
        return self.joins.output_name(ref) if ref.source is not None else ref.name

    def _check_input(self) -> None:
        windowed = [lf.source.name for lf in self.joins.leaves if lf.source.window is not None]
        if windowed:
            raise KsqlError(WINDOWED_REPARTITION)

    def _taken_names(self) -> set[str]:
        return {c.name for lf in self.joins.leaves for c in lf.source.schema.columns}

    def _implicit(self, expr: ast.Expr, namer: _Namer, used: set[str]) -> str:
        if isinstance(expr, ast.ColumnRef) and expr.source is not None:
            name = self.joins.output_name(expr)
            self._check_reserved(name)
            used.add(name)
            return name
        return super()._implicit(expr, namer, used)
