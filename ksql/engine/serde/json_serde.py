"""JSON format, as ksqlDB writes it (Connect's JsonConverter) and reads it (KsqlJsonDeserializer).

Writing: DOUBLE as Java's Double.toString (NaN/Infinity as JSON strings), DECIMAL as
a number keeping its scale, BYTES as base64, DATE as days, TIME as millis of day,
TIMESTAMP as epoch millis, STRUCT fields in declared order.

Reading is lenient like ksqlDB: fields are found by exact name, then by the
upper-cased JSON field name; missing fields are null; values are coerced to the
column type (see `json_coercer`). Parsing uses orjson; when exact number text
matters (DECIMAL with many digits, numbers read into STRING, huge integers) the
record is re-parsed with floats kept as Decimal, as Jackson's BigDecimal mode does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import operator
import re
from decimal import Decimal
from typing import Any

import orjson

from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.formats import FormatSpec, map_key_problem, single_value_features
from ksql.engine.serde.javafmt import (
    DECIMAL_CONTEXT,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    fit_decimal,
    java_double_str,
    parse_java_decimal,
    parse_java_double,
    parse_java_int,
    parse_java_long,
    wrap_int,
    wrap_long,
)
from ksql.errors import SerdeError
from ksql.types import (
    ArrayType,
    DecimalType,
    MapType,
    SqlType,
    StructField,
    StructType,
    contains_decimal,
)

_Fragment = orjson.Fragment
_dumps = orjson.dumps
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_MISSING = object()
_B64ENC = base64.b64encode
_NAN = _Fragment(b'"NaN"')
_POS_INF = _Fragment(b'"Infinity"')
_NEG_INF = _Fragment(b'"-Infinity"')
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_NULL_KEYS = orjson.OPT_NON_STR_KEYS  # map keys are str or None (a null key), which this writes as "null"
MAX_JSON_DEPTH = 1024  # orjson's limit on nested arrays and objects
_DEPTH_LIMIT = "depth limit exceeded"  # how orjson's JSONDecodeError says so
_SURROGATE = "surrogate"  # in orjson's messages about a lone or invalid surrogate in a string


def dumps_compact(obj) -> bytes:
    """orjson.dumps(obj) as an exact-size bytes object.

    orjson writes into a ~1 KiB bytes object and shrinks it with realloc; with glibc
    every such result that stays alive pins a hole the next call cannot reuse, so
    holding thousands of them (a batch waiting to be appended, an in-memory log)
    costs page faults and ~3-10us per call instead of ~0.15us. Slicing off an
    appended newline copies the text into a right-sized object and frees orjson's.
    """
    return _dumps(obj, option=_NEWLINE)[:-1]


# --- serialization: runtime value -> something orjson writes as ksqlDB would -------


def _ser_double(v):
    if v.__class__ is not float:
        v = float(v)
    if 1e-3 <= v < 1e7 or -1e7 < v <= -1e-3 or v == 0.0:
        return v  # orjson prints these exactly as Java does
    if v != v:
        return _NAN
    if v == math.inf:
        return _POS_INF
    if v == -math.inf:
        return _NEG_INF
    return _Fragment(java_double_str(v).encode())


def _ser_decimal(scale: int):
    exp = Decimal(1).scaleb(-scale)

    def f(v):
        # A Decimal is written as it is, like Connect's JsonConverter in NUMERIC mode: a value whose
        # scale differs from the column's (GREATEST of a DECIMAL(9,2) and a DECIMAL(7,6)) keeps it.
        if v.__class__ is not Decimal:
            v = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
            v = v.quantize(exp, context=DECIMAL_CONTEXT)
        return _Fragment(str(v).encode())
    return f


def _ser_bytes(v):
    return _B64ENC(v).decode("ascii")


def ser_converter(t: SqlType):
    """A function making a non-null runtime value of type t writable by orjson, or None if identity."""
    base = t.base
    if base == "DOUBLE":
        return _ser_double
    if base == "DECIMAL":
        return _ser_decimal(t.scale)
    if base == "BYTES":
        return _ser_bytes
    if isinstance(t, ArrayType):
        c = ser_converter(t.item)
        if c is None:
            return None
        return lambda v: [None if e is None else c(e) for e in v]
    if isinstance(t, MapType):
        c = ser_converter(t.value)
        if c is None:
            return None
        return lambda v: {k: (None if e is None else c(e)) for k, e in v.items()}
    if isinstance(t, StructType):
        fields = [(f.name, ser_converter(f.type)) for f in t.fields]

        def struct(v):
            out = {}
            get = v.get
            for name, c in fields:
                e = get(name)
                out[name] = e if (e is None or c is None) else c(e)
            return out
        return struct
    return None


# --- deserialization: parsed JSON -> runtime value --------------------------------


class NeedExact(Exception):
    """The value needs the exact number text; re-parse with floats as Decimal."""


class CoercionError(Exception):
    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


def _node_name(v) -> str:
    if v is True or v is False:
        return "BooleanNode"
    if isinstance(v, str):
        return "TextNode"
    if isinstance(v, int):
        if INT_MIN <= v <= INT_MAX:
            return "IntNode"
        return "LongNode" if LONG_MIN <= v <= LONG_MAX else "BigIntegerNode"
    if isinstance(v, (float, Decimal)):
        return "DecimalNode"
    if isinstance(v, dict):
        return "ObjectNode"
    if isinstance(v, list):
        return "ArrayNode"
    return type(v).__name__


def _conv_error(v, t) -> CoercionError:
    return CoercionError(f"Can't convert type. sourceType: {_node_name(v)}, requiredType: {t}")


def _coerce_error(base: str) -> CoercionError:
    return CoercionError(f"Can't coerce string to type. targetType={base}")


def _de_boolean(v):
    if v is True or v is False:
        return v
    raise _conv_error(v, "BOOLEAN")


def _integral(base: str, parse, lo: int, hi: int, wrap):
    def f(v):
        c = v.__class__
        if c is int:
            return v if lo <= v <= hi else wrap(v)
        if c is float:
            if not (-9.2e18 < v < 9.2e18):
                raise NeedExact()  # orjson turned a huge integer into a float
            return wrap(int(v))
        if c is Decimal:
            return wrap(int(v))
        if c is str:
            try:
                return parse(v)
            except ValueError:
                raise _coerce_error(base) from None
        raise _conv_error(v, base)
    return f


_de_int = _integral("INTEGER", parse_java_int, INT_MIN, INT_MAX, wrap_int)
_de_long = _integral("BIGINT", parse_java_long, LONG_MIN, LONG_MAX, wrap_long)
_de_timestamp = _integral("TIMESTAMP", parse_java_long, LONG_MIN, LONG_MAX, wrap_long)
_de_time = _integral("TIME", parse_java_long, LONG_MIN, LONG_MAX, wrap_long)
_de_date = _integral("DATE", parse_java_long, LONG_MIN, LONG_MAX, wrap_long)


def _de_double(v):
    c = v.__class__
    if c is float:
        return v
    if c is int or c is Decimal:
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    if c is str:
        try:
            return parse_java_double(v)
        except ValueError:
            raise _coerce_error("DOUBLE") from None
    raise _conv_error(v, "DOUBLE")


def _has_float(v) -> bool:
    if isinstance(v, float):
        return True
    if isinstance(v, dict):
        return any(_has_float(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_float(x) for x in v)
    return False


def _decimal_default(o):
    if isinstance(o, Decimal):
        return _Fragment(str(o).encode())
    raise TypeError


def dumps_exact(obj) -> bytes:
    """JSON text of a JSON value whose numbers may be Decimal (written with every digit)."""
    return _dumps(obj, default=_decimal_default)


def _json_text(v) -> str:
    return dumps_exact(v).decode()


def _array_text(v) -> str:
    return "[" + ", ".join(_scalar_text(e) for e in v) + "]"


def _scalar_text(v) -> str:
    """Jackson's JsonNode.asText / ksqlDB processString for a JSON value into STRING."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    c = v.__class__
    if c is str:
        return v
    if c is int or c is Decimal:
        return str(v)
    if c is dict:
        return _json_text(v)
    if c is list:
        return _array_text(v)
    raise NeedExact()


def _de_string(v):
    c = v.__class__
    if c is str:
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if c is int or c is Decimal:
        return str(v)
    if c is float:
        raise NeedExact()
    if c is dict or c is list:
        if _has_float(v):
            raise NeedExact()
        return _json_text(v) if c is dict else _array_text(v)
    raise _conv_error(v, "STRING")


def _de_decimal(t: DecimalType):
    precision, scale = t.precision, t.scale

    def fit(d):
        try:
            return fit_decimal(d, precision, scale)
        except ValueError as e:
            raise CoercionError(str(e)) from None

    def f(v):
        c = v.__class__
        if c is float:
            r = repr(v)
            mant = r.split("e")[0]
            if len(mant.replace("-", "").replace(".", "").strip("0")) >= 16:
                raise NeedExact()  # may have lost digits in the double
            return fit(Decimal(r))
        if c is int or c is Decimal:
            return fit(Decimal(v))
        if c is str:
            try:
                d = parse_java_decimal(v)
            except ValueError:
                raise _coerce_error("DECIMAL") from None
            return fit(d)
        raise _conv_error(v, t)
    return f


def _de_bytes(v):
    if v.__class__ is str:
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise CoercionError(f"Value is not a valid Base64 encoded string: {v}") from None
    raise _conv_error(v, "BYTES")


def _de_array(t: ArrayType):
    c = de_converter(t.item)

    def f(v):
        if v.__class__ is not list:
            raise _conv_error(v, t)
        out = []
        append = out.append
        for i, e in enumerate(v):
            if e is None:
                append(None)
            else:
                try:
                    append(c(e))
                except CoercionError as err:
                    err.path = f"[{i}]" + err.path
                    raise
        return out
    return f


def _de_map(t: MapType):
    c = de_converter(t.value)

    def f(v):
        if v.__class__ is not dict:
            raise _conv_error(v, t)
        out = {}
        for k, e in v.items():
            if e is None:
                out[k] = None
            else:
                try:
                    out[k] = c(e)
                except CoercionError as err:
                    err.path = f".{k}" + err.path
                    raise
        return out
    return f


def lookup_fields(fields: list[tuple[str, object]], obj: dict, prefix: str) -> list:
    """Values of `fields` (name, converter) from a JSON object, as KsqlJsonDeserializer finds them."""
    get = obj.get
    upper = None
    out = []
    append = out.append
    for name, c in fields:
        v = get(name, _MISSING)
        if v is _MISSING:
            if upper is None:
                upper = {k.upper(): x for k, x in obj.items()}
            v = upper.get(name)
        if v is None:
            append(None)
        else:
            try:
                append(c(v))
            except CoercionError as err:
                err.path = f"{prefix}.{name}" + err.path
                raise
    return out


def _de_struct(t: StructType):
    fields = [(f.name, de_converter(f.type)) for f in t.fields]
    names = [f.name for f in t.fields]

    def f(v):
        if v.__class__ is not dict:
            raise _conv_error(v, t)
        return dict(zip(names, lookup_fields(fields, v, ""), strict=False))
    return f


_PRIMITIVE_DE = {
    "BOOLEAN": _de_boolean,
    "INTEGER": _de_int,
    "BIGINT": _de_long,
    "DOUBLE": _de_double,
    "STRING": _de_string,
    "BYTES": _de_bytes,
    "DATE": _de_date,
    "TIME": _de_time,
    "TIMESTAMP": _de_timestamp,
}


def de_converter(t: SqlType):
    """A function coercing a non-null parsed JSON value to the runtime value of type t.

    Raises CoercionError (bad value) or NeedExact (the value must be re-read with
    floats as Decimal)."""
    f = _PRIMITIVE_DE.get(t.base)
    if f is not None:
        return f
    if isinstance(t, DecimalType):
        return _de_decimal(t)
    if isinstance(t, ArrayType):
        return _de_array(t)
    if isinstance(t, MapType):
        return _de_map(t)
    if isinstance(t, StructType):
        return _de_struct(t)
    raise SerdeError(f"Type is not supported: {t}")


def _raise_constant(name):
    raise ValueError(f"Non-standard token '{name}'")


def loads_exact(data):
    """Parse JSON with floats as Decimal (Jackson with USE_BIG_DECIMAL_FOR_FLOATS)."""
    return json.loads(data, parse_float=Decimal, parse_constant=_raise_constant)


def exact_numbers(data: bytes, parsed: Any) -> Any:
    """`parsed` (orjson's reading of `data`), or `data` read again with floats as Decimal when it holds
    a float: a double keeps 17 digits, a DECIMAL up to 38."""
    return loads_exact(data) if _has_float(parsed) else parsed


def json_coercer(t: SqlType):
    """value -> runtime value of type t, for a JSON value as json.loads gives it (None passes).

    For test drivers and tools that hold JSON values (e.g. a test file's record)
    and need the runtime representation. Raises SerdeError for values that
    ksqlDB's JSON deserializer would refuse."""
    c = de_converter(t)

    def f(v):
        if v is None:
            return None
        if isinstance(v, float):
            v = Decimal(repr(v))
        try:
            return c(v)
        except NeedExact:
            return c(loads_exact(dumps_exact(v)))
        except CoercionError as e:
            raise SerdeError(e.message) from None
    return f


# --- serdes ----------------------------------------------------------------------

# A run of 16 digits (points allowed between them): a number that a double may not hold exactly.
_LONG_NUMBER = re.compile(rb"[0-9][0-9.]{15}")


def _loads_all_digits(data):
    """orjson's reading of `data`, or the exact parser's when the text has a number longer than a double
    holds: orjson reads 0.10000000000000000000001 as 0.1, whose short repr hides the lost digits."""
    obj = _loads(data)
    return obj if _LONG_NUMBER.search(data) is None else loads_exact(data)


def _parser_for(columns: list[Column]):
    """The JSON parser for records of these columns: a DECIMAL among them needs every digit."""
    return _loads_all_digits if any(contains_decimal(c.type) for c in columns) else _loads



class _JsonSerdeBase(Serde):
    __slots__ = ("_target", "_topic", "_parse")

    def _loads(self, data):
        """orjson; for numbers it cannot hold (integers past 64 bits, 1e400) the exact parser.

        What orjson refuses for its structure is refused at once: nesting deeper than
        MAX_JSON_DEPTH (the exact parser would recurse until Python's stack limit) and
        strings that are not Unicode (lone surrogates, which no serde can write back)."""
        try:
            return self._parse(data)
        except _JSONDecodeError as e:
            message = str(e)
            if message.startswith(_DEPTH_LIMIT):
                raise self._too_deep(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
            if _SURROGATE in message:
                raise SerdeError(f"Failed to deserialize {self._target} from topic: {self._topic}. "
                                 f"Invalid JSON: {message}") from None
        try:
            return loads_exact(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise SerdeError(
                f"Failed to deserialize {self._target} from topic: {self._topic}. "
                f"Invalid JSON: {e}") from None
        except RecursionError:
            raise self._too_deep("nested too deeply to parse") from None

    def _too_deep(self, how: str) -> SerdeError:
        return SerdeError(f"Failed to deserialize {self._target} from topic: {self._topic}. Invalid JSON: {how}")

    def _fail(self, err: CoercionError):
        return SerdeError(
            f"Failed to deserialize {self._target} from topic: {self._topic}. "
            f"{err.message} ({err.path or '$'})")

    def _dump(self, obj):
        try:
            return dumps_compact(obj)
        except TypeError as e:
            try:  # a map with a null key (MAP(NULL := v)): written with the key "null", as ksqlDB does
                return _dumps(obj, option=_NULL_KEYS)
            except TypeError:
                raise SerdeError(f"Failed to serialize {self._target} to topic: {self._topic}. {e}") from None


# Inline checks that let a parsed JSON value through untouched when it already has
# the runtime type; anything else goes to the type's converter.
_FAST_CHECKS = {
    "STRING": "{v}.__class__ is not str",
    "BOOLEAN": "{v} is not True and {v} is not False",
    "DOUBLE": "{v}.__class__ is not float",
    "INTEGER": "{v}.__class__ is not int or not (-2147483648 <= {v} <= 2147483647)",
    "BIGINT": "{v}.__class__ is not int or not (-9223372036854775808 <= {v} <= 9223372036854775807)",
}
for _b in ("DATE", "TIME", "TIMESTAMP"):
    _FAST_CHECKS[_b] = _FAST_CHECKS["BIGINT"]


def _compile_row_reader(columns: list[Column], loads):
    """(obj -> row list, datas -> rows): field lookup and coercion unrolled per column.

    The batch reader parses each JSON text too and returns tuples. Its fast path takes
    all fields at once (operator.itemgetter) and converts only values that are not
    already of their column's runtime type; objects missing a field take the per-field
    lookup. It raises on anything else unusual (invalid JSON, not an object, a value
    that needs exact re-parsing or cannot be coerced)."""
    n = len(columns)
    lookup, convert = [], []
    env = {"_MISSING": _MISSING, "_ci": _ci_lookup, "_loads": loads,
           "_get": operator.itemgetter(*(c.name for c in columns)) if n else None}
    for i, c in enumerate(columns):
        v = f"v{i}"
        env[f"c{i}"] = de_converter(c.type)
        env[f"n{i}"] = c.name
        lookup.append(f"{v} = get(n{i}, _MISSING)")
        lookup.append(f"if {v} is _MISSING: {v} = _ci(obj, n{i})")
        convert.append((v, f"{v} is not None and ({_FAST_CHECKS.get(c.type.base, 'True').format(v=v)})",
                        f"{v} = c{i}({v})"))
    values = ", ".join(f"v{i}" for i in range(n))
    row = f"({values}{',' if n == 1 else ''})"
    converts = [f"if {check}: {action}" for _, check, action in convert]
    src = [
        "def read(obj):",
        "    get = obj.get",
        *("    " + line for line in lookup + converts),
        f"    return [{values}]",
        "",
        "def _read_tuple(obj):",
        "    get = obj.get",
        *("    " + line for line in lookup + converts),
        f"    return {row}",
        "",
        "def read_many(datas):",
        "    out = []",
        "    append = out.append",
        "    for data in datas:",
        "        if data is None:",
        "            append(None)",
        "            continue",
        "        obj = _loads(data)",
    ]
    if n == 0:
        src += ["        append(_read_tuple(obj))"]
    else:
        src += [
            "        try:",
            f"            {'row = _get(obj)' if n > 1 else 'v0 = obj[n0]'}",
            "        except (KeyError, TypeError):",
            "            append(_read_tuple(obj))",
            "            continue",
            f"        {values} = row" if n > 1 else "        row = (v0,)",
            "        if " + " or ".join(f"({check})" for _, check, _ in convert) + ":",
            *("            " + line for line in converts),
            f"            row = {row}",
            "        append(row)",
        ]
    src.append("    return out")
    exec("\n".join(src), env)  # noqa: S102 - code built from column positions only
    return env["read"], env["read_many"]


# Inline checks ({first} is evaluated first: it binds {v}) for non-null values that orjson
# writes as ksqlDB does without the type's converter.
_FAST_WRITES = {
    "DOUBLE": "{first}.__class__ is float and (1e-3 <= {v} < 1e7 or -1e7 < {v} <= -1e-3 or {v} == 0.0)",
}


def _compile_rows_writer(columns: list[Column], start: int):
    """rows -> JSON texts of the columns at row[start:start + len(columns)], one dict display each."""
    env = {"_dumps": _dumps, "_NEWLINE": _NEWLINE}
    items = []
    for i, c in enumerate(columns):
        v, cell = f"_v{i}", f"row[{start + i}]"
        conv = ser_converter(c.type)
        if conv is None:
            value = cell
        else:
            env[f"_c{i}"] = conv
            fast = _FAST_WRITES.get(c.type.base)
            if fast is None:
                value = f"(None if ({v} := {cell}) is None else _c{i}({v}))"
            else:
                check = fast.format(first=f"({v} := {cell})", v=v)
                value = f"({v} if {check} else None if {v} is None else _c{i}({v}))"
        items.append(f"{c.name!r}: {value}")
    src = ("def write_many(rows):\n"
           f"    return [_dumps({{{', '.join(items)}}}, option=_NEWLINE)[:-1] for row in rows]\n")
    exec(src, env)  # noqa: S102 - code built from column names (as literals) and positions only
    return env["write_many"]


def _ci_lookup(obj: dict, name: str):
    found = None
    for k, x in obj.items():
        if k.upper() == name:
            found = x  # the last one wins, as in ksqlDB's upper-cased copy of the object
    return found


class JsonWrappedSerde(_JsonSerdeBase):
    """A JSON object with one field per column."""

    __slots__ = ("_columns", "_names", "_convs", "_fields", "_struct_type", "_read", "_read_many", "_writers")

    def __init__(self, columns: list[Column], target: str, topic: str):
        self._target = target
        self._topic = topic
        self._columns = list(columns)
        self._names = [c.name for c in columns]
        self._convs = [(i, c.name, conv) for i, c in enumerate(columns)
                       if (conv := ser_converter(c.type)) is not None]
        self._fields = [(c.name, de_converter(c.type)) for c in columns]
        self._struct_type = StructType(tuple(StructField(c.name, c.type) for c in columns))
        self._parse = _parser_for(columns)
        self._read, self._read_many = _compile_row_reader(columns, self._parse)
        self._writers = {}

    def serialize(self, row):
        if row is None:
            return None
        d = dict(zip(self._names, row, strict=False))
        for i, name, conv in self._convs:
            v = row[i]
            if v is not None:
                d[name] = conv(v)
        return self._dump(d)

    def serialize_many(self, rows, start, stop):
        if stop - start == len(self._names):
            write = self._writers.get(start)
            if write is None:
                write = self._writers[start] = _compile_rows_writer(self._columns, start)
            try:
                return write(rows)
            except Exception:  # noqa: BLE001, S110 - redone one by one below, raising what serialize() raises
                pass
        return super().serialize_many(rows, start, stop)

    def _row(self, obj):
        if obj is None:
            return None
        if obj.__class__ is not dict:
            raise _conv_error(obj, self._struct_type)
        try:
            return self._read(obj)
        except CoercionError:
            return lookup_fields(self._fields, obj, "$")  # again, to report the path

    def deserialize(self, data):
        if data is None:
            return None
        try:
            try:
                return self._row(self._loads(data))
            except NeedExact:
                return self._row(loads_exact(data))
        except CoercionError as e:
            raise self._fail(e) from None
        except RecursionError:  # a value nested near MAX_JSON_DEPTH, read into STRING or re-parsed
            raise self._too_deep("nested too deeply to read") from None

    def deserialize_many(self, datas):
        try:
            return self._read_many(datas)
        except Exception:  # noqa: BLE001 - redone one by one to raise exactly what deserialize() raises
            return super().deserialize_many(datas)


class JsonUnwrappedSerde(_JsonSerdeBase):
    """A single column written as the bare JSON value."""

    __slots__ = ("_ser", "_de")

    def __init__(self, column: Column, target: str, topic: str):
        self._target = target
        self._topic = topic
        self._ser = ser_converter(column.type)
        self._de = de_converter(column.type)
        self._parse = _parser_for([column])

    def serialize(self, row):
        if row is None:
            return None
        v = row[0]
        if v is None:
            return None
        return self._dump(v if self._ser is None else self._ser(v))

    def serialize_many(self, rows, start, stop):
        ser = self._ser
        if stop - start == 1:
            try:
                return [None if (v := row[start]) is None else dumps_compact(v if ser is None else ser(v))
                        for row in rows]
            except Exception:  # noqa: BLE001, S110 - redone one by one below, raising what serialize() raises
                pass
        return super().serialize_many(rows, start, stop)

    def _value(self, obj):
        if obj is None:
            return None
        return [self._de(obj)]

    def deserialize_many(self, datas):
        de = self._de
        try:
            parse = self._parse
            return [None if data is None or (obj := parse(data)) is None else (de(obj),) for data in datas]
        except Exception:  # noqa: BLE001 - redone one by one to raise exactly what deserialize() raises
            return super().deserialize_many(datas)

    def deserialize(self, data):
        if data is None:
            return None
        try:
            try:
                return self._value(self._loads(data))
            except NeedExact:
                return self._value(loads_exact(data))
        except CoercionError as e:
            raise self._fail(e) from None
        except RecursionError:  # a value nested near MAX_JSON_DEPTH, read into STRING or re-parsed
            raise self._too_deep("nested too deeply to read") from None


class JsonFormat(FormatSpec):
    name = "JSON"
    wrap_values = frozenset({True, False})

    def schema_problem(self, columns, is_key):
        for c in columns:
            p = map_key_problem("JSON", c.type)
            if p:
                return p
        return None

    def features(self, columns, is_key, wrap_single_value):
        return single_value_features(columns, is_key, wrap_single_value)

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic):
        target = "key" if is_key else "value"
        if len(columns) == 1:
            unwrapped = is_key or wrap_single_value is False
            if unwrapped:
                return JsonUnwrappedSerde(columns[0], target, topic)
        return JsonWrappedSerde(columns, target, topic)
