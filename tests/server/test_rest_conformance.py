"""ksqlDB's REST query-validation tests against a real `ksql-server` (see rest_conformance.py).

The cases listed in rest_passing.txt must keep passing (a ratchet, like
tests/conformance/passing.txt for the engine). Run everything and refresh the
list with:

    python tests/server/rest_conformance.py -v --passing tests/server/rest_passing.txt
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.server.harness import SHARED
from tests.server.rest_conformance import Fleet, run_files

REST = SHARED / "conformance" / "rest"
PASSING = Path(__file__).with_name("rest_passing.txt")

pytestmark = pytest.mark.skipif(not REST.is_dir(), reason="../shared/conformance/rest is not present")


def test_listed_rest_cases_pass(tmp_path: Path) -> None:
    passing = sorted(line for line in PASSING.read_text().splitlines() if line.strip())
    halves = [set(passing[0::2]), set(passing[1::2])]  # two servers side by side: CI has two cores
    fleets = [Fleet(tmp_path / f"fleet{i}") for i in range(2)]
    results: list[dict] = [{}, {}]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = run_files(fleets[i].restart(), sorted(REST.glob("*.json")), only=halves[i],
                                   restart=fleets[i].restart)
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(err)

    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for fleet in fleets:
            fleet.stop()
    if errors:
        raise errors[0]
    outcomes = [(stem, o) for r in results for stem, items in r.items() for o in items]
    ran = {f"{stem}: {o.name}" for stem, o in outcomes}
    failures = [f"{stem}: {o.name}\n    {o.reason[:500]}" for stem, o in outcomes if not o.passed]
    assert not failures, "REST cases that no longer pass:\n" + "\n".join(failures)
    assert ran == set(passing), f"listed cases not found: {sorted(set(passing) - ran)}"
