"""Pull queries: one-shot SELECTs (no EMIT) answered from a table's materialized view or a stream's topic.

Key equality on every key column is a point lookup in the view's dict; any other
WHERE on a table narrows candidates with DuckDB SQL over the view's mirror when
the predicate translates, and the compiled WHERE decides exactly either way
(so ksqlDB's null and type rules hold). Pull queries on streams scan the topic.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ksql.engine.codec import RecordDecoder
from ksql.engine.metastore import DataSource
from ksql.engine.schema import KEY, ROWOFFSET, ROWPARTITION, VALUE, WINDOWEND, WINDOWSTART, SchemaColumn
from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.planner.analysis import Analyzer, _Namer, rewrite_magic_timestamps, walk
from ksql.planner.expressions import ExpressionTyper, compile_batch, compile_projection, format_expr
from ksql.planner.expressions.scope import Scope
from ksql.types import hashable

if TYPE_CHECKING:
    from ksql.engine.engine import Engine

_SEE = " See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query."
_query_ids = itertools.count()


@dataclass
class PullResult:
    """Rows of a pull query with their columns (key columns flagged KEY)."""

    query_id: str
    columns: list[SchemaColumn]
    rows: list[list[Any]]

    @property
    def schema(self) -> str:
        return ", ".join(c.sql() for c in self.columns)


def execute_pull(engine: Engine, query: ast.Query) -> PullResult:
    relation = query.from_
    if isinstance(relation, ast.Join):
        raise KsqlError("Pull queries don't support JOIN clauses." + _SEE)
    if query.group_by:
        raise KsqlError("Pull queries don't support GROUP BY clauses." + _SEE)
    if query.window is not None:
        raise KsqlError("Pull queries don't support WINDOW clauses." + _SEE)
    if query.partition_by is not None:
        raise KsqlError("Pull queries don't support PARTITION BY clauses." + _SEE)
    if query.limit is not None and query.limit < 0:
        raise KsqlError("Pull queries don't support negative integers in the LIMIT clause."
                        " See https://cnfl.io/queries for more info.")
    source = engine.metastore.get(relation.name)
    if source is None:
        raise KsqlError(f"{relation.name} does not exist." + engine.metastore.case_hint(relation.name))
    analyzer = Analyzer(source, relation.alias, engine.registry)
    where = None
    if query.where is not None:
        where = rewrite_magic_timestamps(analyzer.normalize(query.where, "WHERE"))
        _refuse_columns(where, "WHERE")
        try:
            analyzer.typer.check_predicate(where, "WHERE")
        except KsqlError as err:  # ksqlDB names the pull query's WHERE it refused
            raise KsqlError(f"{err}\nStatement: {format_expr(where)}") from None
    items = _projection(analyzer, query, source)
    for expr, _, _ in items:
        _refuse_columns(expr, "SELECT")
    scope = analyzer.scope
    stage = compile_batch(where, [e for e, _, _ in items], scope, engine.registry,
                          lambda message: None)
    if source.kind == "TABLE":
        candidates = _table_candidates(engine, source, where, scope)
    else:
        candidates = _stream_rows(engine, source)
    rows = [list(r) for r in stage(candidates)]
    if query.limit is not None:
        rows = rows[:query.limit]
    columns = [SchemaColumn(name, t, KEY if is_key else VALUE) for _, name, (t, is_key) in items]
    return PullResult(f"query_{next(_query_ids)}", columns, rows)


def _refuse_columns(expr: ast.Expr, clause: str) -> None:
    for name in (ROWPARTITION, ROWOFFSET):
        if any(isinstance(e, ast.ColumnRef) and e.name == name for e in walk(expr)):
            raise KsqlError(f"Pull queries don't support the following columns in {clause} clauses: `{name}`")


def _projection(analyzer: Analyzer, query: ast.Query, source: DataSource):
    """[(expr, name, (type, is_key))] for the select list; `*` is keys, window bounds, values."""
    key_names = {c.name for c in source.schema.key}
    if source.window is not None:
        key_names |= {WINDOWSTART, WINDOWEND}
    out = []
    used = {c.name for c in source.schema.columns}
    namer = _Namer({n for n in used if re.fullmatch(r"KSQL_COL_\d+", n)})
    for item in query.select:
        if isinstance(item, ast.AllColumns):
            if item.source is not None and item.source not in (analyzer.qualifier, source.name):
                raise KsqlError(f"'{item.source}' is not a valid stream/table name or alias.")
            names = [c.name for c in source.schema.key]
            if source.window is not None:
                names += [WINDOWSTART, WINDOWEND]
            names += [c.name for c in source.schema.value]
            exprs = [(ast.ColumnRef(n), n) for n in names]
        elif isinstance(item, ast.StructAll):
            base = analyzer.normalize(item.base, "SELECT")
            struct = analyzer.typer.type_of(base)
            exprs = [(ast.Dereference(base, f.name), f.name) for f in getattr(struct, "fields", ())]
        else:
            expr = analyzer.normalize(item.expr, "SELECT")
            if item.alias is not None:
                name = item.alias
            elif isinstance(expr, ast.ColumnRef):
                name = expr.name
            elif isinstance(expr, ast.Dereference):
                name = analyzer._implicit(expr, namer, used)
            else:
                name = namer.fresh()
            exprs = [(expr, name)]
        for expr, name in exprs:
            t = analyzer.typer.type_of_select(expr)
            is_key = source.kind == "TABLE" and isinstance(expr, ast.ColumnRef) and expr.name in key_names
            out.append((expr, name, (t, is_key)))
    return out


def _table_candidates(engine: Engine, source: DataSource, where: ast.Expr | None, scope: Scope) -> list:
    view = engine.table_view(source)
    view.catch_up()
    keys = _key_lookup(source, where, scope, engine)
    if keys is not None:
        rows = []
        for key in keys:
            rows.extend(view.lookup(key))
        return rows
    translated = to_duckdb(where, view.mirrored, source) if where is not None else None
    if translated is None:
        return view.query(None, [])
    return view.query(*translated)


def _key_lookup(source: DataSource, where: ast.Expr | None, scope: Scope, engine: Engine
                ) -> list[tuple] | None:
    """The key tuples a WHERE pins down with `=` / IN on every key column, else None."""
    if where is None or not source.schema.key:
        return None
    values: dict[str, list] = {}
    for conj in _conjuncts(where):
        if isinstance(conj, ast.Comparison) and conj.op == "=":
            for col, lit in ((conj.left, conj.right), (conj.right, conj.left)):
                if isinstance(col, ast.ColumnRef) and _is_key(source, col) and _constant(lit):
                    values.setdefault(col.name, []).append([lit])
        elif isinstance(conj, ast.InList) and not conj.negated and isinstance(conj.value, ast.ColumnRef) \
                and _is_key(source, conj.value) and all(_constant(i) for i in conj.items):
            values.setdefault(conj.value.name, []).append(list(conj.items))
    if any(c.name not in values for c in source.schema.key):
        return None
    per_column = []
    for c in source.schema.key:
        candidates = None
        for options in values[c.name]:
            evaluated = {_evaluate(e, c.type, engine) for e in options}
            candidates = evaluated if candidates is None else candidates & evaluated
        per_column.append(sorted(candidates, key=repr))
    return [tuple(combo) for combo in itertools.product(*per_column)]


def _conjuncts(expr: ast.Expr):
    if isinstance(expr, ast.And):
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


def _is_key(source: DataSource, ref: ast.ColumnRef) -> bool:
    return any(c.name == ref.name for c in source.schema.key)


def _constant(expr: ast.Expr) -> bool:
    return not any(isinstance(e, (ast.ColumnRef, ast.LambdaVariable)) for e in walk(expr))


def _evaluate(expr: ast.Expr, target, engine: Engine):
    scope = Scope([])
    t = ExpressionTyper(scope, engine.registry).type_of(expr)
    cast = expr if t == target else ast.Cast(expr, target)
    fn = compile_projection(None, [cast], scope, engine.registry, _raise)
    try:
        result = fn(())
    except KsqlError:
        raise KsqlError(f"'{format_expr(expr)}' can not be converted to the type of the key column") from None
    value = None if result is None else result[0]
    return hashable(value)


def _raise(message: str) -> None:
    raise KsqlError(message)


def _stream_rows(engine: Engine, source: DataSource) -> list:
    decoder = RecordDecoder(source, "pull query")
    rows: list = []
    log = engine.log
    for partition in range(log.topic_config(source.topic).partitions):
        offset = log.start_offset(source.topic, partition)
        while True:
            records = log.read(source.topic, partition, offset, 10_000)
            if not records:
                break
            offset = records[-1].offset + 1
            rows.extend(r for r in decoder.decode(records) if not r[-1])
    return rows


# --- WHERE -> DuckDB ------------------------------------------------------------------------------

_SQL_OPS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def to_duckdb(where: ast.Expr, mirrored, source: DataSource) -> tuple[str, list] | None:
    """SQL text and parameters narrowing rows to those `where` may accept, or None.

    Only conjunctions/disjunctions of comparisons, BETWEEN, IN, IS NULL and LIKE between
    mirrored columns (or window bounds) and literals translate; NOT does not (SQL's
    three-valued NOT differs from ksqlDB's), and neither does anything else.
    """
    columns = {name: f'"{name}"' for _, name, _ in mirrored}
    if source.window is not None:
        columns[WINDOWSTART], columns[WINDOWEND] = "ws", "we"
    columns["ROWTIME"] = "rowtime"
    params: list = []

    def operand(e: ast.Expr) -> str | None:
        if isinstance(e, ast.ColumnRef) and e.name in columns:
            return columns[e.name]
        value = _literal(e)
        if value is _NOT:
            return None
        params.append(value)
        return "?"

    def visit(e: ast.Expr) -> str | None:
        if isinstance(e, (ast.And, ast.Or)):
            left, right = visit(e.left), visit(e.right)
            if left is None or right is None:
                return None
            return f"({left} {'AND' if isinstance(e, ast.And) else 'OR'} {right})"
        if isinstance(e, ast.Comparison) and e.op in _SQL_OPS:
            a, b = operand(e.left), operand(e.right)
            return None if a is None or b is None else f"({a} {_SQL_OPS[e.op]} {b})"
        if isinstance(e, ast.Between) and not e.negated:
            v, lo, hi = operand(e.value), operand(e.low), operand(e.high)
            return None if None in (v, lo, hi) else f"({v} BETWEEN {lo} AND {hi})"
        if isinstance(e, ast.InList) and not e.negated:
            v = operand(e.value)
            items = [operand(i) for i in e.items]
            return None if v is None or None in items else f"({v} IN ({', '.join(items)}))"
        if isinstance(e, ast.IsNull):
            v = operand(e.operand)
            return None if v is None else f"({v} IS {'NOT ' if e.negated else ''}NULL)"
        if isinstance(e, ast.Like) and not e.negated and e.escape is None:
            v, pattern = operand(e.value), operand(e.pattern)
            return None if v is None or pattern is None else f"({v} LIKE {pattern})"
        return None

    sql = visit(where)
    return None if sql is None else (sql, params)


_NOT = object()


def _literal(e: ast.Expr):
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral, ast.StringLiteral, ast.BooleanLiteral,
                      ast.DecimalLiteral, ast.DoubleLiteral)):
        return e.value
    return _NOT

