"""Source connectors on a Kafka log write their records and source offsets in one Kafka transaction: a
process killed inside one leaves nothing visible of it, and a server killed while a source produces
resumes with each record once (the broker is this project's own server, whose Kafka listener keeps
transactions)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ksql.engine.log import Record, TopicConfig
from ksql.engine.log.kafka import KafkaLog
from tests.kafka_protocol.conftest import KafkaServer
from tests.server.harness import REPO, ServerProcess, ksql

TOTAL = 3000


def _values(log: KafkaLog, topic: str) -> list[bytes]:
    return [r.value for r in log.read(topic, 0, 0, 1000)]


def test_a_transaction_killed_before_its_commit_is_never_visible(kafka_server: KafkaServer) -> None:
    topic = f"txn-{time.monotonic_ns()}"
    script = textwrap.dedent(f"""
        import os, signal
        from ksql.engine.log import Record, TopicConfig
        from ksql.engine.log.kafka import KafkaLog
        log = KafkaLog({kafka_server.bootstrap!r})
        log.create_topic({topic!r}, TopicConfig(partitions=1))
        with log.transaction("connect-test"):
            log.append({topic!r}, 0, [Record(None, b"a", 1, []), Record(None, b"b", 1, [])])
        with log.transaction("connect-test"):
            log.append({topic!r}, 0, [Record(None, b"lost", 1, [])])
            os.kill(os.getpid(), signal.SIGKILL)  # dies with the transaction open
    """)
    died = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert died.returncode == -9, died.stderr
    log = KafkaLog(kafka_server.bootstrap)
    try:
        with log.transaction("connect-test"):  # the next producer of the id aborts what the dead one left open
            log.append(topic, 0, [Record(None, b"c", 1, [])])
        assert _values(log, topic) == [b"a", b"b", b"c"]
        try:
            with log.transaction("connect-test"):
                log.append(topic, 0, [Record(None, b"undone", 1, [])])
                raise RuntimeError("the write failed half way")
        except RuntimeError:
            pass
        with log.transaction("connect-test"):
            log.append(topic, 0, [Record(None, b"d", 1, [])])
        assert _values(log, topic) == [b"a", b"b", b"c", b"d"]
    finally:
        log.close()


def test_the_server_taking_over_the_connectors_aborts_what_the_dead_one_left_open(kafka_server: KafkaServer,
                                                                                 tmp_path: Path) -> None:
    """Connector writes of every server of a service share one transactional id: the server that takes the
    tasks over fences the dead one and aborts its open transaction, which would otherwise hold back every
    read_committed reader of the topic (on a broker that never times it out, for good)."""
    topic = f"takeover-{time.monotonic_ns()}"
    service = f"takeover{time.monotonic_ns()}_"

    def server_script(port: int) -> str:
        return textwrap.dedent(f"""
            from ksql.engine.log.kafka import KafkaLog
            from server.config import ServerConfig
            from server.core import KsqlServer
            server = KsqlServer(ServerConfig({{"state.dir": {str(tmp_path / str(port))!r},
                                               "listeners": "http://localhost:{port}",
                                               "ksql.service.id": {service!r}}}))
            server.log = KafkaLog({kafka_server.bootstrap!r})
        """)

    dying = server_script(8101) + textwrap.dedent(f"""
        import os, signal
        from ksql.engine.log import Record, TopicConfig
        server.log.create_topic({topic!r}, TopicConfig(partitions=1))
        server._connector_write(lambda log: log.append({topic!r}, 0, [Record(None, b"a", 1, [])]))
        def die(log):
            log.append({topic!r}, 0, [Record(None, b"lost", 1, [])])
            os.kill(os.getpid(), signal.SIGKILL)  # dies with the transaction open
        server._connector_write(die)
    """)
    died = subprocess.run([sys.executable, "-c", dying], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert died.returncode == -9, died.stderr
    taking_over = server_script(8102) + textwrap.dedent(f"""
        from ksql.engine.log import Record
        server._connector_write(lambda log: log.append({topic!r}, 0, [Record(None, b"b", 1, [])]))
        print(b",".join(r.value for r in server.log.read({topic!r}, 0, 0, 1000)).decode())
        server.log.close()
    """)
    took_over = subprocess.run([sys.executable, "-c", taking_over], cwd=REPO, capture_output=True, text=True,
                               timeout=120)
    assert took_over.returncode == 0, took_over.stderr
    assert took_over.stdout.split() == ["a,b"]


def test_a_writer_that_gets_its_transactional_id_back_restarts_its_transactions(kafka_server: KafkaServer) -> None:
    """A server that lost the connectors to another one was fenced by it; when the tasks come back it
    writes with a new producer (which fences the other in turn) instead of failing on its fenced one."""
    topic = f"regained-{time.monotonic_ns()}"
    first, second = KafkaLog(kafka_server.bootstrap), KafkaLog(kafka_server.bootstrap)
    try:
        first.create_topic(topic, TopicConfig(partitions=1))
        with first.transaction("connect-regained"):
            first.append(topic, 0, [Record(None, b"a", 1, [])])
        with second.transaction("connect-regained"):  # took the tasks over: fences the first
            second.append(topic, 0, [Record(None, b"b", 1, [])])
        first.restart_transactions("connect-regained")  # the tasks came back
        with first.transaction("connect-regained"):
            first.append(topic, 0, [Record(None, b"c", 1, [])])
        assert _values(first, topic) == [b"a", b"b", b"c"]
    finally:
        first.close()
        second.close()


def _order_ids(bootstrap: str, topic: str) -> list[int]:
    """The keys of every committed record of the topic (a read_committed consumer, librdkafka's default)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    ids: list[int] = []
    idle_until = time.monotonic() + 3
    while time.monotonic() < idle_until:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        ids.append(int(message.key()))
        idle_until = time.monotonic() + 2
    consumer.close()
    return ids


def _produced(bootstrap: str, topic: str) -> int:
    """The topic's end offset (records, committed or not, and transaction markers)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1]
    except Exception:  # noqa: BLE001 - the topic does not exist before the source's first records
        return 0
    finally:
        consumer.close()


def test_a_source_killed_while_it_produces_resumes_with_each_record_once(kafka_server: KafkaServer,
                                                                          tmp_path: Path) -> None:
    service_id = f"connect{time.monotonic_ns()}_"
    topic = f"gen-{service_id}"
    args = ["--bootstrap-servers", kafka_server.bootstrap, "--service-id", service_id]
    server = ServerProcess(tmp_path / "a", extra_args=args).start(60)
    try:
        with server.client(timeout=60) as client:
            ksql(client, f"CREATE SOURCE CONNECTOR GEN WITH ('connector.class'='DatagenConnector', "
                         f"'quickstart'='orders', 'kafka.topic'='{topic}', 'iterations'='{TOTAL}', "
                         f"'messages.per.second'='300');")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _produced(kafka_server.bootstrap, topic) < TOTAL // 5:
            time.sleep(0.1)
    finally:
        server.kill()  # SIGKILL while the source produces
    before = _order_ids(kafka_server.bootstrap, topic)
    assert 0 < len(before) < TOTAL, "the source was not killed while it produced"

    server = ServerProcess(tmp_path / "a", port=server.port, extra_args=args).start(60)
    try:
        deadline = time.monotonic() + 90
        ids: list[int] = []
        while time.monotonic() < deadline:
            ids = _order_ids(kafka_server.bootstrap, topic)
            if len(ids) >= TOTAL:
                break
            time.sleep(0.5)
    finally:
        server.kill()
    assert sorted(ids) == list(range(TOTAL))
