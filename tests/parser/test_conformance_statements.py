"""Every statement of ksqlDB's conformance files parses or raises ParseError, never anything else;
statements of tests that expect no error (nearly) all parse."""

from __future__ import annotations

import json
import re

import pytest

from ksql.errors import ParseError
from ksql.parser import parse

from .conformance_data import SHARED, load_statements

# Positive tests whose statements may legitimately fail to parse: none.
MAX_POSITIVE_FAILURES = 0


@pytest.fixture(scope="module")
def statements():
    if not (SHARED / "qtt").is_dir():
        pytest.skip("shared conformance files not present")
    return load_statements()


def _expects_parse_error(error) -> bool:
    if not error:
        return False
    text = json.dumps(error)
    return bool(re.search(r"ParseFailed|Syntax Error|Syntax error|mismatched input|extraneous input", text))


def test_every_statement_parses_or_raises_parse_error(statements):
    parsed = rejected = 0
    for name, test, stmt, _error in statements:
        try:
            parse(stmt)
            parsed += 1
        except ParseError:
            rejected += 1
        except Exception as e:  # pragma: no cover - reported as failure
            pytest.fail(f"{name}: {test}: {stmt!r} raised {type(e).__name__}: {e}")
    print(f"\nconformance statements: {parsed} parsed, {rejected} rejected")


def test_positive_statements_parse(statements):
    failures = []
    for name, test, stmt, error in statements:
        if error:
            continue
        try:
            parse(stmt)
        except ParseError as e:
            failures.append(f"{name}: {test}: {stmt}\n    {e}")
    print(f"\npositive statements failing to parse: {len(failures)}")
    assert len(failures) <= MAX_POSITIVE_FAILURES, "\n".join(failures[:50])


def test_syntax_error_tests_are_refused(statements):
    """The last statement of a test expecting a ksqlDB parse failure does not parse."""
    by_test: dict[tuple[str, str], list] = {}
    for name, test, stmt, error in statements:
        by_test.setdefault((name, test), []).append((stmt, error))
    missed = []
    for (name, test), items in by_test.items():
        error = items[0][1]
        if not _expects_parse_error(error):
            continue
        refused = False
        for stmt, _ in items:
            try:
                parse(stmt)
            except ParseError:
                refused = True
        if not refused:
            missed.append(f"{name}: {test}: {error}")
    print(f"\nparse-failure tests not refused by the parser: {len(missed)}")
    for m in missed:
        print("   ", m)
