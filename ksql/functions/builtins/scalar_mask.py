"""Masking functions: MASK, MASK_KEEP_LEFT, MASK_KEEP_RIGHT, MASK_LEFT, MASK_RIGHT.

As ksqlDB's Masker: upper-case letters become 'X', lower-case 'x', digits 'n' and every
other character '-', unless the caller gives its own mask characters (the first
character of each argument); a null mask argument leaves that class of characters
unmasked. The partial variants keep or mask the first/last n characters.
"""

from __future__ import annotations

from collections.abc import Callable

from ksql.errors import KsqlError
from ksql.functions.registry import scalar
from ksql.types import INTEGER, STRING

_CAT = "STRING"
_DEFAULTS = ("X", "x", "n", "-")


def _mask_char(m: str | None) -> str | None:
    if m is None:
        return None
    if m == "":  # String.codePointAt(0) of an empty mask
        raise KsqlError("Mask character must not be empty")
    return m[0]


def _masker(upper: str | None, lower: str | None, digit: str | None, other: str | None) -> Callable[[str], str]:
    masks = (_mask_char(upper), _mask_char(lower), _mask_char(digit), _mask_char(other))

    def mask(s: str) -> str:
        out = []
        for c in s:
            if c.isupper():
                m = masks[0]
            elif c.islower():
                m = masks[1]
            elif c.isdecimal():
                m = masks[2]
            else:
                m = masks[3]
            out.append(c if m is None else m)
        return "".join(out)

    return mask


def _check_count(name: str, n: int | None, what: str) -> int:
    if n is None:  # Java's int parameter cannot take a null
        raise KsqlError(f"function {name} requires a number of characters {what}")
    if n < 0:
        raise KsqlError(f"function {name} requires a non-negative number of characters {what}")
    return n


@scalar("mask", [STRING], STRING, null_on_null=False, category=_CAT, param_names=("input",),
        description="Masks every character: upper-case 'X', lower-case 'x', digits 'n', others '-'.")
def mask(s: str | None) -> str | None:
    return None if s is None else _masker(*_DEFAULTS)(s)


@scalar("mask", [STRING, STRING, STRING, STRING, STRING], STRING, null_on_null=False, category=_CAT,
        param_names=("input", "upper", "lower", "digit", "other"),
        description="Masks every character with the given mask characters (null: leave that class unmasked).")
def mask_with(s: str | None, upper: str | None, lower: str | None, digit: str | None,
              other: str | None) -> str | None:
    masker = _masker(upper, lower, digit, other)
    return None if s is None else masker(s)


def _declare_partial(name: str, what: str, split: Callable[[str, int], tuple[str, str, str]]) -> None:
    """MASK_<name>(input, n [, upper, lower, digit, other]); `split` gives (keep, masked, keep) parts."""

    def apply(s: str | None, n: int | None, masker: Callable[[str], str]) -> str | None:
        count = _check_count(name, n, what)
        if s is None:
            return None
        head, middle, tail = split(s, count)
        return head + masker(middle) + tail

    def default(s: str | None, n: int | None) -> str | None:
        return apply(s, n, _masker(*_DEFAULTS))

    def custom(s: str | None, n: int | None, upper: str | None, lower: str | None, digit: str | None,
               other: str | None) -> str | None:
        return apply(s, n, _masker(upper, lower, digit, other))

    desc = {
        "mask_keep_left": "Masks all but the first n characters.",
        "mask_keep_right": "Masks all but the last n characters.",
        "mask_left": "Masks the first n characters.",
        "mask_right": "Masks the last n characters.",
    }[name]
    scalar(name, [STRING, INTEGER], STRING, null_on_null=False, category=_CAT, param_names=("input", "numChars"),
           description=desc + " Default masks: upper-case 'X', lower-case 'x', digits 'n', others '-'.")(default)
    scalar(name, [STRING, INTEGER, STRING, STRING, STRING, STRING], STRING, null_on_null=False, category=_CAT,
           param_names=("input", "numChars", "upper", "lower", "digit", "other"),
           description=desc + " With the given mask characters (null: leave that class unmasked).")(custom)


_declare_partial("mask_keep_left", "not to mask", lambda s, n: (s[:n], s[n:], ""))
_declare_partial("mask_keep_right", "not to mask",
                 lambda s, n: ("", s[:max(len(s) - n, 0)], s[max(len(s) - n, 0):]))
_declare_partial("mask_left", "to mask", lambda s, n: ("", s[:n], s[n:]))
_declare_partial("mask_right", "to mask", lambda s, n: (s[:max(len(s) - n, 0)], s[max(len(s) - n, 0):], ""))
