"""`ksql`: the command-line client of a ksqlDB-compatible server.

    ksql                                   the server at http://localhost:8088, interactively
    ksql http://host:8088 -u alice         Basic authentication (the password is asked for)
    ksql -e "SHOW STREAMS; SELECT * FROM t WHERE id = 1;"
    ksql -f setup.sql --define env=prod    run a script (${env} in it becomes prod), then exit
    ksql --output JSON                     entities and rows as JSON

It talks to the server over ksqlDB's REST API only. Exit status: 0, or 1 when
the server cannot be reached or a statement of -e / -f / piped input failed.
Interactively, a server that cannot be reached at start is a warning: the
prompt shows, and statements work once the server is up.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from importlib import metadata

from cli import statements as st
from cli.client import ClientError, KsqlClient
from cli.completion import NameCache
from cli.console import Console
from cli.session import OUTPUT_FORMATS, ExitRequested, Session, unreachable_warning

DEFAULT_SERVER = "http://localhost:8088"

LOGO = r"""
                  ===========================================
                  =       _              _ ____  ____       =
                  =      | | _____  __ _| |  _ \| __ )      =
                  =      | |/ / __|/ _` | | | | |  _ \      =
                  =      |   <\__ \ (_| | | |_| | |_) |     =
                  =      |_|\_\___/\__, |_|____/|____/      =
                  =                   |_|                   =
                  =        The Database purpose-built       =
                  =        for stream processing apps       =
                  ===========================================
"""


def cli_version() -> str:
    try:
        return metadata.version("ksql-py")
    except metadata.PackageNotFoundError:
        return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ksql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server", nargs="?", default=DEFAULT_SERVER,
                        help=f"the server's address (default {DEFAULT_SERVER})")
    parser.add_argument("-u", "--user", help="user name for HTTP Basic authentication")
    parser.add_argument("-p", "--password", help="password (asked for when --user is given without it)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-e", "--execute", metavar="STATEMENTS", help="run these statements, then exit")
    mode.add_argument("-f", "--file", metavar="SCRIPT", help="run the statements of this file, then exit")
    parser.add_argument("-d", "--define", action="append", default=[], metavar="NAME=VALUE",
                        help="a session variable, as DEFINE name = 'value'; repeatable")
    parser.add_argument("--output", default="TABULAR", type=str.upper, choices=OUTPUT_FORMATS,
                        help="TABULAR (default) or JSON")
    parser.add_argument("--version", action="version", version=f"ksql CLI v{cli_version()}")
    args = parser.parse_args(argv)
    variables: dict[str, str] = {}
    for item in args.define:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--define expects NAME=VALUE, got {item!r}")
        variables[st.identifier(name.strip())] = value
    args.variables = variables
    if args.password is not None and args.user is None:
        parser.error("--password needs --user")
    return args


def banner(console: Console, info: dict, url: str) -> None:
    """ksqlDB's welcome message; an unreachable server's version and status are `<unknown>`."""
    console.print(LOGO)
    console.print(f"CLI v{cli_version()}, Server v{info.get('version', '<unknown>')} located at {url}")
    console.print(f"Server Status: {info.get('serverStatus', '<unknown>')}")
    console.print()
    console.print("Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!")
    console.print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    try:
        return _main(args, console)
    except KeyboardInterrupt:
        console.print()
        return 130
    except BrokenPipeError:  # `ksql -e ... | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(args: argparse.Namespace, console: Console) -> int:
    auth = None
    if args.user is not None:
        password = args.password
        if password is None:
            try:
                password = getpass.getpass("Enter password: ")
            except EOFError:
                console.print()
                return 1
        auth = (args.user, password)
    client = KsqlClient(args.server, auth)
    batch = args.execute is not None or args.file is not None or not sys.stdin.isatty()
    unreachable: ClientError | None = None
    try:
        info = client.info()
    except ClientError as err:
        if batch:
            console.error(f"{err}\nCheck that the server is running (ksql-server) and that {client.url} is its "
                          "address.")
            client.close()
            return 1
        info, unreachable = {}, err
    session = Session(client, console, args.output, args.variables, cli_version())
    try:
        if batch:
            return _run_batch(session, args)
        banner(console, info, client.url)
        if unreachable is not None:
            console.warning(unreachable_warning(client.url, unreachable))
        from cli.repl import run_repl  # prompt_toolkit only for interactive use

        cache = NameCache(lambda: session.client.with_url(session.client.url))
        session.on_server_changed = cache.reconnect
        try:
            run_repl(session, cache)
        finally:
            cache.close()
        return 0
    finally:
        session.close_spool()
        session.client.close()


def _run_batch(session: Session, args: argparse.Namespace) -> int:
    """-e, -f or piped input: run everything, stop at the first failure."""
    try:
        if args.execute is not None:
            ok = session.run(args.execute)
        elif args.file is not None:
            ok = session.run_file(args.file)
        else:
            ok = session.run(sys.stdin.read(), source="<stdin>")
    except ExitRequested:
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
