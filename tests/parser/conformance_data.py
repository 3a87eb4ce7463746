"""Loading the statements of the shared ksqlDB conformance files (qtt/ and rest/)."""

from __future__ import annotations

import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def strip_comments(text: str) -> str:
    """Drop // and /* */ comments that stand outside JSON strings (as qtt.py does)."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_statements():
    """(file, test name, statement, expected error or None) for every statement."""
    out = []
    for sub in ("qtt", "rest"):
        for path in sorted((SHARED / sub).glob("*.json")):
            data = json.loads(strip_comments(path.read_text(encoding="utf-8")))
            for test in data.get("tests", []):
                error = test.get("expectedException") or test.get("expectedError")
                fmt = (test.get("format") or ["JSON"])[0]
                for stmt in test.get("statements", []):
                    out.append((path.name, test.get("name", "?"), stmt.replace("{FORMAT}", fmt), error))
    return out
