"""Function registry: scalar, aggregate and table functions, with ksqlDB's overload resolution.

A function is a name plus overloads. Each overload declares its parameter types
(concrete SqlTypes, or the placeholders below: generics `T`, any-DECIMAL, any-STRUCT,
lambdas), whether its last parameter is variadic, its return type (fixed, generic,
or computed from the argument types), whether a null argument short-circuits to a
null result (the compiler then inlines the check, so implementations never see None),
and the Python implementation.

Resolution follows ksqlDB's UdfIndex: first look for overloads accepting the
arguments exactly; only when there are none, allow implicit widening
(INTEGER -> BIGINT -> DECIMAL -> DOUBLE). Among several candidates a non-variadic
overload beats a variadic one and a concrete one beats a generic one; a remaining
tie is an ambiguity error, as in ksqlDB. Implicit casts are ksqlDB's
(SqlBaseType.canImplicitlyCast): numeric widening, and STRING to DATE, TIME or
TIMESTAMP (so GREATEST(date_col, '2022-06-14') works).

Table functions (EXPLODE, CUBE_EXPLODE ...) use the same overload machinery:

    @table_function("EXPLODE", [ArrayType(T)], T, param_names=("list",))
    def explode(values): return [] if values is None else list(values)

    rf = registry.resolve_table("EXPLODE", [ArrayType(BIGINT)])
    rf.return_type        # BIGINT: the type of ONE output value (the column the call produces)
    rf.param_types        # the types the arguments must be converted to before the call
    rf.impl(*args)        # -> list of output values, one per output row ([] = no row)

A table function's impl always receives its arguments, nulls included
(`null_on_null` is False), and returns a list. The flat-map operator evaluates
every table function of a SELECT on the input row and emits as many rows as the
longest list, the shorter ones padded with nulls (ksqlDB's KudtfFlatMapper).

Aggregates are registered with their signatures too (DESCRIBE FUNCTION shows them).
`resolve_aggregate` gives a call site its accumulator (an AggregateSpec): built-ins
through ksql.functions.aggregates, which also binds their literal parameters (TOPK's
k); user-defined aggregates (classes registered with `aggregate`) through the overload
machinery above, their generics binding the return and intermediate types.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ksql.errors import KsqlError
from ksql.functions.aggregates import (
    AggregateSpec,
    builtin_column_count,
    is_builtin_aggregate,
    resolve_aggregate,
    user_aggregate_spec,
)
from ksql.types import (
    NULL,
    ArrayType,
    DecimalType,
    MapType,
    NullType,
    SqlType,
    StructType,
    decimal_for_integer,
)

# --- parameter-type placeholders ----------------------------------------------


@dataclass(frozen=True)
class Generic(SqlType):
    """A type variable (`T`, `K`, `V` ...) bound by the first argument that matches it."""

    name: str
    base: str = "GENERIC"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class AnyDecimal(SqlType):
    """A DECIMAL parameter of any precision and scale (ksqlDB's BigDecimal parameters)."""

    base: str = "DECIMAL"

    def __str__(self) -> str:
        return "DECIMAL"


@dataclass(frozen=True)
class AnyStruct(SqlType):
    """A STRUCT parameter of any shape."""

    base: str = "STRUCT"

    def __str__(self) -> str:
        return "STRUCT"


@dataclass(frozen=True)
class IntervalUnitType(SqlType):
    """A bare time unit argument (DAYS, MILLISECONDS ...), ksqlDB's INTERVALUNIT parameter type.

    The typer gives IntervalUnit expressions this type; at run time the value is the
    unit's upper-case plural name (e.g. 'MILLISECONDS')."""

    base: str = "INTERVALUNIT"

    def __str__(self) -> str:
        return "INTERVALUNIT"


@dataclass(frozen=True)
class LambdaType(SqlType):
    """A lambda parameter: the types of its inputs and of its result (may use generics)."""

    params: tuple[SqlType, ...]
    returns: SqlType
    base: str = "LAMBDA"

    def __str__(self) -> str:
        return f"LAMBDA<({', '.join(map(str, self.params))}) => {self.returns}>"


DECIMAL_ANY = AnyDecimal()
STRUCT_ANY = AnyStruct()
INTERVAL_UNIT = IntervalUnitType()
T = Generic("T")
U = Generic("U")
K = Generic("K")
V = Generic("V")
S = Generic("S")


@dataclass(frozen=True)
class LambdaArg:
    """An argument that is a lambda, given to `resolve_scalar` instead of a type.

    `body_type(param_types)` types the lambda body once the overload fixes the
    lambda's parameter types (the typer supplies it).
    """

    arity: int
    body_type: Callable[[list[SqlType]], SqlType]

    def __str__(self) -> str:
        return "LAMBDA"


ArgType = SqlType | LambdaArg

# --- function metadata --------------------------------------------------------

ReturnSpec = SqlType | Callable[[list[SqlType]], SqlType]


@dataclass(frozen=True)
class SchemaProvider:
    """A return type computed from the argument types (ksqlDB's @UdfSchemaProvider), with the
    type name DESCRIBE FUNCTION shows for it (e.g. DECIMAL)."""

    fn: Callable[[list[SqlType]], SqlType]
    base: str

    def __call__(self, arg_types: list[SqlType]) -> SqlType:
        return self.fn(arg_types)

    def __str__(self) -> str:
        return self.base


@dataclass
class Overload:
    """One signature of a scalar function and its implementation."""

    params: tuple[SqlType, ...]
    returns: ReturnSpec
    impl: Callable[..., Any]
    param_names: tuple[str, ...] = ()
    variadic: bool = False  # the last param type repeats 0..n times
    null_on_null: bool = True  # any null argument -> null result, impl not called
    description: str = ""
    # impl is a factory: called with the call's parameter types, it returns the implementation
    # (for functions whose behaviour depends on the SQL type, e.g. TO_JSON_STRING of a DATE)
    typed: bool = False

    def signature(self, display_name: str) -> str:
        names = list(self.param_names) + [f"arg{i}" for i in range(len(self.param_names), len(self.params))]
        parts = []
        for i, (t, n) in enumerate(zip(self.params, names, strict=False)):
            ts = str(t)
            if self.variadic and i == len(self.params) - 1:
                ts += "..."
            parts.append(f"{ts} {n}")
        return f"{display_name}({', '.join(parts)})"

    @property
    def generic_count(self) -> int:
        return sum(1 for p in self.params if _has_generic(p))


@dataclass(frozen=True)
class UserAggregate:
    """The implementation of a user-defined aggregate overload: its class and its state's SQL type."""

    factory: Callable[[], Any]
    intermediate: SqlType


@dataclass
class FunctionInfo:
    """What SHOW FUNCTIONS / DESCRIBE FUNCTION print."""

    name: str
    kind: str  # SCALAR | AGGREGATE | TABLE
    category: str = ""
    description: str = ""
    author: str = "Confluent"
    version: str = ""
    overloads: list[Overload] = field(default_factory=list)
    display_name: str = ""  # the name as declared, used in error messages (e.g. 'dateadd')
    deterministic: bool = True


@dataclass(frozen=True)
class ResolvedFunction:
    """A call site's chosen overload: what the compiler invokes and the call's type."""

    name: str
    impl: Callable[..., Any]
    return_type: SqlType
    param_types: tuple[SqlType, ...]  # one per argument (variadic expanded, generics bound)
    null_on_null: bool
    deterministic: bool
    overload: Overload


def _has_generic(t: SqlType) -> bool:
    if isinstance(t, Generic):
        return True
    if isinstance(t, ArrayType):
        return _has_generic(t.item)
    if isinstance(t, MapType):
        return _has_generic(t.key) or _has_generic(t.value)
    if isinstance(t, LambdaType):
        return any(_has_generic(p) for p in t.params) or _has_generic(t.returns)
    return False


def substitute(t: SqlType, bindings: dict[str, SqlType]) -> SqlType:
    """`t` with its generics replaced by their bindings (unbound ones become NULL)."""
    if isinstance(t, Generic):
        return bindings.get(t.name, NULL)
    if isinstance(t, ArrayType):
        return ArrayType(substitute(t.item, bindings))
    if isinstance(t, MapType):
        return MapType(substitute(t.key, bindings), substitute(t.value, bindings))
    if isinstance(t, LambdaType):
        return LambdaType(tuple(substitute(p, bindings) for p in t.params), substitute(t.returns, bindings))
    return t


_NUMERIC = ("INTEGER", "BIGINT", "DECIMAL", "DOUBLE")


_RANK = {"INTEGER": 1, "BIGINT": 2, "DECIMAL": 3, "DOUBLE": 4}


_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")


def _widens(arg: SqlType, param: SqlType) -> bool:
    """ksqlDB's implicit casts for function arguments (SqlBaseType.canImplicitlyCast):
    numeric widening, and STRING to a temporal type."""
    if arg.base == "STRING" and param.base in _TEMPORAL:
        return True
    ra, rp = _RANK.get(arg.base), _RANK.get(param.base)
    return bool(ra and rp and (ra < rp or ra == rp == 3))


def _match(param: SqlType, arg: SqlType, b: dict[str, SqlType], cast: bool) -> bool:
    """Does `arg` fit `param`, binding generics in `b`?"""
    if isinstance(arg, NullType):
        return True
    if isinstance(param, Generic):
        bound = b.get(param.name)
        if bound is None or isinstance(bound, NullType):
            b[param.name] = arg
            return True
        if bound == arg:
            return True
        if cast and bound.base in _NUMERIC and arg.base in _NUMERIC:
            if _widens(arg, bound):
                return True
            if _widens(bound, arg):
                b[param.name] = arg
                return True
        return _same_shape(bound, arg)
    if isinstance(param, AnyDecimal):
        return isinstance(arg, DecimalType) or (cast and arg.base in ("INTEGER", "BIGINT"))
    if isinstance(param, AnyStruct):
        return isinstance(arg, StructType)
    if isinstance(param, ArrayType):
        return isinstance(arg, ArrayType) and _match(param.item, arg.item, b, cast)
    if isinstance(param, MapType):
        return isinstance(arg, MapType) and _match(param.key, arg.key, b, cast) and _match(
            param.value, arg.value, b, cast)
    if param == arg:
        return True
    if isinstance(param, DecimalType) and isinstance(arg, DecimalType):
        return True
    return cast and _widens(arg, param)


def _same_shape(a: SqlType, b: SqlType) -> bool:
    """Equal up to NULL-typed parts (e.g. ARRAY<NULL> fits ARRAY<INTEGER>)."""
    if isinstance(a, NullType) or isinstance(b, NullType):
        return True
    if isinstance(a, (AnyDecimal, DecimalType)) and isinstance(b, (AnyDecimal, DecimalType)):
        return True
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return _same_shape(a.item, b.item)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return _same_shape(a.key, b.key) and _same_shape(a.value, b.value)
    return a == b


def _effective(p: SqlType, a: ArgType) -> SqlType:
    """The type an argument has inside the call: the parameter's, after implicit widening."""
    if isinstance(a, LambdaArg) or isinstance(p, LambdaType):
        return p
    if isinstance(a, NullType):
        return p if not isinstance(p, (AnyDecimal, AnyStruct)) else a
    if isinstance(p, AnyDecimal):
        return a if isinstance(a, DecimalType) else decimal_for_integer(a)
    if isinstance(p, (AnyStruct, Generic)) or isinstance(a, DecimalType) and isinstance(p, DecimalType):
        return a
    if isinstance(p, (ArrayType, MapType)):
        return a if _same_shape(p, a) else p
    return p


def format_arg_types(types: Sequence[ArgType]) -> str:
    return ", ".join("null" if isinstance(t, NullType) else str(t) for t in types)


class FunctionRegistry:
    """All functions the engine knows, by upper-cased name."""

    def __init__(self) -> None:
        self._scalars: dict[str, FunctionInfo] = {}
        self._aggregates: dict[str, FunctionInfo] = {}
        self._tables: dict[str, FunctionInfo] = {}

    # --- registration -----------------------------------------------------

    def _info(self, table: dict[str, FunctionInfo], name: str, kind: str, **meta: Any) -> FunctionInfo:
        key = name.upper()
        info = table.get(key)
        if info is None:
            info = FunctionInfo(name=key, kind=kind, display_name=meta.pop("display_name", None) or name)
            table[key] = info
        for k, v in meta.items():
            if v:
                setattr(info, k, v)
        return info

    def add_scalar(self, name: str, overload: Overload, *, category: str = "", description: str = "",
                   deterministic: bool = True, display_name: str | None = None) -> None:
        """Register one overload of scalar function `name`."""
        info = self._info(self._scalars, name, "SCALAR", category=category, description=description,
                          display_name=display_name)
        if not deterministic:
            info.deterministic = False
        info.overloads.append(overload)

    def scalar(self, name: str, params: Sequence[SqlType], returns: ReturnSpec, *,
               variadic: bool = False, null_on_null: bool = True, param_names: Sequence[str] = (),
               category: str = "", description: str = "", deterministic: bool = True,
               display_name: str | None = None, typed: bool = False
               ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering the decorated function as an overload of `name`."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_scalar(name, Overload(tuple(params), returns, fn, tuple(param_names), variadic,
                                           null_on_null, description or (fn.__doc__ or "").strip(), typed),
                            category=category, description=description, deterministic=deterministic,
                            display_name=display_name)
            return fn

        return deco

    def add_aggregate(self, name: str, overload: Overload | None = None, *, description: str = "",
                      category: str = "AGGREGATE", display_name: str | None = None) -> None:
        """Register aggregate `name`, and one overload of it when given.

        A built-in's overload has `resolve_aggregate` as its impl (ksqlDB's resolution, with
        literal parameters); a user's has a `UserAggregate`."""
        info = self._info(self._aggregates, name, "AGGREGATE", description=description, category=category,
                          display_name=display_name)
        if overload is not None:
            info.overloads.append(overload)

    def aggregate(self, name: str, params: Sequence[SqlType], returns: ReturnSpec, *, intermediate: SqlType,
                  param_names: Sequence[str] = (), category: str = "AGGREGATE", description: str = "",
                  display_name: str | None = None) -> Callable[[type], type]:
        """Class decorator registering a user-defined aggregate (ksqlDB's Udaf) as an overload of `name`.

        The class (instantiated once per call site, without arguments) defines
        initialize(), aggregate(current, agg), merge(agg1, agg2), map(agg) and, to
        aggregate tables, undo(current, agg); `current` is the argument's value, a tuple
        for several arguments. `intermediate` is the SQL type of `agg`, which is written to
        the changelog. Parameter, return and intermediate types may use generics (T ...).
        """

        def deco(cls: type) -> type:
            missing = [m for m in ("initialize", "aggregate", "merge", "map") if not callable(getattr(cls, m, None))]
            if missing:
                raise KsqlError(f"Aggregate function '{name}' lacks method(s): {', '.join(missing)}")
            if not params:
                raise KsqlError(f"Aggregate function '{name}' needs at least one parameter")
            if is_builtin_aggregate(name):
                raise KsqlError(f"Aggregate function '{name}' is a built-in function")
            self.add_aggregate(name, Overload(tuple(params), returns, UserAggregate(cls, intermediate),
                                              tuple(param_names), description=description or (cls.__doc__ or
                                                                                              "").strip()),
                               description=description, category=category, display_name=display_name)
            return cls

        return deco

    def add_table_function(self, name: str, overload: Overload, *, category: str = "TABLE",
                           description: str = "", display_name: str | None = None) -> None:
        """Register one overload of table function `name` (its impl returns a list of values)."""
        info = self._info(self._tables, name, "TABLE", category=category, description=description,
                          display_name=display_name)
        info.overloads.append(overload)

    def table_function(self, name: str, params: Sequence[SqlType], returns: ReturnSpec, *,
                       variadic: bool = False, param_names: Sequence[str] = (), category: str = "TABLE",
                       description: str = "", display_name: str | None = None
                       ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a table-function overload; `returns` is the type of one output value."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_table_function(name, Overload(tuple(params), returns, fn, tuple(param_names), variadic,
                                                   False, description or (fn.__doc__ or "").strip()),
                                    category=category, description=description, display_name=display_name)
            return fn

        return deco

    def copy(self) -> FunctionRegistry:
        """A registry with the same functions, to extend without changing this one."""
        new = FunctionRegistry()
        for src, dst in ((self._scalars, new._scalars), (self._aggregates, new._aggregates),
                         (self._tables, new._tables)):
            for key, info in src.items():
                dst[key] = dataclasses.replace(info, overloads=list(info.overloads))
        return new

    def load(self, module_or_installer: Any) -> None:
        """Install functions from a plugin: a module (its module-level declarations with `scalar`,
        `table_function` and `aggregate`, and its `install(registry)` if it defines one) or a callable
        `install(registry)`."""
        if isinstance(module_or_installer, types.ModuleType):
            for install in declared_installers(module_or_installer.__name__):
                install(self)
            install = getattr(module_or_installer, "install", None)
            if install is not None:
                install(self)
            return
        module_or_installer(self)

    def load_entry_points(self, group: str = "ksql.functions") -> None:
        """Load user-defined functions published as Python entry points in `group`."""
        for ep in importlib.metadata.entry_points(group=group):
            self.load(ep.load())

    # --- lookup -------------------------------------------------------------

    def is_scalar(self, name: str) -> bool:
        return name.upper() in self._scalars

    def is_aggregate(self, name: str) -> bool:
        return name.upper() in self._aggregates

    def is_table_function(self, name: str) -> bool:
        return name.upper() in self._tables

    def exists(self, name: str) -> bool:
        n = name.upper()
        return n in self._scalars or n in self._aggregates or n in self._tables

    def list_functions(self) -> list[FunctionInfo]:
        """Every function, sorted by name (SHOW FUNCTIONS)."""
        allf = list(self._scalars.values()) + list(self._aggregates.values()) + list(self._tables.values())
        return sorted(allf, key=lambda f: f.name)

    def describe(self, name: str) -> FunctionInfo:
        """Metadata of one function (DESCRIBE FUNCTION)."""
        n = name.upper()
        for table in (self._scalars, self._aggregates, self._tables):
            if n in table:
                return table[n]
        raise KsqlError(f"Can't find any functions with the name '{name}'")

    def resolve_scalar(self, name: str, arg_types: Sequence[ArgType]) -> ResolvedFunction:
        """Choose the overload of scalar `name` for `arg_types` (ksqlDB's rules) or raise KsqlError."""
        info = self._scalars.get(name.upper())
        if info is None:
            if self.is_aggregate(name) or self.is_table_function(name):
                kind = "aggregate" if self.is_aggregate(name) else "table"
                raise KsqlError(f"Function '{name}' is a {kind} function and cannot be used here.")
            raise KsqlError(f"Can't find any functions with the name '{name}'")
        return self._resolve(info, arg_types)

    def resolve_aggregate(self, name: str, arg_types: Sequence[SqlType], literals: Sequence[Any] = (),
                          config: dict[str, Any] | None = None) -> AggregateSpec:
        """The accumulator of aggregate `name` for column arguments of `arg_types` (built-ins may take
        trailing literal parameters, e.g. TOPK's k), or KsqlError."""
        info = self._aggregates.get(name.upper())
        if info is None or not info.overloads or not isinstance(info.overloads[0].impl, UserAggregate):
            return resolve_aggregate(name, arg_types, literals, config)
        if literals:
            raise KsqlError(f"Function '{info.display_name}' takes no literal parameters")
        rf = self._resolve(info, arg_types)
        bindings: dict[str, SqlType] = {}
        for param, bound in zip(rf.overload.params, rf.param_types, strict=True):
            _match(param, bound, bindings, True)
        user: UserAggregate = rf.overload.impl  # type: ignore[assignment]
        return user_aggregate_spec(info.name, user.factory, len(arg_types), rf.return_type,
                                   substitute(user.intermediate, bindings))

    def aggregate_arity(self, name: str, n_args: int) -> int:
        """How many of a call's arguments are columns: all for a user aggregate; the others are literals."""
        info = self._aggregates.get(name.upper())
        user = info is not None and bool(info.overloads) and isinstance(info.overloads[0].impl, UserAggregate)
        return n_args if user else builtin_column_count(name, n_args)

    def resolve_table(self, name: str, arg_types: Sequence[ArgType]) -> ResolvedFunction:
        """Choose the overload of table function `name` for `arg_types`; see the module docstring."""
        info = self._tables.get(name.upper())
        if info is None:
            raise KsqlError(f"Can't find any table functions with the name '{name}'")
        return self._resolve(info, arg_types)

    def _resolve(self, info: FunctionInfo, arg_types: Sequence[ArgType]) -> ResolvedFunction:
        shown = format_arg_types([t if not isinstance(t, LambdaArg) else "LAMBDA" for t in arg_types])  # type: ignore[misc]
        for cast in (False, True):
            cands: list[tuple[Overload, tuple[SqlType, ...], Callable[[], SqlType]]] = []
            for ov in info.overloads:
                r = self._try(ov, arg_types, cast)
                if r is not None:
                    cands.append((ov, r[0], r[1]))
            if not cands:
                continue
            if len(cands) > 1:
                def rank(c: tuple[Overload, tuple[SqlType, ...], Callable[[], SqlType]]) -> tuple[int, int]:
                    return (0 if c[0].variadic else 1, -c[0].generic_count)

                cands.sort(key=rank)
                if rank(cands[-1]) == rank(cands[-2]):
                    raise KsqlError(f"Function '{info.display_name}' cannot be resolved due to ambiguous "
                                    f"method parameters ({shown}).")
            ov, ptypes, return_type = cands[-1]
            ret = return_type()  # schema providers run for the chosen overload only, as in ksqlDB
            impl = ov.impl(ptypes) if ov.typed else ov.impl
            return ResolvedFunction(info.name, impl, ret, ptypes, ov.null_on_null, info.deterministic, ov)
        alts = "\n".join(ov.signature(info.display_name) for ov in info.overloads)
        raise KsqlError(f"Function '{info.display_name}' does not accept parameters ({shown}).\n"
                        f"Valid alternatives are:\n{alts}")

    @staticmethod
    def _try(ov: Overload, args: Sequence[ArgType], cast: bool
             ) -> tuple[tuple[SqlType, ...], Callable[[], SqlType]] | None:
        n = len(ov.params)
        if ov.variadic:
            if len(args) < n - 1:
                return None
            params = list(ov.params[:-1]) + [ov.params[-1]] * (len(args) - n + 1)
        else:
            if len(args) != n:
                return None
            params = list(ov.params)
        b: dict[str, SqlType] = {}
        # plain arguments first, so lambdas see their inputs' bound types
        for p, a in zip(params, args, strict=False):
            if isinstance(a, LambdaArg) or isinstance(p, LambdaType):
                if not (isinstance(a, LambdaArg) and isinstance(p, LambdaType) and a.arity == len(p.params)):
                    return None
                continue
            if not _match(p, a, b, cast):
                return None
        for p, a in zip(params, args, strict=False):
            if isinstance(a, LambdaArg) and isinstance(p, LambdaType):
                ins = [substitute(x, b) for x in p.params]
                body = a.body_type(ins)
                if not _match(p.returns, body, b, True):
                    return None
        bound = tuple(_effective(substitute(p, b), a) for p, a in zip(params, args, strict=False))
        returns = ov.returns
        if callable(returns) and not isinstance(returns, SqlType):
            return bound, lambda: returns(list(bound))  # type: ignore[operator]
        return bound, lambda: substitute(returns, b)  # type: ignore[arg-type]


# --- module-level declarations for built-in and plugin modules ---------------

# (declaring module, installer): a default registry installs the built-in modules' declarations, and
# FunctionRegistry.load a plugin module's
_DECLARED: list[tuple[str, Callable[[FunctionRegistry], None]]] = []
_BUILTINS = "ksql.functions.builtins"


def scalar(name: str, params: Sequence[SqlType], returns: ReturnSpec, **kw: Any
           ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Module-level decorator: declare a scalar overload of the declaring module (see `FunctionRegistry.load`).

    Example::

        @scalar("ABS", [INTEGER], INTEGER, description="Absolute value")
        def _abs_int(x): return abs(x)
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def install(reg: FunctionRegistry) -> None:
            reg.scalar(name, params, returns, **kw)(fn)

        _DECLARED.append((fn.__module__, install))
        return fn

    return deco


def table_function(name: str, params: Sequence[SqlType], returns: ReturnSpec, **kw: Any
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Module-level decorator: declare a table-function overload of the declaring module."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def install(reg: FunctionRegistry) -> None:
            reg.table_function(name, params, returns, **kw)(fn)

        _DECLARED.append((fn.__module__, install))
        return fn

    return deco


def aggregate(name: str, params: Sequence[SqlType], returns: ReturnSpec, **kw: Any) -> Callable[[type], type]:
    """Module-level class decorator: declare a user-defined aggregate of the declaring module (see
    FunctionRegistry.aggregate and FunctionRegistry.load). Example::

        @aggregate("MY_SUM", [BIGINT], BIGINT, intermediate=BIGINT)
        class MySum:
            def initialize(self): return 0
            def aggregate(self, current, agg): return agg + (current or 0)
            def undo(self, current, agg): return agg - (current or 0)
            def merge(self, a, b): return a + b
            def map(self, agg): return agg
    """

    def deco(cls: type) -> type:
        def install(reg: FunctionRegistry) -> None:
            reg.aggregate(name, params, returns, **kw)(cls)

        _DECLARED.append((cls.__module__, install))
        return cls

    return deco


def declared_installers(module: str) -> list[Callable[[FunctionRegistry], None]]:
    """The installers of the functions `module` declares (and its submodules')."""
    return [install for declarer, install in _DECLARED if declarer == module or declarer.startswith(module + ".")]


_DEFAULT: FunctionRegistry | None = None


def default_registry() -> FunctionRegistry:
    """The process-wide registry with every built-in function and installed plugins."""
    global _DEFAULT
    if _DEFAULT is None:
        from ksql.functions import builtins  # noqa: F401  (registers declarations on import)

        reg = FunctionRegistry()
        for install in declared_installers(_BUILTINS):
            install(reg)
        builtins.install_non_scalar(reg)
        try:
            reg.load_entry_points()
        except Exception as e:  # a broken plugin must not take the engine down
            raise KsqlError(f"Failed to load user-defined functions: {e}") from e
        _DEFAULT = reg
    return _DEFAULT


__all__ = [
    "AnyDecimal", "AnyStruct", "DECIMAL_ANY", "INTERVAL_UNIT", "STRUCT_ANY", "FunctionInfo", "FunctionRegistry",
    "Generic", "IntervalUnitType", "LambdaArg", "LambdaType", "Overload", "ResolvedFunction", "SchemaProvider",
    "K", "S", "T", "U",
    "UserAggregate", "V", "aggregate", "default_registry", "scalar", "substitute", "table_function",
]
