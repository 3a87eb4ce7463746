"""processing.guarantee=exactly_once_v2 on Kafka: each poll of a persistent query is one Kafka transaction
(sink, repartition and changelog records with the consumed offsets), so a server killed mid-processing and
restarted leaves every input counted once in what read_committed consumers see.

The broker is our own server's Kafka listener: it filters aborted transactions for read_committed readers.
Tansu (the broker of conftest.py) accepts transactions and commits offsets with them, but hands aborted
records to read_committed consumers all the same, so an abort cannot be checked on it: the test against it
checks what it can, that a committed poll's records and offsets land together.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import LogError, RebalanceError, RecordBatch, TopicConfig
from ksql.engine.log.kafka import KafkaLog
from ksql.engine.log.kafka_eos import ExactlyOnceKafkaLog
from server.supervisor import Backoff, QuerySupervisor
from tests.kafka_protocol.conftest import KafkaServer, start_kafka_server
from tests.server.harness import ServerProcess, free_port, ksql

EXACTLY_ONCE = {"ksql.streams.processing.guarantee": "exactly_once_v2"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[KafkaServer]:
    """Our own server as the Kafka broker (its embedded log, its Kafka listener)."""
    server = start_kafka_server(tmp_path_factory.mktemp("broker") / "data")
    yield server
    server.process.terminate()


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _batch(*values: bytes) -> RecordBatch:
    return RecordBatch([None] * len(values), list(values), [1_000] * len(values), [()] * len(values))


def read_committed(bootstrap: str, topic: str, settle: float = 1.0) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record a read_committed consumer reads from the beginning (until quiet)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = len(admin.list_topics(topic, timeout=30).topics[topic].partitions)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": _name("reader"), "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[tuple[bytes | None, bytes | None]] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            m = consumer.poll(0.1)
            if m is None:
                if len(eof) == partitions and time.monotonic() - quiet_since > settle:
                    break
                continue
            quiet_since = time.monotonic()
            if m.error() is not None:
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                eof.add(m.partition())
                continue
            eof.discard(m.partition())
            out.append((m.key(), m.value()))
    finally:
        consumer.close()
    return out


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


# -- the transactional writer ------------------------------------------------------------------------


def test_a_poll_lands_whole_records_and_offsets_together(broker: KafkaServer) -> None:
    inner = KafkaLog(broker.bootstrap)
    log = ExactlyOnceKafkaLog(inner, instance="test")
    source, sink, group = _name("in"), _name("out"), _name("group")
    try:
        log.create_topic(source)
        log.create_topic(sink)
        with log.transactions():
            log.append_batch(sink, 0, _batch(b"a", b"b"))
            log.commit(group, {(source, 0): 7})
            assert log.committed(group, source, 0) == 7  # the poll sees its own commit
        assert [v for _, v in read_committed(broker.bootstrap, sink)] == [b"a", b"b"]
        fresh = KafkaLog(broker.bootstrap)  # the offsets reached the broker, not only this log's cache
        try:
            assert fresh.committed(group, source, 0) == 7
        finally:
            fresh.close()
    finally:
        log.close()


def test_a_connector_write_is_a_transaction_of_the_connect_id_beside_the_queries(broker: KafkaServer) -> None:
    """Connector tasks write through the server's log, the exactly-once one too: their appends go into the
    connect transactional id's transaction, and an aborted write leaves nothing readable."""
    log = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="test")
    topic, connect_id = _name("connector"), _name("connect")
    try:
        log.create_topic(topic)
        log.restart_transactions(connect_id)
        with log.transaction(connect_id):
            log.append_batch(topic, 0, _batch(b"written"))
        with pytest.raises(RuntimeError, match="task failed"), log.transaction(connect_id):
            log.append_batch(topic, 0, _batch(b"aborted"))
            raise RuntimeError("task failed")
        assert [v for _, v in read_committed(broker.bootstrap, topic)] == [b"written"]
    finally:
        log.close()


def test_a_failed_poll_leaves_neither_records_nor_offsets(broker: KafkaServer) -> None:
    log = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="test")
    source, sink, group = _name("in"), _name("out"), _name("group")
    try:
        log.create_topic(source)
        log.create_topic(sink)
        with log.transactions():
            log.append_batch(sink, 0, _batch(b"lost"))
            log.commit(group, {(source, 0): 3})
            log.append_batch(sink, 5, _batch(b"nowhere"))  # the sink has one partition: the poll fails
            with pytest.raises(LogError, match="transaction of group"):
                log.flush()
            log.append_batch(sink, 0, _batch(b"kept"))  # the next poll goes on with the same producer
            log.commit(group, {(source, 0): 1})
        assert [v for _, v in read_committed(broker.bootstrap, sink)] == [b"kept"]
        assert log.committed(group, source, 0) == 1
    finally:
        log.close()


def test_a_restarted_writer_fences_the_one_it_replaces(broker: KafkaServer) -> None:
    sink, group = _name("out"), _name("group")
    zombie = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="server-1")
    successor = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="server-1")
    try:
        zombie.create_topic(sink)
        with zombie.transactions():
            zombie.append_batch(sink, 0, _batch(b"before"))
            zombie.commit(group, {(sink, 0): 0})
        with successor.transactions():  # same query, same server: the same transactional id
            successor.append_batch(sink, 0, _batch(b"after"))
            successor.commit(group, {(sink, 0): 0})
        with pytest.raises(LogError), zombie.transactions():
            zombie.append_batch(sink, 0, _batch(b"zombie"))
            zombie.commit(group, {(sink, 0): 0})
        assert [v for _, v in read_committed(broker.bootstrap, sink)] == [b"before", b"after"]
    finally:
        zombie.close()
        successor.close()


def test_tansu_commits_a_poll_but_cannot_hide_an_aborted_one(kafka_bootstrap: str) -> None:
    """Tansu takes transactions and their offsets; aborted records reach read_committed consumers there."""
    log = ExactlyOnceKafkaLog(KafkaLog(kafka_bootstrap), instance="test")
    sink, group = _name("out"), _name("group")
    try:
        log.create_topic(sink)
        with log.transactions():
            log.append_batch(sink, 0, _batch(b"committed"))
            log.commit(group, {(sink, 0): 1})
        fresh = KafkaLog(kafka_bootstrap)
        try:
            assert fresh.committed(group, sink, 0) == 1
        finally:
            fresh.close()
        assert [v for _, v in read_committed(kafka_bootstrap, sink)] == [b"committed"]
    finally:
        log.close()


# -- reading what transactions wrote ------------------------------------------------------------------


def test_a_reader_at_a_transaction_marker_does_not_wait_for_a_record(broker: KafkaServer) -> None:
    """The commit marker after a transaction's records is an offset no read returns: reading up to it
    is reading everything (a changelog's restore, a repartition topic's next poll)."""
    log = KafkaLog(broker.bootstrap)
    topic = _name("txn")
    try:
        log.create_topic(topic, TopicConfig(partitions=1))
        producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": _name("tx")})
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce(topic, value=b"x", partition=0)
        producer.produce(topic, value=b"y", partition=0)
        producer.commit_transaction(30)
        assert [r.value for r in log.read(topic, 0, 0)] == [b"x", b"y"]
        reader = log.reader
        part = reader.parts[(topic, 0)]
        assert part.next_read == 2 and log.end_offset(topic, 0) == 3  # the marker is offset 2
        with reader.lock:
            assert not reader._behind(topic, 0, part)
    finally:
        log.close()


# -- an aggregation in place, restarted ---------------------------------------------------------------

KEYS = 7

def _keyed_producer(bootstrap: str) -> Producer:
    """A producer that partitions by key as Kafka's Java client does (murmur2): the partitioning an
    aggregation grouped by the source's key relies on, as Kafka Streams' groupByKey does."""
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "partitioner": "murmur2_random"})


def _produce_counted(bootstrap: str, topic: str, rows: range) -> None:
    producer = _keyed_producer(bootstrap)
    for i in rows:
        producer.produce(topic, key=b"k%d" % (i % KEYS), value=orjson.dumps({"ID": i}))
    assert producer.flush(60) == 0


def _count_updates(log: KafkaLog, topic: str) -> dict[bytes, list[int]]:
    """Key -> the counts written for it, in order (what a read_committed reader sees)."""
    updates: dict[bytes, list[int]] = {}
    for p in range(log.partitions(topic)):
        offset = 0
        while batch := log.read(topic, p, offset, 10_000):
            for record in batch:
                updates.setdefault(record.key, []).append(orjson.loads(record.value)["N"])
            offset = batch[-1].offset + 1
    return updates


def _counts_of(rows: range) -> dict[bytes, int]:
    return {f"k{k}".encode(): len([i for i in rows if i % KEYS == k]) for k in range(KEYS)}


def _run_until(engine: Engine, log: ExactlyOnceKafkaLog, sink: str, expected: dict[bytes, int]
               ) -> dict[bytes, list[int]]:
    """Poll the engine's queries as the server does (each poll one transaction) until `sink` says `expected`."""
    supervisor = QuerySupervisor(log, Backoff())
    deadline = time.monotonic() + 90
    while True:
        supervisor.poll_all(list(engine.queries.values()))
        updates = _count_updates(log.inner, sink)
        if {k: n[-1] for k, n in updates.items()} == expected or time.monotonic() > deadline:
            return updates
        time.sleep(0.05)


def test_an_aggregation_in_place_goes_on_from_its_state_after_a_restart(broker: KafkaServer) -> None:
    """GROUP BY the source's key aggregates each source partition in place, its state in a changelog
    partition written in transactions: a restarted server restores the state (its read steps over the
    commit markers) and resumes where that state stands, so every input counts once."""
    source, sink, service = _name("events"), _name("counts"), _name("inplace") + "_"
    _create_topic(broker.bootstrap, source, 2)
    statements = (f"CREATE STREAM EVENTS (K STRING KEY, ID INT) WITH (KAFKA_TOPIC='{source}', VALUE_FORMAT='JSON');"
                  f"CREATE TABLE COUNTS WITH (KAFKA_TOPIC='{sink}') AS "
                  "SELECT K, COUNT(*) AS N FROM EVENTS GROUP BY K EMIT CHANGES;")
    first, second = range(0, 700), range(700, 1_400)
    _produce_counted(broker.bootstrap, source, first)
    for rows in (first, range(0, 1_400)):
        log = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="server-1")
        engine = Engine(log, EngineConfig(service_id=service))
        try:
            engine.execute(statements, {"ksql.streams.auto.offset.reset": "earliest"})  # the command topic's replay
            [query] = engine.queries.values()
            assert query.in_place
            if rows is not first:
                _produce_counted(broker.bootstrap, source, second)
            updates = _run_until(engine, log, sink, _counts_of(rows))
        finally:
            engine.close()
            log.close()
        assert {k: n[-1] for k, n in updates.items()} == _counts_of(rows)
    for key, counts in updates.items():  # counted on from the restored state, each input once
        assert counts == sorted(set(counts)) and counts[0] == 1, f"{key!r}: {counts}"


# -- a server killed mid-processing ------------------------------------------------------------------

ROWS = 30_000


def _produce_input(bootstrap: str, topic: str, killed: threading.Event) -> None:
    """ROWS records, a few hundred at a time; the second half once the server was killed, so its input was
    still coming in when it died, however slow the machine. Partitioned by key: COUNTS aggregates each
    source partition in place."""
    producer = _keyed_producer(bootstrap)
    for i in range(ROWS):
        if i == ROWS // 2:
            killed.wait(120)
        producer.produce(topic, key=b"k%d" % (i % KEYS), value=orjson.dumps({"ID": i}))
        if i % 250 == 249:
            producer.flush(60)
            time.sleep(0.05)
    assert producer.flush(60) == 0


def _start(data_dir: Path, port: int, bootstrap: str, service: str) -> ServerProcess:
    return ServerProcess(data_dir, port=port, properties={**EXACTLY_ONCE, "ksql.service.id": service},
                         extra_args=["--bootstrap-servers", bootstrap]).start(timeout=60)


def _assert_counted_once(bootstrap: str, topic: str, keys: dict[bytes, int]) -> None:
    """The counts in `topic` (a record key per remainder of ID % KEYS) reach every input's, each update
    one more input (none counted twice, none written twice)."""
    expected = {key: len(range(k, ROWS, KEYS)) for key, k in keys.items()}
    deadline = time.monotonic() + 120
    while True:
        updates: dict[bytes, list[int]] = {}
        for key, value in read_committed(bootstrap, topic):
            updates.setdefault(key, []).append(orjson.loads(value)["N"])
        if {k: n[-1] for k, n in updates.items()} == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {k: n[-1] for k, n in updates.items()} == expected, topic
    for key, counts in updates.items():
        assert counts == sorted(set(counts)), f"{topic} {key!r}: {counts}"


def test_a_server_killed_mid_processing_counts_every_input_once(broker: KafkaServer, tmp_path: Path) -> None:
    source = _name("events")
    service = _name("eos") + "_"
    _create_topic(broker.bootstrap, source, 2)
    port = free_port()
    server = _start(tmp_path / "a", port, broker.bootstrap, service)
    killed = threading.Event()
    feeding = threading.Thread(target=_produce_input, args=(broker.bootstrap, source, killed))
    try:
        with server.client(timeout=60) as client:
            ksql(client, f"CREATE STREAM EVENTS (K STRING KEY, ID INT) WITH (KAFKA_TOPIC='{source}', "
                         "VALUE_FORMAT='JSON', PARTITIONS=2);")
            ksql(client, "CREATE STREAM COPIED AS SELECT K, ID FROM EVENTS EMIT CHANGES;",
                 {"ksql.streams.auto.offset.reset": "earliest"})
            ksql(client, "CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM EVENTS GROUP BY K EMIT CHANGES;",
                 {"ksql.streams.auto.offset.reset": "earliest"})  # in place
            ksql(client, "CREATE TABLE BY_REST AS SELECT ID % 7 AS R, COUNT(*) AS N FROM EVENTS GROUP BY ID % 7 "
                         "EMIT CHANGES;", {"ksql.streams.auto.offset.reset": "earliest"})  # repartitioned
        feeding.start()
        watcher = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": _name("watcher"),
                            "isolation.level": "read_committed"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(  # the last stable offset: committed output
                watcher.get_watermark_offsets(TopicPartition("COPIED", p), timeout=10)[1] for p in range(2)):
            time.sleep(0.05)
        watcher.close()
        server.kill()  # kill -9, in the middle of processing
    finally:
        server.kill()
        killed.set()
        feeding.join()
    assert 0 < len(read_committed(broker.bootstrap, "COPIED")) <= ROWS // 2

    server = _start(tmp_path / "b", port, broker.bootstrap, service)  # same listener: same transactional ids
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(read_committed(broker.bootstrap, "COPIED", settle=0.2)) < ROWS:
            time.sleep(0.5)
        copied = sorted(orjson.loads(v)["ID"] for _, v in read_committed(broker.bootstrap, "COPIED"))
        assert copied == list(range(ROWS))  # no duplicate, no loss
        _assert_counted_once(broker.bootstrap, "COUNTS", {f"k{k}".encode(): k for k in range(KEYS)})
        _assert_counted_once(broker.bootstrap, "BY_REST", {k.to_bytes(4, "big"): k for k in range(KEYS)})
    finally:
        server.kill()


# -- a rebalance while a poll's transaction commits ---------------------------------------------------


class _RebalancedLog:
    """A poll's transaction that the group coordinator refuses: the partitions were reassigned."""

    def __init__(self) -> None:
        self.rolled_back = 0

    @contextmanager
    def transactions(self) -> Iterator[None]:
        yield

    def flush(self) -> None:
        raise RebalanceError("transaction of group g: ILLEGAL_GENERATION")

    def rollback(self) -> None:
        self.rolled_back += 1

    def finish(self) -> None:
        pass


class _Query:
    query_id = "CSAS_X_1"
    state = "RUNNING"
    processed = 0
    offload = None

    def __init__(self) -> None:
        self.recovered = 0

    def poll(self) -> int:
        self.processed += 5
        return 5

    def recover(self) -> None:
        self.recovered += 1


def test_a_poll_refused_by_a_rebalance_is_dropped_without_an_error() -> None:
    """The partitions' new owner processes that input; this server forgets the poll and goes on."""
    txlog, query = _RebalancedLog(), _Query()
    supervisor = QuerySupervisor(txlog, Backoff())
    assert supervisor.poll_all([query]) == 0
    assert query.state == "RUNNING" and not supervisor.failures
    assert txlog.rolled_back and query.recovered == 1 and query.processed == 0


def test_joining_a_group_aborts_what_the_dead_server_left_open(broker: KafkaServer) -> None:
    """A restarted server fences its predecessor as its query joins the group, before restoring state
    or reading: the transaction left open stops holding back read_committed readers at once."""
    log = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="server-1")
    sink, group = _name("out"), _name("group")
    try:
        log.create_topic(sink)
        dead = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": f"{group}-server-1"})
        dead.init_transactions(30)
        dead.begin_transaction()
        dead.produce(sink, value=b"left open", partition=0)
        assert dead.flush(30) == 0
        reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": _name("reader"),
                           "isolation.level": "read_committed"})
        try:
            assert reader.get_watermark_offsets(TopicPartition(sink, 0), timeout=10)[1] == 0  # held back
            log.join_group(group, [sink]).close()
            assert reader.get_watermark_offsets(TopicPartition(sink, 0), timeout=10)[1] == 2  # record, marker
        finally:
            reader.close()
        assert read_committed(broker.bootstrap, sink) == []
    finally:
        log.close()


def test_a_poll_commits_past_the_markers_it_read_up_to(broker: KafkaServer) -> None:
    """A query reading what another query wrote in transactions ends with no lag: the offset it commits is
    past the commit marker that follows the last record, as a Kafka consumer's position is."""
    log = ExactlyOnceKafkaLog(KafkaLog(broker.bootstrap), instance="test")
    source, group = _name("in"), _name("group")
    try:
        log.create_topic(source)
        with log.transactions():  # what the upstream query wrote
            log.append_batch(source, 0, _batch(b"a", b"b"))
            log.commit(_name("upstream"), {(source, 0): 0})
        batch = log.read_batch(source, 0, 0)
        assert list(batch.offsets) == [0, 1]
        with log.transactions():
            log.commit(group, {(source, 0): batch.offsets[-1] + 1})
        assert log.committed(group, source, 0) == log.end_offset(source, 0) == 3
        assert len(log.read_batch(source, 0, 3)) == 0
    finally:
        log.close()
