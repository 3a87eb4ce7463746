"""ksqlDB's REST query-validation tests against a real `ksql-server` (see rest_conformance.py).

The cases listed in rest_passing.txt must keep passing (a ratchet, like
tests/conformance/passing.txt for the engine). Run everything and refresh the
list with:

    python tests/server/rest_conformance.py -v --passing tests/server/rest_passing.txt
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.harness import SHARED, ServerProcess
from tests.server.rest_conformance import SERVER_PROPERTIES, run_files

REST = SHARED / "conformance" / "rest"
PASSING = Path(__file__).with_name("rest_passing.txt")

pytestmark = pytest.mark.skipif(not REST.is_dir(), reason="../shared/conformance/rest is not present")


def test_listed_rest_cases_pass(tmp_path: Path) -> None:
    passing = {line for line in PASSING.read_text().splitlines() if line.strip()}
    server = ServerProcess(tmp_path / "data", SERVER_PROPERTIES).start()
    try:
        results = run_files(server.url, sorted(REST.glob("*.json")), only=passing)
    finally:
        server.kill()
    ran = {f"{stem}: {o.name}" for stem, outcomes in results.items() for o in outcomes}
    failures = [f"{stem}: {o.name}\n    {o.reason[:500]}" for stem, outcomes in results.items()
                for o in outcomes if not o.passed]
    assert not failures, "REST cases that no longer pass:\n" + "\n".join(failures)
    assert ran == passing, f"listed cases not found: {sorted(passing - ran)}"
