"""Encodings and binary conversions: TO_BYTES, FROM_BYTES, ENCODE, INT/BIGINT/DOUBLE_FROM_BYTES, UUID, MD5.

The text encodings are ksqlDB's: 'hex' (upper-case on output, either case on input),
'utf8', 'ascii' (unmappable characters become '?', undecodable bytes U+FFFD, as Java's
charsets do) and 'base64' (padding optional on input).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import uuid as _uuid

from ksql.errors import KsqlError
from ksql.functions.registry import scalar
from ksql.types import BIGINT, BYTES, DOUBLE, INTEGER, STRING

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*")


def _hex_decode(s: str) -> bytes:
    if len(s) % 2:
        raise KsqlError(f"Invalid input length {len(s)}")
    if not _HEX.fullmatch(s):
        bad = next(c for c in s if c not in "0123456789abcdefABCDEF")
        raise KsqlError(f"Unrecognized character: {bad}")
    return bytes.fromhex(s)


def _base64_decode(s: str) -> bytes:
    body = s.rstrip("=")
    if not _BASE64.fullmatch(body):
        bad = next(c for c in body if not _BASE64.fullmatch(c))
        raise KsqlError(f"Unrecognized character: {bad}")
    if len(body) % 4 == 1:
        raise KsqlError(f"Invalid input length {len(body)}")
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


_DECODERS = {
    "hex": _hex_decode,
    "utf8": lambda s: s.encode("utf-8", errors="replace"),
    "ascii": lambda s: s.encode("ascii", errors="replace"),
    "base64": _base64_decode,
}

_ENCODERS = {
    "hex": lambda b: b.hex().upper(),
    "utf8": lambda b: b.decode("utf-8", errors="replace"),
    "ascii": lambda b: b.decode("ascii", errors="replace"),
    "base64": lambda b: base64.b64encode(b).decode("ascii"),
}


def _encoding(name: str) -> str:
    key = name.lower()
    if key not in _DECODERS:
        raise KsqlError(f"Unknown encoding type '{name}'. Supported formats are 'hex', 'utf8', 'ascii', "
                        "and 'base64'.")
    return key


@scalar("to_bytes", [STRING, STRING], BYTES, category="STRING", param_names=("string", "encoding"),
        description="Converts a STRING to BYTES using an encoding: hex, utf8, ascii or base64.")
def to_bytes(s: str, encoding: str) -> bytes:
    return _DECODERS[_encoding(encoding)](s)


@scalar("from_bytes", [BYTES, STRING], STRING, category="STRING", param_names=("bytes", "encoding"),
        description="Converts BYTES to a STRING using an encoding: hex, utf8, ascii or base64.")
def from_bytes(b: bytes, encoding: str) -> str:
    return _ENCODERS[_encoding(encoding)](b)


@scalar("encode", [STRING, STRING, STRING], STRING, category="STRING",
        param_names=("str", "inputEncoding", "outputEncoding"),
        description="Re-encodes a string from inputEncoding to outputEncoding (hex, utf8, ascii, base64).")
def encode(s: str, input_encoding: str, output_encoding: str) -> str:
    src, dst = input_encoding.lower(), output_encoding.lower()
    if src not in _DECODERS or dst not in _ENCODERS:
        raise KsqlError("Supported input and output encodings are: hex, utf8, ascii and base64")
    data = _DECODERS[src](s)
    if dst == "hex":  # commons-codec's Hex writes lower case
        return data.hex()
    return _ENCODERS[dst](data)


# --- numbers from bytes --------------------------------------------------------------------------


def _byte_order(order: str) -> str:
    o = order.upper()
    if o == "BIG_ENDIAN":
        return ">"
    if o == "LITTLE_ENDIAN":
        return "<"
    raise KsqlError(f"Byte order must be BIG_ENDIAN or LITTLE_ENDIAN. Unknown byte order '{order}'.")


def _from_bytes(b: bytes, order: str, fmt: str, size: int):
    if len(b) != size:
        raise KsqlError(f"Number of bytes must be equal to {size}, but found {len(b)}")
    return struct.unpack(_byte_order(order) + fmt, b)[0]


for _name, _type, _fmt, _size, _what in (("int_from_bytes", INTEGER, "i", 4, "INT"),
                                          ("bigint_from_bytes", BIGINT, "q", 8, "BIGINT"),
                                          ("double_from_bytes", DOUBLE, "d", 8, "DOUBLE")):
    scalar(_name, [BYTES], _type, category="CONVERSIONS", param_names=("value",),
           description=f"Converts {_size} BYTES (big-endian) to an {_what}.")(
        lambda b, _f=_fmt, _s=_size: _from_bytes(b, "BIG_ENDIAN", _f, _s))
    scalar(_name, [BYTES, STRING], _type, category="CONVERSIONS", param_names=("value", "byteOrder"),
           description=f"Converts {_size} BYTES to an {_what} in the given byte order "
                       "(BIG_ENDIAN or LITTLE_ENDIAN).")(
        lambda b, order, _f=_fmt, _s=_size: _from_bytes(b, order, _f, _s))


# --- UUID, MD5 ----------------------------------------------------------------------------------------


@scalar("uuid", [], STRING, category="STRING", deterministic=False,
        description="A random (version 4) UUID as a 36-character string.")
def uuid_random() -> str:
    return str(_uuid.uuid4())


@scalar("uuid", [BYTES], STRING, category="STRING", param_names=("bytes",),
        description="The UUID held in 16 BYTES, as a 36-character string; null for any other length.")
def uuid_from_bytes(b: bytes) -> str | None:
    if len(b) != 16:
        return None
    return str(_uuid.UUID(bytes=b))


@scalar("md5", [STRING], STRING, category="STRING", param_names=("input",),
        description="The hex-encoded MD5 hash of the string's UTF-8 bytes.")
def md5(s: str) -> str:
    return hashlib.md5(s.encode("utf-8", errors="replace"), usedforsecurity=False).hexdigest()
