"""The npm `ksqldb-client` package (Node, HTTP/2) against ksql-server: create, insert, pull, push with
and without LIMIT, terminate, list, describe, and all that after 30 s idle.

Each scenario of node_scenarios.js runs in its own `node` process and prints what it saw as JSON. The
package is installed with npm into a cache folder outside the repository ($KSQL_NODE_CLIENT_CACHE, default
~/.cache/ksql-py/node-clients) the first time; without node or npm these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.server.harness import ServerProcess

PACKAGE = "ksqldb-client"
VERSION = "1.0.5"
SCENARIOS = Path(__file__).with_name("node_scenarios.js")
IDLE_SECONDS = 30
SCENARIO_SECONDS = 60 + IDLE_SECONDS


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "ksql-py" / "node-clients"
    return Path(os.environ.get("KSQL_NODE_CLIENT_CACHE") or default)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The package's node_modules folder, installed with npm when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"node and npm are needed to test the npm {PACKAGE} package (node: {node}, npm: {npm})")
    prefix = cache_dir() / f"{PACKAGE}-{VERSION}"
    installed = prefix / "node_modules" / PACKAGE / "package.json"
    if not installed.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                 f"{PACKAGE}@{VERSION}"], capture_output=True, text=True, timeout=300)
        if result.returncode != 0 or not installed.exists():
            pytest.fail(f"npm install {PACKAGE}@{VERSION} into {prefix} failed:\n{result.stderr[-2000:]}")
    return prefix / "node_modules"


def run_scenario(node_modules: Path, server: ServerProcess, scenario: str) -> dict:
    """Run one scenario in node; what it printed (a failure inside it fails the test with node's error)."""
    name = f"N{uuid.uuid4().hex[:8]}"
    result = subprocess.run(["node", str(SCENARIOS), scenario, str(server.port), name, str(IDLE_SECONDS)],
                            capture_output=True, text=True, timeout=SCENARIO_SECONDS,
                            env={**os.environ, "NODE_PATH": str(node_modules)})
    lines = result.stdout.strip().splitlines()
    output = json.loads(lines[-1]) if lines else {"error": f"no output (exit {result.returncode}): {result.stderr}"}
    assert "error" not in output, output["error"]
    assert result.returncode == 0, result.stderr
    output["name"] = name.upper()
    return output


def test_create_insert_and_pull(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "create_insert_pull")
    assert out["columns"] == ["ID", "N", "TOTAL"]
    assert out["rows"] == [{"ID": 2, "N": 1, "TOTAL": 2.5}]


def test_insert_into(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "insert_into")
    assert out["acks"] == [{"status": "ok", "seq": 0}] * 3
    assert out["push"] == [{"ID": 1, "NAME": "one"}, {"ID": 2, "NAME": "two"}, {"ID": 3, "NAME": "three"}]


def test_push_query_with_limit(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "push_with_limit")
    assert out["columns"] == ["ID", "NAME"]
    assert out["rows"] == [{"ID": 1, "NAME": "one"}, {"ID": 2, "NAME": "two"}, {"ID": 3, "NAME": "three"}]


def test_push_query_without_limit_terminated(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "push_without_limit_terminated")
    assert out["rows"] == [{"ID": 1, "NAME": "one"}, {"ID": 2, "NAME": "two"}, {"ID": 3, "NAME": "three"}]
    assert out["queryId"] and out["closed"] == 200


def test_list_describe_and_terminate(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "list_describe_terminate")
    name = out["name"]
    assert {f"{name}_S", f"{name}_BIG"} <= set(out["streams"])
    assert f"{name.lower()}_s" in out["topics"] and f"{name}_BIG" in out["topics"]
    query_id = next(q["id"] for q in out["queries"] if q["sinks"] == [f"{name}_BIG"])
    assert out["terminated"]["rows"][0]["commandStatus"]["status"] == "SUCCESS"
    assert query_id not in out["queriesAfter"]
    assert out["describe"] == {"name": f"{name}_S", "fields": [["ID", "INTEGER"], ["NAME", "STRING"],
                                                               ["AMOUNT", "DOUBLE"]]}


@pytest.mark.slow
def test_calls_after_30_seconds_idle(node_modules: Path, server: ServerProcess) -> None:
    out = run_scenario(node_modules, server, "after_idle")
    name = out["name"]
    assert f"{name}_S" in out["streams"] and out["describe"] == f"{name}_T"
    assert out["pull"]["rows"] == [{"ID": 3, "N": 1}]
