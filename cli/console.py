"""Where the CLI writes: stdout, errors in red and warnings in yellow when it is a terminal, and a
copy of everything in plain text to the spool file while `spool FILE` is on."""

from __future__ import annotations

import os
import re
import shutil
import sys
from typing import TextIO

RED = "\x1b[31m"
YELLOW = "\x1b[33m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Console:
    """Line output, flushed at once (rows of a push query must show as they arrive)."""

    def __init__(self, out: TextIO | None = None, color: bool | None = None):
        self.out = out or sys.stdout
        if color is None:
            color = self.out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.color = color
        self.spool: TextIO | None = None

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()
        self.to_spool(text)

    def to_spool(self, text: str) -> None:
        """A line for the spool file only (the REPL spools what was typed), without colours."""
        if self.spool is not None:
            self.spool.write(_ESCAPES.sub("", text) + "\n")
            self.spool.flush()

    def lines(self, lines: list[str]) -> None:
        if lines:
            self.print("\n".join(lines))

    def _styled(self, style: str, text: str) -> str:
        if not self.color:
            return text
        return "\n".join(f"{style}{line}{RESET}" for line in text.split("\n"))

    def error(self, text: str) -> None:
        self.print(self._styled(RED, text))

    def warning(self, text: str) -> None:
        self.print(self._styled(YELLOW, text))

    def bold(self, text: str) -> str:
        return self._styled(BOLD, text)

    def width(self) -> int:
        return max(40, shutil.get_terminal_size((100, 24)).columns)
