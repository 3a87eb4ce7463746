"""String and bytes functions, with Java's String semantics where they differ from Python's."""

from __future__ import annotations

from ksql.functions.registry import scalar
from ksql.types import BYTES, INTEGER, STRING

_CAT = "STRING"
_JAVA_WS = "".join(chr(i) for i in range(33))  # String.trim() strips every char <= ' '


def _utf16_len(s: str) -> int:
    n = len(s)
    if s.isascii():
        return n
    return n + sum(1 for c in s if ord(c) > 0xFFFF)


@scalar("CONCAT", [STRING], STRING, variadic=True, null_on_null=False, param_names=("inputs",),
        category=_CAT, description="Concatenates the arguments; null arguments are skipped.")
def concat(*args):
    return "".join(a for a in args if a is not None)


@scalar("CONCAT", [BYTES], BYTES, variadic=True, null_on_null=False, param_names=("inputs",), category=_CAT)
def concat_bytes(*args):
    return b"".join(a for a in args if a is not None)


@scalar("CONCAT_WS", [STRING, STRING], STRING, variadic=True, null_on_null=False,
        param_names=("separator", "inputs"), category=_CAT,
        description="Concatenates the arguments with a separator; null arguments are skipped.")
def concat_ws(sep, *args):
    if sep is None:
        return None
    return sep.join(a for a in args if a is not None)


@scalar("CONCAT_WS", [BYTES, BYTES], BYTES, variadic=True, null_on_null=False,
        param_names=("separator", "inputs"), category=_CAT)
def concat_ws_bytes(sep, *args):
    if sep is None:
        return None
    return sep.join(a for a in args if a is not None)


@scalar("LEN", [STRING], INTEGER, category=_CAT, param_names=("input",),
        description="The length of a string (UTF-16 code units) or of a BYTES value.")
def len_string(s):
    return _utf16_len(s)


@scalar("LEN", [BYTES], INTEGER, category=_CAT, param_names=("input",))
def len_bytes(b):
    return len(b)


@scalar("UCASE", [STRING], STRING, category=_CAT, description="Upper-cases a string.")
def ucase(s):
    return s.upper()


@scalar("LCASE", [STRING], STRING, category=_CAT, description="Lower-cases a string.")
def lcase(s):
    return s.lower()


@scalar("TRIM", [STRING], STRING, category=_CAT, description="Removes leading and trailing whitespace.")
def trim(s):
    return s.strip(_JAVA_WS)


def _sub_start(n: int, pos: int) -> int:
    if pos >= 0:
        return min(max(pos - 1, 0), n)
    return max(n + pos, 0)


def _substring(s, pos):
    return s[_sub_start(len(s), pos):]


def _substring_len(s, pos, length):
    start = _sub_start(len(s), pos)
    end = max(min(start + length, len(s)), start)
    return s[start:end]


for _t in (STRING, BYTES):
    scalar("SUBSTRING", [_t, INTEGER], _t, category=_CAT, param_names=("str", "pos"),
           description="The part of a string from 1-based position pos (negative counts from the end), "
                       "optionally limited to length characters.")(_substring)
    scalar("SUBSTRING", [_t, INTEGER, INTEGER], _t, category=_CAT,
           param_names=("str", "pos", "length"))(_substring_len)


def _instr(s: str, sub: str, position: int = 1, occurrence: int = 1) -> int:
    """1-based index of the occurrence-th `sub` searching from `position` (negative: backwards)."""
    if s is None or sub is None:
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


scalar("INSTR", [STRING, STRING], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring"),
       description="1-based position of substring in str, 0 when absent.")(_instr)
scalar("INSTR", [STRING, STRING, INTEGER], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring", "position"))(_instr)
scalar("INSTR", [STRING, STRING, INTEGER, INTEGER], INTEGER, category=_CAT, null_on_null=False,
       param_names=("str", "substring", "position", "occurrence"))(_instr)


@scalar("REPLACE", [STRING, STRING, STRING], STRING, category=_CAT, param_names=("str", "substring", "replacement"),
        description="Replaces every occurrence of substring.")
def replace(s, old, new):
    return s.replace(old, new)


def _pad(s, length, padding, left: bool):
    if length < 0 or not padding:
        return None
    n = len(s)
    if length <= n:
        return s[:length]
    need = length - n
    fill = (padding * (need // len(padding) + 1))[:need]
    return fill + s if left else s + fill


@scalar("LPAD", [STRING, INTEGER, STRING], STRING, category=_CAT, param_names=("input", "length", "padding"),
        description="Pads input on the left to length (or truncates it).")
def lpad(s, length, padding):
    return _pad(s, length, padding, True)


@scalar("RPAD", [STRING, INTEGER, STRING], STRING, category=_CAT, param_names=("input", "length", "padding"),
        description="Pads input on the right to length (or truncates it).")
def rpad(s, length, padding):
    return _pad(s, length, padding, False)
