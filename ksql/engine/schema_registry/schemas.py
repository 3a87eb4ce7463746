"""Parsing, canonical forms and compatibility of registered schemas (Avro, Protobuf, JSON Schema).

`parse_schema` validates a schema with its references (as the registry does on
register, answering 42201 for invalid ones) and gives its canonical text, by
which the registry recognizes a schema it already holds. `compatibility_problems`
applies Confluent's levels: BACKWARD means the new schema can read data written
with the old one, FORWARD the reverse, FULL both; *_TRANSITIVE against every
earlier version. Problems read like Confluent's ("{errorType:'...', description:'...'}").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import fastavro
import jsonschema
from fastavro.schema import SchemaParseException, UnknownType

from ksql.engine.schema_registry.client import Schema, SchemaRegistryError, invalid_schema
from ksql.engine.schema_registry.protobuf_schema import SCALAR_TYPES, CompiledProto, ProtoError

_AVRO_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


@dataclass
class ParsedSchema:
    """A validated schema: `obj` is the Avro/JSON document or the CompiledProto."""

    schema_type: str
    obj: Any
    canonical: str
    named: dict  # Avro: named types from references (for fastavro), else {}
    references: dict = field(default_factory=dict)  # reference name -> Schema, at every depth


def avro_named_types(references: Mapping[str, Schema]) -> dict:
    """fastavro's named-schemas dict holding the Avro types defined by referenced schemas."""
    named: dict = {}
    for ref in references.values():
        if ref.schema_type != "AVRO":
            continue
        try:
            fastavro.parse_schema(json.loads(ref.schema_str), named_schemas=named)
        except (ValueError, SchemaParseException, UnknownType, TypeError, KeyError) as err:
            raise invalid_schema(f"{ref.schema_str}: {err}") from None
    return named


def _load_avro(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        # a bare primitive name, as some tools register them ("int" without quotes)
        if text.strip() in _AVRO_PRIMITIVES:
            return text.strip()
        raise


def parse_schema(schema: Schema, references: Mapping[str, Schema] | None = None) -> ParsedSchema:
    """Validate `schema`; references maps each import/ref name to the referenced schema (all levels)."""
    refs = dict(references or {})
    kind = schema.schema_type
    if kind == "AVRO":
        try:
            obj = _load_avro(schema.schema_str)
            named = avro_named_types(refs)
            fastavro.parse_schema(obj, named_schemas=dict(named))
        except SchemaRegistryError:
            raise
        except (ValueError, SchemaParseException, UnknownType, TypeError, KeyError, AttributeError) as err:
            raise invalid_schema(f"{schema.schema_str}, details: {err}") from None
        return ParsedSchema(kind, obj, json.dumps(obj, separators=(",", ":")), named, refs)
    if kind == "PROTOBUF":
        try:
            compiled = CompiledProto(schema.schema_str, {k: v.schema_str for k, v in refs.items()})
        except ProtoError as err:
            raise invalid_schema(f"{schema.schema_str}, details: {err}") from None
        return ParsedSchema(kind, compiled, compiled.canonical(), {}, refs)
    if kind == "JSON":
        try:
            obj = json.loads(schema.schema_str)
            if not isinstance(obj, (dict, bool)):
                raise ValueError("a JSON schema is an object or a boolean")
            jsonschema.validators.validator_for(obj).check_schema(obj)
        except (ValueError, jsonschema.SchemaError) as err:
            message = err.message if isinstance(err, jsonschema.SchemaError) else str(err)
            raise invalid_schema(f"{schema.schema_str}, details: {message}") from None
        return ParsedSchema(kind, obj, json.dumps(obj, separators=(",", ":")), {}, refs)
    raise invalid_schema(f"of unknown type {kind}")


# --- compatibility -------------------------------------------------------------------------------


def _problem(error_type: str, description: str, info: str = "") -> str:
    return f"{{errorType:'{error_type}', description:'{description}', additionalInfo:'{info}'}}"


def compatibility_problems(new: ParsedSchema, old: ParsedSchema, level: str) -> list[str]:
    """Problems registering `new` after `old` under `level` (NONE / BACKWARD / FORWARD / FULL...)."""
    base = level.replace("_TRANSITIVE", "")
    if base == "NONE":
        return []
    if new.schema_type != old.schema_type:
        return [_problem("TYPE_MISMATCH", f"The new schema is {new.schema_type}, the old one {old.schema_type}")]
    check: Callable[[ParsedSchema, ParsedSchema], list[str]] = {
        "AVRO": _avro_reader_problems, "PROTOBUF": _proto_problems, "JSON": _json_reader_problems,
    }[new.schema_type]
    problems: list[str] = []
    if base in ("BACKWARD", "FULL"):
        problems += check(new, old)  # the new schema reads old data
    if base in ("FORWARD", "FULL"):
        problems += [p for p in check(old, new) if p not in problems]  # old readers read new data
    return problems


# Avro: the spec's schema resolution rules (reader vs writer) ------------------------------------

_PROMOTIONS = {("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
               ("float", "double"), ("string", "bytes"), ("bytes", "string")}


class AvroNames:
    """Named Avro types of one schema (and its references) by full name."""

    def __init__(self, schema: Any, extra: Any = ()):
        """`extra`: more schemas (references) whose named types `schema` may use."""
        self.types: dict[str, Any] = {}
        for other in extra:
            self._collect(other, "")
        self._collect(schema, "")

    def _collect(self, s: Any, ns: str) -> None:
        if isinstance(s, list):
            for b in s:
                self._collect(b, ns)
        elif isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error", "enum", "fixed") and isinstance(s.get("name"), str):
                full = self.full(s["name"], s.get("namespace", ns))
                self.types[full] = s
                ns = full.rpartition(".")[0]
                for f in s.get("fields") or []:
                    if isinstance(f, dict):
                        self._collect(f.get("type"), ns)
            elif t in ("array",):
                self._collect(s.get("items"), ns)
            elif t == "map":
                self._collect(s.get("values"), ns)
            elif isinstance(t, (dict, list)):
                self._collect(t, ns)

    @staticmethod
    def full(name: str, ns: str | None) -> str:
        return name if "." in name or not ns else f"{ns}.{name}"

    def resolve(self, s: Any, ns: str = "") -> Any:
        if isinstance(s, str) and s not in _AVRO_PRIMITIVES:
            return self.types.get(self.full(s, ns), self.types.get(s, s))
        if isinstance(s, dict) and isinstance(s.get("type"), (dict, list)):
            return s["type"]
        if isinstance(s, dict) and s.get("type") in _AVRO_PRIMITIVES:
            return s["type"]
        if isinstance(s, dict) and isinstance(s.get("type"), str) and s["type"] not in (
                "record", "error", "enum", "fixed", "array", "map"):
            return self.resolve(s["type"], ns)
        return s


def _avro_kind(s: Any) -> str:
    if isinstance(s, list):
        return "union"
    if isinstance(s, str):
        return s
    t = s.get("type")
    return "record" if t == "error" else t


def _avro_reader_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    rn, wn = AvroNames(reader.obj, reader.named.values()), AvroNames(writer.obj, writer.named.values())
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()

    def readable(r: Any, w: Any, path: str, report: bool) -> bool:
        r, w = rn.resolve(r), wn.resolve(w)
        key = (id(r), id(w))
        if key in seen:
            return True
        kr, kw = _avro_kind(r), _avro_kind(w)
        if kw == "union":
            ok = True
            for i, branch in enumerate(w):
                if not readable(r, branch, f"{path}/{i}", False):
                    ok = False
                    if report:
                        problems.append(_problem(
                            "MISSING_UNION_BRANCH",
                            f"The new schema is missing a type inside a union field at path '{path}/{i}' "
                            "in the old schema", f"reader union lacking writer type: {_avro_kind(rn.resolve(branch)).upper()}"))
            return ok
        if kr == "union":
            if any(readable(b, w, path, False) for b in r):
                return True
            if report:
                problems.append(_problem("MISSING_UNION_BRANCH",
                                         f"The new schema is missing a type inside a union field at path '{path}' "
                                         "in the old schema", f"reader union lacking writer type: {kw.upper()}"))
            return False
        if kr != kw:
            if (kw, kr) in _PROMOTIONS:
                return True
            if report:
                problems.append(_problem(
                    "TYPE_MISMATCH", f"The type (path '{path}') of a field in the new schema does not match "
                    f"with the old schema", f"reader type: {kr.upper()} not compatible with writer type: {kw.upper()}"))
            return False
        if kr in ("record", "enum", "fixed"):
            if r.get("name", "").rpartition(".")[2] != w.get("name", "").rpartition(".")[2] and \
                    w.get("name") not in (r.get("aliases") or []):
                if report:
                    problems.append(_problem("NAME_MISMATCH",
                                             f"The name of the schema has changed (path '{path}/name')",
                                             f"expected: {w.get('name')}"))
                return False
        if kr == "record":
            seen.add(key)
            ok = True
            writer_fields = {f["name"]: f for f in w.get("fields") or []}
            for i, rf in enumerate(r.get("fields") or []):
                wf = writer_fields.get(rf["name"])
                if wf is None:
                    for alias in rf.get("aliases") or []:
                        wf = writer_fields.get(alias)
                        if wf is not None:
                            break
                if wf is not None:
                    ok = readable(rf["type"], wf["type"], f"{path}fields/{i}/type/", report) and ok
                elif "default" not in rf:
                    ok = False
                    if report:
                        problems.append(_problem(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            f"The field '{rf['name']}' at path '{path}fields/{i}' in the new schema has no "
                            "default value and is missing in the old schema", rf["name"]))
            seen.discard(key)
            return ok
        if kr == "enum":
            missing = [s for s in w.get("symbols") or [] if s not in (r.get("symbols") or [])]
            if missing and "default" not in r:
                if report:
                    problems.append(_problem("MISSING_ENUM_SYMBOLS",
                                             f"The new schema is missing enum symbols '{missing}' at path "
                                             f"'{path}symbols' in the old schema", str(missing)))
                return False
            return True
        if kr == "fixed":
            if r.get("size") != w.get("size"):
                if report:
                    problems.append(_problem("FIXED_SIZE_MISMATCH",
                                             f"The size of FIXED type field at path '{path}size' in the new schema "
                                             "does not match with the old schema",
                                             f"expected: {w.get('size')}, found: {r.get('size')}"))
                return False
            return True
        if kr == "array":
            return readable(r.get("items"), w.get("items"), path + "items/", report)
        if kr == "map":
            return readable(r.get("values"), w.get("values"), path + "values/", report)
        return True

    readable(reader.obj, writer.obj, "/", True)
    return problems


# Protobuf: Confluent's wire-compatibility rules, in short ----------------------------------------

_PROTO_GROUPS = [
    {"int32", "uint32", "int64", "uint64", "bool"},
    {"sint32", "sint64"},
    {"fixed32", "sfixed32"},
    {"fixed64", "sfixed64"},
    {"string", "bytes"},
]
_PROTO_TYPE_NAMES = {v: k for k, v in SCALAR_TYPES.items()}


def _proto_problems(new: ParsedSchema, old: ParsedSchema) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()

    def compare(nd, od) -> None:
        key = (nd.full_name, od.full_name)
        if key in seen:
            return
        seen.add(key)
        for number, of in od.fields_by_number.items():
            nf = nd.fields_by_number.get(number)
            if nf is None:
                continue
            where = f"#/{od.name}/{number}"
            nk, ok = nf.message_type is not None, of.message_type is not None
            if nk != ok or (nf.enum_type is None) != (of.enum_type is None):
                problems.append(_problem("FIELD_KIND_CHANGED", f"The kind of a field changed at path '{where}'"))
                continue
            if nf.message_type is not None:
                if nf.message_type.full_name.rpartition(".")[2] != of.message_type.full_name.rpartition(".")[2]:
                    problems.append(_problem("FIELD_NAMED_TYPE_CHANGED",
                                             f"The type of a field changed at path '{where}'"))
                else:
                    compare(nf.message_type, of.message_type)
                continue
            if nf.enum_type is not None:
                continue
            tn, to = _PROTO_TYPE_NAMES.get(nf.type), _PROTO_TYPE_NAMES.get(of.type)
            if tn != to and not any(tn in g and to in g for g in _PROTO_GROUPS):
                problems.append(_problem("FIELD_SCALAR_KIND_CHANGED",
                                         f"The scalar kind of a field changed at path '{where}'"))

    new_msgs = {d.name: d for d in new.obj.messages()}
    for od in old.obj.messages():
        nd = new_msgs.get(od.name)
        if nd is None:
            problems.append(_problem("MESSAGE_REMOVED", f"The message '{od.name}' was removed", od.name))
        else:
            compare(nd, od)
    if new.obj.model.package != old.obj.model.package:
        problems.append(_problem("PACKAGE_CHANGED", "The package changed"))
    return problems


# JSON Schema: the new schema must accept what the old one accepted, in short --------------------------

def _json_types(s: Any) -> set[str]:
    if s is True or s == {}:
        return {"any"}
    if not isinstance(s, dict):
        return set()
    out: set[str] = set()
    t = s.get("type")
    if isinstance(t, str):
        out.add(t)
    elif isinstance(t, list):
        out.update(x for x in t if isinstance(x, str))
    for key in ("oneOf", "anyOf"):
        for branch in s.get(key) or []:
            out |= _json_types(branch)
    if not out and ("properties" in s or "additionalProperties" in s):
        out.add("object")
    return out or {"any"}


def _json_branch(s: Any, kind: str) -> Any:
    if isinstance(s, dict):
        if kind in _json_types({k: v for k, v in s.items() if k not in ("oneOf", "anyOf")}):
            return s
        for key in ("oneOf", "anyOf"):
            for branch in s.get(key) or []:
                found = _json_branch(branch, kind)
                if found is not None:
                    return found
    return None


def _json_reader_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    problems: list[str] = []

    def walk(r: Any, w: Any, path: str) -> None:
        rt, wt = _json_types(r), _json_types(w)
        if "any" in rt:
            return
        if "any" in wt:
            problems.append(_problem("TYPE_NARROWED", f"The type at path '{path}' was narrowed"))
            return
        if "number" in rt:
            rt = rt | {"integer"}
        missing = wt - rt
        if missing:
            problems.append(_problem("TYPE_CHANGED", f"The type at path '{path}' changed",
                                     ", ".join(sorted(missing))))
            return
        if "object" in wt:
            ro, wo = _json_branch(r, "object") or {}, _json_branch(w, "object") or {}
            rprops, wprops = ro.get("properties") or {}, wo.get("properties") or {}
            for name, wp in wprops.items():
                if name in rprops:
                    walk(rprops[name], wp, f"{path}/properties/{name}")
                elif ro.get("additionalProperties") is False:
                    problems.append(_problem("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                                             f"The property '{name}' was removed at path '{path}'", name))
            for name in ro.get("required") or []:
                if name not in (wo.get("required") or []):
                    problems.append(_problem("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                                             f"The required property '{name}' was added at path '{path}'", name))
        if "array" in wt:
            ra, wa = _json_branch(r, "array") or {}, _json_branch(w, "array") or {}
            if isinstance(ra.get("items"), dict) and isinstance(wa.get("items"), dict):
                walk(ra["items"], wa["items"], path + "/items")

    walk(reader.obj, writer.obj, "#")
    return problems
