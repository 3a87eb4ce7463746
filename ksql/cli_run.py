"""`ksql-run`: execute a SQL script end to end on the engine, printing what each statement did.

PRINT statements show the records on a topic once every persistent query has
caught up, so a script can create streams, insert rows, derive new streams and
show the result in one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Log, open_log
from ksql.errors import KsqlError
from ksql.parser import ast, split_statements


def _text(data: bytes | None) -> str:
    if data is None:
        return "<null>"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()


def print_topic(log: Log, stmt: ast.Print, out) -> None:
    """PRINT: the topic's records, as ksqlDB's PRINT shows them."""
    if not log.topic_exists(stmt.topic):
        raise KsqlError(f"Could not find topic '{stmt.topic}', or the KSQL user does not have permissions to "
                        "list the topic. Topic names are case-sensitive.")
    shown = 0
    for partition in range(log.topic_config(stmt.topic).partitions):
        offset = log.start_offset(stmt.topic, partition) if stmt.from_beginning else \
            log.end_offset(stmt.topic, partition)
        for rec in log.read(stmt.topic, partition, offset, 1_000_000):
            if stmt.limit is not None and shown >= stmt.limit:
                return
            when = dt.datetime.fromtimestamp(rec.timestamp / 1000, dt.UTC).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            print(f"rowtime: {when} Z, key: {_text(rec.key)}, value: {_text(rec.value)}, "
                  f"partition: {partition}", file=out)
            shown += 1


def run_script(engine: Engine, text: str, out=sys.stdout) -> int:
    """Run each statement; report refusals and go on. Returns the number of failed statements."""
    failures = 0
    for statement_text in split_statements(text):
        try:
            for stmt in engine.prepare(statement_text):
                if isinstance(stmt, ast.Print):
                    engine.run_until_idle()
                    print_topic(engine.log, stmt, out)
                    continue
                result = engine.execute_statement(stmt)
                status = result.entity.get("commandStatus", {}).get("message") or result.entity.get("@type")
                print(f"{stmt.text.splitlines()[0][:70]}: {status}", file=out)
        except KsqlError as err:
            failures += 1
            print(f"ERROR in '{statement_text.strip()[:70]}': {err}", file=out)
        engine.run_until_idle()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ksql-run", description=__doc__)
    parser.add_argument("script", help="a file of SQL statements separated by ';'")
    parser.add_argument("--data-dir", help="keep topics in this directory (embedded durable log); "
                                           "default: in memory")
    args = parser.parse_args(argv)
    log = open_log(str(Path(args.data_dir) / "log") if args.data_dir else None)
    engine = Engine(log, EngineConfig())
    try:
        failures = run_script(engine, Path(args.script).read_text(encoding="utf-8"))
    finally:
        engine.close()
        log.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
