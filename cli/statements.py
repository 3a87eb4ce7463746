"""Splitting typed text into statements and telling which ones the CLI handles itself.

The CLI never parses SQL (the server does); it only needs to know where each
statement ends (a `;` outside strings, quoted identifiers and comments), whether
the text typed so far is complete, and which statements are its own business:
SET/UNSET (session properties), DEFINE/UNDEFINE/SHOW VARIABLES (session
variables), RUN SCRIPT, and its commands (`exit`, `help`, `output`, `spool` ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLI_COMMANDS = ("exit", "quit", "help", "output", "version", "clear", "history", "server", "spool",
                "request-pipelining")

QUERY = "query"          # SELECT: POST /query, rows streamed
PRINT = "print"          # PRINT topic: POST /query, lines streamed
SET = "set"
UNSET = "unset"
DEFINE = "define"
UNDEFINE = "undefine"
SHOW_VARIABLES = "show_variables"
RUN_SCRIPT = "run_script"
COMMAND = "command"      # one of CLI_COMMANDS
SERVER = "server"        # anything else: POST /ksql


@dataclass(frozen=True)
class Statement:
    """One statement: its text (comments kept, as typed) and where it starts in its source (1-based)."""

    text: str
    line: int
    column: int


class LocalSyntaxError(Exception):
    """A statement the CLI handles itself is malformed."""


def _scan(text: str) -> tuple[list[tuple[int, int]], int | None, list[tuple[int, int]]]:
    """(statement spans ending at `;`, start of the unterminated rest or None, comment spans)."""
    spans: list[tuple[int, int]] = []
    comments: list[tuple[int, int]] = []
    start: int | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            if start is None:
                start = i
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((i, end))
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            comments.append((i, end))
            i = end
            continue
        if ch == ";":
            if start is not None:
                spans.append((start, i + 1))
            start = None
        elif start is None and not ch.isspace():
            start = i
        i += 1
    return spans, start, comments


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def split(text: str) -> tuple[list[Statement], str]:
    """The `;`-terminated statements of `text`, and the unterminated rest (stripped, may be '')."""
    spans, rest, _ = _scan(text)
    statements = [Statement(text[a:b], *_position(text, a)) for a, b in spans]
    return statements, ("" if rest is None else text[rest:].strip())


def split_all(text: str) -> list[Statement]:
    """Every statement of a script; a last statement without `;` counts too."""
    spans, rest, _ = _scan(text)
    statements = [Statement(text[a:b], *_position(text, a)) for a, b in spans]
    if rest is not None:
        statements.append(Statement(text[rest:].rstrip(), *_position(text, rest)))
    return statements


def is_complete(text: str) -> bool:
    """Whether Enter should run what was typed: nothing, a CLI command, or statements ending with `;`."""
    statements, rest = split(text)
    if rest:
        return kind_of(rest) == COMMAND
    return True


def strip_comments(text: str) -> str:
    """The statement without its comments (each replaced by a space), strings untouched."""
    _, _, comments = _scan(text)
    out, last = [], 0
    for a, b in comments:
        out.append(text[last:a])
        out.append(" ")
        last = b
    out.append(text[last:])
    return "".join(out).strip()


def _words(text: str, count: int) -> list[str]:
    return [w.upper() for w in re.findall(r"[A-Za-z_]+", strip_comments(text))[:count]]


def kind_of(text: str) -> str:
    """Which of QUERY, PRINT, SET, ..., SERVER a statement is, from its first words."""
    words = _words(text, 2)
    if not words:
        return SERVER
    first = words[0]
    if strip_comments(text).split(maxsplit=1)[0].rstrip(";").lower() in CLI_COMMANDS:
        return COMMAND
    second = words[1] if len(words) > 1 else ""
    if first == "SELECT":
        return QUERY
    if first == "PRINT":
        return PRINT
    if first in ("SET", "UNSET", "DEFINE", "UNDEFINE"):
        return first.lower()
    if first in ("SHOW", "LIST") and second == "VARIABLES":
        return SHOW_VARIABLES
    if first == "RUN" and second == "SCRIPT":
        return RUN_SCRIPT
    return SERVER


# --- the statements the CLI runs itself -------------------------------------------------------------

_STRING = r"'((?:[^']|'')*)'"
_IDENT = r"(`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_@]*)"


def _body(text: str) -> str:
    return strip_comments(text).rstrip(";").strip()


def _unquote(literal: str) -> str:
    return literal.replace("''", "'")


def identifier(token: str) -> str:
    """A variable name as ksqlDB resolves identifiers: upper-cased unless back-quoted."""
    if token.startswith("`"):
        return token[1:-1].replace("``", "`")
    return token.upper()


def parse_set(text: str) -> tuple[str, str]:
    m = re.fullmatch(rf"SET\s+{_STRING}\s*=\s*{_STRING}", _body(text), re.I | re.S)
    if m is None:
        raise LocalSyntaxError("Syntax error in SET: expected SET 'property' = 'value';")
    return _unquote(m.group(1)), _unquote(m.group(2))


def parse_unset(text: str) -> str:
    m = re.fullmatch(rf"UNSET\s+{_STRING}", _body(text), re.I | re.S)
    if m is None:
        raise LocalSyntaxError("Syntax error in UNSET: expected UNSET 'property';")
    return _unquote(m.group(1))


def parse_define(text: str) -> tuple[str, str]:
    m = re.fullmatch(rf"DEFINE\s+{_IDENT}\s*=\s*{_STRING}", _body(text), re.I | re.S)
    if m is None:
        raise LocalSyntaxError("Syntax error in DEFINE: expected DEFINE name = 'value';")
    return identifier(m.group(1)), _unquote(m.group(2))


def parse_undefine(text: str) -> str:
    m = re.fullmatch(rf"UNDEFINE\s+{_IDENT}", _body(text), re.I | re.S)
    if m is None:
        raise LocalSyntaxError("Syntax error in UNDEFINE: expected UNDEFINE name;")
    return identifier(m.group(1))


def parse_run_script(text: str) -> str:
    m = re.fullmatch(rf"RUN\s+SCRIPT\s+{_STRING}", _body(text), re.I | re.S)
    if m is None:
        raise LocalSyntaxError("Syntax error in RUN SCRIPT: expected RUN SCRIPT 'file.sql';")
    return _unquote(m.group(1))


def parse_command(text: str) -> tuple[str, list[str]]:
    """A CLI command's name (lower case) and arguments; a trailing `;` is allowed."""
    words = _body(text).split()
    return words[0].lower(), words[1:]


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, variables: dict[str, str]) -> str:
    """`${name}` replaced by the session variable (names case-insensitive), for statements run locally."""
    lookup = {k.upper(): v for k, v in variables.items()}
    return _VARIABLE.sub(lambda m: lookup.get(m.group(1).upper(), m.group(0)), text)


_IS_DDL = re.compile(r"(CREATE|DROP|ALTER|TERMINATE|RUN|PAUSE|RESUME)\b", re.I)


def changes_names(text: str) -> bool:
    """Whether the statement may add or remove streams, tables, queries or topics (completions go stale)."""
    return _IS_DDL.match(strip_comments(text)) is not None


_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`")


def is_push_query(text: str) -> bool:
    """A SELECT with EMIT CHANGES / EMIT FINAL: its rows keep coming until LIMIT or Ctrl-C."""
    code = _QUOTED.sub("''", strip_comments(text))
    return re.search(r"\bEMIT\s+(CHANGES|FINAL)\b", code, re.I) is not None
