"""The README's quick start, typed into the CLI as written, against a real server: the push query shows
the row inserted before it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.helpers import REPO, plain

README = REPO / "README.md"


def quick_start_lines() -> list[str]:
    """The `ksql> ` lines of the README's first code block that uses the CLI."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    block = next(b for b in blocks if "ksql> " in b)
    return [line.removeprefix("ksql> ") for line in block.splitlines() if line.startswith("ksql> ")]


def test_the_quick_start_push_query_shows_the_inserted_row(repl, tmp_path: Path):
    lines = quick_start_lines()
    assert lines[-1].startswith("SELECT") and "EMIT CHANGES" in lines[-1]
    r = repl()
    for line in lines[:-1]:
        out = r.run(line)
        assert "rror" not in out, (line, out)
    r.line(lines[-1])
    shown = plain(r.expect(r"\|/home\s*\|"))  # the row, before Ctrl-C (times out when it is not shown)
    assert "|USER_ID" in shown and "|alice" in shown
    r.child.sendintr()
    assert "Query terminated" in plain(r.prompt())
