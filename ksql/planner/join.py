"""Analysis of joins: sources, join kinds, keys, the joined row and the output schema.

A joined row is the concatenation of every source's decoded row (each laid out
as `source_scope` describes), in FROM order; a source with no match contributes
nulls. Column references resolve against it by alias. ksqlDB's naming rules:
`*` and `alias.*` produce `ALIAS_COLUMN` names; a qualified column in the
select list keeps its bare name unless another source has a column of that
name. The join key is the column one side joins on (the left's when both are
columns), or, for expressions on both sides, a synthetic `ROWKEY`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ksql.engine.metastore import DataSource, WindowInfo
from ksql.engine.schema import (
    KEY,
    VALUE,
    WINDOW_COLUMNS,
    WINDOWEND,
    WINDOWSTART,
    LogicalSchema,
    SchemaColumn,
)
from ksql.engine.schema_inference import INFERABLE_FORMATS
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry
from ksql.parser import ast
from ksql.planner.aggregation import WINDOWED_REPARTITION, AggregateInput, AggregatePlan
from ksql.planner.analysis import (
    HEADERS_TYPE,
    _Namer,
    pseudo_column_names,
    rewrite,
    rewrite_magic_timestamps,
    source_scope,
    walk,
)
from ksql.planner.expressions import ExpressionTyper, Scope, ScopeColumn, format_expr
from ksql.planner.expressions.options import current_options
from ksql.planner.join_aggregation import JoinAggregateAnalyzer
from ksql.types import BIGINT, BOOLEAN

ROWKEY = "ROWKEY"
_ROWKEY_NAME = re.compile(r"ROWKEY(?:_(\d+))?")
JOIN_KEY = "\x00joinkey"  # hidden column of the joined row: the last join's key value
JOIN_TIME = "\x00jointime"  # hidden: the result's timestamp
JOIN_HEADERS = "\x00joinheaders"  # hidden: the headers the result carries
JOIN_WINDOW = ("\x00joinwindowstart", "\x00joinwindowend")  # hidden: the result's window (windowed sources)
JOIN_NULL = "\x00joinnull"  # hidden: whether the result is a deletion (a table join's tombstone)


@dataclass(frozen=True)
class JoinLeaf:
    source: DataSource
    alias: str
    offset: int  # where its columns start in the joined row
    width: int


@dataclass(frozen=True)
class JoinStep:
    """One JOIN in the left-deep chain: everything so far joined with leaf `right`."""

    kind: str  # INNER | LEFT | RIGHT | FULL
    right: int  # leaf index
    left_key: ast.Expr  # over the joined row
    right_key: ast.Expr
    within_before: int | None  # stream-stream only (ms)
    within_after: int | None
    grace: int | None
    shape: str  # stream-stream | stream-table | table-table
    result_kind: str  # STREAM | TABLE
    # the left side joins on a column the earlier joins' result is keyed by: it joins on that key as is,
    # even where the column itself is null (an outer join's missing side)
    on_result_key: bool = False


@dataclass(frozen=True)
class JoinPlan:
    leaves: tuple[JoinLeaf, ...]
    steps: tuple[JoinStep, ...]
    scope: Scope  # the joined row
    where: ast.Expr | None
    key_exprs: tuple[ast.Expr, ...]
    value_exprs: tuple[ast.Expr, ...]
    schema: LogicalSchema
    kind: str  # STREAM | TABLE: what the join produces
    registry: FunctionRegistry
    # a push query's columns for a table join's deletion: key-computable items, nulls elsewhere
    tombstone_exprs: tuple[ast.Expr, ...] = ()
    aggregate: AggregatePlan | None = None  # GROUP BY over the joined row: the join feeds it

    @property
    def source(self) -> DataSource:
        return self.leaves[0].source

    @property
    def window(self) -> WindowInfo | None:
        """Joined windowed sources produce windowed keys, windowed as the left source is; an aggregation
        over the join is windowed as its WINDOW clause says."""
        if self.aggregate is not None:
            window = self.aggregate.window
            if window is None:
                return None
            return WindowInfo(window.kind, None if window.kind == "SESSION" else window.size_ms)
        return self.leaves[0].source.window


def _flatten(rel: ast.Relation) -> tuple[ast.Table, list[ast.Join]]:
    joins: list[ast.Join] = []
    while isinstance(rel, ast.Join):
        joins.append(rel)
        rel = rel.left
    assert isinstance(rel, ast.Table)
    return rel, list(reversed(joins))


class JoinAnalyzer:
    def __init__(self, metastore, registry: FunctionRegistry, config: dict[str, Any] | None = None):
        self.metastore = metastore
        self.registry = registry
        self.config = config or {}  # the properties aggregate functions are configured by

    def analyze(self, query: ast.Query, sink_name: str, transient: bool = False) -> JoinPlan:
        """The plan of a persistent join into `sink_name`, or of a push query's join (`transient`):
        its columns in select order, none of them a key."""
        first, joins = _flatten(query.from_)
        tables = [first] + [j.right for j in joins]
        leaves: list[JoinLeaf] = []
        columns: list[ScopeColumn] = []
        for t in tables:
            source = self.metastore.get(t.name)
            if source is None:
                raise KsqlError(f"{t.name} does not exist." + self.metastore.case_hint(t.name))
            alias = t.alias or t.name
            if any(leaf.source is source for leaf in leaves):
                raise KsqlError(f"Can not join '{source.name}' to '{source.name}': self joins are not yet "
                                "supported.")
            own = source_scope(source, alias).columns
            leaves.append(JoinLeaf(source, alias, len(columns), len(own)))
            columns += [ScopeColumn(c.name, c.type, len(columns) + i, alias) for i, c in enumerate(own)]
        self.leaves = leaves
        self.rowkey = _synthetic_key_name(leaves)
        self._check_sources(leaves)
        self.scope = Scope(columns)
        self.typer = ExpressionTyper(self.scope, self.registry)

        steps: list[JoinStep] = []
        left_kind = leaves[0].source.kind
        for n, j in enumerate(joins, start=1):
            step = self._step(j, n, left_kind, leaves, steps)
            if steps and step.left_key in self._viable_keys(steps):
                step = replace(step, on_result_key=True)
            steps.append(step)
            left_kind = step.result_kind
        key_type = self.typer.type_of(steps[-1].left_key)
        self.scope = Scope(columns + [ScopeColumn(JOIN_KEY, key_type, len(columns), None),
                                      ScopeColumn(JOIN_TIME, BIGINT, len(columns) + 1, None),
                                      ScopeColumn(JOIN_HEADERS, HEADERS_TYPE, len(columns) + 2, None),
                                      ScopeColumn(JOIN_WINDOW[0], BIGINT, len(columns) + 3, None),
                                      ScopeColumn(JOIN_WINDOW[1], BIGINT, len(columns) + 4, None),
                                      ScopeColumn(JOIN_NULL, BOOLEAN, len(columns) + 5, None)])
        self.typer = ExpressionTyper(self.scope, self.registry)
        if query.group_by or query.window is not None or _has_aggregates(query, self.registry):
            return self._aggregate(query, steps, sink_name, left_kind, transient)
        if query.having is not None:
            raise KsqlError("HAVING requires a GROUP BY clause.")
        where = None
        if query.where is not None:
            where = rewrite_magic_timestamps(self.qualify(query.where, "WHERE"))
            self.typer.check_predicate(where, "WHERE")
        if query.partition_by is not None:
            if left_kind == "TABLE":
                raise KsqlError("PARTITION BY is not supported on tables: the result of a table-table join "
                                "is a table.")
            if transient:  # the rows a push query streams are not keyed: the select list, re-keyed first
                self._partition_expressions(query, steps)
                value_exprs, schema, tombstone_exprs = self._transient_projection(query, steps, repartitioned=True)
                return JoinPlan(tuple(leaves), tuple(steps), self.scope, where, (), value_exprs, schema,
                                left_kind, self.registry, tombstone_exprs)
            key_exprs, value_exprs, schema = self._partition_projection(query, steps, sink_name)
            return JoinPlan(tuple(leaves), tuple(steps), self.scope, where, key_exprs, value_exprs, schema,
                            left_kind, self.registry)
        if transient:
            value_exprs, schema, tombstone_exprs = self._transient_projection(query, steps)
            return JoinPlan(tuple(leaves), tuple(steps), self.scope, where, (), value_exprs, schema, left_kind,
                            self.registry, tombstone_exprs)
        key_exprs, value_exprs, schema = self._projection(query, steps, sink_name)
        return JoinPlan(tuple(leaves), tuple(steps), self.scope, where, key_exprs, value_exprs, schema,
                        left_kind, self.registry)

    def _aggregate(self, query: ast.Query, steps: list[JoinStep], sink_name: str, kind: str,
                   transient: bool) -> JoinPlan:
        """The join feeding an aggregation: WHERE, GROUP BY, HAVING and the select list over the joined
        row. A table join's result is aggregated as a table, each row identified by the join's key (the
        left table's primary key for a foreign-key join). A push query's (`transient`) aggregation
        streams its select list, every item a value."""
        if steps[-1].shape == "fk":
            left = self.leaves[0]
            identity = tuple(ast.ColumnRef(c.name, left.alias) for c in left.source.schema.key)
        else:
            identity = (ast.ColumnRef(JOIN_KEY),)
        joined = AggregateInput(kind, identity, ast.ColumnRef(JOIN_TIME), ast.IntegerLiteral(0),
                                ast.ColumnRef(JOIN_NULL), ast.ColumnRef(JOIN_HEADERS))
        aggregate = JoinAggregateAnalyzer(self, kind, self.config, transient).analyze_join_aggregate(
            query, sink_name, joined)
        return JoinPlan(tuple(self.leaves), tuple(steps), self.scope, None, aggregate.key_exprs,
                        aggregate.value_exprs, aggregate.schema, "TABLE", self.registry, aggregate=aggregate)

    def _partition_expressions(self, query: ast.Query, steps: list[JoinStep]) -> list[ast.Expr]:
        """The qualified, typed PARTITION BY expressions over the joined row (a NULL one re-keys to no key);
        windowed results may only be partitioned by their key, which needs no repartition."""
        partition_by = [self.qualify(e, "PARTITION BY") for e in query.partition_by]
        if not partition_by:
            raise KsqlError("PARTITION BY requires at least one expression")
        nulls = [e for e in partition_by if isinstance(e, ast.NullLiteral)]
        if nulls and len(partition_by) > 1:
            raise KsqlError("Cannot PARTITION BY multiple columns including NULL")
        partition_by = [e for e in partition_by if not isinstance(e, ast.NullLiteral)]
        for e in partition_by:
            self.typer.type_of(e)
        if self.leaves[0].source.window is not None and \
                (len(partition_by) != 1 or partition_by[0] not in self._viable_keys(steps)):
            raise KsqlError(WINDOWED_REPARTITION)
        return partition_by

    def _partition_projection(self, query: ast.Query, steps: list[JoinStep], sink_name: str):
        """PARTITION BY over the joined row: the partitioning expressions are the key, each named as the
        select item that projects it; every other item is a value column."""
        partition_by = self._partition_expressions(query, steps)
        items = self._select_items(query, repartitioned=True)
        names = self._names(items)
        positions = [[pos for pos, (expr, _) in enumerate(items) if expr == pe] for pe in partition_by]
        for found in positions:
            if len(found) > 1:
                aliases = " and ".join(names[p] for p in found)
                raise KsqlError(f"The projection contains a key column (`{names[found[0]]}`) more than once, "
                                f"aliased as: {aliases}.")
        missing = [format_expr(pe) for pe, found in zip(partition_by, positions, strict=True) if not found]
        if missing:
            noun = "expression" if len(missing) == 1 else "expressions"
            raise KsqlError(f"The query used to build `{sink_name}` must include the partitioning {noun} "
                            f"{' and '.join(missing)} in its projection (eg, SELECT {', '.join(missing)}...).")
        key_positions = [found[0] for found in positions]
        columns: list[SchemaColumn] = []
        seen: set[str] = set()
        for pos in key_positions:
            if names[pos] in seen:
                raise KsqlError(f"Duplicate key column name: {names[pos]}")
            seen.add(names[pos])
            columns.append(SchemaColumn(names[pos], self.typer.type_of(items[pos][0]), KEY))
        value_exprs = []
        for pos, (expr, _) in enumerate(items):
            if pos in key_positions:
                continue
            if expr == ast.ColumnRef(self.rowkey):
                expr = ast.ColumnRef(JOIN_KEY)
            self._add_value_column(names[pos], expr, seen, value_exprs, columns)
        if not value_exprs:
            raise KsqlError("The projection contains no value columns.")
        return tuple(items[p][0] for p in key_positions), tuple(value_exprs), LogicalSchema(tuple(columns))

    def _add_value_column(self, name: str, expr: ast.Expr, seen: set[str], value_exprs: list[ast.Expr],
                          columns: list[SchemaColumn]) -> None:
        """A projected value column, refusing reserved and repeated names as ksqlDB does."""
        if name in current_options().reserved_column_names():
            raise KsqlError(f"Reserved column name in select: `{name}`. Please remove or alias the column.")
        if name in seen:
            raise KsqlError(f"Duplicate column names: {name}")
        seen.add(name)
        value_exprs.append(expr)
        columns.append(SchemaColumn(name, self.typer.type_of_select(expr), VALUE))

    @staticmethod
    def _check_sources(leaves: list[JoinLeaf]) -> None:
        kafka = [lf.source.name for lf in leaves if lf.source.formats.value.name == "KAFKA"]
        if kafka:
            raise KsqlError(f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. This format does "
                            "not yet support JOIN.")
        first, fw = leaves[0], leaves[0].source.window
        for lf in leaves[1:]:
            w = lf.source.window
            if (fw is None) != (w is None):
                windowed, plain = (first, lf) if fw is not None else (lf, first)
                raise KsqlError("Can not join windowed source to non-windowed source.\n"
                                f"`{windowed.source.name}` is {windowed.source.window.kind} windowed\n"
                                f"`{plain.source.name}` is not windowed")
            if fw is None:
                continue
            if (fw.kind == "SESSION") != (w.kind == "SESSION"):
                raise KsqlError(
                    f"Incompatible windowed sources.\nLeft source: {fw.kind}\nRight source: {w.kind}\n"
                    "Session windowed sources can only be joined to other session windowed sources, and may "
                    "still not result in expected behaviour as session bounds must be an exact match for the "
                    "join to work\nHopping and tumbling windowed sources can only be joined to other hopping "
                    "and tumbling windowed sources")
            key_formats = {first.source.formats.key.name, lf.source.formats.key.name}
            if (fw != w or len(key_formats) > 1) and not key_formats & INFERABLE_FORMATS:
                # the right side's keys would be rewritten in the left's windowed key format: ksqlDB does so
                # only when it repartitions both sides anyway, as it does for schema-registry key formats
                raise KsqlError(WINDOWED_REPARTITION)

    # -- references ---------------------------------------------------------------------------

    def qualify(self, expr: ast.Expr, clause: str, window_bounds: bool = False) -> ast.Expr:
        """Resolve every column reference to a qualified one (errors for unknown/ambiguous). With
        `window_bounds`, an aggregation's WINDOWSTART/WINDOWEND over unwindowed sources stay bare."""
        aliases = {leaf.alias for leaf in self.leaves} | {leaf.source.name for leaf in self.leaves}
        unwindowed = all(leaf.source.window is None for leaf in self.leaves)

        def visit(e):
            if window_bounds and unwindowed and isinstance(e, ast.ColumnRef) and e.source is None and \
                    e.name in (WINDOWSTART, WINDOWEND):
                return ast.ColumnRef(e.name)
            if isinstance(e, ast.ColumnRef):
                if e.source is not None and e.source not in aliases:
                    raise KsqlError(f"'{e.source}' is not a valid stream/table name or alias.")
                source = e.source
                if source is not None:
                    source = next(lf.alias for lf in self.leaves if source in (lf.alias, lf.source.name))
                if e.name.startswith("\x00"):
                    raise KsqlError(f"{clause} column '{e.name}' cannot be resolved.")
                try:
                    col = self.scope.resolve(ast.ColumnRef(e.name, source))
                except KsqlError as err:
                    if "cannot be resolved" in str(err):
                        shown = f"{e.source}.{e.name}" if e.source else e.name
                        raise KsqlError(f"{clause} column '{shown}' cannot be resolved.") from None
                    raise
                return ast.ColumnRef(col.name, col.source)
            return None

        return rewrite(expr, visit)

    def _leaf_of(self, expr: ast.Expr) -> set[int]:
        refs = [e for e in walk(expr) if isinstance(e, ast.ColumnRef)]
        return {next(i for i, lf in enumerate(self.leaves) if lf.alias == r.source) for r in refs}

    # -- join steps -----------------------------------------------------------------------------

    def _step(self, j: ast.Join, n: int, left_kind: str, leaves: list[JoinLeaf], done: list[JoinStep]) -> JoinStep:
        """The n-th JOIN, after the `done` ones."""
        right = leaves[n].source
        if not isinstance(j.on, ast.Comparison) or j.on.op != "=":
            if isinstance(j.on, ast.And):
                raise KsqlError("Invalid join condition: joins on multiple conditions are not yet supported. "
                                f"Got {format_expr(j.on)}.")
            raise KsqlError(f"Unsupported join expression: {format_expr(j.on)}")
        a, b = self.qualify(j.on.left, "JOIN"), self.qualify(j.on.right, "JOIN")
        la, lb = self._leaf_of(a), self._leaf_of(b)
        if la == {n} and lb and max(lb) < n:
            a, b, la, lb = b, a, lb, la
        if lb != {n} or not la or max(la) >= n:
            bad = a if not la or n in la else b
            raise KsqlError(f"Invalid comparison expression '{format_expr(bad)}' in join "
                            f"'{format_expr(j.on)}'. Each side of the join comparision must contain references "
                            "from exactly one source.")
        left_leaf = leaves[min(la)]
        if left_kind == "TABLE" and right.kind == "TABLE" and self._is_key_column(b, leaves[n]) and \
                not self._is_key_column(a, left_leaf) and \
                (left_leaf.source.window is not None or right.window is not None):
            raise KsqlError("Foreign-key table-table joins are not supported on windowed tables.")
        if right.window is not None:  # (all sources are windowed alike) no side may be re-keyed
            left_keys = self._viable_keys(done) if done else [a] if self._is_key_column(a, left_leaf) else []
            if a not in left_keys or not self._is_key_column(b, leaves[n]):
                raise KsqlError(WINDOWED_REPARTITION)
        ta, tb = self.typer.type_of(a), self.typer.type_of(b)
        if ta != tb:
            raise KsqlError(f"Invalid join condition: types don't match. Got {format_expr(a)}{{{ta}}} = "
                            f"{format_expr(b)}{{{tb}}}.")
        right_kind = right.kind
        left_name = leaves[0].source.name if n == 1 else leaves[n - 1].source.name
        if left_kind == "TABLE" and right_kind == "STREAM":
            raise KsqlError(f"Invalid join order: table-stream joins are not supported; only stream-table "
                            f"joins. Got {left_name} {_kind_text(j.kind)} {right.name}.")
        right_key_cols = [c.name for c in right.schema.key]
        on_right_key = isinstance(b, ast.ColumnRef) and right_key_cols == [b.name]
        if left_kind == "STREAM" and right_kind == "STREAM":
            if j.within is None:
                raise KsqlError("Stream-Stream joins must have a WITHIN clause specified. None was provided. "
                                "To learn about how to specify a WITHIN clause with a stream-stream join, please "
                                "visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html"
                                "#create-stream-as-select")
            shape, result = "stream-stream", "STREAM"
            grace = j.within.grace.millis if j.within.grace is not None else None
            return JoinStep(j.kind, n, a, b, j.within.before.millis, j.within.after.millis, grace, shape, result)
        if j.within is not None:
            raise KsqlError(f"A window definition was provided for a {left_kind.lower()}-{right_kind.lower()} "
                            "join. Windows are only supported for stream-stream joins.")
        if left_kind == "STREAM":
            if j.kind in ("FULL", "RIGHT"):
                kind = "full-outer" if j.kind == "FULL" else "right"
                raise KsqlError(f"Invalid join type: {kind} join not supported for stream-table join. Got "
                                f"{left_name} {_kind_text(j.kind)} {right.name}.")
            if not on_right_key:
                raise KsqlError("Invalid join condition: stream-table joins require to join on the table's "
                                f"primary key. Got {format_expr(a)} = {format_expr(b)}.")
            return JoinStep(j.kind, n, a, b, None, None, None, "stream-table", "STREAM")
        if not on_right_key:
            raise KsqlError("Invalid join condition: table-table joins require to join on the primary key of "
                            f"the right input table. Got {format_expr(a)} = {format_expr(b)}.")
        on_left_key = isinstance(a, ast.ColumnRef) and [c.name for c in left_leaf.source.schema.key] == [a.name]
        if not on_left_key:
            if n > 1:
                raise KsqlError("Invalid join condition: foreign-key table-table joins are not supported as part "
                                f"of n-way joins. Got {format_expr(a)} = {format_expr(b)}.")
            if j.kind in ("RIGHT", "FULL"):
                kind = "RIGHT" if j.kind == "RIGHT" else "FULL"
                raise KsqlError(f"{kind} OUTER JOIN on a foreign key is not supported")
            return JoinStep(j.kind, n, a, b, None, None, None, "fk", "TABLE")
        return JoinStep(j.kind, n, a, b, None, None, None, "table-table", "TABLE")

    @staticmethod
    def _is_key_column(expr: ast.Expr, leaf: JoinLeaf) -> bool:
        return isinstance(expr, ast.ColumnRef) and [c.name for c in leaf.source.schema.key] == [expr.name]

    # -- projection ------------------------------------------------------------------------------

    def output_name(self, ref: ast.ColumnRef) -> str:
        """A column's name in the join's result: bare when unique across the sources, else ALIAS_NAME."""
        owners = [lf for lf in self.leaves
                  if lf.source.schema.find(ref.name) is not None or ref.name in pseudo_column_names(lf.source)
                  or (ref.name in WINDOW_COLUMNS and lf.source.window is not None)]
        return ref.name if len(owners) <= 1 else f"{ref.source}_{ref.name}"

    def _fk_projection(self, items):
        """A foreign-key join's result is keyed by the left table's primary key columns."""
        left = self.leaves[0]
        refs = [ast.ColumnRef(c.name, left.alias) for c in left.source.schema.key]
        positions = {}
        for ref in refs:
            found = [pos for pos, (expr, _) in enumerate(items) if expr == ref]
            if len(found) > 1:
                names = [items[p][1] or ref.name for p in found]
                raise KsqlError(f"The projection contains a key column (`{left.alias}_{ref.name}`) more than "
                                f"once, aliased as: {' and '.join(names)}.")
            if found:
                positions[ref] = found[0]
        missing = [f"`{r.name}`" for r in refs if r not in positions]
        if missing:
            plural = len(missing) > 1
            raise KsqlError(f"Primary key column{'s' if plural else ''} missing in projection. For foreign-key "
                            "table-table joins, the projection must include all primary key columns from the left "
                            f"input table (`{left.source.name}`). Missing column{'s' if plural else ''}: "
                            f"{', '.join(missing)}.")
        used = {c.name for lf in self.leaves for c in lf.source.schema.columns} | {a for _, a in items if a}
        namer = _Namer({n for n in used if re.fullmatch(r"KSQL_COL_\d+", n)})
        columns, value_exprs, seen = [], [], set()
        for ref in refs:
            expr, alias = items[positions[ref]]
            name = alias or self.output_name(ref)
            seen.add(name)
            columns.append(SchemaColumn(name, self.typer.type_of(ref), KEY))
        key_positions = set(positions.values())
        for pos, (expr, alias) in enumerate(items):
            if pos in key_positions:
                continue
            if alias is not None:
                name = alias
            elif isinstance(expr, ast.ColumnRef):
                name = self.output_name(expr)
            elif isinstance(expr, ast.Dereference):
                name = expr.field
            else:
                name = namer.fresh()
            if name in seen:
                raise KsqlError(f"Duplicate column names: {name}")
            seen.add(name)
            value_exprs.append(expr)
            columns.append(SchemaColumn(name, self.typer.type_of_select(expr), VALUE))
        return tuple(refs), tuple(value_exprs), LogicalSchema(tuple(columns))

    def _viable_keys(self, steps: list[JoinStep]) -> list[ast.ColumnRef]:
        """The columns the result of `steps` is keyed by, so that a next join on one of them needs no
        repartition: none after a full join, whose key is synthetic (either side's)."""
        return [] if steps[-1].kind == "FULL" else self._key_columns(steps)

    def _key_columns(self, steps: list[JoinStep]) -> list[ast.ColumnRef]:
        """Columns the result's key may be taken from: the last join's columns, left first, and the
        columns earlier joins equated with them."""
        last = steps[-1]
        equal = [last.left_key, last.right_key]
        for step in reversed(steps[:-1]):
            if step.left_key in equal or step.right_key in equal:
                equal += [e for e in (step.left_key, step.right_key) if e not in equal]
        return [e for e in equal if isinstance(e, ast.ColumnRef)]

    def _select_items(self, query: ast.Query, repartitioned: bool = False) -> list[tuple[ast.Expr, str | None]]:
        """(qualified expression, alias) per result column; `*` expands to ALIAS_COLUMN items, a windowed
        source's window bounds after its key columns. A `repartitioned` join (PARTITION BY) is re-keyed
        before it is projected, as ksqlDB does: `*` then expands to each source's value columns, its
        pseudo columns (ROWTIME, ROWPARTITION, ROWOFFSET), then its key columns."""
        items: list[tuple[ast.Expr, str | None]] = []
        for item in query.select:
            if isinstance(item, ast.AllColumns):
                chosen = self.leaves if item.source is None else \
                    [lf for lf in self.leaves if item.source in (lf.alias, lf.source.name)]
                if not chosen:
                    raise KsqlError(f"'{item.source}' is not a valid stream/table name or alias.")
                for lf in chosen:
                    bounds = [WINDOWSTART, WINDOWEND] if lf.source.window is not None else []
                    if repartitioned:
                        names = [c.name for c in lf.source.schema.value] + pseudo_column_names(lf.source) + bounds + \
                            [c.name for c in lf.source.schema.key]
                    else:
                        names = [c.name for c in lf.source.schema.key] + bounds + \
                            [c.name for c in lf.source.schema.value]
                    items.extend((ast.ColumnRef(name, lf.alias), f"{lf.alias}_{name}") for name in names)
            elif isinstance(item, ast.StructAll):
                base = self.qualify(item.base, "SELECT")
                struct = self.typer.type_of(base)
                items.extend((ast.Dereference(base, f.name), f.name) for f in getattr(struct, "fields", ()))
            else:
                expr = item.expr
                if isinstance(expr, ast.ColumnRef) and expr.source is None and expr.name == self.rowkey:
                    items.append((ast.ColumnRef(self.rowkey), item.alias))
                    continue
                items.append((self.qualify(expr, "SELECT"), item.alias))
        return items

    def _names(self, items: list[tuple[ast.Expr, str | None]]) -> list[str]:
        """Each item's column name: its alias, a column's output name, a field's name, else KSQL_COL_n."""
        used = {c.name for lf in self.leaves for c in lf.source.schema.columns} | {a for _, a in items if a}
        namer = _Namer({n for n in used if re.fullmatch(r"KSQL_COL_\d+", n)})
        names = []
        for expr, alias in items:
            if alias is not None:
                name = alias
            elif isinstance(expr, ast.ColumnRef):
                name = expr.name if expr.source is None else self.output_name(expr)
            elif isinstance(expr, ast.Dereference):
                name = expr.field
            else:
                name = namer.fresh()
            names.append(name)
        return names

    def _key_candidates(self, query: ast.Query, steps: list[JoinStep],
                        items: list[tuple[ast.Expr, str | None]]) -> list[ast.ColumnRef]:
        """The columns the result's key may be; none when the key is the synthetic one, which `*`
        then selects first (added to `items`)."""
        key_candidates = self._viable_keys(steps)
        if not key_candidates and any(isinstance(i, ast.AllColumns) and i.source is None for i in query.select):
            items.insert(0, (ast.ColumnRef(self.rowkey), None))
        return key_candidates

    def _transient_projection(self, query: ast.Query, steps: list[JoinStep], repartitioned: bool = False):
        """A push query's (value expressions, schema, tombstone expressions): the select list in its order
        (`*` expanded as over a `repartitioned` row for PARTITION BY).

        No key is required. A table join's deletion carries what its key can compute: items over the
        join key's columns (over the left table's primary key for a foreign-key join) and over the
        sources' window bounds (the key's window), nulls elsewhere.
        """
        items = self._select_items(query, repartitioned)
        join_key = ast.ColumnRef(JOIN_KEY)
        if steps[-1].shape == "fk":
            keyed = {ast.ColumnRef(c.name, self.leaves[0].alias) for c in self.leaves[0].source.schema.key}
            substitute: dict[ast.Expr, ast.Expr] = {}
        else:
            substitute = {c: join_key for c in self._key_candidates(query, steps, items)}
            keyed = {join_key}
        if self.leaves[0].source.window is not None:
            bounds = [ast.ColumnRef(JOIN_WINDOW[0]), ast.ColumnRef(JOIN_WINDOW[1])]
            keyed.update(bounds)
            for leaf in self.leaves:
                substitute[ast.ColumnRef(WINDOWSTART, leaf.alias)] = bounds[0]
                substitute[ast.ColumnRef(WINDOWEND, leaf.alias)] = bounds[1]
        columns, value_exprs, tombstone_exprs, seen = [], [], [], set()
        for (expr, _), name in zip(items, self._names(items), strict=True):
            if name in seen:
                raise KsqlError(f"Duplicate column names: {name}")
            seen.add(name)
            if expr == ast.ColumnRef(self.rowkey):
                expr = join_key
            column = SchemaColumn(name, self.typer.type_of_select(expr), VALUE)
            on_key = rewrite(expr, lambda e: substitute.get(e) if isinstance(e, ast.ColumnRef) else None)
            computable = all(e in keyed for e in walk(on_key) if isinstance(e, ast.ColumnRef))
            value_exprs.append(expr)
            tombstone_exprs.append(on_key if computable else ast.Cast(ast.NullLiteral(), column.type))
            columns.append(column)
        return tuple(value_exprs), LogicalSchema(tuple(columns)), tuple(tombstone_exprs)

    def _projection(self, query: ast.Query, steps: list[JoinStep], sink_name: str):
        items = self._select_items(query)
        if steps[-1].shape == "fk":
            return self._fk_projection(items)
        key_candidates = self._key_candidates(query, steps, items)
        synthetic = not key_candidates
        names = self._names(items)
        key_pos = None
        for candidate in ([ast.ColumnRef(self.rowkey)] if synthetic else key_candidates):
            positions = [pos for pos, (expr, _) in enumerate(items) if expr == candidate]
            if len(positions) > 1:
                aliases = " and ".join(names[p] for p in positions)
                raise KsqlError(f"The projection contains a key column (`{names[positions[0]]}`) more than "
                                f"once, aliased as: {aliases}.")
            if positions and key_pos is None:
                key_pos = positions[0]
        if key_pos is None:
            if synthetic:
                raise KsqlError("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe "
                                f"query used to build `{sink_name}` must include the join expression {self.rowkey} "
                                f"in its projection (eg, SELECT {self.rowkey}...).")
            shown = " or ".join(format_expr(e) for e in key_candidates)
            noun = "expressions" if len(key_candidates) > 1 else "expression"
            raise KsqlError(f"The query used to build `{sink_name}` must include the join {noun} {shown} in its "
                            f"projection (eg, SELECT {format_expr(key_candidates[0])}...).")
        join_key = ast.ColumnRef(JOIN_KEY)
        columns = [SchemaColumn(names[key_pos], self.typer.type_of(join_key), KEY)]
        value_exprs = []
        seen = {names[key_pos]}
        for pos, (expr, _) in enumerate(items):
            if pos == key_pos or (not synthetic and expr in key_candidates and
                                  expr == items[key_pos][0]):
                continue
            if expr == ast.ColumnRef(self.rowkey):
                expr = join_key
            self._add_value_column(names[pos], expr, seen, value_exprs, columns)
        if not value_exprs:
            raise KsqlError("The projection contains no value columns.")
        return (join_key,), tuple(value_exprs), LogicalSchema(tuple(columns))


def _synthetic_key_name(leaves: list[JoinLeaf]) -> str:
    """The name of a key no source column gives (a full join's, or one joined on expressions): ROWKEY,
    or, when a source has ROWKEY or ROWKEY_n columns, ROWKEY_ one past the highest n (ROWKEY is 0)."""
    taken = [m for leaf in leaves for c in leaf.source.schema.columns if (m := _ROWKEY_NAME.fullmatch(c.name))]
    if not taken:
        return ROWKEY
    return f"{ROWKEY}_{max(int(m.group(1) or 0) for m in taken) + 1}"


def _has_aggregates(query: ast.Query, registry: FunctionRegistry) -> bool:
    return any(isinstance(e, ast.FunctionCall) and registry.is_aggregate(e.name)
               for item in query.select if isinstance(item, ast.SelectItem) for e in walk(item.expr))


def _kind_text(kind: str) -> str:
    return {"INNER": "[INNER] JOIN", "LEFT": "LEFT [OUTER] JOIN", "RIGHT": "RIGHT [OUTER] JOIN",
            "FULL": "[FULL] OUTER JOIN"}[kind]
