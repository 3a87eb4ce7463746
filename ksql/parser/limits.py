"""What one statement may ask of the server: its size, how deeply it nests, how long its IN lists are.

Every later stage (typing, planning, compiling to Python, hashing frozen AST nodes) walks
expressions recursively, so a statement nested thousands of levels deep would end in a
RecursionError, and a huge one would hold the parser for seconds. The parser refuses such statements up front with a message naming
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

    The default depth leaves a wide margin below what planning and compiling handle: measured,
    about 1,200 levels of the deepest-compiling shapes (CASE in CASE, DECIMAL arithmetic, AND
    in OR), 1,500 of nested function calls or NOTs and 2,000 of nested negations or arithmetic
    (the compiler splits deeply nested code into functions; planning recurses a few frames per
    level within PLANNING_RECURSION_LIMIT)."""

    max_bytes: int = 1_048_576
    max_depth: int = 200
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
    """The refusal of a statement within the limits that still nests or chains too deeply to plan or
    compile (a chain of thousands of terms, or nesting with ksql.statement.max.depth set very high)."""
    return KsqlError("The statement is too deeply nested to compile: nest its expressions less deeply "
                     "(this server compiles about 1,000 levels, whatever the limit "
                     f"{MAX_DEPTH} allows) or split chains of more than about 1,500 AND, OR or "
                     "arithmetic terms.")


# Planning walks expressions recursively, a few frames per level, and a chain of 1,000 ORs is a
# tree 1,000 levels deep however flat its code is: room for chains of a few thousand terms. Kept
# well below where recursion through C (hashing nested AST nodes) would overflow a thread's 8 MiB
# stack (about 20,000 levels).
PLANNING_RECURSION_LIMIT = 6_000


@contextmanager
def refusing_deep_nesting() -> Iterator[None]:
    """Planning and compiling recurse over expressions: a statement that exhausts Python's recursion
    (a chain of many thousand terms, or ksql.statement.max.depth set very high) is refused, not failed
    with a RecursionError."""
    if sys.getrecursionlimit() < PLANNING_RECURSION_LIMIT:  # raised once for the process, never lowered
        sys.setrecursionlimit(PLANNING_RECURSION_LIMIT)
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
    or that has an IN list longer than the limit. Only real nesting counts: the WHENs of a CASE sit
    side by side, and so do the terms of a chain of one operator (`a OR b OR c`, `a + b - c`,
    `a * b * c`), which the compiler turns into flat code."""
    stack: list[tuple[Any, int, Any]] = [(node, 0, None)]
    while stack:
        current, depth, chain = stack.pop()
        link = _chain_link(current)
        if isinstance(current, (ast.Expr, SqlType)):
            if link is None or link != chain:
                depth += 1
            if depth > limits.max_depth:
                what = "Types" if isinstance(current, SqlType) else "Expressions"
                raise ParseError(f"{what} nest more than {limits.max_depth} levels deep; the limit is "
                                 f"{limits.max_depth} levels ({MAX_DEPTH}).")
        if isinstance(current, ast.InList) and len(current.items) > limits.max_in_list:
            raise ParseError(f"An IN list has {len(current.items)} values; the limit is {limits.max_in_list} "
                             f"values ({MAX_IN_LIST}).")
        for child in _children(current):
            # arithmetic chains run down the left operand only: `a + (b + c)` nests
            on_chain = not isinstance(current, ast.Arithmetic) or child is current.left
            stack.append((child, depth, link if on_chain else None))


def _chain_link(node: Any) -> Any:
    """What makes `node` one more term of its parent's flat chain, if it is an operator that chains:
    AND and OR chain however they are grouped, arithmetic on the left of its own operator group."""
    if isinstance(node, (ast.And, ast.Or)):
        return type(node)
    if isinstance(node, ast.Arithmetic) and node.op in _CHAINING_ARITHMETIC:
        return _CHAINING_ARITHMETIC[node.op]
    return None


_CHAINING_ARITHMETIC = {"+": "additive", "-": "additive", "*": "multiplicative"}


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
