"""AVRO format: Confluent-framed Avro, with the schemas and type mapping ksqlDB uses.

Writing: a value is a record `io.confluent.ksql.avro_schemas.KsqlDataSourceSchema`
(or the full name given) whose fields are the columns, every field optional
(["null", T] with default null); nested structs are records named
`<parent>_<FIELD>`; DECIMAL is bytes with the decimal logical type, DATE int
(date), TIME int (time-millis), TIMESTAMP long (timestamp-millis); maps have
STRING keys. A single key column (or a value with WRAP_SINGLE_VALUE=false) is
written bare. With a schema id the registered schema is written instead:
columns go to fields by name, missing optional fields are null, missing required
fields take their default.

Reading uses the writer's schema (by the id in the record) and finds each
column's field by name (exact, then case-insensitive), coercing to the column
type; fields the record lacks are null.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import fastavro

from ksql.engine.schema_registry import Schema, SchemaRegistryClient
from ksql.engine.schema_registry.schemas import AvroNames, ParsedSchema
from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.sr_format import (
    DEFAULT_FULL_SCHEMA_NAME,
    SchemaRegistryFormat,
    WriterSchema,
    anonymous_name,
    decimal_to_unscaled_bytes,
    fetch_schema,
    find_name,
    frame,
    spec_coercer,
    sql_coercer,
    to_java_string,
    unframe,
    unscaled_bytes_to_decimal,
    upper_names,
    writer_schema,
)
from ksql.errors import KsqlError, SerdeError
from ksql.types import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    SqlType,
    StructField,
    StructType,
)

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_NAMED = ("record", "error", "enum", "fixed")
DEFAULT_DECIMAL_PRECISION = 64  # what Connect assumes when an Avro decimal has no precision


# --- generating the schema ksqlDB writes ---------------------------------------------------------

def check_avro_name(name: str) -> None:
    """Avro's name rule ([A-Za-z_][A-Za-z0-9_]*), with Avro's messages."""
    if not name:
        raise KsqlError("Schema is not compatible with Avro: Empty name")
    if not (name[0].isalpha() or name[0] == "_"):
        raise KsqlError(f"Schema is not compatible with Avro: Illegal initial character: {name}")
    if not all(c.isalnum() or c == "_" for c in name[1:]):
        raise KsqlError(f"Schema is not compatible with Avro: Illegal character in: {name}")


def _split_full_name(full_name: str) -> tuple[str, str]:
    namespace, _, name = full_name.rpartition(".")
    return namespace, name


def _generate(t: SqlType, record_name: str, optional: bool) -> Any:
    base = t.base
    node: Any
    if isinstance(t, StructType):
        fields = []
        for f in t.fields:
            check_avro_name(f.name)
            fields.append({"name": f.name, "type": _generate(f.type, f"{record_name}_{f.name}", True),
                           "default": None})
        node = {"type": "record", "name": record_name, "fields": fields}
    elif isinstance(t, ArrayType):
        node = {"type": "array", "items": _generate(t.item, record_name, True)}
    elif isinstance(t, MapType):
        node = {"type": "map", "values": _generate(t.value, f"{record_name}_MapValue", True)}
    elif isinstance(t, DecimalType):
        node = {"type": "bytes", "logicalType": "decimal", "precision": t.precision, "scale": t.scale}
    else:
        node = {"BOOLEAN": "boolean", "INTEGER": "int", "BIGINT": "long", "DOUBLE": "double",
                "STRING": "string", "BYTES": "bytes",
                "DATE": {"type": "int", "logicalType": "date"},
                "TIME": {"type": "int", "logicalType": "time-millis"},
                "TIMESTAMP": {"type": "long", "logicalType": "timestamp-millis"}}.get(base)
        if node is None:
            raise KsqlError(f"Schema is not compatible with Avro: type {t} is not supported")
    return ["null", node] if optional else node


def generate_avro_schema(columns: list[Column], *, is_key: bool, unwrapped: bool,
                         full_schema_name: str | None = None) -> Any:
    """The Avro schema (as a JSON value) ksqlDB writes these columns with."""
    namespace, name = _split_full_name(full_schema_name or DEFAULT_FULL_SCHEMA_NAME)
    check_avro_name(name)
    if unwrapped:
        node = _generate(columns[0].type, name, not is_key)
    else:
        node = _generate(StructType(tuple(StructField(c.name, c.type) for c in columns)), name, False)
    root = node[1] if isinstance(node, list) else node
    if isinstance(root, dict) and root.get("type") == "record":
        if namespace:
            root["namespace"] = namespace
        root["connect.name"] = f"{namespace}.{name}" if namespace else name
    return node


# --- walking a registered schema -----------------------------------------------------------------

def _strip_logical(node: Any) -> Any:
    """A copy without logical types: fastavro then reads and writes raw ints/bytes, converted here."""
    if isinstance(node, list):
        return [_strip_logical(b) for b in node]
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    return node


class AvroSchemaInfo:
    """A registered (or generated) Avro schema: the JSON value, its named types, fastavro's parse."""

    def __init__(self, obj: Any, references: dict[str, Schema] | None = None):
        ref_objs = [json.loads(r.schema_str) for r in (references or {}).values() if r.schema_type == "AVRO"]
        self.root = obj
        self.names = AvroNames(obj, ref_objs)
        named: dict = {}
        try:
            for ref in ref_objs:
                fastavro.parse_schema(_strip_logical(ref), named_schemas=named)
            self.fast = fastavro.parse_schema(_strip_logical(obj), named_schemas=named)
        except Exception as err:  # noqa: BLE001 - fastavro raises assorted errors for bad schemas
            raise KsqlError(f"Invalid Avro schema: {err}") from None

    @classmethod
    def of(cls, parsed: ParsedSchema) -> AvroSchemaInfo:
        return cls(parsed.obj, parsed.references)

    def deref(self, node: Any, ns: str) -> tuple[Any, str]:
        """(definition, namespace inside it) of a node that may name a type defined elsewhere."""
        if isinstance(node, str) and node not in _PRIMITIVES:
            full = node if "." in node or not ns else f"{ns}.{node}"
            found = self.names.types.get(full) or self.names.types.get(node)
            if found is None:
                raise KsqlError(f"Invalid Avro schema: unknown type {node}")
            node = found
        if isinstance(node, dict):
            t = node.get("type")
            if isinstance(t, (list, dict)) or (isinstance(t, str) and t not in _PRIMITIVES and t not in _NAMED
                                               and t not in ("array", "map")):
                inner, inner_ns = self.deref(t, ns)
                if node.get("logicalType") and isinstance(inner, str):
                    return {**node, "type": inner}, inner_ns
                return inner, inner_ns
            if t in _NAMED:
                name = node.get("name", "")
                ns = name.rpartition(".")[0] if "." in name else node.get("namespace", ns)
        return node, ns

    def sql_type(self, node: Any, ns: str = "", seen: frozenset = frozenset()) -> SqlType:
        """The SQL type Connect (and so ksqlDB) gives an Avro type."""
        node, ns = self.deref(node, ns)
        if isinstance(node, list):
            branches = [b for b in node if b != "null"]
            if len(branches) == 1:
                return self.sql_type(branches[0], ns, seen)
            fields = []
            for b in branches:
                d, _ = self.deref(b, ns)
                label = _kind(d) if _kind(d) not in _NAMED else d.get("name", "").rpartition(".")[2]
                fields.append(StructField(label, self.sql_type(b, ns, seen)))
            return StructType(tuple(fields))
        kind = _kind(node)
        logical = node.get("logicalType") if isinstance(node, dict) else None
        if logical == "decimal" and kind in ("bytes", "fixed"):
            precision = int(node.get("precision") or DEFAULT_DECIMAL_PRECISION)
            return DecimalType(precision, int(node.get("scale") or 0))
        if logical == "date" and kind == "int":
            return DATE
        if logical == "time-millis" and kind == "int":
            return TIME
        if logical == "timestamp-millis" and kind == "long":
            return TIMESTAMP
        simple = {"boolean": BOOLEAN, "int": INTEGER, "long": BIGINT, "float": DOUBLE, "double": DOUBLE,
                  "string": STRING, "bytes": BYTES, "enum": STRING, "fixed": BYTES}.get(kind)
        if simple is not None:
            return simple
        if kind == "array":
            return ArrayType(self.sql_type(node["items"], ns, seen))
        if kind == "map":
            return MapType(STRING, self.sql_type(node["values"], ns, seen))
        if kind == "record":
            key = node.get("name")
            if key in seen:
                raise KsqlError(f"Recursive Avro type {key} cannot be a column type")
            return StructType(tuple(StructField(f["name"], self.sql_type(f["type"], ns, seen | {key}))
                                    for f in node.get("fields") or []))
        raise KsqlError(f"Avro type {kind} cannot be a column type")

    # -- plain values from what fastavro read (raw ints and bytes, logical types stripped) --

    def plain(self, node: Any, ns: str = "") -> Callable[[Any], Any] | None:
        """A function turning a non-null datum of `node` into plain values; None when it already is."""
        node, ns = self.deref(node, ns)
        if isinstance(node, list):
            branches = [b for b in node if b != "null"]
            if len(branches) == 1:
                return self.plain(branches[0], ns)
            return self._plain_union(branches, ns)
        kind = _kind(node)
        logical = node.get("logicalType") if isinstance(node, dict) else None
        if logical == "decimal" and kind in ("bytes", "fixed"):
            scale = int(node.get("scale") or 0)
            return lambda v: unscaled_bytes_to_decimal(v, scale)
        if kind == "array":
            f = self.plain(node["items"], ns)
            return None if f is None else (lambda v: [None if x is None else f(x) for x in v])
        if kind == "map":
            f = self.plain(node["values"], ns)
            return None if f is None else (lambda v: {k: None if x is None else f(x) for k, x in v.items()})
        if kind == "record":
            fields = [(fld["name"], self.plain(fld["type"], ns)) for fld in node.get("fields") or []]
            if all(f is None for _, f in fields):
                return None
            return lambda v: {n: (x if (x := v.get(n)) is None or f is None else f(x)) for n, f in fields}
        return None

    def _plain_union(self, branches: list, ns: str) -> Callable[[Any], Any]:
        """Connect's view of a union of several types: a struct with the matching branch set."""
        labelled = []
        for b in branches:
            d, _ = self.deref(b, ns)
            kind = _kind(d)
            label = kind if kind not in _NAMED else d.get("name", "").rpartition(".")[2]
            labelled.append((label, kind, self.plain(b, ns)))

        def pick(v):
            for label, kind, f in labelled:
                if _matches_kind(v, kind):
                    return {lab: ((v if f is None else f(v)) if lab == label else None) for lab, _, _ in labelled}
            raise SerdeError(f"Avro value {v!r} matches no branch of its union")
        return pick

    # -- writing: runtime values of a column type -> datum for fastavro (logical types stripped) --

    def writer(self, node: Any, t: SqlType, ns: str = "") -> Callable[[Any], Any]:
        """A function from a non-null runtime value of `t` to a datum of `node`."""
        node, ns = self.deref(node, ns)
        if isinstance(node, list):
            branches = [b for b in node if b != "null"]
            if not branches:
                raise SerdeError("Avro schema only allows null here")
            if len(branches) == 1:
                return self.writer(branches[0], t, ns)
            chosen = next((b for b in branches if _kind(self.deref(b, ns)[0]) == _avro_kind_for(t)), branches[0])
            return self.writer(chosen, t, ns)
        kind = _kind(node)
        logical = node.get("logicalType") if isinstance(node, dict) else None
        if logical == "decimal" and kind in ("bytes", "fixed"):
            scale = int(node.get("scale") or 0)
            size = int(node.get("size") or 0) if kind == "fixed" else 0

            def dec(v):
                d = v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
                raw = decimal_to_unscaled_bytes(d, scale)
                if size:
                    if len(raw) > size:
                        raise SerdeError(f"Decimal {d} does not fit in fixed({size})")
                    raw = (b"\xff" if raw[0] & 0x80 else b"\x00") * (size - len(raw)) + raw
                return raw
            return dec
        if kind in ("int", "long"):
            def integral(v):
                if isinstance(v, int) and not isinstance(v, bool):
                    return v
                if isinstance(v, (float, Decimal)):
                    return int(v)
                raise SerdeError(f"Cannot write {type(v).__name__} value as Avro {kind}")
            return integral
        if kind in ("float", "double"):
            return lambda v: v if v.__class__ is float else float(v)
        if kind == "boolean":
            def boolean(v):
                if v is True or v is False:
                    return v
                raise SerdeError(f"Cannot write {type(v).__name__} value as Avro boolean")
            return boolean
        if kind == "string":
            return lambda v: v if v.__class__ is str else to_java_string(v)
        if kind == "enum":
            symbols = set(node.get("symbols") or [])

            def enum(v):
                if v not in symbols:
                    raise SerdeError(f"'{v}' is not a symbol of Avro enum {node.get('name')}")
                return v
            return enum
        if kind in ("bytes", "fixed"):
            def raw(v):
                if isinstance(v, (bytes, bytearray)):
                    return bytes(v)
                raise SerdeError(f"Cannot write {type(v).__name__} value as Avro {kind}")
            return raw
        if kind == "array":
            item_t = t.item if isinstance(t, ArrayType) else t
            f = self.writer(node["items"], item_t, ns)
            nullable = _nullable(node["items"])

            def array(v):
                out = []
                for x in v:
                    if x is None and not nullable:
                        raise SerdeError("Avro array items may not be null here")
                    out.append(None if x is None else f(x))
                return out
            return array
        if kind == "map":
            value_t = t.value if isinstance(t, MapType) else t
            f = self.writer(node["values"], value_t, ns)
            return lambda v: {str(k): None if x is None else f(x) for k, x in v.items()}
        if kind == "record":
            return self._record_writer(node, t, ns)
        raise SerdeError(f"Cannot write Avro type {kind}")

    def _record_writer(self, node: dict, t: SqlType, ns: str) -> Callable[[Any], Any]:
        logical_fields = list(t.fields) if isinstance(t, StructType) else []
        names = [f.name for f in logical_fields]
        plan = []
        for fld in node.get("fields") or []:
            i = find_name(names, fld["name"])
            write = None if i is None else self.writer(fld["type"], logical_fields[i].type, ns)
            default = fld.get("default", _NO_DEFAULT)
            plan.append((fld["name"], None if i is None else names[i], write, _nullable(fld["type"]), default,
                         node.get("name")))

        def record(v):
            out = {}
            for name, src, write, nullable, default, record_name in plan:
                x = None if src is None else v.get(src)
                if x is None:
                    if src is None and default is not _NO_DEFAULT:
                        out[name] = default  # a field the columns do not have
                    elif nullable:
                        out[name] = None
                    elif default is not _NO_DEFAULT:
                        out[name] = default  # a required field the row has null for
                    else:
                        raise SerdeError(f"Error serializing Avro message: field '{name}' of record "
                                         f"{record_name} is required, but has no value and no default")
                else:
                    out[name] = write(x)
            return out
        return record


_NO_DEFAULT = object()


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "union"
    if isinstance(node, str):
        return node
    t = node.get("type")
    return "record" if t == "error" else t


def _nullable(node: Any) -> bool:
    return node == "null" or (isinstance(node, list) and "null" in node)


def _avro_kind_for(t: SqlType) -> str:
    return {"BOOLEAN": "boolean", "INTEGER": "int", "BIGINT": "long", "DOUBLE": "double", "STRING": "string",
            "BYTES": "bytes", "DECIMAL": "bytes", "DATE": "int", "TIME": "int", "TIMESTAMP": "long",
            "ARRAY": "array", "MAP": "map", "STRUCT": "record"}.get(t.base, "")


def _matches_kind(v: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(v, bool)
    if kind in ("int", "long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if kind in ("float", "double"):
        return isinstance(v, float)
    if kind in ("string", "enum"):
        return isinstance(v, str)
    if kind in ("bytes", "fixed"):
        return isinstance(v, (bytes, bytearray))
    if kind == "array":
        return isinstance(v, list)
    return isinstance(v, dict)


# --- the serde -----------------------------------------------------------------------------------

def _write_datum(fast: Any, datum: Any) -> bytes:
    bio = io.BytesIO()
    try:
        fastavro.schemaless_writer(bio, fast, datum)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as err:
        raise SerdeError(f"Error serializing Avro message: {err}") from None
    return bio.getvalue()


def _read_datum(fast: Any, payload: bytes) -> Any:
    try:
        return fastavro.schemaless_reader(io.BytesIO(payload), fast, None)
    except Exception as err:  # noqa: BLE001 - fastavro raises EOFError, ValueError, ... on bad bytes
        raise SerdeError(f"Error deserializing Avro message: {err}") from None


class AvroSerde(Serde):
    """Columns <-> Confluent-framed Avro."""

    def __init__(self, columns: list[Column], *, is_key: bool, unwrapped: bool, topic: str,
                 registry: SchemaRegistryClient | None, writer: WriterSchema, info: AvroSchemaInfo):
        self._columns = columns
        self._names = [c.name for c in columns]
        self._unwrapped = unwrapped
        self._target = "key" if is_key else "value"
        self._topic = topic
        self._registry = registry
        self._writer_schema = writer
        self._info = info
        if unwrapped:
            self._write = info.writer(info.root, columns[0].type)
        else:
            self._write = info.writer(info.root, StructType(tuple(StructField(c.name, c.type) for c in columns)))
        self._readers: dict[int, Callable[[bytes], list]] = {}

    def serialize(self, row):
        if row is None:
            return None
        if self._unwrapped:
            value = row[0]
            if value is None:
                return None
        else:
            value = dict(zip(self._names, row, strict=False))
        datum = self._write(value)
        return frame(self._writer_schema.id(), _write_datum(self._info.fast, datum))

    def deserialize(self, data):
        if data is None:
            return None
        schema_id, payload = unframe(data, self._target, self._topic)
        reader = self._readers.get(schema_id)
        if reader is None:
            reader = self._readers[schema_id] = self._reader(schema_id)
        return reader(payload)

    def _reader(self, schema_id: int) -> Callable[[bytes], list]:
        parsed = writer_schema(self._registry, schema_id, "AVRO", self._target, self._topic)
        try:
            info = AvroSchemaInfo.of(parsed)
        except KsqlError as err:
            raise SerdeError(f"Failed to deserialize {self._target} from topic: {self._topic}. "
                             f"Cannot read the writer's schema {schema_id}: {err}") from None
        fast = info.fast
        if self._unwrapped:
            plain = info.plain(info.root)
            coerce = sql_coercer(self._columns[0].type)

            def read_one(payload: bytes) -> list:
                v = _read_datum(fast, payload)
                if v is None:
                    return None
                return [coerce(v if plain is None else plain(v))]
            return read_one
        root, ns = info.deref(info.root, "")
        if isinstance(root, list):
            branches = [b for b in root if b != "null"]
            root, ns = info.deref(branches[0], ns) if len(branches) == 1 else (root, ns)
        if _kind(root) != "record":
            raise SerdeError(f"Failed to deserialize {self._target} from topic: {self._topic}. The writer's "
                             f"schema {schema_id} is not a record, so it cannot hold the columns "
                             f"{self._names}")
        fields = root.get("fields") or []
        field_names = [f["name"] for f in fields]
        plan = []
        for c in self._columns:
            i = find_name(field_names, c.name)
            if i is None:
                plan.append((None, None, None))
            else:
                plan.append((field_names[i], info.plain(fields[i]["type"], ns), sql_coercer(c.type)))

        def read(payload: bytes) -> list:
            datum = _read_datum(fast, payload)
            if datum is None:
                return None
            out = []
            for name, plain, coerce in plan:
                v = None if name is None else datum.get(name)
                out.append(None if v is None else coerce(v if plain is None else plain(v)))
            return out
        return read


class AvroFormat(SchemaRegistryFormat):
    name = "AVRO"
    schema_type = "AVRO"
    wrap_values = frozenset({True, False})
    options = frozenset({"registry", "schema_id", "full_schema_name"})

    def schema_problem(self, columns, is_key):
        for c in columns:
            if _has_non_string_map_key(c.type):
                return "Avro only supports MAPs with STRING keys"
        return None

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic, registry=None, schema_id=None,
               full_schema_name=None, nullable_representation=None):
        unwrapped = self.unwrapped(columns, is_key, wrap_single_value)
        if schema_id is not None:
            parsed = fetch_schema(registry, schema_id, self.name, self.schema_type)
            info = AvroSchemaInfo.of(parsed)
            writer = WriterSchema(registry, topic, is_key, registry.schema_by_id(schema_id), schema_id, self.name)
        else:
            obj = generate_avro_schema(columns, is_key=is_key, unwrapped=unwrapped,
                                       full_schema_name=full_schema_name)
            info = AvroSchemaInfo(obj)
            writer = WriterSchema(registry, topic, is_key, Schema(json.dumps(obj), "AVRO"), None, self.name)
        return AvroSerde(list(columns), is_key=is_key, unwrapped=unwrapped, topic=topic, registry=registry,
                         writer=writer, info=info)

    def schema_for(self, columns, *, is_key, unwrapped, full_schema_name=None, nullable_representation=None):
        obj = generate_avro_schema(columns, is_key=is_key, unwrapped=unwrapped, full_schema_name=full_schema_name)
        return Schema(json.dumps(obj), "AVRO")

    def columns_for(self, parsed, *, is_key, unwrapped, full_schema_name=None, keep_names=False):
        info = AvroSchemaInfo.of(parsed)
        t = info.sql_type(info.root)
        if not keep_names:
            t = upper_names(t)
        if unwrapped:
            return [Column(anonymous_name(is_key), t)]
        if not isinstance(t, StructType):
            raise KsqlError(f"The {'key' if is_key else 'value'} schema is not a record, so it cannot be read as "
                            "columns. Use WRAP_SINGLE_VALUE=false to read it as one anonymous column.")
        return [Column(f.name, f.type) for f in t.fields]

    def schema_id_problem(self, parsed, columns, *, is_key, unwrapped):
        if unwrapped:
            return None
        info = AvroSchemaInfo.of(parsed)
        root, _ = info.deref(info.root, "")
        if _kind(root) != "record":
            return None
        names = [c.name for c in columns]
        for fld in root.get("fields") or []:
            if find_name(names, fld["name"]) is None and "default" not in fld and not _nullable(fld["type"]):
                return (f"the schema requires the field '{fld['name']}', which has no default and which the "
                        "query does not produce")
        return None

    def encode_value(self, value, parsed, schema_id, *, full_schema_name=None):
        info = AvroSchemaInfo.of(parsed)
        if value is None:
            return None
        t = info.sql_type(info.root)
        coerced = spec_coercer(t)(value)
        return frame(schema_id, _write_datum(info.fast, info.writer(info.root, t)(coerced)))

    def decode_value(self, data, registry, *, topic="", is_key=False):
        if data is None:
            return None
        schema_id, payload = unframe(data, "key" if is_key else "value", topic)
        info = AvroSchemaInfo.of(writer_schema(registry, schema_id, "AVRO", "key" if is_key else "value", topic))
        datum = _read_datum(info.fast, payload)
        plain = info.plain(info.root)
        return datum if datum is None or plain is None else plain(datum)


def _has_non_string_map_key(t: SqlType) -> bool:
    if isinstance(t, MapType):
        return t.key.base != "STRING" or _has_non_string_map_key(t.value)
    if isinstance(t, ArrayType):
        return _has_non_string_map_key(t.item)
    if isinstance(t, StructType):
        return any(_has_non_string_map_key(f.type) for f in t.fields)
    return False


__all__ = ["AvroFormat", "AvroSchemaInfo", "check_avro_name", "generate_avro_schema"]
