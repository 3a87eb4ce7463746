"""DELIMITED format: one CSV record, as ksqlDB writes and reads it with Apache Commons CSV.

Writing follows CSVFormat.DEFAULT (with the chosen delimiter) in QuoteMode.MINIMAL
as Commons CSV 1.4 applies it: a null is written as nothing (never quoted); a
value is quoted when it is empty and first in the record, when it is first in
the record and starts with a character other than [0-9A-Za-z], when it starts with
a character <= '#', when it contains the delimiter, a quote, CR or LF, or when it
ends with a character <= ' '. Quotes inside quoted values are doubled.

Reading parses the first record; an empty field (quoted or not) is null for every
type; the field count must equal the column count.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal

from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.formats import FormatSpec
from ksql.engine.serde.javafmt import (
    DECIMAL_CONTEXT,
    decimal_plain,
    fit_decimal,
    java_double_str,
    parse_java_decimal,
    parse_java_double,
    parse_java_int,
    parse_java_long,
)
from ksql.errors import SerdeError
from ksql.types import DecimalType, format_identifier

SUPPORTED = frozenset({"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES",
                       "DATE", "TIME", "TIMESTAMP"})


# --- CSV parsing (Commons CSV lexer, no escape char, no comments, spaces kept) -----


class CsvError(ValueError):
    pass


def parse_record(text: str, delim: str) -> list[str] | None:
    """The first non-empty record of `text`, or None when there is none."""
    if '"' not in text and "\n" not in text and "\r" not in text:
        if text == "":
            return None
        return text.split(delim)
    n = len(text)
    i = 0
    # skip empty lines (ignoreEmptyLines)
    while i < n and text[i] in "\r\n":
        i += 1
    if i >= n:
        return None
    fields: list[str] = []
    while True:
        if i < n and text[i] == '"':
            # encapsulated token
            i += 1
            buf = []
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise CsvError("EOF reached before encapsulated token finished")
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            fields.append("".join(buf))
            # after the closing quote: whitespace, then a delimiter / end of line / end of input
            while i < n:
                c = text[i]
                if c == delim:
                    break
                if c in "\r\n":
                    return fields
                if c.isspace():
                    i += 1
                    continue
                raise CsvError("invalid char between encapsulated token and delimiter")
            if i >= n:
                return fields
            i += 1  # the delimiter
            continue
        # simple token
        j = i
        while j < n and text[j] != delim and text[j] not in "\r\n":
            j += 1
        fields.append(text[i:j])
        if j >= n or text[j] in "\r\n":
            return fields
        i = j + 1


# --- value parsers (KsqlDelimitedDeserializer) -----------------------------------


def _p_boolean(s):
    return s.lower() == "true"


def _p_bytes(s):
    try:
        pad = (-len(s)) % 4
        return base64.b64decode(s + "=" * pad if pad and "=" not in s else s, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Illegal base64 value: {s}") from None


def _p_decimal(t: DecimalType):
    p, sc = t.precision, t.scale
    return lambda s: fit_decimal(parse_java_decimal(s), p, sc)


_PARSERS = {
    "BOOLEAN": _p_boolean,
    "INTEGER": parse_java_int,
    "BIGINT": parse_java_long,
    "DOUBLE": parse_java_double,
    "STRING": None,
    "BYTES": _p_bytes,
    "DATE": parse_java_long,
    "TIME": parse_java_long,
    "TIMESTAMP": parse_java_long,
}


def _parser(t):
    if isinstance(t, DecimalType):
        return _p_decimal(t)
    return _PARSERS[t.base]


# --- value formatters (KsqlDelimitedSerializer) -----------------------------------


def _f_boolean(v):
    return "true" if v else "false"


def _f_double(v):
    return java_double_str(float(v))


def _f_decimal(t: DecimalType):
    exp = Decimal(1).scaleb(-t.scale)
    scale = t.scale

    def f(v):
        if v.__class__ is not Decimal:
            v = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        if v.as_tuple().exponent != -scale:
            v = v.quantize(exp, context=DECIMAL_CONTEXT)
        return decimal_plain(v)
    return f


def _f_bytes(v):
    return base64.b64encode(v).decode("ascii")


_FORMATTERS = {
    "BOOLEAN": _f_boolean,
    "INTEGER": str,
    "BIGINT": str,
    "DOUBLE": _f_double,
    "STRING": None,
    "BYTES": _f_bytes,
    "DATE": str,
    "TIME": str,
    "TIMESTAMP": str,
}


def _formatter(t):
    if isinstance(t, DecimalType):
        return _f_decimal(t)
    return _FORMATTERS[t.base]


def _first_needs_quote(c: str) -> bool:
    return not (("0" <= c <= "9") or ("A" <= c <= "Z") or ("a" <= c <= "z"))


class DelimitedSerde(Serde):
    __slots__ = ("_delim", "_parsers", "_formatters", "_n", "_topic", "_special", "_is_key",
                 "_delim_bytes")

    def __init__(self, columns: list[Column], delimiter: str, topic: str, is_key: bool):
        self._delim = delimiter
        self._parsers = [_parser(c.type) for c in columns]
        self._formatters = [_formatter(c.type) for c in columns]
        self._n = len(columns)
        self._topic = topic
        self._is_key = is_key
        self._special = re.compile("[\r\n\"" + re.escape(delimiter) + "]")

    def _quote(self, s: str, first: bool) -> str:
        if not s:
            return '""' if first else s
        c = s[0]
        if (first and _first_needs_quote(c)) or c <= "#" or self._special.search(s) or s[-1] <= " ":
            return '"' + s.replace('"', '""') + '"'
        return s

    def serialize(self, row):
        if row is None:
            return None
        if self._is_key and self._n == 1 and row[0] is None:
            return None
        parts = []
        quote = self._quote
        first = True
        for v, f in zip(row, self._formatters, strict=False):
            if v is None:
                parts.append("")
            else:
                parts.append(quote(v if f is None else f(v), first))
            first = False
        return self._delim.join(parts).encode("utf-8")

    def deserialize(self, data):
        if data is None:
            return None
        if self._n == 0:
            return []
        try:
            text = bytes(data).decode("utf-8")
            fields = parse_record(text, self._delim)
            if not fields:
                raise ValueError("No fields in record")
            if len(fields) != self._n:
                raise ValueError(
                    f"Column count mismatch on deserialization. topic: {self._topic}, "
                    f"expected: {self._n}, got: {len(fields)}")
            return [None if not s else (s if p is None else p(s))
                    for s, p in zip(fields, self._parsers, strict=False)]
        except (ValueError, UnicodeDecodeError, OverflowError) as e:
            raise SerdeError(f"Error deserializing delimited: {e}") from None


class DelimitedFormat(FormatSpec):
    name = "DELIMITED"
    wrap_values = frozenset({False})
    supports_delimiter = True

    def schema_problem(self, columns, is_key):
        for c in columns:
            if c.type.base not in SUPPORTED:
                return (f"The 'DELIMITED' format does not support type '{c.type.base}', "
                        f"column: {format_identifier(c.name)}")
        return None

    def features(self, columns, is_key, wrap_single_value):
        return ["UNWRAP_SINGLES"] if (not is_key and wrap_single_value is False) else []

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic):
        return DelimitedSerde(columns, delimiter or ",", topic, is_key)


__all__ = ["DelimitedFormat", "DelimitedSerde", "parse_record"]
