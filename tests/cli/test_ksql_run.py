"""`ksql-run FILE`: results printed as the CLI prints them, on a data directory a server can then open."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import REPO, Server

SCRIPT = """
SET 'auto.offset.reset'='earliest';
CREATE STREAM visits (user_id STRING KEY, page STRING, ms INT)
  WITH (KAFKA_TOPIC='visits', VALUE_FORMAT='JSON', PARTITIONS=1);
INSERT INTO visits (user_id, page, ms) VALUES ('alice', '/home', 1200);
INSERT INTO visits (user_id, page, ms) VALUES ('bob', '/pricing', 300);
CREATE TABLE visit_totals AS SELECT user_id, COUNT(*) AS n, SUM(ms) AS total FROM visits GROUP BY user_id;
SHOW STREAMS;
DESCRIBE visits;
SELECT * FROM visit_totals WHERE user_id = 'alice';
SELECT page, ms FROM visits EMIT CHANGES LIMIT 1;
SELECT * FROM visits EMIT CHANGES;
PRINT 'visits' FROM BEGINNING LIMIT 1;
"""


def ksql_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ksql.cli_run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_results_print_as_the_cli_prints_them(tmp_path: Path) -> None:
    script = tmp_path / "visits.sql"
    script.write_text(SCRIPT)
    result = ksql_run(str(script), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # statements: the CLI's message table
    assert " Stream created " in out and "Created query with ID CTAS_VISIT_TOTALS_" in out
    # SHOW and DESCRIBE: the CLI's tables
    assert " Stream Name | Kafka Topic | Key Format | Value Format | Windowed " in out
    assert " VISITS      | visits      | KAFKA      | JSON         | false    " in out
    assert "Name                 : VISITS" in out and " USER_ID | VARCHAR(STRING)  (key) " in out
    # pull query: the CLI's fitted grid
    assert "|USER_ID|N|TOTAL|" in out and "|alice  |1|1200 |" in out
    # push queries: up to LIMIT, or what there is once everything caught up
    limited = out[out.index("|PAGE"):]
    assert "|/home" in limited and "Limit Reached" in limited
    assert "/pricing" in out[out.index("|USER_ID", out.index("Limit Reached")):]
    assert 'value: {"PAGE":"/home","MS":1200}, partition: 0' in out
    assert result.stderr == ""


def test_a_server_started_on_the_data_dir_sees_the_scripts_work(tmp_path: Path) -> None:
    script = tmp_path / "visits.sql"
    script.write_text(SCRIPT)
    assert ksql_run(str(script), "--data-dir", str(tmp_path / "data")).returncode == 0
    server = Server(tmp_path / "data", {})
    try:
        server.wait_ready()
        streams = server.ksql("SHOW STREAMS;")[0]["streams"]
        assert [s["name"] for s in streams] == ["VISITS"]
        tables = server.ksql("SHOW TABLES;")[0]["tables"]
        assert [t["name"] for t in tables] == ["VISIT_TOTALS"]
        queries = server.ksql("SHOW QUERIES;")[0]["queries"]
        assert [q["state"] for q in queries if q["id"].startswith("CTAS_VISIT_TOTALS_")] == ["RUNNING"]
    finally:
        server.stop()


def test_a_failed_statement_is_reported_and_the_script_goes_on(tmp_path: Path) -> None:
    script = tmp_path / "bad.sql"
    script.write_text("SELECT * FROM nowhere;\nCREATE STREAM s (v INT) WITH (KAFKA_TOPIC='s', "
                      "VALUE_FORMAT='JSON', PARTITIONS=1);\nSHOW STREAMS;\n")
    result = ksql_run(str(script))
    assert result.returncode == 1
    assert "NOWHERE does not exist" in result.stdout
    assert " S           | s           | NONE       | JSON         | false    " in result.stdout


def test_a_missing_file_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sql"
    result = ksql_run(str(missing))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"ksql-run: cannot read {missing}: No such file or directory"
