"""Fixtures shared by the engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ksql.testing import TestDriver


@pytest.fixture
def driver() -> Iterator[TestDriver]:
    """An engine on an in-memory log with nothing declared yet (modules that need sources override it)."""
    d = TestDriver()
    yield d
    d.close()
