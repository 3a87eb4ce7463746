"""What one statement may ask of the server: its size, how deeply it nests, how long its IN lists are.

Every later stage (typing, planning, compiling to Python, hashing frozen AST nodes) walks
expressions recursively, so a statement nested thousands of levels deep would end in a
RecursionError or a SyntaxError from the generated code, and a huge one would hold the
parser for seconds. The parser refuses such statements up front with a message naming
the limit and the server property that sets it. The checks themselves never recurse.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ksql.errors import KsqlError, ParseError
from ksql.parser import ast
from ksql.types import SqlType

MAX_BYTES = "ksql.statement.max.bytes"
MAX_DEPTH = "ksql.statement.max.depth"
MAX_IN_LIST = "ksql.statement.max.in.list.size"


@dataclass(frozen=True)
class StatementLimits:
    """The largest statement (UTF-8 bytes), deepest nesting and longest IN list accepted.

    The default depth stays within what the expression compiler turns into Python (whose
    parser allows 200 nested parentheses; an arithmetic level takes up to four)."""

    max_bytes: int = 1_048_576
    max_depth: int = 50
    max_in_list: int = 10_000

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> StatementLimits:
        """The limits set by server properties (defaults for those not set); a bad value is refused."""
        defaults = cls()
        return cls(max_bytes=positive_property(properties, MAX_BYTES, defaults.max_bytes),
                   max_depth=positive_property(properties, MAX_DEPTH, defaults.max_depth),
                   max_in_list=positive_property(properties, MAX_IN_LIST, defaults.max_in_list))


DEFAULT_LIMITS = StatementLimits()
# for statements the server accepted before (its command log): replayed whatever the limits are now
UNLIMITED = StatementLimits(sys.maxsize, sys.maxsize, sys.maxsize)


def positive_property(properties: Mapping[str, Any], name: str, default: int) -> int:
    """The positive integer property `name` (`default` when unset), refused with a clear message if not one."""
    value = properties.get(name)
    if value is None or str(value).strip() == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise KsqlError(f"Invalid value for {name}: '{value}'. It must be a positive integer.") from None
    if number < 1:
        raise KsqlError(f"Invalid value for {name}: '{value}'. It must be a positive integer.")
    return number


def too_deep_to_compile() -> KsqlError:
    """The refusal of a statement within the depth limit that still nests too deeply to plan or compile
    (only when the limit is set above what the server handles)."""
    return KsqlError(f"The statement is too deeply nested to compile: nest its expressions less deeply. Its "
                     f"nesting is within the limit ({MAX_DEPTH}), which is set higher than this server can "
                     "compile.")


@contextmanager
def refusing_deep_nesting() -> Iterator[None]:
    """Planning and compiling recurse over expressions: a statement that exhausts Python's recursion
    (possible only with ksql.statement.max.depth set very high) is refused, not failed with a RecursionError."""
    try:
        yield
    except RecursionError:
        raise too_deep_to_compile() from None


def check_text(text: str, limits: StatementLimits, line0: int = 1, col0: int = 1) -> None:
    """Refuse a statement's text that is too large or whose brackets nest too deeply (before parsing it)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise ParseError(f"The statement is {size} bytes long; the limit is {limits.max_bytes} bytes "
                         f"({MAX_BYTES}).")
    if limits.max_depth == UNLIMITED.max_depth:
        return
    depth = 0
    for match in _BRACKETS.finditer(_code_only(text)):
        if match.group() in "([":
            depth += 1
            if depth > limits.max_depth:
                line = text.count("\n", 0, match.start()) + 1
                col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                if line == 1:
                    col += col0 - 1
                raise ParseError(f"Brackets nest more than {limits.max_depth} levels deep; the limit is "
                                 f"{limits.max_depth} levels ({MAX_DEPTH}).", line0 + line - 1, col)
        else:
            depth = max(depth - 1, 0)


_BRACKETS = re.compile(r"[()\[\]]")
_NOT_CODE = re.compile(r"'[^']*(?:''[^']*)*'?|\"[^\"]*(?:\"\"[^\"]*)*\"?|`[^`]*(?:``[^`]*)*`?"
                       r"|--[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)


def _code_only(text: str) -> str:
    """`text` with strings, quoted identifiers and comments blanked (same length, so positions hold)."""
    return _NOT_CODE.sub(lambda m: " " * len(m.group()), text)


def check_tree(node: Any, limits: StatementLimits) -> None:
    """Refuse a parsed statement or expression whose expressions (or types) nest deeper than the limit
    or that has an IN list longer than the limit. A CASE nests each WHEN in the one before (as it is
    evaluated), so each WHEN counts as a level."""
    stack: list[tuple[Any, int, bool]] = [(node, 0, False)]
    while stack:
        current, depth, in_case = stack.pop()
        if isinstance(current, (ast.Expr, SqlType)):
            depth += 1
            if depth > limits.max_depth:
                what = "Types" if isinstance(current, SqlType) else "Expressions"
                how = " (each WHEN of a CASE counts as a level)" if in_case else ""
                raise ParseError(f"{what} nest more than {limits.max_depth} levels deep{how}; the limit is "
                                 f"{limits.max_depth} levels ({MAX_DEPTH}).")
        if isinstance(current, ast.InList) and len(current.items) > limits.max_in_list:
            raise ParseError(f"An IN list has {len(current.items)} values; the limit is {limits.max_in_list} "
                             f"values ({MAX_IN_LIST}).")
        if isinstance(current, (ast.SearchedCase, ast.SimpleCase)):
            if isinstance(current, ast.SimpleCase):
                stack.append((current.operand, depth, in_case))
            for i, when in enumerate(current.whens):
                stack.append((when.condition, depth + i, in_case or i > 0))
                stack.append((when.result, depth + i, in_case or i > 0))
            if current.default is not None:
                stack.append((current.default, depth + len(current.whens), in_case or bool(current.whens)))
            continue
        stack.extend((child, depth, in_case) for child in _children(current))


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, (list, tuple)):
        yield from (item for item in node if _is_node(item))
    elif isinstance(node, dict):
        yield from (value for value in node.values() if _is_node(value))
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if _is_node(value):
                yield value


def _is_node(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict)) or (dataclasses.is_dataclass(value) and not isinstance(value, type))
