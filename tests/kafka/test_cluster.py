"""Two ksql-server processes on one Kafka cluster share the work, and one dies mid-stream.

100,000 JSON records produced by confluent-kafka are filtered by a CSAS and
counted by a CTAS GROUP BY running on both servers (same ksql.service.id); one
server is killed with SIGKILL halfway; the survivor takes its partitions over
and every count comes out exact. kcat, an independent Kafka client, reads the
filtered sink. The survivor rebuilds everything from the
command topic when it is restarted.
"""

from __future__ import annotations

import collections
import struct
import time

import httpx
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.server.harness import ServerProcess, ksql

RECORDS = 100_000
REGIONS = ["north", "south", "east", "west", "central"]
EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def _record(i: int) -> tuple[bytes, bytes]:
    region = REGIONS[i % len(REGIONS)]
    return struct.pack(">i", i), orjson.dumps({"REGION": region, "AMOUNT": i % 100})


def _produce(bootstrap: str, topic: str, ids: range) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in ids:
        key, value = _record(i)
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def _counts(server: ServerProcess) -> dict[str, tuple[int, int]]:
    response = httpx.post(server.url + "/query", json={"ksql": "SELECT * FROM BY_REGION;"}, timeout=30)
    assert response.status_code == 200, response.text
    rows = [m["row"]["columns"] for m in response.json() if "row" in m]
    return {region: (n, total) for region, n, total in rows}


def _server(tmp_path, name: str, bootstrap: str, service_id: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, extra_args=["--bootstrap-servers", bootstrap, "--service-id", service_id,
                                                      "--log-level", "info"])


def test_two_servers_split_the_work_and_survive_a_kill(kafka_bootstrap, kcat, unique, tmp_path):
    service_id = f"cluster{unique}_"
    topic = f"orders-{unique}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(30)
    a = _server(tmp_path, "a", kafka_bootstrap, service_id).start(60)
    b = _server(tmp_path, "b", kafka_bootstrap, service_id).start(60)
    try:
        with a.client(timeout=60) as client:
            ksql(client, f"CREATE STREAM ORDERS (ID INT KEY, REGION VARCHAR, AMOUNT INT) "
                         f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
            ksql(client, "CREATE STREAM BIG AS SELECT ID, REGION, AMOUNT FROM ORDERS WHERE AMOUNT >= 50;",
                 EARLIEST)
            ksql(client, "CREATE TABLE BY_REGION AS SELECT REGION, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL "
                         "FROM ORDERS GROUP BY REGION;", EARLIEST)
        # b runs the statements a accepted (command topic), and both join each query's group
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with b.client() as client:
                queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
            if len(queries) == 2 and "assigned" in b.output() and "assigned" in a.output():
                break
            time.sleep(0.5)
        assert len(queries) == 2, b.output()
        assert "assigned" in a.output() and "assigned" in b.output()  # both own partitions

        _produce(kafka_bootstrap, topic, range(RECORDS // 2))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(n for n, _ in _counts(a).values()) < RECORDS // 10:
            time.sleep(0.2)
        b.kill()  # mid-stream: a takes over b's partitions once the group notices
        _produce(kafka_bootstrap, topic, range(RECORDS // 2, RECORDS))

        expected: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for i in range(RECORDS):
            expected[REGIONS[i % len(REGIONS)]][0] += 1
            expected[REGIONS[i % len(REGIONS)]][1] += i % 100
        expected_counts = {region: tuple(v) for region, v in expected.items()}
        deadline = time.monotonic() + 300
        counts: dict = {}
        while time.monotonic() < deadline:
            counts = _counts(a)
            if counts == expected_counts:
                break
            time.sleep(1)
        assert counts == expected_counts, a.output()

        # the filtered sink, read by kcat: every record that passed the filter is there
        want = {i for i in range(RECORDS) if i % 100 >= 50}
        deadline = time.monotonic() + 120
        got: set[int] = set()
        while time.monotonic() < deadline:
            out = kcat(["-C", "-t", "BIG", "-o", "beginning", "-e", "-q", "-f", "%k\n", "-s", "key=i"])
            assert out.returncode == 0, out.stderr
            got = {int(line) for line in out.stdout.split()}
            if got >= want:
                break
            time.sleep(1)
        assert got == want

        # restarted against the same broker, a server rebuilds its metastore from the command topic
        a.terminate()
        c = a.start(60)
        try:
            with c.client() as client:
                streams = {s["name"] for s in ksql(client, "SHOW STREAMS;")[0]["streams"]}
                tables = {t["name"] for t in ksql(client, "SHOW TABLES;")[0]["tables"]}
                queries = {q["id"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"]}
            assert {"ORDERS", "BIG"} <= streams and "BY_REGION" in tables and len(queries) == 2
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _counts(c) != expected_counts:
                time.sleep(1)
            assert _counts(c) == expected_counts
        finally:
            c.kill()
    finally:
        a.kill()
        b.kill()
