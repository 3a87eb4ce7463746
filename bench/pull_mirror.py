"""Benchmark: the first range pull on a table of N keys, and table updates once its DuckDB mirror exists.

The table is a source table over a topic of N JSON rows (VARCHAR key, INT, BIGINT, DOUBLE, DECIMAL,
VARCHAR, BOOLEAN values). Timed: the first range pull (which builds the mirror), split into what a
server does under its engine lock (checking and compiling the query) and what it does outside it
(decoding the table's records, filling DuckDB, running the SQL); then a round of updates (upserts, new keys,
tombstones) caught up and synced by the next range pull, as rows per second. Loading is not timed.

    python bench/pull_mirror.py [--keys 50000] [--updates 50000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Record, TopicConfig, open_log

RANGE_PULL = "SELECT K, N FROM T WHERE N >= 990 AND L < 5000;"


def append_rows(log, keys: range, version: int, tombstone_every: int = 0) -> None:
    batch = []
    for k in keys:
        if tombstone_every and k % tombstone_every == 0:
            value = None
        else:
            value = orjson.dumps({"N": k % 1000, "L": k + version, "D": k * 0.5, "M": f"{k}.{version:02d}",
                                  "S": f"name-{k}-{version}", "B": k % 2 == 0})
        batch.append(Record(orjson.dumps(f"key-{k}"), value, 1_700_000_000_000 + k, []))
        if len(batch) == 5000:
            log.append("t", 0, batch)
            batch = []
    if batch:
        log.append("t", 0, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--updates", type=int, default=50_000, help="rows in the update round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        log = open_log(data_dir, fsync="never")
        log.create_topic("t", TopicConfig(partitions=1))
        engine = Engine(log, EngineConfig())
        engine.execute("CREATE SOURCE TABLE T (K STRING PRIMARY KEY, N INT, L BIGINT, D DOUBLE, "
                       "M DECIMAL(12, 2), S STRING, B BOOLEAN) WITH (KAFKA_TOPIC='t', FORMAT='JSON');")
        append_rows(log, range(args.keys), 0)

        start = time.perf_counter()
        if hasattr(engine, "plan_pull_query"):
            plan = engine.plan_pull_query(RANGE_PULL)
            planned = time.perf_counter()
            engine.views["T"].catch_up()  # what the plan's run does first
            decoded = time.perf_counter()
            rows = plan.run().rows
        else:  # before the mirror was filled in bulk: all of it under the engine lock
            rows, planned = engine.pull_query(RANGE_PULL).rows, None
        done = time.perf_counter()
        print(f"{args.keys} keys: first range pull {done - start:.3f} s ({len(rows)} rows)")
        if planned is not None:
            print(f"  under the engine lock (check, compile): {planned - start:.3f} s")
            print(f"  outside it: decode {args.keys} records {decoded - planned:.3f} s, "
                  f"fill the mirror and run the SQL {done - decoded:.3f} s")

        # updates: the first half of the keys rewritten, as many new keys, every 10th rewritten key deleted
        half = args.updates // 2
        append_rows(log, range(half), 1, tombstone_every=10)
        append_rows(log, range(args.keys, args.keys + args.updates - half), 1)
        start = time.perf_counter()
        engine.run_until_idle()  # the runner's catch-up of the view
        caught_up = time.perf_counter()
        rows = engine.pull_query(RANGE_PULL).rows
        done = time.perf_counter()
        print(f"{args.updates} updates: catch-up {caught_up - start:.3f} s, next range pull "
              f"{done - caught_up:.3f} s: {args.updates / (done - start):,.0f} rows/s ({len(rows)} rows)")


if __name__ == "__main__":
    main()
