"""'Did you mean' for a misspelt keyword, from the server's syntax error.

The server names the token it could not use and the keywords it expected there
(`mismatched input 'SELEC' expecting {'ALTER', ..., 'SELECT', ...}`), as
ksqlDB's parser does; the closest expected keyword, when close enough, is the
suggestion the CLI prints under the error.
"""

from __future__ import annotations

import difflib
import re

_MISMATCH = re.compile(r"(?:mismatched|extraneous) input '([^']*)' expecting (\{[^}]*\}|'[^']*')")
_KEYWORD = re.compile(r"'([A-Za-z_]+)'")
SIMILARITY = 0.7  # difflib's ratio: STRAEMS~STREAMS and FORM~FROM pass, unrelated words do not


def did_you_mean(message: str) -> str | None:
    """The expected keyword closest to the offending token of a syntax error message, or None."""
    m = _MISMATCH.search(message)
    if m is None:
        return None
    token = m.group(1).upper()
    expected = _KEYWORD.findall(m.group(2))
    if not token.isidentifier() or token in expected:
        return None
    matches = difflib.get_close_matches(token, expected, n=1, cutoff=SIMILARITY)
    return matches[0] if matches else None
