"""Pull queries: one-shot SELECTs (no EMIT) answered from a table's materialized view or a stream's topic.

Key equality on every key column is a point lookup in the view's dict; any other
WHERE on a table narrows candidates with DuckDB SQL over the view's mirror when
the predicate translates, and the compiled WHERE decides exactly either way
(so ksqlDB's null and type rules hold). Pull queries on streams scan the topic.
A query is planned (checked, compiled) and then run: a server plans under its
engine lock and runs outside it, so catching up a table's view on its topic,
filling its mirror or reading a topic holds up no persistent query. LIMIT is pushed down to DuckDB.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ksql.engine.codec import RecordDecoder
from ksql.engine.log import Log
from ksql.engine.metastore import DataSource
from ksql.engine.properties import PULL_STREAM_ENABLED_CONFIG, is_enabled
from ksql.engine.schema import KEY, ROWOFFSET, ROWPARTITION, VALUE, WINDOWEND, WINDOWSTART, SchemaColumn
from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.parser.limits import refusing_deep_nesting
from ksql.planner.analysis import Analyzer, _Namer, pseudo_column_names, rewrite_magic_timestamps, walk
from ksql.planner.expressions import ExpressionTyper, compile_batch, compile_projection, format_expr
from ksql.planner.expressions.scope import Scope
from ksql.types import STRING, DecimalType, NullType, can_widen, hashable

if TYPE_CHECKING:
    from ksql.engine.engine import Engine
    from ksql.engine.materialization import TableView

_SEE = " See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query."
TABLE_SCAN_ENABLED = "ksql.query.pull.table.scan.enabled"
_query_ids = itertools.count()
QUICK_KEYS = 100  # a key lookup of at most this many keys is answered where it was asked (see run_quick)


@dataclass
class PullResult:
    """Rows of a pull query with their columns (key columns flagged KEY)."""

    query_id: str
    columns: list[SchemaColumn]
    rows: list[list[Any]]

    @property
    def schema(self) -> str:
        return ", ".join(c.sql() for c in self.columns)


def execute_pull(engine: Engine, query: ast.Query, properties: dict[str, Any] | None = None) -> PullResult:
    """Answer a pull query; `properties` are the effective ones (server, session, request)."""
    return plan_pull(engine, query, properties).run()


Candidates = Callable[[int | None, int], list[tuple[int, tuple]]]


@dataclass
class PullPlan:
    """A pull query checked and compiled: what `run` does needs no engine lock (it reads the log, or a
    table's view under the view's own locks), so a server answers it outside that lock. A plan can run
    any number of times (a server caches plans per statement text)."""

    columns: list[SchemaColumn]
    stage: Callable[[list], list]
    limit: int | None
    candidates: Callable[[], Candidates]  # a fresh candidate source for each run
    view: TableView | None = None  # the view a key lookup reads (None: not a key lookup)
    keys: list[tuple] = field(default_factory=list)  # the keys it looks up

    def run_quick(self) -> PullResult | None:
        """The answer of a key lookup, if it needs only a few dict reads: the view is up to date and no
        catch-up holds it right now. Never waits (a server calls it on its event loop); None otherwise."""
        view = self.view
        if view is None or view.source.window is not None or len(self.keys) > QUICK_KEYS or not view.is_current():
            return None  # a windowed table's lookup scans the view
        rows = view.lookup(self.keys, wait=False)
        if rows is None:
            return None
        with refusing_deep_nesting():
            found = [list(r) for r in self.stage(rows)]
        return PullResult(f"query_{next(_query_ids)}", self.columns,
                          found if self.limit is None else found[:self.limit])

    def run(self) -> PullResult:
        """The rows: candidates fetched in rid order, `limit` at a time (pushed down), until the compiled
        WHERE (which decides exactly) has accepted `limit` rows or no candidate is left."""
        rows: list[list[Any]] = []
        after, want = -1, self.limit
        candidates = self.candidates()
        with refusing_deep_nesting():
            while self.limit is None or len(rows) < self.limit:
                batch = candidates(want, after)
                rows.extend(list(r) for r in self.stage([row for _, row in batch]))
                if want is None or len(batch) < want:
                    break
                after, want = batch[-1][0], max(2 * want, 1000)
        if self.limit is not None:
            rows = rows[:self.limit]
        return PullResult(f"query_{next(_query_ids)}", self.columns, rows)


def plan_pull(engine: Engine, query: ast.Query, properties: dict[str, Any] | None = None) -> PullPlan:
    """Check and compile a pull query (under the engine lock in a server)."""
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
    if source.kind == "STREAM" and not is_enabled(properties or {}, PULL_STREAM_ENABLED_CONFIG):
        raise KsqlError("Pull queries on streams are disabled. To create a push query on the stream, add EMIT "
                        "CHANGES to the end. To enable pull queries on streams, set the "
                        f"{PULL_STREAM_ENABLED_CONFIG} config to 'true'.")
    analyzer = Analyzer(source, relation.alias, engine.registry)
    where = None
    if query.where is not None:
        where = rewrite_magic_timestamps(analyzer.normalize(query.where, "WHERE"))
        _refuse_columns(where, "WHERE", analyzer)
        _check_like_columns(where, analyzer)
        try:
            analyzer.typer.check_predicate(where, "WHERE")
        except KsqlError as err:  # ksqlDB names the pull query's WHERE it refused
            raise KsqlError(f"{err}\nStatement: {format_expr(where)}") from None
    items = _projection(analyzer, query, source)
    for expr, _, _ in items:
        _refuse_columns(expr, "SELECT", analyzer)
    if source.kind == "TABLE":
        if (not source.is_source and not source.writer_query_ids) or not source.materialized:
            raise KsqlError(f"The `{source.name}` table isn't queryable. To derive a queryable table, you can do "
                            f"'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'. "
                            "See https://cnfl.io/queries for more info.")
        if str((properties or {}).get(TABLE_SCAN_ENABLED, "true")).lower() == "false":
            KeyLookupRules(source).check(where)
    scope = analyzer.scope
    stage = compile_batch(where, [e for e, _, _ in items], scope, engine.registry,
                          lambda message: None)
    columns = [SchemaColumn(name, t, KEY if is_key else VALUE) for _, name, (t, is_key) in items]
    if source.kind != "TABLE":
        return PullPlan(columns, stage, query.limit, lambda: _listed(lambda: _stream_rows(engine.log, source)))
    view = engine.table_view(source)
    keys = _key_lookup(source, where, scope, engine)
    if keys is not None:
        def looked_up() -> list[tuple]:
            view.catch_up()
            return view.lookup(keys) or []
        return PullPlan(columns, stage, query.limit, lambda: _listed(looked_up), view, keys)
    return PullPlan(columns, stage, query.limit, _table_candidates(view, where))


def _listed(rows: Callable[[], list[tuple]]) -> Candidates:
    """Candidates from a list made on first use."""
    cache: list[list[tuple]] = []

    def fetch(limit: int | None, after: int) -> list[tuple[int, tuple]]:
        if not cache:
            cache.append(rows())
        return _numbered(cache[0], limit, after)
    return fetch


def _numbered(rows: list[tuple], limit: int | None, after: int) -> list[tuple[int, tuple]]:
    """At most `limit` of `rows` after position `after`, with their positions."""
    start = after + 1
    end = None if limit is None else start + limit
    return list(enumerate(rows[start:end], start))


def _refuse_columns(expr: ast.Expr, clause: str, analyzer: Analyzer) -> None:
    """Refuse the ROWPARTITION and ROWOFFSET pseudo columns (not a source's own columns of those names)."""
    for name in pseudo_column_names(analyzer.source):
        if name in (ROWPARTITION, ROWOFFSET) and any(isinstance(e, ast.ColumnRef) and e.name == name
                                                     for e in walk(expr)):
            raise KsqlError(f"Pull queries don't support the following columns in {clause} clauses: `{name}`")


def _check_like_columns(where: ast.Expr, analyzer: Analyzer) -> None:
    """ksqlDB checks LIKE on a column before typing the WHERE, and names the column's type."""
    for e in walk(where):
        if isinstance(e, ast.Like) and isinstance(e.value, ast.ColumnRef):
            t = analyzer.typer.type_of(e.value)
            if t != STRING:
                raise KsqlError(f"The column type for Like condition must be VARCHAR. The column type is {t}")


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
            if any(n == name and k == is_key for _, n, (_, k) in out):  # as ksqlDB's LogicalSchema builder
                column = SchemaColumn(name, t, KEY if is_key else VALUE)
                raise KsqlError(f"Duplicate {'key' if is_key else 'value'} columns found in schema: {column.sql()}")
            out.append((expr, name, (t, is_key)))
    return out


def _table_candidates(view: TableView, where: ast.Expr | None) -> Callable[[], Candidates]:
    """Candidate rows of a table that no key lookup pins down, read when the plan runs (outside the
    engine lock), after the view caught up on the table's topic: a predicate DuckDB can narrow against
    the view's mirror, anything else a scan of the view."""
    translated = to_duckdb(where, view.sql_columns) if where is not None else None
    if translated is None:
        def scanned() -> list[tuple]:
            view.catch_up(every_value=True)
            return view.scan()
        return lambda: _listed(scanned)

    def narrowed() -> Candidates:
        caught_up: list[bool] = []

        def query(limit: int | None, after: int) -> list[tuple[int, tuple]]:
            if not caught_up:
                view.catch_up(every_value=True)
                caught_up.append(True)
            return view.query(*translated, limit, after)
        return query
    return narrowed


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
            evaluated = {_evaluate(e, c, engine) for e in options}
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


def _evaluate(expr: ast.Expr, column: SchemaColumn, engine: Engine):
    """The key value `expr` names, refused as ksqlDB refuses it: NULL, or a type the key column's does not
    take without a lossy or parsing conversion (ksqlDB's strict coercion; text still names temporal keys)."""
    scope = Scope([])
    t = ExpressionTyper(scope, engine.registry).type_of(expr)
    target = column.type
    shown = expr.value if isinstance(expr, ast.StringLiteral) else format_expr(expr)
    if not isinstance(t, NullType) and not can_widen(t, target) and not _loose_decimal(t, target) and \
            not (t == STRING and target.base in ("TIMESTAMP", "DATE", "TIME")):
        raise KsqlError(f"'{shown}' can not be converted to the type of the key column: "
                        f"{column.name} {column.type} KEY")
    cast = expr if t == target else ast.Cast(expr, target)
    fn = compile_projection(None, [cast], scope, engine.registry, _raise)
    try:
        result = fn(())
    except KsqlError:
        raise KsqlError(f"'{shown}' can not be converted to the type of the key column: "
                        f"{column.name} {column.type} KEY") from None
    value = None if result is None else result[0]
    if value is None:
        raise KsqlError(f"Primary key columns can not be NULL: {format_expr(ast.Comparison('=', ast.ColumnRef(column.name), expr))}")
    return hashable(value)


def _loose_decimal(t, target) -> bool:
    """A DECIMAL literal naming a DECIMAL key of another precision: its value decides (checked by the cast)."""
    return isinstance(t, DecimalType) and isinstance(target, DecimalType)


def _raise(message: str) -> None:
    raise KsqlError(message)


class KeyLookupRules:
    """ksqlDB's WHERE rules for pull queries on tables when table scans are disabled: each disjunct of the
    WHERE (in disjunctive normal form) must pin every key column down with one comparison or IN list
    against values the key can be resolved from. Refusals carry ksqlDB's messages and hint."""

    def __init__(self, source: DataSource):
        self.source = source
        self.keys = [c.name for c in source.schema.key]

    def check(self, where: ast.Expr | None) -> None:
        if where is None:
            raise self._refusal("Missing WHERE clause")
        for disjunct in _disjuncts(where):
            seen: list[str] = []
            for atom in _conjuncts(disjunct):
                self._visit(atom, seen)
            if not seen:
                raise self._refusal(f"WHERE clause missing key column for disjunct: {format_expr(disjunct)}")
            missing = [k for k in self.keys if k not in seen]
            if missing:
                raise self._refusal("Multi-column sources must specify every key in the WHERE clause. Specified: "
                                    f"[{', '.join(_quoted(k) for k in seen)}] "
                                    f"Missing: [{', '.join(_quoted(k) for k in missing)}]")

    def _visit(self, atom: ast.Expr, seen: list[str]) -> None:
        if isinstance(atom, ast.Comparison):
            column = next((e for e in (atom.left, atom.right) if isinstance(e, ast.ColumnRef)), None)
            if column is None:
                raise self._refusal("A comparison must directly reference a key column")
            if column.name not in self.keys:
                return
            other = atom.right if column is atom.left else atom.left
            self._see(column, [other], seen)
            if atom.op not in ("=", "<", "<=", ">", ">="):  # ranges are key range scans
                shown = ", ".join(c.sql() for c in self.source.schema.key)
                raise self._refusal(f"Bound on key columns '[{shown}]' must currently be '='")
        elif isinstance(atom, ast.InList) and not atom.negated and isinstance(atom.value, ast.ColumnRef):
            if atom.value.name in self.keys:
                self._see(atom.value, list(atom.items), seen)
        elif isinstance(atom, ast.Like) and not atom.negated:
            if not isinstance(atom.value, ast.ColumnRef):
                raise self._refusal("Like condition must be between strings")
            if atom.value.name in self.keys:
                self._see(atom.value, [atom.pattern], seen)
        elif any(isinstance(e, ast.ColumnRef) and e.name in self.keys for e in walk(atom)):
            raise self._refusal(f"Unsupported expression in WHERE clause: {format_expr(atom)}")

    def _see(self, column: ast.ColumnRef, values: list[ast.Expr], seen: list[str]) -> None:
        if not all(_constant(v) for v in values):
            raise self._refusal("A comparison must be between a key column and a resolvable expression")
        if column.name in seen:
            raise self._refusal("A comparison condition on the key column cannot be combined with other "
                                "comparisons such as an IN predicate")
        seen.append(column.name)

    def _refusal(self, message: str) -> KsqlError:
        windowed = ("\n - (optionally) limits the time bounds of the windowed table."
                    "\n\t Bounds on [`WINDOWSTART`, `WINDOWEND`] are supported"
                    "\n\t Supported operators are [EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN, "
                    "LESS_THAN_OR_EQUAL]") if self.source.window is not None else ""
        return KsqlError(f"{message}. \nPull queries require a WHERE clause that:"
                         "\n - includes a key equality expression, e.g. `SELECT * FROM X WHERE <key-column>=Y;`."
                         "\n - in the case of a multi-column key, is a conjunction of equality expressions that "
                         f"cover all key columns.{windowed}"
                         "\nIf more flexible queries are needed, table scans can be enabled by setting "
                         f"{TABLE_SCAN_ENABLED}=true.")


def _disjuncts(expr: ast.Expr) -> list[ast.Expr]:
    """`expr` in disjunctive normal form: the disjuncts, each a conjunction of atoms (NOT is an atom)."""
    if isinstance(expr, ast.Or):
        return _disjuncts(expr.left) + _disjuncts(expr.right)
    if isinstance(expr, ast.And):
        return [ast.And(a, b) for a in _disjuncts(expr.left) for b in _disjuncts(expr.right)]
    return [expr]


def _quoted(name: str) -> str:
    return f"`{name}`"


def _stream_rows(log: Log, source: DataSource) -> list:
    decoder = RecordDecoder(source, "pull query")
    rows: list = []
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


def to_duckdb(where: ast.Expr, columns: dict[str, str]) -> tuple[str, list] | None:
    """SQL text and parameters narrowing rows to those `where` may accept, or None.

    `columns` maps the mirrored columns' names to their DuckDB names (the view's generated
    ones): the SQL holds only those, operators and `?`; every literal is a parameter.
    Only conjunctions/disjunctions of comparisons, BETWEEN, IN, IS NULL and LIKE between
    mirrored columns (or window bounds) and literals translate; NOT does not (SQL's
    three-valued NOT differs from ksqlDB's), and neither does anything else.
    """
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
        if isinstance(e, (ast.And, ast.Or)):  # one flat AND (OR) of the chain's terms, however grouped
            terms = [visit(term) for term in _same_operator_terms(e)]
            if None in terms:
                return None
            return "(" + f" {'AND' if isinstance(e, ast.And) else 'OR'} ".join(str(t) for t in terms) + ")"
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


def _same_operator_terms(e: ast.And | ast.Or) -> list[ast.Expr]:
    """The operands, left to right, of a chain of ANDs (or of ORs): DuckDB refuses an expression
    nested 1,000 levels deep, but not a flat chain of 1,000 terms."""
    terms: list[ast.Expr] = []
    stack: list[ast.Expr] = [e.right, e.left]
    while stack:
        node = stack.pop()
        if type(node) is type(e):
            stack += [node.right, node.left]
        else:
            terms.append(node)
    return terms


def _literal(e: ast.Expr):
    if isinstance(e, (ast.IntegerLiteral, ast.LongLiteral, ast.StringLiteral, ast.BooleanLiteral,
                      ast.DecimalLiteral, ast.DoubleLiteral)):
        return e.value
    return _NOT

