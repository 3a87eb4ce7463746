"""Benchmark: N JSON records through a filter + projection CSAS on the embedded log.

Measures end-to-end records per second for the persistent query: read from the
source topic, decode JSON, filter, project, encode JSON, append to the sink topic
(on disk, in segment files), commit offsets. Loading the input is not timed.

    python bench/filter_project.py [--records 200000] [--fsync never|always] [--memory]
                                   [--sink-partitions 1] [--input-batch 5000] [--profile 25]

--profile N runs the query under cProfile and prints the N functions with the most
own time (cProfile inflates small calls: compare stages with plain timers too).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Record, TopicConfig, open_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--fsync", default="never", help="embedded log fsync policy")
    parser.add_argument("--memory", action="store_true", help="use the in-memory log instead")
    parser.add_argument("--sink-partitions", type=int, default=1,
                        help="partitions of the sink topic (> 1: records are spread by murmur2 of the key)")
    parser.add_argument("--input-batch", type=int, default=5000,
                        help="records per append when loading the input (one log batch each)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="run under cProfile and print the top N functions by own time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        log = open_log(None if args.memory else data_dir, fsync=args.fsync)
        log.create_topic("orders", TopicConfig(partitions=1))
        batch = []
        for i in range(args.records):
            value = orjson.dumps({"ID": i, "ITEM": f"item-{i % 100}", "QTY": i % 10, "PRICE": i * 0.5})
            batch.append(Record(str(i).encode(), value, 1_700_000_000_000 + i, []))
            if len(batch) == args.input_batch:
                log.append("orders", 0, batch)
                batch = []
        if batch:
            log.append("orders", 0, batch)

        engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"}))
        engine.execute("CREATE STREAM ORDERS (K STRING KEY, ID BIGINT, ITEM STRING, QTY INT, PRICE DOUBLE) "
                       "WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');")
        engine.execute(f"CREATE STREAM BIG_ORDERS WITH (PARTITIONS={args.sink_partitions}) AS "
                       "SELECT K, ID, UCASE(ITEM) AS ITEM, QTY * PRICE AS TOTAL FROM ORDERS WHERE QTY > 2;")
        profiler = cProfile.Profile() if args.profile else None
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        processed = engine.run_until_idle()
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - start
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        written = sum(log.end_offset("BIG_ORDERS", p) for p in range(args.sink_partitions))
        kind = "in-memory log" if args.memory else f"embedded log (fsync={args.fsync})"
        print(f"filter+projection CSAS on the {kind}: {processed} records in {elapsed:.2f}s = "
              f"{processed / elapsed:,.0f} records/s ({written} written)")
        log.close()


if __name__ == "__main__":
    main()
