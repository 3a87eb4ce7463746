"""ksqlDB SQL parser: text -> typed AST (ksql.parser.ast).

    parse(script)              -> list[Statement]   (`;`-separated, last `;` optional)
    parse_statement(text)      -> Statement          (exactly one)
    parse_expression(text)     -> Expr
    parse_type(text)           -> SqlType
    split_statements(script)   -> list[str]          (honours quotes and comments)
    substitute_variables(text, variables) -> str     (ksqlDB's ${name} substitution)

Statements and expressions are held to `StatementLimits` (size, nesting depth, IN
list length; ksql.parser.limits): the defaults unless the caller passes its own.

Every mistake in the input raises ksql.errors.ParseError (a KsqlError) with a
ksqlDB-style message, e.g. "line 1:8: Syntax Error\\nmismatched input ...".
"""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

from lark import Lark
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from ksql.errors import KsqlError, ParseError
from ksql.parser import ast
from ksql.parser.builder import AstBuilder, LocatedError, ParseState
from ksql.parser.limits import DEFAULT_LIMITS, StatementLimits, check_text, check_tree
from ksql.types import SqlType

__all__ = [
    "parse",
    "parse_statement",
    "parse_expression",
    "parse_type",
    "split_statements",
    "substitute_variables",
    "StatementLimits",
]

_GRAMMAR = Path(__file__).with_name("ksql.lark")
_lock = threading.Lock()  # one parse at a time: the builder keeps per-parse state
_init_lock = threading.Lock()
_engine: tuple[Lark, AstBuilder] | None = None
_display: dict[str, str] = {}  # terminal name -> how errors show it


def _get_engine() -> tuple[Lark, AstBuilder]:
    global _engine
    if _engine is None:
        with _init_lock:
            if _engine is None:
                _engine = _build()
    return _engine


def _get_parser() -> Lark:
    return _get_engine()[0]


def _build() -> tuple[Lark, AstBuilder]:
    builder = AstBuilder()
    options = dict(
        parser="lalr",
        lexer="contextual",
        start=["stmt_start", "expr_start", "type_start"],
        transformer=builder,
        maybe_placeholders=True,
    )
    grammar = _GRAMMAR.read_text(encoding="utf-8")
    try:
        parser = Lark(grammar, cache=True, **options)
    except Exception:  # an unwritable or half-written cache file: build from scratch
        parser = Lark(grammar, **options)
    for term in parser.terminals:
        if term.pattern.type == "str":
            _display[term.name] = "'" + term.pattern.value.upper() + "'"
        else:
            _display[term.name] = term.name
    _display["$END"] = "<EOF>"
    return parser, builder


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def parse(text: str, limits: StatementLimits = DEFAULT_LIMITS) -> list[ast.Statement]:
    """Parse a script of `;`-terminated statements (the last `;` optional), each held to `limits`.

    Error positions are positions in the whole script.
    """
    text = _check_text(text)
    out = []
    for start, end in _spans(text):
        piece = text[start:end]
        line0, col0 = _line_col(text, start)
        out.append(_parse_statement_text(piece, line0, col0, limits))
    return out


def parse_statement(text: str, limits: StatementLimits = DEFAULT_LIMITS) -> ast.Statement:
    """Parse exactly one statement (a trailing `;` is allowed)."""
    text = _check_text(text)
    spans = _spans(text)
    if not spans:
        raise ParseError("Syntax Error\nEmpty statement", 1, 1)
    start, end = spans[0]
    if len(spans) > 1:
        # Parse the whole text: the grammar refuses the second statement with a located error.
        stmt = _run_limited(text, "stmt_start", 1, 1, limits)
    else:
        line0, col0 = _line_col(text, start)
        stmt = _run_limited(text[start:], "stmt_start", line0, col0, limits)
    return _with_text(stmt, text[start:end])


def parse_expression(text: str, limits: StatementLimits = DEFAULT_LIMITS) -> ast.Expr:
    """Parse one expression, e.g. `a->b[1] + 2`."""
    return _run_limited(_check_text(text), "expr_start", 1, 1, limits)


def parse_type(text: str) -> SqlType:
    """Parse a SQL type, e.g. `ARRAY<STRUCT<A INT, `b` DECIMAL(4, 2)>>`."""
    return _run(_check_text(text), "type_start", 1, 1)


def split_statements(text: str) -> list[str]:
    """Split a script into its statements' texts (stripped, without the `;`).

    `;` inside quotes and comments does not split; leading and trailing comments
    of a statement are not part of its text; empty statements are dropped.
    """
    text = _check_text(text)
    return [text[s:e] for s, e in _spans(text)]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute_variables(text: str, variables: dict[str, str]) -> str:
    """Replace `${name}` by the value of variable `name` (case-insensitive), as ksqlDB does.

    Substitutes in the SQL text and inside single-quoted string literals (where
    quotes in the value are escaped), not inside comments or quoted identifiers.
    An undefined variable is left as written (like ksqlDB's StringSubstitutor), so a
    script can DEFINE a variable before using it; parsing `${name}` then fails with
    a ParseError saying the variable is not defined.
    """
    text = _check_text(text)
    if "${" not in text:
        return text
    lookup = {str(k).upper(): str(v) for k, v in (variables or {}).items()}

    def replace(segment: str, in_string: bool) -> str:
        def one(m: re.Match) -> str:
            value = lookup.get(m.group(1).upper())
            if value is None:
                return m.group(0)
            return value.replace("'", "''") if in_string else value

        return _VAR.sub(one, segment)

    out = []
    for kind, start, end in _segments(text):
        seg = text[start:end]
        if kind in ("code", "string"):
            out.append(replace(seg, kind == "string"))
        else:
            out.append(seg)
    return "".join(out)


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise ParseError(f"Expected SQL text, got {type(text).__name__}")
    return text


def _segments(text: str):
    """Yield (kind, start, end): kind is code | string | quoted | comment | semicolon."""
    i, n = 0, len(text)
    code_start = 0
    while i < n:
        ch = text[i]
        kind = None
        if ch == "'" or ch == '"' or ch == "`":
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            kind = "string" if ch == "'" else "quoted"
        elif ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            end = n if j < 0 else j
            kind = "comment"
        elif ch == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            end = n if j < 0 else j + 2
            kind = "comment"
        elif ch == ";":
            end = i + 1
            kind = "semicolon"
        if kind is None:
            i += 1
            continue
        if code_start < i:
            yield ("code", code_start, i)
        yield (kind, i, end)
        i = code_start = end
    if code_start < n:
        yield ("code", code_start, n)


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each statement's significant text, without its `;`."""
    spans = []
    first = last = None
    for kind, start, end in _segments(text):
        if kind == "semicolon":
            if first is not None:
                spans.append((first, last))
            first = last = None
        elif kind == "comment":
            continue
        else:
            seg = text[start:end]
            stripped = seg.strip()
            if not stripped:
                continue
            s = start + (len(seg) - len(seg.lstrip()))
            e = start + len(seg.rstrip())
            if first is None:
                first = s
            last = e
    if first is not None:
        spans.append((first, last))
    return spans


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


# ---------------------------------------------------------------------------
# Parsing and errors
# ---------------------------------------------------------------------------


def _parse_statement_text(piece: str, line0: int, col0: int, limits: StatementLimits) -> ast.Statement:
    return _with_text(_run_limited(piece, "stmt_start", line0, col0, limits), piece)


def _run_limited(text: str, start: str, line0: int, col0: int, limits: StatementLimits):
    """`_run`, refusing text beyond `limits` before parsing it and trees beyond them after."""
    check_text(text, limits, line0, col0)
    result = _run(text, start, line0, col0)
    check_tree(result, limits)
    return result


def _with_text(stmt: ast.Statement, text: str) -> ast.Statement:
    if isinstance(stmt, ast.Explain) and stmt.statement is not None:
        inner = _EXPLAIN_PREFIX.sub("", text, count=1)
        stmt = dataclasses.replace(stmt, statement=_with_text(stmt.statement, inner))
    return dataclasses.replace(stmt, text=text)


_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN(?:\s|--[^\n]*|/\*.*?\*/)*", re.IGNORECASE | re.DOTALL)


def _run(text: str, start: str, line0: int, col0: int):
    """Parse `text` from rule `start`; positions in errors are shifted so that
    the text's first character is at (line0, col0)."""

    def where(line: int, col: int) -> tuple[int, int]:
        if line == 1:
            return line0, col0 + col - 1
        return line0 + line - 1, col

    parser, builder = _get_engine()
    try:
        with _lock:
            builder.state = ParseState()
            try:
                result = parser.parse(text, start=start)
                pending = builder.state.pending
                if pending:  # a literal out of range that no unary minus brought back
                    node, literal, tok = min(pending.values(), key=lambda p: p[2].start_pos or 0)
                    if isinstance(node, ast.LongLiteral):
                        raise LocatedError(f"Invalid numeric literal: {literal}", tok)
                    raise LocatedError(f"Number overflows DOUBLE: {literal}", tok)
                return result
            finally:
                builder.state = ParseState()
    except UnexpectedInput as e:
        raise _syntax_error(text, e, where) from None
    except LocatedError as e:
        tok = e.token
        if tok is not None and getattr(tok, "line", None) is not None:
            line, col = where(tok.line, tok.column)
        else:
            line, col = None, None
        if e.message.startswith("Column `") and line is not None:
            err = ParseError(f"Line: {line}, Col: {col}: {e.message}")
            err.line, err.column = line, col
            raise err from None
        # ksqlDB builds the AST after parsing: what refuses a parsed statement fails its preparation
        located = f"line {line}:{col}: " if line is not None else ""
        err = ParseError(f"Failed to prepare statement: {located}{e.message}")
        err.line, err.column = line, col
        raise err from None
    except ParseError:
        raise
    except KsqlError as e:
        raise ParseError(str(e)) from None
    except LarkError as e:
        raise ParseError(f"Syntax Error\n{e}") from None
    except RecursionError:
        raise ParseError("Syntax Error\nStatement is too deeply nested") from None
    except Exception as e:  # noqa: BLE001 - never let an internal error escape
        raise ParseError(f"Syntax Error\nFailed to parse: {type(e).__name__}: {e}") from None


_OFFENDING = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z0-9_@]+|'(?:[^']|'')*'?|\S")


def _offending_text(text: str, pos: int) -> str:
    m = _OFFENDING.match(text, pos)
    return m.group(0) if m else "<EOF>"


_RESERVED_CHECK = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*\Z")


def _syntax_error(text: str, e: UnexpectedInput, where) -> ParseError:
    expected: set[str] = set()
    if isinstance(e, UnexpectedToken):
        tok = e.token
        expected = set(e.expected or ())
        if tok.type == "$END":
            line, col = _line_col(text, len(text.rstrip()))
            offending = "<EOF>"
        else:
            line, col = tok.line, tok.column
            offending = str(tok)
    elif isinstance(e, UnexpectedCharacters):
        line, col = e.line, e.column
        offending = _offending_text(text, e.pos_in_stream)
        expected = set(getattr(e, "allowed", None) or ())
    elif isinstance(e, UnexpectedEOF):
        line, col = _line_col(text, len(text.rstrip()))
        offending = "<EOF>"
        expected = set(e.expected or ())
    else:  # pragma: no cover
        line, col = getattr(e, "line", 1), getattr(e, "column", 1)
        offending = "?"
    if not isinstance(line, int) or line < 1:
        line, col = _line_col(text, len(text.rstrip()))
    line, col = where(line, col)
    if "IDENTIFIER" in expected:  # keywords usable as names are shown as IDENTIFIER
        expected = {t for t in expected if not _is_nonreserved_keyword(t)}
    shown = sorted({_display.get(t, t) for t in expected})
    lines = ["Syntax Error", f"Syntax error at or near '{offending}' at line {line}:{col}"]
    var = _VAR.match(offending)
    if var:
        lines.append(f"Variable '{var.group(1)}' is not defined")
        return ParseError("\n".join(lines), line, col)
    if shown:
        lines.append(f"mismatched input '{offending}' expecting {{{', '.join(shown)}}}")
    else:
        lines.append(f"mismatched input '{offending}'")
    if "IDENTIFIER" in expected and _RESERVED_CHECK.match(offending) and _is_reserved(offending):
        lines.append(
            f"'{offending}' is a reserved keyword and it cannot be used as an identifier. "
            f"You can use it as an identifier by escaping it as `{offending}`"
        )
    return ParseError("\n".join(lines), line, col)


_reserved_re: re.Pattern | None = None


def _is_reserved(word: str) -> bool:
    global _reserved_re
    if _reserved_re is None:
        ident = next(t for t in _get_parser().terminals if t.name == "IDENTIFIER")
        _reserved_re = re.compile(ident.pattern.to_regexp() + r"\Z")
    return _reserved_re.match(word) is None


def _is_nonreserved_keyword(terminal: str) -> bool:
    shown = _display.get(terminal, "")
    word = shown[1:-1]
    return shown.startswith("'") and bool(_RESERVED_CHECK.match(word)) and not _is_reserved(word)


def reserved_words() -> frozenset[str]:
    """Keywords of the grammar that cannot be used as unquoted identifiers."""
    words = set()
    for t in _get_parser().terminals:
        if t.pattern.type == "str" and _RESERVED_CHECK.match(t.pattern.value):
            if _is_reserved(t.pattern.value.upper()):
                words.add(t.pattern.value.upper())
    return frozenset(words)


