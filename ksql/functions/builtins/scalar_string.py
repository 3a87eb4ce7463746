"""String functions (and their BYTES twins), with Java's String semantics where they differ from Python's.

Each function mirrors its ksqlDB UDF: the overloads, which null arguments give a null
result (most) and which do not (CONCAT, CONCAT_WS, INSTR, FIELD, ELT), and the
edge cases of the Java methods underneath (String.trim, String.split with an empty
pattern, Guava's Splitter for SPLIT and SPLIT_TO_MAP).
"""

from __future__ import annotations

import re

from ksql.functions.registry import scalar
from ksql.types import BYTES, INTEGER, STRING, ArrayType, MapType

_CAT = "STRING"
_JAVA_TRIM = "".join(chr(i) for i in range(33))  # String.trim() strips every char <= ' '
# Character.isWhitespace: Unicode separators except the no-break spaces, plus \t \n \v \f \r \x1c-\x1f
_JAVA_WS = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009"
            "\u200a\u2028\u2029\u205f\u3000")


def _utf16_len(s: str) -> int:
    """String.length(): UTF-16 code units (characters outside the BMP count twice)."""
    n = len(s)
    if s.isascii():
        return n
    return n + sum(1 for c in s if ord(c) > 0xFFFF)


# --- CONCAT / CONCAT_WS ---------------------------------------------------------------------


@scalar("concat", [STRING], STRING, variadic=True, null_on_null=False, param_names=("inputs",),
        category=_CAT, description="Concatenates the arguments; null arguments are skipped.")
def concat(*args: str | None) -> str:
    return "".join(a for a in args if a is not None)


@scalar("concat", [BYTES], BYTES, variadic=True, null_on_null=False, param_names=("inputs",), category=_CAT,
        description="Concatenates BYTES arguments; null arguments are skipped.")
def concat_bytes(*args: bytes | None) -> bytes:
    return b"".join(a for a in args if a is not None)


@scalar("concat_ws", [STRING, STRING], STRING, variadic=True, null_on_null=False,
        param_names=("separator", "inputs"), category=_CAT,
        description="Concatenates the arguments with a separator; null arguments are skipped, "
                    "a null separator gives null.")
def concat_ws(sep: str | None, *args: str | None) -> str | None:
    if sep is None:
        return None
    return sep.join(a for a in args if a is not None)


@scalar("concat_ws", [BYTES, BYTES], BYTES, variadic=True, null_on_null=False,
        param_names=("separator", "inputs"), category=_CAT,
        description="Concatenates BYTES arguments with a separator; null arguments are skipped.")
def concat_ws_bytes(sep: bytes | None, *args: bytes | None) -> bytes | None:
    if sep is None:
        return None
    return sep.join(a for a in args if a is not None)


# --- length, case, trimming -----------------------------------------------------------------


@scalar("len", [STRING], INTEGER, category=_CAT, param_names=("input",),
        description="The length of a string, in UTF-16 code units as Java counts them.")
def len_string(s: str) -> int:
    return _utf16_len(s)


@scalar("len", [BYTES], INTEGER, category=_CAT, param_names=("input",),
        description="The number of bytes of a BYTES value.")
def len_bytes(b: bytes) -> int:
    return len(b)


@scalar("ucase", [STRING], STRING, category=_CAT, param_names=("input",), description="Upper-cases a string.")
def ucase(s: str) -> str:
    return s.upper()


@scalar("lcase", [STRING], STRING, category=_CAT, param_names=("input",), description="Lower-cases a string.")
def lcase(s: str) -> str:
    return s.lower()


@scalar("trim", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Removes leading and trailing whitespace (every character up to U+0020, as String.trim).")
def trim(s: str) -> str:
    return s.strip(_JAVA_TRIM)


@scalar("ltrim", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Removes leading whitespace.")
def ltrim(s: str) -> str:
    return s.lstrip(_JAVA_WS)


@scalar("rtrim", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Removes trailing whitespace.")
def rtrim(s: str) -> str:
    return s.rstrip(_JAVA_WS)


_WORD = re.compile(r"[^ \t\n\x0b\x0c\r]+[ \t\n\x0b\x0c\r]*")


@scalar("initcap", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Capitalizes the first letter of each word and lower-cases the rest; words are "
                    "separated by whitespace (leading whitespace is dropped, as in ksqlDB).")
def initcap(s: str) -> str:
    return "".join(w[0].upper() + w[1:] for w in _WORD.findall(s.lower()))


# --- SUBSTRING, INSTR, REPLACE ----------------------------------------------------------------


def _sub_start(n: int, pos: int) -> int:
    if pos >= 0:
        return min(max(pos - 1, 0), n)
    return max(n + pos, 0)


def _substring(s: str, pos: int) -> str:
    return s[_sub_start(len(s), pos):]


def _substring_len(s: str, pos: int, length: int) -> str:
    start = _sub_start(len(s), pos)
    end = max(min(start + length, len(s)), start)
    return s[start:end]


for _t in (STRING, BYTES):
    scalar("substring", [_t, INTEGER], _t, category=_CAT, param_names=("str", "pos"),
           description="The part of a string from 1-based position pos (negative counts from the end), "
                       "optionally limited to length characters.")(_substring)
    scalar("substring", [_t, INTEGER, INTEGER], _t, category=_CAT,
           param_names=("str", "pos", "length"))(_substring_len)


def _instr(s: str | None, sub: str | None, position: int | None = 1, occurrence: int | None = 1) -> int | None:
    """1-based index of the occurrence-th `sub` searching from `position` (negative: backwards); 0 if none."""
    if position is None or occurrence is None:  # Java's int parameters cannot take a null
        return None
    if s is None or sub is None or occurrence < 1:
        return 0
    n = len(s)
    if position > 0:
        idx = position - 2
        for _ in range(occurrence):
            idx = s.find(sub, idx + 1)
            if idx < 0:
                return 0
        return idx + 1
    if position < 0:
        idx = n + position + 1
        for _ in range(occurrence):
            idx = s.rfind(sub, 0, idx - 1 + len(sub)) if idx > 0 else -1
            if idx < 0:
                return 0
        return idx + 1
    return 0


scalar("instr", [STRING, STRING], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring"),
       description="1-based position of substring in str (0 when absent), optionally searching from "
                   "position (negative: backwards from the end) for the n-th occurrence.")(_instr)
scalar("instr", [STRING, STRING, INTEGER], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring", "position"))(_instr)
scalar("instr", [STRING, STRING, INTEGER, INTEGER], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring", "position", "occurrence"))(_instr)


@scalar("replace", [STRING, STRING, STRING], STRING, category=_CAT,
        param_names=("str", "substring", "replacement"),
        description="Replaces every occurrence of substring with replacement (no regular expression).")
def replace(s: str, old: str, new: str) -> str:
    return s.replace(old, new)


# --- LPAD / RPAD -------------------------------------------------------------------------------


def _pad(s, length: int, padding, left: bool):
    """LPad/RPad: pad (cycling `padding`) or truncate to `length`; negative length or empty padding -> null."""
    if length < 0 or not padding:
        return None
    n = len(s)
    if length <= n:
        return s[:length]
    need = length - n
    fill = (padding * (need // len(padding) + 1))[:need]
    return fill + s if left else s + fill


for _t in (STRING, BYTES):
    scalar("lpad", [_t, INTEGER, _t], _t, category=_CAT, param_names=("input", "length", "padding"),
           description="Pads input on the left with padding to length, or truncates it to length.")(
        lambda s, length, padding: _pad(s, length, padding, True))
    scalar("rpad", [_t, INTEGER, _t], _t, category=_CAT, param_names=("input", "length", "padding"),
           description="Pads input on the right with padding to length, or truncates it to length.")(
        lambda s, length, padding: _pad(s, length, padding, False))


# --- CHR, ELT, FIELD -----------------------------------------------------------------------------

_UTF16_CODE = re.compile(r"\\u([+-]?[0-9a-fA-F]+)")


@scalar("chr", [INTEGER], STRING, category=_CAT, param_names=("decimalCode",),
        description="The single-character string of a Unicode code point (decimal), or of a "
                    "'\\\\uXXXX' UTF-16 code; null when invalid.")
def chr_code(code: int) -> str | None:
    if not 0 <= code <= 0x10FFFF:
        return None
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate: Java's UTF-8 encoder writes it as '?'
        return "?"
    return chr(code)


@scalar("chr", [STRING], STRING, category=_CAT, param_names=("utf16Code",))
def chr_utf16(code: str) -> str | None:
    if len(code) < 6:
        return None
    m = _UTF16_CODE.fullmatch(code)
    if not m:
        return None
    return chr_code(int(m.group(1), 16))


@scalar("elt", [INTEGER, STRING], STRING, variadic=True, null_on_null=False, param_names=("n", "args"),
        category=_CAT, description="The n-th (1-based) of the string arguments; null when out of range.")
def elt(n: int | None, *args: str | None) -> str | None:
    if n is None or n < 1 or n > len(args):
        return None
    return args[n - 1]


@scalar("field", [STRING, STRING], INTEGER, variadic=True, null_on_null=False, param_names=("str", "args"),
        category=_CAT, description="The 1-based position of str among the arguments, 0 when absent or null.")
def field(s: str | None, *args: str | None) -> int:
    if s is None:
        return 0
    for i, a in enumerate(args):
        if a == s:
            return i + 1
    return 0


# --- SPLIT, SPLIT_TO_MAP ---------------------------------------------------------------------------


@scalar("split", [STRING, STRING], ArrayType(STRING), category=_CAT, param_names=("string", "delimiter"),
        description="Splits a string on a literal delimiter (an empty delimiter splits into characters); "
                    "empty parts are kept.")
def split(s: str, delimiter: str) -> list[str]:
    if delimiter == "":
        return list(s) if s else [""]
    return s.split(delimiter)


@scalar("split", [BYTES, BYTES], ArrayType(BYTES), category=_CAT, param_names=("bytes", "delimiter"),
        description="Splits BYTES on a delimiter (an empty delimiter splits into single bytes).")
def split_bytes(b: bytes, delimiter: bytes) -> list[bytes]:
    if delimiter == b"":
        return [b[i:i + 1] for i in range(len(b))] if b else [b""]
    return b.split(delimiter)


@scalar("split_to_map", [STRING, STRING, STRING], MapType(STRING, STRING), category=_CAT,
        param_names=("input", "entryDelimiter", "kvDelimiter"),
        description="Splits a string into key-value pairs: entries on entryDelimiter (empty entries "
                    "skipped), keys from values on kvDelimiter (entries without it skipped, later keys win).")
def split_to_map(s: str, entry_delim: str, kv_delim: str) -> dict[str, str] | None:
    if not entry_delim or not kv_delim or entry_delim == kv_delim:
        return None
    out: dict[str, str] = {}
    for entry in s.split(entry_delim):
        if entry and kv_delim in entry:
            parts = entry.split(kv_delim)
            out[parts[0]] = parts[1]
    return out


__all__ = ["concat", "concat_ws", "initcap", "split", "split_to_map", "trim"]
