"""Regular-expression functions: REGEXP_EXTRACT, REGEXP_EXTRACT_ALL, REGEXP_REPLACE, REGEXP_SPLIT_TO_ARRAY.

Patterns are Java patterns (java.util.regex), translated by `java_regex`; matching
continues after empty matches as Java's Matcher does. Note ksqlDB's argument order:
the REGEXP_EXTRACT functions take the pattern first, the others take the string first.
"""

from __future__ import annotations

from ksql.errors import KsqlError
from ksql.functions.builtins.java_regex import compile_java, find_all, replace_all, split
from ksql.functions.registry import scalar
from ksql.types import INTEGER, STRING, ArrayType

_CAT = "REGULAR EXPRESSION"


def _group(m, group: int) -> str | None:
    if group < 0:
        raise KsqlError(f"No group {group}")
    return m.group(group)


@scalar("regexp_extract", [STRING, STRING], STRING, category=_CAT, param_names=("pattern", "input"),
        description="The first substring of input matching the pattern; null when none.")
def regexp_extract(pattern: str, s: str) -> str | None:
    m = compile_java(pattern).search(s)
    return None if m is None else m.group(0)


@scalar("regexp_extract", [STRING, STRING, INTEGER], STRING, category=_CAT,
        param_names=("pattern", "input", "group"),
        description="The given capturing group of the first match of the pattern in input; null when "
                    "there is no match or no such group.")
def regexp_extract_group(pattern: str, s: str, group: int) -> str | None:
    p = compile_java(pattern)
    if group > p.groups:
        return None
    m = p.search(s)
    return None if m is None else _group(m, group)


@scalar("regexp_extract_all", [STRING, STRING], ArrayType(STRING), category=_CAT,
        param_names=("pattern", "input"),
        description="Every substring of input matching the pattern.")
def regexp_extract_all(pattern: str, s: str) -> list[str | None]:
    return [m.group(0) for m in find_all(compile_java(pattern), s)]


@scalar("regexp_extract_all", [STRING, STRING, INTEGER], ArrayType(STRING), category=_CAT,
        param_names=("pattern", "input", "group"),
        description="The given capturing group of every match of the pattern in input; null when there "
                    "is no such group.")
def regexp_extract_all_group(pattern: str, s: str, group: int) -> list[str | None] | None:
    p = compile_java(pattern)
    if group > p.groups:
        return None
    return [_group(m, group) for m in find_all(p, s)]


@scalar("regexp_replace", [STRING, STRING, STRING], STRING, category=_CAT,
        param_names=("input", "regex", "replacement"),
        description="Replaces every match of the regular expression in input; the replacement may refer "
                    "to groups as $1 or ${name}.")
def regexp_replace(s: str, regex: str, replacement: str) -> str:
    return replace_all(compile_java(regex), s, replacement)


@scalar("regexp_split_to_array", [STRING, STRING], ArrayType(STRING), category=_CAT,
        param_names=("string", "regexp"),
        description="Splits a string on every match of a regular expression; empty parts are kept.")
def regexp_split_to_array(s: str, regex: str) -> list[str]:
    if regex == "":  # String.split(""): one element per character
        return list(s) if s else [""]
    return split(compile_java(regex), s, -1)
