"""`ksql -e`, `ksql -f`, piped input, --define and --output against a real server (no terminal)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.cli.helpers import REPO, cli_command, cli_env


def ksql(server, tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), server.url, *args], cwd=REPO, env=cli_env(tmp_path), input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_script_with_f_and_define(server, tmp_path):
    script = tmp_path / "setup.sql"
    script.write_text(
        "-- a stream, two rows, queries\n"
        "CREATE STREAM ${name} (id INT KEY, v VARCHAR)\n"
        "  WITH (kafka_topic='${name}', value_format='JSON', partitions=1);\n"
        "INSERT INTO ${name} (id, v) VALUES (1, 'one'); INSERT INTO ${name} (id, v) VALUES (2, 'two');\n"
        "SET 'auto.offset.reset' = 'earliest';\n"
        "SELECT v FROM ${name} EMIT CHANGES LIMIT 2;\n"
        "SELECT * FROM ${name} WHERE id = 2\n")  # the last `;` may be left out
    done = ksql(server, tmp_path, "-f", str(script), "--define", "name=scripted")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Stream created" in out
    assert "|one " in out and "|two " in out and "Limit Reached" in out
    assert "|ID|V  |" in out and "|2 |two|" in out
    assert "Traceback" not in done.stderr


def test_failing_script_stops_with_the_position(server, tmp_path):
    script = tmp_path / "broken.sql"
    script.write_text("SHOW STREAMS;\n\nSELECT *\n  FROM nowhere WHER x = 1;\nSHOW TABLES;\n")
    done = ksql(server, tmp_path, "-f", str(script))
    assert done.returncode == 1
    assert "Stream Name" in done.stdout and "Table Name" not in done.stdout
    # the server's "line 2:C" within the statement, as a position in the file, with a caret under it
    at = re.search(rf"At {re.escape(str(script))}:4:(\d+):\n    FROM nowhere WHER x = 1;\n( *)\^", done.stdout)
    assert at is not None, done.stdout
    assert len(at.group(2)) == int(at.group(1)) + 1


def test_execute_run_script_and_json_output(server, tmp_path):
    inner = tmp_path / "inner.sql"
    inner.write_text("CREATE STREAM json_out (id INT KEY, v VARCHAR) "
                     "WITH (kafka_topic='json_out', value_format='JSON', partitions=1);\n"
                     "INSERT INTO json_out (id, v) VALUES (5, 'five');\n")
    done = ksql(server, tmp_path, "--output", "json", "-e",
                f"RUN SCRIPT '{inner}'; SELECT id, v FROM json_out WHERE id = 5;")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().split("\n")
    rows = [json.loads(line) for line in lines if line.startswith('{"row"')]
    assert rows == [{"row": {"columns": [5, "five"]}}]
    created = json.loads("\n".join(lines[:lines.index("]") + 1]))
    assert created[0]["commandStatus"]["message"] == "Stream created"


def test_piped_input_and_errors(server, tmp_path):
    done = ksql(server, tmp_path, stdin="SHOW STREAMS;\nDROP STREAM never_created;\nSHOW TABLES;\n")
    assert done.returncode == 1
    assert "Stream Name" in done.stdout and "NEVER_CREATED" in done.stdout and "Table Name" not in done.stdout
    assert ksql(server, tmp_path, stdin="SHOW STREAMS; exit\nSHOW TABLES;").returncode == 0
    bad = ksql(server, tmp_path, "-f", str(tmp_path / "missing.sql"))
    assert bad.returncode == 1 and "Cannot read the script" in bad.stdout


def test_unreachable_server_exits_non_zero(tmp_path):
    done = subprocess.run([*cli_command(), "http://127.0.0.1:9", "-e", "SHOW STREAMS;"], cwd=REPO,
                          env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Could not connect to the server at http://127.0.0.1:9" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
