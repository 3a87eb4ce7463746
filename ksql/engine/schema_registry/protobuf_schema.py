"""Protobuf schemas as the registry holds them: .proto text, parsed, printed and compiled.

The registry keeps Protobuf schemas as .proto source (proto2 or proto3), as
Confluent's does. This module parses that source into a small model
(`ProtoFile`), prints a model back as canonical .proto text (so equal schemas
compare equal, and generated schemas read like Confluent's), and compiles a
file with its imports into descriptors in a private DescriptorPool, from which
the protobuf runtime builds message classes for (de)serialization.

Imports resolve against the texts given (a registry's schema references) and
the well-known files Confluent resolves without references: google/protobuf/*
(from the protobuf runtime), google/type/{date,timeofday}.proto and
confluent/{meta,type/decimal}.proto.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

from ksql.errors import KsqlError


class ProtoError(KsqlError):
    """A .proto text that does not parse or does not compile."""


SCALAR_TYPES = {
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "fixed64": descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64,
    "fixed32": descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "sfixed32": descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32,
    "sfixed64": descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64,
    "sint32": descriptor_pb2.FieldDescriptorProto.TYPE_SINT32,
    "sint64": descriptor_pb2.FieldDescriptorProto.TYPE_SINT64,
}

# --- the model ---------------------------------------------------------------------------------


@dataclass
class ProtoField:
    name: str
    number: int
    type: str  # a scalar type name, or a (possibly qualified) message/enum name as written
    label: str | None = None  # "repeated" | "optional" | "required" | None
    map_types: tuple[str, str] | None = None  # (key type, value type) of a map<K, V> field
    options: list[tuple[str, Any]] = field(default_factory=list)
    oneof: str | None = None

    def option(self, name: str) -> Any:
        for k, v in self.options:
            if k == name:
                return v
        return None

    def meta_params(self) -> dict[str, str]:
        """The params of a `(confluent.field_meta)` option (e.g. a Decimal's precision and scale)."""
        meta = self.option("(confluent.field_meta)")
        out: dict[str, str] = {}
        if isinstance(meta, dict):
            params = meta.get("params") or []
            for p in params if isinstance(params, list) else [params]:
                if isinstance(p, dict) and "key" in p:
                    out[str(p["key"])] = str(p.get("value"))
        return out


@dataclass
class ProtoEnum:
    name: str
    values: list[tuple[str, int]] = field(default_factory=list)
    options: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class ProtoMessage:
    name: str
    fields: list[ProtoField] = field(default_factory=list)
    messages: list[ProtoMessage] = field(default_factory=list)
    enums: list[ProtoEnum] = field(default_factory=list)
    oneofs: list[str] = field(default_factory=list)
    options: list[tuple[str, Any]] = field(default_factory=list)
    reserved: list[str] = field(default_factory=list)  # as written, kept for printing


@dataclass
class ProtoFile:
    syntax: str = "proto2"
    package: str = ""
    imports: list[str] = field(default_factory=list)
    public_imports: list[str] = field(default_factory=list)
    options: list[tuple[str, Any]] = field(default_factory=list)
    messages: list[ProtoMessage] = field(default_factory=list)
    enums: list[ProtoEnum] = field(default_factory=list)


# --- tokenizer -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|0[xX][0-9a-fA-F]+|\.[0-9]+(?:[eE][-+]?[0-9]+)?)
  | (?P<id>\.?[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<sym>[{}\[\]()<>=;,:\-+/.])
""", re.X | re.S)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "?": "?"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            if m:
                out.append(chr(int(m.group(0), 8)))
                i += 1 + len(m.group(0))
                continue
            m = re.match(r"[xX]([0-9a-fA-F]{1,2})", body[i + 1:])
            if m:
                out.append(chr(int(m.group(1), 16)))
                i += 1 + len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    line = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ProtoError(f"line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        value = m.group(0)
        if kind != "ws":
            if kind == "id":
                value = re.sub(r"\s+", "", value)
            tokens.append((kind, value, line))
        line += m.group(0).count("\n")
        pos = m.end()
    return tokens


def _int_literal(text: str) -> int | None:
    """A .proto integer literal: decimal, 0x hex or 0 octal; None when `text` is not one."""
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        if re.fullmatch(r"0[0-7]+", text):
            return int(text, 8)
        if re.fullmatch(r"[0-9]+", text):
            return int(text)
    except ValueError:
        return None
    return None


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def fail(self, message: str) -> ProtoError:
        tok = self.peek()
        where = f"line {tok[2]}: " if tok else "at end: "
        return ProtoError(where + message)

    def next(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end of schema")
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1] == value and tok[0] in ("sym", "id"):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            tok = self.peek()
            raise self.fail(f"expected '{value}', got {tok[1]!r}" if tok else f"expected '{value}'")

    def ident(self) -> str:
        tok = self.next()
        if tok[0] != "id":
            self.i -= 1
            raise self.fail(f"expected a name, got {tok[1]!r}")
        return tok[1]

    def integer(self) -> int:
        negative = self.accept("-")
        tok = self.next()
        if tok[0] != "num":
            self.i -= 1
            raise self.fail(f"expected a number, got {tok[1]!r}")
        value = _int_literal(tok[1])
        if value is None:
            raise self.fail(f"expected an integer, got {tok[1]!r}")
        return -value if negative else value

    def string(self) -> str:
        tok = self.next()
        if tok[0] != "str":
            self.i -= 1
            raise self.fail(f"expected a string, got {tok[1]!r}")
        text = _unquote(tok[1])
        while self.peek() is not None and self.peek()[0] == "str":  # adjacent strings concatenate
            text += _unquote(self.next()[1])
        return text

    # -- file --

    def parse_file(self) -> ProtoFile:
        f = ProtoFile()
        first = True
        while self.peek() is not None:
            if self.accept(";"):
                continue
            word = self.ident()
            if word == "syntax":
                if not first:
                    raise self.fail("'syntax' must come first")
                self.expect("=")
                f.syntax = self.string()
                if f.syntax not in ("proto2", "proto3"):
                    raise self.fail(f"unsupported syntax {f.syntax!r}")
                self.expect(";")
            elif word == "edition":
                raise self.fail("protobuf editions are not supported")
            elif word == "package":
                f.package = self.ident().lstrip(".")
                self.expect(";")
            elif word == "import":
                public = False
                if self.peek() and self.peek()[1] in ("public", "weak") and self.peek()[0] == "id":
                    public = self.next()[1] == "public"
                path = self.string()
                f.imports.append(path)
                if public:
                    f.public_imports.append(path)
                self.expect(";")
            elif word == "option":
                f.options.append(self.option_assignment())
                self.expect(";")
            elif word == "message":
                f.messages.append(self.message(f.syntax))
            elif word == "enum":
                f.enums.append(self.enum())
            elif word in ("service", "extend"):
                self.ident()
                self.skip_block()
            else:
                self.i -= 1
                raise self.fail(f"unexpected {word!r}")
            first = False
        return f

    def skip_block(self) -> None:
        while not self.accept("{"):
            self.next()
        depth = 1
        while depth:
            tok = self.next()
            if tok[0] == "sym" and tok[1] == "{":
                depth += 1
            elif tok[0] == "sym" and tok[1] == "}":
                depth -= 1

    def skip_statement(self) -> list[str]:
        out = []
        while not self.accept(";"):
            out.append(self.next()[1])
        return out

    def option_name(self) -> str:
        parts = []
        while True:
            if self.accept("("):
                parts.append("(" + self.ident().lstrip(".") + ")")
                self.expect(")")
            else:
                parts.append(self.ident())
            if not self.accept("."):
                break
        return ".".join(parts)

    def option_assignment(self) -> tuple[str, Any]:
        name = self.option_name()
        self.expect("=")
        return name, self.constant()

    def constant(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("expected a value")
        if tok[0] == "str":
            return self.string()
        if tok[1] == "{":
            return self.aggregate()
        if tok[1] in ("-", "+"):
            sign = -1 if self.next()[1] == "-" else 1
            value = self.constant()
            if isinstance(value, (int, float)):
                return sign * value
            if isinstance(value, str) and value in ("inf", "nan"):
                return float(("-" if sign < 0 else "") + value)
            raise self.fail("expected a number after a sign")
        if tok[0] == "num":
            text = self.next()[1]
            value = _int_literal(text)
            return float(text) if value is None else value
        if tok[0] == "id":
            word = self.next()[1]
            return {"true": True, "false": False}.get(word, word)
        raise self.fail(f"unexpected {tok[1]!r}")

    def aggregate(self) -> dict:
        """A text-format message value: { name: value, name { ... }, name: [v, v] }."""
        self.expect("{")
        out: dict[str, Any] = {}
        while not self.accept("}"):
            if self.accept("["):  # an extension or Any name
                name = "[" + self.ident() + "]"
                while not self.accept("]"):
                    name += self.next()[1]
            else:
                name = self.ident()
            self.accept(":")
            value = self.list_value() if self.peek() and self.peek()[1] == "[" else self.constant()
            if name in out:
                prev = out[name]
                out[name] = (prev if isinstance(prev, list) else [prev]) + (
                    value if isinstance(value, list) else [value])
            else:
                out[name] = value
            if not self.accept(","):
                self.accept(";")
        return out

    def list_value(self) -> list:
        self.expect("[")
        items = []
        while not self.accept("]"):
            items.append(self.constant())
            self.accept(",")
        return items

    def field_options(self) -> list[tuple[str, Any]]:
        opts: list[tuple[str, Any]] = []
        if self.accept("["):
            while True:
                opts.append(self.option_assignment())
                if self.accept("]"):
                    break
                self.expect(",")
        return opts

    # -- message and enum --

    def message(self, syntax: str) -> ProtoMessage:
        msg = ProtoMessage(self.ident())
        self.expect("{")
        while not self.accept("}"):
            if self.accept(";"):
                continue
            word = self.peek()[1] if self.peek() else ""
            if word == "message" and self.peek(1) and self.peek(1)[0] == "id" and self.peek(2) \
                    and self.peek(2)[1] == "{":
                self.next()
                msg.messages.append(self.message(syntax))
            elif word == "enum" and self.peek(2) and self.peek(2)[1] == "{":
                self.next()
                msg.enums.append(self.enum())
            elif word == "oneof" and self.peek(2) and self.peek(2)[1] == "{":
                self.next()
                name = self.ident()
                msg.oneofs.append(name)
                self.expect("{")
                while not self.accept("}"):
                    if self.accept(";"):
                        continue
                    if self.peek() and self.peek()[1] == "option":
                        self.next()
                        self.option_assignment()
                        self.expect(";")
                        continue
                    fld = self.field(syntax, allow_label=False)
                    fld.oneof = name
                    msg.fields.append(fld)
            elif word == "option":
                self.next()
                msg.options.append(self.option_assignment())
                self.expect(";")
            elif word in ("reserved", "extensions"):
                self.next()
                text = " ".join(self.skip_statement())
                if word == "reserved":
                    msg.reserved.append(text)
            elif word == "extend":
                self.next()
                self.ident()
                self.skip_block()
            else:
                msg.fields.append(self.field(syntax, allow_label=True))
        return msg

    def field(self, syntax: str, allow_label: bool) -> ProtoField:
        label = None
        if allow_label and self.peek() and self.peek()[1] in ("repeated", "optional", "required") \
                and self.peek(1) and self.peek(1)[0] == "id":
            label = self.next()[1]
        if self.peek() and self.peek()[1] == "map" and self.peek(1) and self.peek(1)[1] == "<":
            self.next()
            self.expect("<")
            key_type = self.ident()
            self.expect(",")
            value_type = self.ident()
            self.expect(">")
            name = self.ident()
            self.expect("=")
            number = self.integer()
            opts = self.field_options()
            self.expect(";")
            return ProtoField(name, number, value_type, "repeated", (key_type, value_type), opts)
        type_name = self.ident()
        if type_name == "group":
            raise self.fail("proto2 groups are not supported")
        name = self.ident()
        self.expect("=")
        number = self.integer()
        opts = self.field_options()
        self.expect(";")
        if label == "required" and syntax == "proto3":
            raise ProtoError(f"field {name}: required fields are not allowed in proto3")
        return ProtoField(name, number, type_name, label, None, opts)

    def enum(self) -> ProtoEnum:
        en = ProtoEnum(self.ident())
        self.expect("{")
        while not self.accept("}"):
            if self.accept(";"):
                continue
            if self.peek() and self.peek()[1] == "option" and self.peek(1) and self.peek(1)[1] != "=":
                self.next()
                en.options.append(self.option_assignment())
                self.expect(";")
                continue
            if self.peek() and self.peek()[1] == "reserved" and self.peek(1) and self.peek(1)[1] != "=":
                self.next()
                self.skip_statement()
                continue
            name = self.ident()
            self.expect("=")
            number = self.integer()
            self.field_options()
            self.expect(";")
            en.values.append((name, number))
        return en


def parse_proto(text: str) -> ProtoFile:
    """Parse .proto source; ProtoError with the line on anything it cannot read."""
    if not isinstance(text, str):
        raise ProtoError("a Protobuf schema must be .proto text")
    return _Parser(text).parse_file()


# --- printer -------------------------------------------------------------------------------------

def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _value_text(value: Any, indent: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        inner = indent + "  "
        items = []
        for k, v in value.items():
            if isinstance(v, list):
                items.append(f"{inner}{k}: [" + ", ".join(_value_text(x, inner) for x in v) + "]")
            else:
                items.append(f"{inner}{k}: {_value_text(v, inner)}")
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return str(value)


def _options_text(options: list[tuple[str, Any]], indent: str) -> str:
    if not options:
        return ""
    return " [" + ", ".join(f"{k} = {_value_text(v, indent)}" for k, v in options) + "]"


def _field_text(f: ProtoField, indent: str) -> str:
    if f.map_types:
        head = f"map<{f.map_types[0]}, {f.map_types[1]}>"
    else:
        head = (f.label + " " if f.label else "") + f.type
    return f"{indent}{head} {f.name} = {f.number}{_options_text(f.options, indent)};"


def _enum_text(e: ProtoEnum, indent: str) -> list[str]:
    lines = [f"{indent}enum {e.name} {{"]
    lines += [f"{indent}  option {k} = {_value_text(v, indent + '  ')};" for k, v in e.options]
    lines += [f"{indent}  {name} = {number};" for name, number in e.values]
    lines.append(f"{indent}}}")
    return lines


def _message_text(m: ProtoMessage, indent: str) -> list[str]:
    lines = [f"{indent}message {m.name} {{"]
    inner = indent + "  "
    lines += [f"{inner}option {k} = {_value_text(v, inner)};" for k, v in m.options]
    lines += [f"{inner}reserved {r};" for r in m.reserved]
    printed_oneofs: set[str] = set()
    for f in m.fields:
        if f.oneof is None:
            lines.append(_field_text(f, inner))
        elif f.oneof not in printed_oneofs:
            printed_oneofs.add(f.oneof)
            lines.append(f"{inner}oneof {f.oneof} {{")
            lines += [_field_text(g, inner + "  ") for g in m.fields if g.oneof == f.oneof]
            lines.append(f"{inner}}}")
    for n in m.messages:
        lines += _message_text(n, inner)
    for e in m.enums:
        lines += _enum_text(e, inner)
    lines.append(f"{indent}}}")
    return lines


def print_proto(f: ProtoFile) -> str:
    """Canonical .proto text of a model (what equal schemas compare by)."""
    lines = [f'syntax = "{f.syntax}";']
    if f.package:
        lines.append(f"package {f.package};")
    lines.append("")
    if f.imports:
        for path in f.imports:
            lines.append(f"import {'public ' if path in f.public_imports else ''}{_quote(path)};")
        lines.append("")
    for k, v in f.options:
        lines.append(f"option {k} = {_value_text(v, '')};")
    if f.options:
        lines.append("")
    for m in f.messages:
        lines += _message_text(m, "")
    for e in f.enums:
        lines += _enum_text(e, "")
    return "\n".join(lines) + "\n"


# --- well-known files ----------------------------------------------------------------------------

_RUNTIME_FILES = {m.DESCRIPTOR.name: m.DESCRIPTOR for m in (
    any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2, descriptor_pb2)}

BUILTIN_SOURCES = {
    "google/type/date.proto": """
syntax = "proto3";
package google.type;
message Date { int32 year = 1; int32 month = 2; int32 day = 3; }
""",
    "google/type/timeofday.proto": """
syntax = "proto3";
package google.type;
message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }
""",
    "confluent/type/decimal.proto": """
syntax = "proto3";
package confluent.type;
message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }
""",
    "confluent/meta.proto": """
syntax = "proto3";
package confluent;
import "google/protobuf/descriptor.proto";
message Meta { string doc = 1; map<string, string> params = 2; repeated string tags = 3; }
extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
""",
}


def is_builtin_import(path: str) -> bool:
    return path in _RUNTIME_FILES or path in BUILTIN_SOURCES


# --- compiling -----------------------------------------------------------------------------------

_LABELS = {
    None: descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    "optional": descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    "repeated": descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    "required": descriptor_pb2.FieldDescriptorProto.LABEL_REQUIRED,
}


def _camel(name: str) -> str:
    """protoc's map-entry naming: foo_bar -> FooBar (then + 'Entry')."""
    out, upper = [], True
    for c in name:
        if c == "_":
            upper = True
        elif upper:
            out.append(c.upper())
            upper = False
        else:
            out.append(c)
    return "".join(out)


def _symbols_of_fdp(fdp: descriptor_pb2.FileDescriptorProto, out: dict[str, str]) -> None:
    prefix = fdp.package + "." if fdp.package else ""

    def walk(messages, scope):
        for m in messages:
            full = scope + m.name
            out[full] = "message"
            for e in m.enum_type:
                out[full + "." + e.name] = "enum"
            walk(m.nested_type, full + ".")

    walk(fdp.message_type, prefix)
    for e in fdp.enum_type:
        out[prefix + e.name] = "enum"


def _symbols_of_model(f: ProtoFile, out: dict[str, str]) -> None:
    prefix = f.package + "." if f.package else ""

    def walk(messages, scope):
        for m in messages:
            full = scope + m.name
            out[full] = "message"
            for e in m.enums:
                out[full + "." + e.name] = "enum"
            walk(m.messages, full + ".")

    walk(f.messages, prefix)
    for e in f.enums:
        out[prefix + e.name] = "enum"


def _resolve(name: str, scope: str, symbols: dict[str, str]) -> str:
    if name.startswith("."):
        if name[1:] in symbols:
            return name[1:]
        raise ProtoError(f"unknown type {name}")
    parts = scope.split(".") if scope else []
    while True:
        candidate = ".".join([*parts, name])
        if candidate in symbols:
            return candidate
        if not parts:
            break
        parts.pop()
    raise ProtoError(f"unknown type {name}" + (f" (in {scope})" if scope else ""))


def _to_fdp(f: ProtoFile, file_name: str, symbols: dict[str, str]) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name=file_name, package=f.package, syntax=f.syntax)
    fdp.dependency.extend(f.imports)
    fdp.public_dependency.extend(f.imports.index(p) for p in f.public_imports)
    pkg_scope = f.package

    def enum_proto(e: ProtoEnum) -> descriptor_pb2.EnumDescriptorProto:
        ep = descriptor_pb2.EnumDescriptorProto(name=e.name)
        if not e.values:
            raise ProtoError(f"enum {e.name} has no values")
        for name, number in e.values:
            ep.value.add(name=name, number=number)
        if dict(e.options).get("allow_alias") is True:
            ep.options.allow_alias = True
        return ep

    def set_type(fp, type_name: str, scope: str) -> None:
        if type_name in SCALAR_TYPES:
            fp.type = SCALAR_TYPES[type_name]
            return
        full = _resolve(type_name, scope, symbols)
        fp.type = (descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE if symbols[full] == "message"
                   else descriptor_pb2.FieldDescriptorProto.TYPE_ENUM)
        fp.type_name = "." + full

    def message_proto(m: ProtoMessage, scope: str) -> descriptor_pb2.DescriptorProto:
        full = f"{scope}.{m.name}" if scope else m.name
        dp = descriptor_pb2.DescriptorProto(name=m.name)
        oneof_index = {name: i for i, name in enumerate(m.oneofs)}
        for name in m.oneofs:
            dp.oneof_decl.add(name=name)
        synthetic = []
        numbers: set[int] = set()
        for fld in m.fields:
            if fld.number in numbers:
                raise ProtoError(f"field number {fld.number} is used twice in message {m.name}")
            if not 1 <= fld.number <= 536870911 or 19000 <= fld.number <= 19999:
                raise ProtoError(f"field {fld.name}: invalid field number {fld.number}")
            numbers.add(fld.number)
            fp = dp.field.add(name=fld.name, number=fld.number, label=_LABELS[fld.label])
            if fld.map_types:
                key_type, value_type = fld.map_types
                if key_type not in SCALAR_TYPES or key_type in ("double", "float", "bytes"):
                    raise ProtoError(f"field {fld.name}: invalid map key type {key_type}")
                entry_name = _camel(fld.name) + "Entry"
                entry = dp.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                kp = entry.field.add(name="key", number=1,
                                     label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
                set_type(kp, key_type, full)
                vp = entry.field.add(name="value", number=2,
                                     label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
                set_type(vp, value_type, full)
                fp.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                fp.type_name = f".{full}.{entry_name}"
            else:
                set_type(fp, fld.type, full)
            if fld.oneof is not None:
                fp.oneof_index = oneof_index[fld.oneof]
            elif fld.label == "optional" and f.syntax == "proto3":
                fp.proto3_optional = True
                synthetic.append(fp)
            packed = fld.option("packed")
            if isinstance(packed, bool):
                fp.options.packed = packed
            if fld.option("deprecated") is True:
                fp.options.deprecated = True
            default = fld.option("default")
            if default is not None and f.syntax == "proto2":
                fp.default_value = ("true" if default else "false") if isinstance(default, bool) else str(default)
        for fp in synthetic:  # proto3 optional fields each get a synthetic oneof, as protoc makes
            fp.oneof_index = len(dp.oneof_decl)
            dp.oneof_decl.add(name="_" + fp.name)
        for n in m.messages:
            dp.nested_type.append(message_proto(n, full))
        for e in m.enums:
            dp.enum_type.append(enum_proto(e))
        return dp

    for m in f.messages:
        fdp.message_type.append(message_proto(m, pkg_scope))
    for e in f.enums:
        fdp.enum_type.append(enum_proto(e))
    return fdp


def _collect_meta(model: ProtoFile, out: dict[str, dict[str, str]]) -> None:
    def walk(messages, scope):
        for m in messages:
            full = scope + m.name
            for f in m.fields:
                params = f.meta_params()
                if params:
                    out[f"{full}.{f.name}"] = params
            walk(m.messages, full + ".")
    walk(model.messages, model.package + "." if model.package else "")


class CompiledProto:
    """A parsed .proto file compiled with its imports into a private DescriptorPool."""

    ROOT_FILE = "__schema__.proto"

    def __init__(self, text: str, imports: Mapping[str, str] | None = None):
        self.model = parse_proto(text)
        self.pool = descriptor_pool.DescriptorPool()
        self._imports = dict(imports or {})
        self._added: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self._adding: set[str] = set()
        # (confluent.field_meta) params by field full name: descriptors do not keep custom options
        self.field_meta: dict[str, dict[str, str]] = {}
        _collect_meta(self.model, self.field_meta)
        symbols: dict[str, str] = {}
        for path in self.model.imports:
            self._add_import(path, symbols)
        _symbols_of_model(self.model, symbols)
        self._check_unique(self.model)
        fdp = _to_fdp(self.model, self.ROOT_FILE, symbols)
        try:
            self.pool.Add(fdp)
            self.file = self.pool.FindFileByName(self.ROOT_FILE)
        except (TypeError, ValueError, KeyError) as err:
            raise ProtoError(f"invalid Protobuf schema: {err}") from None
        self._classes: dict[str, type] = {}

    @staticmethod
    def _check_unique(model: ProtoFile) -> None:
        seen: dict[str, str] = {}
        _symbols_of_model(model, seen)
        names: list[str] = []

        def walk(messages, scope):
            for m in messages:
                names.append(scope + m.name)
                walk(m.messages, scope + m.name + ".")
        walk(model.messages, "")
        if len(set(names)) != len(names):
            raise ProtoError("a message name is defined twice")

    def _add_import(self, path: str, symbols: dict[str, str]) -> None:
        """Add an imported file (and its imports) to the pool, once; fill `symbols` with its types."""
        if path in self._added:
            _symbols_of_fdp(self._added[path], symbols)
            return
        if path in self._adding:
            raise ProtoError(f"import cycle through {path}")
        self._adding.add(path)
        if path in _RUNTIME_FILES:
            fdp = descriptor_pb2.FileDescriptorProto()
            _RUNTIME_FILES[path].CopyToProto(fdp)
            for dep in fdp.dependency:
                self._add_import(dep, {})
        else:
            text = self._imports.get(path, BUILTIN_SOURCES.get(path))
            if text is None:
                raise ProtoError(f"cannot resolve import \"{path}\": it is neither a well-known file nor a "
                                 "schema reference")
            model = parse_proto(text)
            _collect_meta(model, self.field_meta)
            dep_symbols: dict[str, str] = {}
            for dep in model.imports:
                self._add_import(dep, dep_symbols)
            _symbols_of_model(model, dep_symbols)
            fdp = _to_fdp(model, path, dep_symbols)
        try:
            self.pool.Add(fdp)
        except (TypeError, ValueError) as err:
            raise ProtoError(f"invalid Protobuf schema {path}: {err}") from None
        self._adding.discard(path)
        self._added[path] = fdp
        _symbols_of_fdp(fdp, symbols)

    # -- messages --

    def messages(self) -> list:
        """Top-level message descriptors, in order."""
        return list(self.file.message_types_by_name.values())

    def message(self, full_name: str | None = None):
        """The message called `full_name` (with or without the package), or the first one."""
        if full_name is None:
            tops = self.messages()
            if not tops:
                raise ProtoError("the Protobuf schema defines no message")
            return tops[0]
        name = full_name.lstrip(".")
        for candidate in (name, f"{self.model.package}.{name}" if self.model.package else name):
            try:
                d = self.pool.FindMessageTypeByName(candidate)
            except KeyError:
                continue
            if d.file is self.file or d.file.name == self.ROOT_FILE:
                return d
        raise ProtoError(f"Schema does not contain a message named {full_name}")

    def message_indexes(self, descriptor) -> list[int]:
        """Confluent's message indexes of a message of this file: the path of positions."""
        path = []
        d = descriptor
        while d.containing_type is not None:
            path.append(list(d.containing_type.nested_types).index(d))
            d = d.containing_type
        path.append(self.messages().index(d))
        return list(reversed(path))

    def message_at(self, indexes: list[int]):
        """The message at Confluent message indexes ([] and [0] both mean the first)."""
        try:
            tops = self.messages()
            d = tops[indexes[0] if indexes else 0]
            for i in indexes[1:]:
                d = list(d.nested_types)[i]
            return d
        except IndexError:
            raise ProtoError(f"no message at indexes {indexes}") from None

    def message_class(self, descriptor) -> type:
        cls = self._classes.get(descriptor.full_name)
        if cls is None:
            cls = self._classes[descriptor.full_name] = message_factory.GetMessageClass(descriptor)
        return cls

    def canonical(self) -> str:
        return print_proto(self.model)


def canonical_proto(text: str) -> str:
    """The canonical text of a .proto source (parse errors raise ProtoError)."""
    return print_proto(parse_proto(text))
