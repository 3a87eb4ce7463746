"""The CLI's own commands (spool, history, server, request-pipelining, output), 'Did you mean', and a
server that is down when the CLI starts: the CLI in a pseudo-terminal against real servers."""

from __future__ import annotations

from pathlib import Path

import httpx

from cli.client import KsqlClient
from cli.console import Console
from cli.session import Session
from tests.cli.helpers import Repl, Server, free_port, plain


def test_spool_copies_what_is_typed_and_printed_until_spool_off(repl, tmp_path: Path):
    r = repl()
    spool = tmp_path / "session.txt"
    out = r.run(f"spool {spool}")
    assert f"Session will be spooled to {spool}" in out and "Enter SPOOL OFF to disable" in out
    r.run("CREATE STREAM spooled (v INT) WITH (kafka_topic='spooled', value_format='JSON', partitions=1);")
    r.run("SELEC 1;")  # errors (red on the terminal) are spooled too, without colours
    out = r.run("spool off")
    assert f"Spool written to {spool}" in out
    r.run("output")  # after spool off: not in the file
    text = spool.read_text()
    assert "ksql> CREATE STREAM spooled (v INT)" in text and " Stream created " in text
    assert "ksql> SELEC 1;" in text and "Syntax error at or near 'SELEC'" in text
    assert "\x1b" not in text
    assert "Current output format" not in text
    assert "Session will be spooled to" in text and "Spool written to" not in text

    out = r.run("spool off")
    assert "Not spooling" in out
    out = r.run(f"spool {tmp_path / 'no' / 'such' / 'dir.txt'}")
    assert "Cannot spool to" in out and "No such file or directory" in out


def test_history_lists_the_lines_entered(repl):
    r = repl()
    r.run("SHOW STREAMS;")
    r.run("output")
    out = r.run("history")
    assert "   1: SHOW STREAMS;\n   2: output\n   3: history" in out


def test_output_shows_and_switches_the_format(repl):
    r = repl()
    assert "Current output format: TABULAR" in r.run("output")
    assert "Output format set to JSON" in r.run("output JSON")
    out = r.run("SHOW STREAMS;")
    assert '"@type": "streams"' in out
    assert "Current output format: JSON" in r.run("output")
    assert "Invalid output format: 'xml' (valid formats: 'JSON', 'TABULAR')" in r.run("output xml")
    assert "Output format set to TABULAR" in r.run("output tabular")
    assert "Stream Name" in r.run("SHOW STREAMS;")


def test_request_pipelining_setting(repl):
    r = repl()
    assert "Current request-pipelining configuration: OFF" in r.run("request-pipelining")
    assert "request-pipelining configuration is now ON" in r.run("request-pipelining on")
    assert "Current request-pipelining configuration: ON" in r.run("request-pipelining")
    out = r.run("CREATE STREAM piped (v INT) WITH (kafka_topic='piped', value_format='JSON', partitions=1);")
    assert "Stream created" in out
    assert "PIPED" in r.run("SHOW STREAMS;")
    out = r.run("request-pipelining maybe")
    assert "Invalid request-pipelining setting: maybe. Valid options are 'ON' and 'OFF'." in out
    assert "request-pipelining configuration is now OFF" in r.run("request-pipelining OFF")


def test_request_pipelining_decides_whether_the_sequence_number_is_sent(server, tmp_path: Path):
    """Off: each statement names the last command it must follow; on: it does not wait for any."""
    sent: list[bytes] = []
    client = KsqlClient(server.url)
    client.http = httpx.Client(**client._args, event_hooks={"request": [lambda req: sent.append(req.read())]})
    session = Session(client, Console(open(tmp_path / "out.txt", "w")))  # noqa: SIM115 - closed by the test's end
    try:
        assert session.run("CREATE STREAM seq_a (v INT) WITH (kafka_topic='seq_a', value_format='JSON', "
                           "partitions=1); SHOW STREAMS;")
        assert b'"commandSequenceNumber"' in sent[-1]
        session.pipelining = True
        assert session.run("SHOW STREAMS;")
        assert b'"commandSequenceNumber"' not in sent[-1]
    finally:
        client.close()
        session.console.out.close()


def test_did_you_mean_for_misspelt_keywords(repl):
    r = repl()
    out = r.run("SELEC * FROM somewhere;")
    assert "Syntax error at or near 'SELEC'" in out and "Did you mean 'SELECT'?" in out
    assert "Did you mean 'STREAMS'?" in r.run("SHOW STRAEMS;")
    assert "Did you mean 'STREAM'?" in r.run("CREATE STREEM s (v INT) WITH (kafka_topic='s', value_format='JSON');")
    assert "Did you mean 'FROM'?" in r.run("SELECT * FORM somewhere;")
    assert "Did you mean" not in r.run("BANANA;")


def test_server_shows_and_switches_the_server(repl, server, tmp_path: Path):
    other = Server(tmp_path / "other-data", {})
    try:
        other.wait_ready()
        other.ksql("CREATE STREAM only_on_other (v INT) WITH (kafka_topic='o', value_format='JSON', partitions=1);")
        r = repl()
        assert server.url in r.run("server")
        out = r.run(f"server {other.url}")
        assert f"Server now: {other.url}" in out and "WARNING" not in out
        assert other.url in r.run("server")
        assert "ONLY_ON_OTHER" in r.run("SHOW STREAMS;")

        down = f"http://127.0.0.1:{free_port()}"
        out = r.run(f"server {down}")
        assert f"Server now: {down}" in out
        assert f"Remote server at {down} looks to be unreachable." in out
        assert f"Could not connect to the server at {down}" in r.run("SHOW STREAMS;")

        r.run(f"server {server.url}")
        assert "ONLY_ON_OTHER" not in r.run("SHOW STREAMS;")
    finally:
        other.stop()


def test_a_server_down_at_start_is_a_warning_and_the_prompt_shows(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    r = Repl([url], tmp_path)
    server = None
    try:
        banner = plain(r.prompt())
        assert f"Server v<unknown> located at {url}" in banner and "Server Status: <unknown>" in banner
        assert "**************** WARNING ******************" in banner
        assert f"Remote server at {url} looks to be unreachable." in banner
        assert f"Could not connect to the server at {url}" in r.run("SHOW STREAMS;")

        server = Server(tmp_path / "data", {}, port=port)
        server.wait_ready()
        assert "Stream Name" in r.run("SHOW STREAMS;")
        out = r.run("CREATE STREAM later (v INT) WITH (kafka_topic='later', value_format='JSON', partitions=1);")
        assert "Stream created" in out
        assert "Traceback" not in banner + out
    finally:
        r.close()
        if server is not None:
            server.stop()
