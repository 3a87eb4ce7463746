"""The interactive CLI in a pseudo-terminal against a real server: statements, queries, Ctrl-C, editing."""

from __future__ import annotations

import time
from pathlib import Path

import pexpect

from tests.cli.helpers import Repl, plain

CREATE = ("CREATE STREAM {name} (id INT KEY, name VARCHAR, amount DOUBLE)\r"
          "  WITH (kafka_topic='{name}', value_format='JSON', partitions=1);")


def test_banner_statements_and_queries(repl, server):
    r = repl()
    banner = plain(r.child.before)
    assert "Server v" in banner and "Server Status: RUNNING" in banner

    # a statement typed over two lines runs once the `;` is typed
    out = r.run(CREATE.format(name="orders"))
    assert "Stream created" in out

    # several statements on one line
    out = r.run("INSERT INTO orders (id, name, amount) VALUES (1, 'apple', 1.5); "
                "INSERT INTO orders (id, name, amount) VALUES (2, 'pear', 2.25);")
    assert "rror" not in out

    out = r.run("SHOW STREAMS;")
    assert "Stream Name" in out and "ORDERS" in out

    out = r.run("DESCRIBE orders;")
    assert "Name                 : ORDERS" in out
    assert "AMOUNT | DOUBLE" in out and "(key)" in out

    # pull query: a scan of the stream, printed as an aligned grid
    out = r.run("SELECT id, name FROM orders WHERE id = 2;")
    assert "|ID|NAME|" in out and "|2 |pear|" in out

    # push query with LIMIT, from the beginning thanks to the session property
    out = r.run("SET 'auto.offset.reset' = 'earliest';")
    assert "Successfully changed local property 'auto.offset.reset' to 'earliest'" in out
    out = r.run("SELECT name, amount FROM orders EMIT CHANGES LIMIT 2;")
    assert "apple" in out and "2.25" in out
    assert "Limit Reached" in out and "Query terminated" in out

    # variables are the session's, substituted by the server
    r.run("DEFINE fruit = 'pear';")
    out = r.run("SHOW VARIABLES;")
    assert "Variable Name" in out and "FRUIT" in out and "pear" in out
    out = r.run("SELECT id FROM orders WHERE name = '${fruit}';")
    assert "|2 " in out
    r.run("UNDEFINE fruit;")
    out = r.run("UNDEFINE fruit;")
    assert "Cannot undefine variable 'FRUIT' which was never defined" in out

    r.line("exit")
    r.expect("Exiting ksqlDB.")
    r.expect(pexpect.EOF)
    r.child.close()
    assert r.child.exitstatus == 0


def test_bad_statement_shows_error_and_repl_goes_on(repl):
    r = repl()
    r.line("SELEC oops FROM nowhere;")
    raw = r.prompt()
    out = plain(raw)
    assert "\x1b[31m" in raw  # in red
    assert "Syntax error at or near 'SELEC'" in out
    assert "At line 1, column 1:" in out and "^" in out
    out = r.run("DESCRIBE no_such_stream;")
    assert "NO_SUCH_STREAM" in out
    out = r.run("SHOW TOPICS;")
    assert "Kafka Topic" in out


def test_ctrl_c_cancels_a_push_query(repl, server):
    r = repl()
    r.run(CREATE.format(name="clicks"))
    r.run("SET 'auto.offset.reset' = 'earliest';")
    r.run("INSERT INTO clicks (id, name, amount) VALUES (1, 'first', 1.0);")
    r.line("SELECT id, name FROM clicks EMIT CHANGES;")
    r.expect("first")
    # a row inserted while the query runs shows up
    server.ksql("INSERT INTO clicks (id, name, amount) VALUES (2, 'live', 2.0);")
    r.expect("live")
    r.child.sendintr()
    r.expect("Query terminated")
    r.prompt()
    # the server ended the query: with one push query allowed at a time, another one runs
    out = r.run("SELECT name FROM clicks EMIT CHANGES LIMIT 1;")
    assert "first" in out and "Limit Reached" in out
    # and the prompt still works
    assert "CLICKS" in r.run("SHOW STREAMS;")


def test_print_topic(repl, server):
    r = repl()
    r.run(CREATE.format(name="printed"))
    r.run("INSERT INTO printed (id, name, amount) VALUES (7, 'seven', 7.0);")
    out = r.run("PRINT 'printed' FROM BEGINNING LIMIT 1;")
    assert "Value format: JSON" in out
    assert "key: 7" in out and '"NAME":"seven"' in out
    # without LIMIT, PRINT follows the topic until Ctrl-C
    r.line("PRINT 'printed' FROM BEGINNING;")
    r.expect("key: 7")
    r.child.sendintr()
    r.expect("Topic printing ceased")
    r.prompt()
    assert "PRINTED" in r.run("SHOW STREAMS;")


def test_table_pull_query(repl, server):
    r = repl()
    r.run(CREATE.format(name="sales"))
    out = r.run("CREATE TABLE sales_by_name AS SELECT name, COUNT(*) AS n FROM sales GROUP BY name EMIT CHANGES;")
    assert "Created query with ID" in out
    r.run("INSERT INTO sales (id, name, amount) VALUES (1, 'x', 1.0); "
          "INSERT INTO sales (id, name, amount) VALUES (2, 'x', 2.0);")
    deadline = time.monotonic() + 10
    while True:  # the persistent query catches up in the background
        out = r.run("SELECT * FROM sales_by_name WHERE name = 'x';")
        if "|x   |2|" in out or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "|NAME|N|" in out and "|x   |2|" in out


def test_history_and_search(server, tmp_path: Path):
    history = tmp_path / "history"
    r = Repl([server.url], tmp_path)
    r.prompt()
    r.run("SHOW STREAMS;")
    r.run("SHOW TOPICS;")
    r.line("exit")
    r.expect(pexpect.EOF)
    saved = history.read_text()
    assert "SHOW STREAMS;" in saved and "SHOW TOPICS;" in saved

    r = Repl([server.url], tmp_path)
    try:
        r.prompt()
        r.child.send("\x1b[A")  # Up: the last line of the previous session ("exit")
        r.child.send("\x1b[A")  # and the statement before it
        r.line("")
        out = plain(r.prompt())
        assert "Kafka Topic" in out and "Stream Name" not in out
        r.child.send("\x12")  # Ctrl-R: reverse search
        r.child.send("STREA")
        r.child.send("\r")  # accept the match
        r.line("")  # run it
        r.expect("Stream Name")
        r.prompt()
    finally:
        r.close()


def test_tab_completion(repl, server):
    server.ksql("CREATE STREAM completion_source (id INT KEY, unusual_column VARCHAR) "
                "WITH (kafka_topic='completion_source', value_format='JSON', partitions=1);")
    r = repl()
    # keywords, in the case they were typed
    r.child.send("sho")
    r.child.send("\t")
    r.line(" streams;")
    out = plain(r.prompt())
    assert "show streams;" in out
    assert "Stream Name" in out and "COMPLETION_SOURCE" in out
    # stream and column names from the server
    r.child.send("DESCRIBE COMPLETION_S")
    r.child.send("\t")
    r.line(";")
    out = plain(r.prompt())
    assert "Name                 : COMPLETION_SOURCE" in out
    r.child.send("SELECT UNUSUAL_")
    r.child.send("\t")
    r.child.send(", ucas")  # functions too
    r.child.send("\t")
    r.child.send("(unusual_")
    r.child.send("\t")
    r.line(") AS up FROM completion_source;")
    out = plain(r.prompt())
    assert "SELECT UNUSUAL_COLUMN, ucase(unusual_column) AS up FROM completion_source;" in out
    assert "|UNUSUAL_COLUMN|UP|" in out


def test_server_unreachable_at_start_of_a_batch_run(tmp_path: Path):
    """-e / -f cannot do anything without the server: exit 1 at once (interactively the prompt stays,
    see test_commands)."""
    r = Repl(["http://127.0.0.1:9", "-e", "SHOW STREAMS;"], tmp_path)
    r.expect("Could not connect to the server at http://127.0.0.1:9")
    r.expect(pexpect.EOF)
    r.child.close()
    assert r.child.exitstatus == 1
