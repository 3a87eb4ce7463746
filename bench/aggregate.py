"""Benchmark: N JSON records through a GROUP BY count, or a tumbling-window aggregation, on the embedded log.

End to end for the persistent query: read, decode, group, update the aggregate
state, emit the updated rows to the sink, append the state changelog and the
offset checkpoint. Loading the input is not timed.

    python bench/aggregate.py [--records 200000] [--keys 1000] [--window]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Record, TopicConfig, open_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--window", action="store_true", help="a 1-minute tumbling window with SUM and COUNT")
    parser.add_argument("--fsync", default="never", help="embedded log fsync policy")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        log = open_log(data_dir, fsync=args.fsync)
        log.create_topic("events", TopicConfig(partitions=1))
        batch = []
        for i in range(args.records):
            value = orjson.dumps({"USER_ID": f"user-{i % args.keys}", "AMOUNT": i % 100})
            batch.append(Record(None, value, 1_700_000_000_000 + i * 10, []))
            if len(batch) == 5000:
                log.append("events", 0, batch)
                batch = []
        if batch:
            log.append("events", 0, batch)

        engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"}))
        engine.execute("CREATE STREAM EVENTS (USER_ID STRING, AMOUNT INT) "
                       "WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');")
        if args.window:
            shape = "tumbling-window SUM+COUNT"
            engine.execute("CREATE TABLE TOTALS AS SELECT USER_ID, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL FROM EVENTS "
                           "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY USER_ID;")
        else:
            shape = "GROUP BY count"
            engine.execute("CREATE TABLE TOTALS AS SELECT USER_ID, COUNT(*) AS N FROM EVENTS GROUP BY USER_ID;")
        start = time.perf_counter()
        processed = engine.run_until_idle()
        elapsed = time.perf_counter() - start
        print(f"{shape} over {args.keys} keys on the embedded log (fsync={args.fsync}): {processed} records in "
              f"{elapsed:.2f}s = {processed / elapsed:,.0f} records/s")
        log.close()


if __name__ == "__main__":
    main()
