"""SQL types of ksqlDB's dialect, and how their values are held in Python.

Runtime representation of each type (what serdes produce, expressions consume
and functions receive), chosen so the hot path never wraps values:

    BOOLEAN -> bool          INTEGER, BIGINT -> int      DOUBLE -> float
    DECIMAL -> decimal.Decimal (quantized to the type's scale)
    STRING  -> str           BYTES -> bytes
    DATE    -> int (days since 1970-01-01)
    TIME    -> int (milliseconds since midnight)
    TIMESTAMP -> int (milliseconds since the epoch, UTC)
    ARRAY   -> list          MAP -> dict (keys are str)
    STRUCT  -> dict keyed by field name, in declared field order
    NULL    -> None, for every type
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ksql.errors import KsqlError


class SqlType:
    """Base of every SQL type; instances are immutable and compare by value."""

    base: str = ""

    def __str__(self) -> str:
        return self.base

    @property
    def is_numeric(self) -> bool:
        return self.base in ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL")


@dataclass(frozen=True)
class PrimitiveType(SqlType):
    base: str

    def __str__(self) -> str:
        return self.base


BOOLEAN = PrimitiveType("BOOLEAN")
INTEGER = PrimitiveType("INTEGER")
BIGINT = PrimitiveType("BIGINT")
DOUBLE = PrimitiveType("DOUBLE")
STRING = PrimitiveType("STRING")
BYTES = PrimitiveType("BYTES")
DATE = PrimitiveType("DATE")
TIME = PrimitiveType("TIME")
TIMESTAMP = PrimitiveType("TIMESTAMP")


@dataclass(frozen=True)
class DecimalType(SqlType):
    precision: int
    scale: int
    base: str = "DECIMAL"

    def __post_init__(self) -> None:
        if self.precision < 1:
            raise KsqlError(f"DECIMAL precision must be >= 1: DECIMAL({self.precision}, {self.scale})")
        if self.scale < 0:
            raise KsqlError(f"DECIMAL scale must be non-negative: DECIMAL({self.precision}, {self.scale})")
        if self.scale > self.precision:
            raise KsqlError(
                f"DECIMAL precision must be >= scale: DECIMAL({self.precision}, {self.scale})"
            )

    def __str__(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


@dataclass(frozen=True)
class ArrayType(SqlType):
    item: SqlType
    base: str = "ARRAY"

    def __str__(self) -> str:
        return f"ARRAY<{self.item}>"


@dataclass(frozen=True)
class MapType(SqlType):
    key: SqlType
    value: SqlType
    base: str = "MAP"

    def __str__(self) -> str:
        return f"MAP<{self.key}, {self.value}>"


@dataclass(frozen=True)
class StructField:
    name: str
    type: SqlType


@dataclass(frozen=True)
class StructType(SqlType):
    fields: tuple[StructField, ...]
    base: str = "STRUCT"

    def field(self, name: str) -> StructField | None:
        """Exact match first, then case-insensitive, as ksqlDB resolves `->`."""
        for f in self.fields:
            if f.name == name:
                return f
        upper = name.upper()
        for f in self.fields:
            if f.name.upper() == upper:
                return f
        return None

    def __str__(self) -> str:
        inner = ", ".join(f"{format_identifier(f.name)} {f.type}" for f in self.fields)
        return f"STRUCT<{inner}>"


@dataclass(frozen=True)
class TypeRef(SqlType):
    """A named type (CREATE TYPE) as written; the metastore resolves it."""

    name: str
    base: str = "TYPEREF"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class NullType(SqlType):
    """The type of a bare NULL literal before context gives it one."""

    base: str = "NULL"


NULL = NullType()

_PRIMITIVES = {
    "BOOLEAN": BOOLEAN,
    "INT": INTEGER,
    "INTEGER": INTEGER,
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "STRING": STRING,
    "VARCHAR": STRING,
    "BYTES": BYTES,
    "DATE": DATE,
    "TIME": TIME,
    "TIMESTAMP": TIMESTAMP,
}


def contains_type(t: SqlType, matches: Callable[[SqlType], bool]) -> bool:
    """True when `matches` holds for a type or any type nested in it (array items, map values, struct
    fields)."""
    if matches(t):
        return True
    if isinstance(t, ArrayType):
        return contains_type(t.item, matches)
    if isinstance(t, MapType):
        return contains_type(t.value, matches)
    if isinstance(t, StructType):
        return any(contains_type(f.type, matches) for f in t.fields)
    return False


def contains_map(t: SqlType) -> bool:
    """True when a type is or contains a MAP (refused in keys, as ksqlDB refuses them)."""
    return contains_type(t, lambda nested: isinstance(nested, MapType))


def contains_decimal(t: SqlType) -> bool:
    """True when a type is or contains a DECIMAL (whose values a JSON double cannot always hold)."""
    return contains_type(t, lambda nested: isinstance(nested, DecimalType))


def hashable(value: object) -> object:
    """A value usable as a dict key: ARRAYs become tuples, STRUCTs and MAPs sorted item tuples."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    return value


def is_nested(t: SqlType) -> bool:
    """Whether values of `t` are lists or dicts (ARRAY, MAP, STRUCT), which `hashable` must freeze."""
    return isinstance(t, ArrayType | MapType | StructType)


def thaw(value: object, t: SqlType) -> object:
    """The value of type `t` that `hashable` froze: lists and dicts again, a STRUCT's fields in its order."""
    if value is None:
        return None
    if isinstance(t, ArrayType):
        return [thaw(v, t.item) for v in value]
    if isinstance(t, MapType):
        return {k: thaw(v, t.value) for k, v in value}
    if isinstance(t, StructType):
        fields = dict(value)
        return {f.name: thaw(fields.get(f.name), f.type) for f in t.fields}
    return value


def primitive(name: str) -> SqlType | None:
    """The primitive type called `name` (any case, with synonyms), or None."""
    return _PRIMITIVES.get(name.upper())


def format_identifier(name: str) -> str:
    """Back-quote a name as ksqlDB prints it in schemas: always quoted."""
    return "`" + name.replace("`", "``") + "`"


# --- implicit widening -------------------------------------------------------

_NUMERIC_RANK = {"INTEGER": 1, "BIGINT": 2, "DECIMAL": 3, "DOUBLE": 4}


def decimal_for_integer(t: SqlType) -> DecimalType:
    """The DECIMAL that holds every value of an integral type, as ksqlDB widens it."""
    if t == INTEGER:
        return DecimalType(10, 0)
    if t == BIGINT:
        return DecimalType(19, 0)
    if isinstance(t, DecimalType):
        return t
    raise KsqlError(f"Cannot convert {t} to DECIMAL")


def can_widen(source: SqlType, target: SqlType) -> bool:
    """True when a value of `source` may be used where `target` is expected without a CAST."""
    if source == target or isinstance(source, NullType):
        return True
    sr, tr = _NUMERIC_RANK.get(source.base), _NUMERIC_RANK.get(target.base)
    if sr and tr:
        if isinstance(target, DecimalType):
            if isinstance(source, DecimalType):
                return (target.precision - target.scale >= source.precision - source.scale
                        and target.scale >= source.scale)
            if source.base in ("INTEGER", "BIGINT"):
                need = decimal_for_integer(source)
                return target.precision - target.scale >= need.precision
            return False
        return sr <= tr
    if isinstance(source, ArrayType) and isinstance(target, ArrayType):
        return can_widen(source.item, target.item)
    if isinstance(source, MapType) and isinstance(target, MapType):
        return can_widen(source.key, target.key) and can_widen(source.value, target.value)
    if isinstance(source, StructType) and isinstance(target, StructType):
        if len(source.fields) != len(target.fields):
            return False
        return all(a.name == b.name and can_widen(a.type, b.type)
                   for a, b in zip(source.fields, target.fields, strict=True))
    return False


def common_type(types: list[SqlType]) -> SqlType | None:
    """The narrowest type every one of `types` widens to, or None when there is none."""
    known = [t for t in types if not isinstance(t, NullType)]
    if not known:
        return NULL
    result = known[0]
    for t in known[1:]:
        if can_widen(t, result):
            continue
        if can_widen(result, t):
            result = t
            continue
        if result.is_numeric and t.is_numeric:
            result = _numeric_union(result, t)
            continue
        return None
    return result


def _numeric_union(a: SqlType, b: SqlType) -> SqlType:
    if DOUBLE in (a, b):
        return DOUBLE
    da = decimal_for_integer(a) if not isinstance(a, DecimalType) else a
    db = decimal_for_integer(b) if not isinstance(b, DecimalType) else b
    scale = max(da.scale, db.scale)
    whole = max(da.precision - da.scale, db.precision - db.scale)
    return DecimalType(min(whole + scale, 38), scale)
