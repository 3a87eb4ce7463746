"""One CLI session: runs statements against the server and prints what they did.

The session holds what ksqlDB's CLI keeps on the client side: properties set
with SET (sent as `streamsProperties` with every request), variables from
DEFINE or `--define` (sent as `sessionVariables`), the output format, the
server it talks to (`server URL` switches), the spool file, and the last
command sequence number seen: unless request pipelining is on, it goes with
the next statement, so the server runs that one only after the previous ones.
SELECT and PRINT go to POST /query and are printed as they stream in; Ctrl-C
ends them (POST /close-query, then the connection is dropped) and returns to
the prompt. Everything else goes to POST /ksql, one statement per request, so a
failure points at its statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from cli import statements as st
from cli.client import ClientError, KsqlClient, QueryStream, ServerError
from cli.console import Console
from cli.help import HELP
from cli.render import entity_lines, to_json, variables_table, warning_lines
from cli.suggestions import did_you_mean
from cli.tables import Grid, schema_columns, value_text

OUTPUT_FORMATS = ("TABULAR", "JSON")
MAX_SCRIPT_DEPTH = 16
_POSITION = re.compile(r"line (\d+):(\d+)")


class ExitRequested(Exception):
    """`exit` / `quit`: leave the CLI."""


class _Refused(Exception):
    """A statement the CLI itself refuses (bad local syntax, unreadable script ...)."""


class Session:
    def __init__(self, client: KsqlClient, console: Console, output: str = "TABULAR",
                 variables: dict[str, str] | None = None, cli_version: str = ""):
        self.client = client
        self.console = console
        self.output = output.upper()
        self.properties: dict[str, str] = {}
        self.variables: dict[str, str] = dict(variables or {})
        self.sequence: int | None = None
        self.cli_version = cli_version
        self.pipelining = False
        self.on_names_changed: Callable[[], None] | None = None
        self.on_server_changed: Callable[[], None] | None = None
        self.history: Callable[[], list[str]] | None = None  # the REPL's lines, oldest first
        self._spool_path: Path | None = None
        self._depth = 0

    # -- running text ---------------------------------------------------------------------------

    def run(self, text: str, source: str | None = None) -> bool:
        """Run the statements of `text` in order, stopping at the first failure; True when all succeeded.

        `source` names the file the text came from, for error positions. ExitRequested propagates.
        """
        for stmt in st.split_all(text):
            if not self.run_statement(stmt, source):
                return False
        return True

    def run_statement(self, stmt: st.Statement, source: str | None = None) -> bool:
        try:
            return self._dispatch(stmt, source)
        except ServerError as err:
            self._server_error(err, stmt, source)
        except (ClientError, _Refused, st.LocalSyntaxError) as err:
            self.console.error(str(err))
        return False

    def _dispatch(self, stmt: st.Statement, source: str | None) -> bool:
        kind = st.kind_of(stmt.text)
        if kind == st.COMMAND:
            self._command(stmt.text)
        elif kind in (st.QUERY, st.PRINT):
            self._query(stmt.text, kind == st.PRINT)
        elif kind == st.SET:
            self._set(*st.parse_set(self._local(stmt.text)))
        elif kind == st.UNSET:
            self._unset(st.parse_unset(self._local(stmt.text)))
        elif kind == st.DEFINE:
            name, value = st.parse_define(stmt.text)
            self.variables[name] = value
        elif kind == st.UNDEFINE:
            name = st.parse_undefine(stmt.text)
            if self.variables.pop(name, None) is None:
                raise _Refused(f"Cannot undefine variable '{name}' which was never defined")
        elif kind == st.SHOW_VARIABLES:
            self._show_variables()
        elif kind == st.RUN_SCRIPT:
            return self._run_script(st.parse_run_script(self._local(stmt.text)))
        else:
            self._ksql(stmt.text)
        return True

    def _local(self, text: str) -> str:
        return st.substitute(text, self.variables)

    def run_file(self, path: str) -> bool:
        """`ksql -f path`: as RUN SCRIPT."""
        try:
            return self._run_script(path)
        except _Refused as err:
            self.console.error(str(err))
            return False

    def _run_script(self, path: str) -> bool:
        """RUN SCRIPT / -f: the file's statements, read here and sent one by one."""
        if self._depth >= MAX_SCRIPT_DEPTH:
            raise _Refused(f"RUN SCRIPT nested more than {MAX_SCRIPT_DEPTH} deep (does {path} run itself?)")
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as err:
            raise _Refused(f"Cannot read the script {path}: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise _Refused(f"Cannot read the script {path}: it is not UTF-8 text") from None
        self._depth += 1
        try:
            return self.run(text, source=path)
        finally:
            self._depth -= 1

    # -- statements for the server ----------------------------------------------------------------

    def _ksql(self, text: str) -> None:
        try:
            entities = self.client.ksql(text, self.properties, self.variables,
                                        None if self.pipelining else self.sequence)
        finally:
            if st.changes_names(text) and self.on_names_changed is not None:
                self.on_names_changed()
        for entity in entities:
            number = entity.get("commandSequenceNumber") if isinstance(entity, dict) else None
            if isinstance(number, int) and number >= 0:
                self.sequence = max(self.sequence or 0, number)
        print_entities(self.console, entities, self.properties, self.output == "JSON")

    def _query(self, text: str, is_print: bool) -> None:
        printer = RowPrinter(self.console, st.is_push_query(text) or is_print, self.output == "JSON")
        interrupted = broken = False
        try:
            with self.client.query(text, self.properties, self.variables, is_print) as stream:
                try:
                    for event in stream.events():
                        printer.event(event)
                except KeyboardInterrupt:
                    interrupted = True
                    self._cancel(stream)
        except KeyboardInterrupt:
            interrupted = True
        except ClientError:
            broken = True
            raise
        finally:
            printer.finish(interrupted, is_print, broken)

    def _cancel(self, stream: QueryStream) -> None:
        """Ctrl-C: end the query on the server; leaving the `with` then drops its connection."""
        if stream.query_id:
            try:
                self.client.close_query(stream.query_id)
            except KeyboardInterrupt:
                pass

    # -- what the CLI keeps itself ------------------------------------------------------------------

    def _set(self, name: str, value: str) -> None:
        old = self.properties.get(name)
        self.properties[name] = value
        if old is None:
            self.console.print(f"Successfully changed local property '{name}' to '{value}'. "
                               "Use the UNSET command to revert your change.")
        else:
            self.console.print(f"Successfully changed local property '{name}' from '{old}' to '{value}'.")

    def _unset(self, name: str) -> None:
        if name not in self.properties:
            raise _Refused(f"Property '{name}' was not set in this session")
        old = self.properties.pop(name)
        self.console.print(f"Successfully unset local property '{name}' (value was '{old}').")

    def _show_variables(self) -> None:
        if self.output == "JSON":
            self.console.print(to_json([{"@type": "variables", "variables": [
                {"name": k, "value": v} for k, v in self.variables.items()]}]))
            return
        self.console.print()
        self.console.lines(variables_table(self.variables))

    def _command(self, text: str) -> None:
        name, args = st.parse_command(text)
        if name in ("exit", "quit"):
            raise ExitRequested
        if len(args) > (0 if name in ("help", "version", "clear", "history") else 1):
            raise _Refused(f"Too many arguments for '{name}' (see 'help')")
        if name == "help":
            self.console.print(HELP)
        elif name == "output":
            if not args:
                self.console.print(f"Current output format: {self.output}")
            elif args[0].upper() in OUTPUT_FORMATS:
                self.output = args[0].upper()
                self.console.print(f"Output format set to {self.output}")
            else:
                raise _Refused(f"Invalid output format: '{args[0]}' (valid formats: 'JSON', 'TABULAR')")
        elif name == "request-pipelining":
            self._request_pipelining(args[0] if args else None)
        elif name == "server":
            self._server(args[0] if args else None)
        elif name == "spool":
            self._spool(args[0] if args else None)
        elif name == "history":
            for number, line in enumerate(self.history() if self.history else [], start=1):
                self.console.print(f"{number:4d}: {line}")
        elif name == "version":
            info = self.client.info()
            self.console.print(f"CLI v{self.cli_version}, Server v{info.get('version', '?')} located at "
                               f"{self.client.url}")
        elif name == "clear":
            self.console.out.write("\x1b[2J\x1b[H")
            self.console.out.flush()

    def _request_pipelining(self, setting: str | None) -> None:
        """Off (the default): each statement carries the last command sequence number, so the server runs
        it once the previous ones have run. On: statements are sent without waiting for that."""
        if setting is None:
            self.console.print(f"Current request-pipelining configuration: {'ON' if self.pipelining else 'OFF'}")
            return
        if setting.upper() not in ("ON", "OFF"):
            raise _Refused(f"Invalid request-pipelining setting: {setting}. Valid options are 'ON' and 'OFF'.")
        self.pipelining = setting.upper() == "ON"
        self.console.print(f"request-pipelining configuration is now {setting.upper()}")

    def _server(self, url: str | None) -> None:
        """`server`: the current address; `server URL`: talk to that server from now on (same credentials)."""
        if url is None:
            self.console.print(self.client.url)
            return
        old = self.client
        self.client = old.with_url(url)
        old.close()
        self.sequence = None  # sequence numbers belong to the old server's command log
        self.console.print(f"Server now: {self.client.url}")
        if self.on_server_changed is not None:
            self.on_server_changed()
        try:
            self.client.info()
        except ClientError as err:
            self.console.warning(unreachable_warning(self.client.url, err))

    def _spool(self, target: str | None) -> None:
        """`spool FILE`: from now on, a copy of what is typed and printed goes to FILE; `spool off` ends it."""
        if target is None:
            raise _Refused("Usage: spool <path_to_file> | spool off")
        if target.lower() == "off":
            if self.console.spool is None:
                raise _Refused("Not spooling: there is no spool to turn off")
            self.close_spool()
            return
        path = Path(target).expanduser().absolute()
        try:
            spool: TextIO = path.open("w", encoding="utf-8")
        except OSError as err:
            raise _Refused(f"Cannot spool to {path}: {err.strerror or err}") from None
        self.close_spool()
        self.console.spool, self._spool_path = spool, path
        self.console.print(f"Session will be spooled to {path}")
        self.console.print("Enter SPOOL OFF to disable")

    def close_spool(self) -> None:
        spool, path = self.console.spool, self._spool_path
        if spool is None:
            return
        self.console.spool = self._spool_path = None
        spool.close()
        self.console.print(f"Spool written to {path}")

    # -- errors -----------------------------------------------------------------------------------

    def _server_error(self, err: ServerError, stmt: st.Statement, source: str | None) -> None:
        if self.output == "JSON":
            self.console.error(to_json(err.entity))
            return
        self.console.error(error_report(str(err), stmt, source))


def print_entities(console: Console, entities: list[Any], properties: dict[str, Any],
                   as_json: bool = False) -> None:
    """What POST /ksql answered, as ksqlDB's CLI shows it (also used by ksql-run)."""
    if as_json:
        console.print(to_json(entities))
        return
    for entity in entities:
        if not isinstance(entity, dict):
            console.print(to_json(entity))
            continue
        lines = entity_lines(entity, properties)
        if lines:
            console.print()
            console.lines(lines)
        for warning in warning_lines(entity):
            console.warning(warning)


def error_report(message: str, stmt: st.Statement, source: str | None) -> str:
    """The server's message and, when it names a position (`line L:C`), that line of the statement with a
    caret; positions are translated to the input (`file.sql:12:5` for scripts)."""
    lines = [message]
    suggestion = did_you_mean(message)
    if suggestion is not None:
        lines.append(f"Did you mean '{suggestion}'?")
    m = _POSITION.search(message)
    text_lines = stmt.text.split("\n")
    if m is not None and 1 <= int(m.group(1)) <= len(text_lines):
        line, column = int(m.group(1)), int(m.group(2))
        at_line = stmt.line + line - 1
        at_column = column + (stmt.column - 1 if line == 1 else 0)
        where = f"{source}:{at_line}:{at_column}" if source else f"line {at_line}, column {at_column}"
        lines += [f"At {where}:", "  " + text_lines[line - 1], "  " + " " * max(0, column - 1) + "^"]
    elif source is not None:
        lines.append(f"In {source}, statement at line {stmt.line}: {text_lines[0].strip()}")
    return "\n".join(lines)


def unreachable_warning(url: str, err: ClientError) -> str:
    """ksqlDB CLI's warning for a server it cannot reach (at start, or after `server URL`)."""
    return "\n".join([
        "**************** WARNING ******************",
        "Remote server at " + url + " looks to be unreachable.",
        "Your CLI session will not be able to talk to it until it is up and running.",
        f"Error: {err}",
        "*******************************************",
    ])


class RowPrinter:
    """Prints a query's messages: a grid of rows (push: as they arrive; pull: once, fitted), or JSON."""

    def __init__(self, console: Console, push: bool, as_json: bool):
        self.console = console
        self.push = push
        self.as_json = as_json
        self.grid: Grid | None = None
        self.columns: list[str] = []
        self.pending: list[list[str]] = []
        self.messages: list[tuple[bool, str]] = []  # (is_error, text) after the rows
        self.started = False

    def event(self, event: Any) -> None:
        if isinstance(event, str):  # PRINT's text lines
            self.started = True
            self.console.print(event)
            return
        if self.as_json:
            self.started = True
            self.console.print(to_json(event, None))
            return
        if not isinstance(event, dict):
            return
        if "header" in event:
            self.columns = schema_columns(str(event["header"].get("schema", "")))
            if self.push:
                self.grid = Grid.even(self.columns, self.console.width())
                self.console.lines(self.grid.header())
                self.started = True
        elif "row" in event:
            row = event["row"] or {}
            cells = [value_text(v) for v in row.get("columns") or []]
            if row.get("tombstone"):
                cells = [("<TOMBSTONE>" if c == "null" else c) for c in cells]
            if self.grid is not None:
                self.console.lines(self.grid.row(cells))
            else:
                self.pending.append(cells)
        elif "finalMessage" in event:
            self.messages.append((False, str(event["finalMessage"])))
        elif "errorMessage" in event:
            error = event["errorMessage"]
            self.messages.append((True, str(error.get("message") if isinstance(error, dict) else error)))

    def finish(self, interrupted: bool, is_print: bool, broken: bool = False) -> None:
        """The grid's last border and how the query ended (the caller reports a broken connection)."""
        if interrupted:
            self.console.print()  # after the terminal's echoed ^C
        if not self.as_json and self.columns:
            if self.grid is None:
                names = self.columns + [f"COL{i}" for i in range(len(self.columns), max(map(len, self.pending),
                                                                                          default=0))]
                self.grid = Grid.fitted(names, self.pending, self.console.width())
                self.console.lines(self.grid.header())
                for cells in self.pending:
                    self.console.lines(self.grid.row(cells))
            self.console.print(self.grid.border())
        for is_error, text in self.messages:
            (self.console.error if is_error else self.console.print)(text)
        if broken:
            return
        if is_print:
            if interrupted:
                self.console.print("Topic printing ceased")
        elif self.push and (interrupted or self.messages or self.started):
            self.console.print("Query terminated")
