"""Errors a user sees. Every refusal of bad input is a KsqlError with a message
that says what is wrong and where; anything else escaping the engine is a bug."""

from __future__ import annotations


class KsqlError(Exception):
    """A statement, record or request the engine refuses, with a clear message."""


class ParseError(KsqlError):
    """A syntax error; `line` and `column` are 1-based positions in the statement."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f"line {line}:{column}: " if line is not None else ""
        super().__init__(where + message)


class SerdeError(KsqlError):
    """A record's bytes could not be (de)serialized in the declared format."""


class StatementError(KsqlError):
    """The engine refused a well-formed statement (unknown source, type mismatch, ...)."""
