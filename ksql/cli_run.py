"""`ksql-run FILE`: run a SQL script end to end without starting an HTTP server.

The statements run on the server's own core (`server.core.KsqlServer`) over a
data directory laid out as `ksql-server` lays it out, command log included, so
`ksql-server --data-dir DIR` started afterwards on the same directory has the
script's streams, tables and queries. Without `--data-dir` the script runs in a
temporary directory, removed at the end.

Every statement's result is printed as the `ksql` CLI prints it (the same
renderer): SHOW and DESCRIBE tables, pull query grids. A push query (EMIT
CHANGES) and PRINT show what is there once every persistent query has caught up
(up to their LIMIT), then end, so a script can create streams, insert rows,
derive new streams and look at the result in one run. A failed statement is
reported and the script goes on; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cli.client import loads
from cli.console import Console
from cli.session import RowPrinter, print_entities
from ksql.engine.log import LogError
from ksql.engine.transient import LIMIT_REACHED
from ksql.errors import KsqlError
from ksql.parser import ast, split_statements
from server.config import ServerConfig
from server.core import KsqlServer
from server.errors import ApiError
from server.main import prepare_data_dir
from server.printer import TopicPrinter
from server.queries import pull_final_message
from server.rows import RowWriter, dumps
from server.statements import run_script as run_server_statements


class ScriptRunner:
    """Runs statements one at a time on a started KsqlServer (no runner thread) and prints their results."""

    def __init__(self, server: KsqlServer, console: Console):
        self.server = server
        self.console = console
        self.properties: dict[str, Any] = {}

    def run(self, text: str) -> int:
        """Run every statement of `text`; the number that failed."""
        failures = 0
        for piece in split_statements(text):
            try:
                self.statement(piece)
            except (ApiError, KsqlError, LogError) as err:
                failures += 1
                self.console.error(f"Error in '{piece.strip().splitlines()[0][:70]}': {err}")
            self.server.run_until_idle()
        return failures

    def statement(self, text: str) -> None:
        stmts = self.server.prepare(text)
        if len(stmts) == 1 and isinstance(stmts[0], ast.Print):
            self._print_topic(stmts[0])
        elif len(stmts) == 1 and isinstance(stmts[0], ast.SelectStatement):
            self._select(stmts[0])
        else:
            print_entities(self.console, run_server_statements(self.server, text, self.properties),
                           self.properties)
            for stmt in stmts:
                if isinstance(stmt, ast.SetProperty):
                    self.properties[stmt.name] = stmt.value
                elif isinstance(stmt, ast.UnsetProperty):
                    self.properties.pop(stmt.name, None)

    def _select(self, stmt: ast.SelectStatement) -> None:
        """The query's messages as POST /query streams them, shown by the CLI's row printer."""
        push = stmt.query.emit is not None
        printer = RowPrinter(self.console, push, as_json=False)
        if not push:
            result = self.server.pull_query(stmt, self.properties)
            writer = RowWriter([c.type for c in result.columns])
            messages: list[dict[str, Any]] = [{"header": {"queryId": result.query_id, "schema": result.schema}}]
            messages += [{"row": {"columns": writer.values(row)}} for row in result.rows]
            final = pull_final_message(self.server, stmt, len(result.rows))
            if final:
                messages.append({"finalMessage": final})
        else:
            messages = self._push_messages(stmt)
        for message in messages:
            printer.event(loads(dumps(message).decode()))  # the values exactly as a client receives them
        printer.finish(interrupted=False, is_print=False)

    def _push_messages(self, stmt: ast.SelectStatement) -> list[dict[str, Any]]:
        """The rows a push query has once everything has caught up (or up to its LIMIT); then it is closed."""
        query = self.server.start_push_query(stmt, self.properties)
        writer = RowWriter([c.type for c in query.columns])
        messages: list[dict[str, Any]] = [{"header": {"queryId": query.query_id, "schema": query.schema}}]
        try:
            while True:
                self.server.run_until_idle()
                rows = query.take()
                for r in rows:
                    row: dict[str, Any] = {"columns": writer.values(r.columns)}
                    if r.tombstone:
                        row["tombstone"] = True
                    messages.append({"row": row})
                if query.done or not rows:
                    break
        finally:
            self.server.push.close(query.query_id)
        if query.failed:
            messages.append({"errorMessage": {"message": query.finished}})
        elif query.finished == LIMIT_REACHED:
            messages.append({"finalMessage": LIMIT_REACHED})
        return messages

    def _print_topic(self, stmt: ast.Print) -> None:
        """PRINT: the topic's records up to LIMIT, once every query has caught up."""
        assert self.server.engine is not None and self.server.log is not None
        printer = TopicPrinter(self.server.log, stmt, list(self.server.engine.metastore.sources.values()))
        while not printer.done:
            lines = printer.poll()
            if not lines:
                break
            self.console.lines(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ksql-run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", help="a file of SQL statements separated by ';'")
    parser.add_argument("--data-dir", help="the data directory, as ksql-server's --data-dir "
                                           "(default: a temporary directory, removed at the end)")
    args = parser.parse_args(argv)
    try:
        text = Path(args.script).read_text(encoding="utf-8")
    except OSError as err:
        print(f"ksql-run: cannot read {args.script}: {err.strerror or err}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"ksql-run: cannot read {args.script}: it is not UTF-8 text", file=sys.stderr)
        return 1
    with ExitStack() as stack:
        properties = {"state.dir": args.data_dir} if args.data_dir else {
            "state.dir": stack.enter_context(tempfile.TemporaryDirectory(prefix="ksql-run-")),
            "ksql.log.fsync": "never"}  # removed at the end anyway
        try:
            prepare_data_dir(properties["state.dir"])
            server = KsqlServer(ServerConfig.load(None, properties))
            server.start(background=False)
        except (KsqlError, LogError, OSError) as err:
            print(f"ksql-run: {err}", file=sys.stderr)
            return 1
        try:
            failures = ScriptRunner(server, Console()).run(text)
        finally:
            server.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
