"""Records a Kafka producer had acknowledged (acks=all) survive kill -9 of the server."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer

from tests.kafka_protocol.conftest import start_kafka_server
from tests.kafka_protocol.test_quickstart import consume_all, create_topic
from tests.server.harness import ServerProcess


def test_acknowledged_records_survive_kill_9(tmp_path: Path) -> None:
    server = start_kafka_server(tmp_path / "data")
    try:
        create_topic(server, "durable", 2)
        producer = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 5,
                             "compression.type": "lz4"})
        acknowledged = []
        for i in range(1000):
            producer.produce("durable", value=b"%d" % i, partition=i % 2,
                             on_delivery=lambda err, msg: err is None and acknowledged.append(msg.value()))
        assert producer.flush(30) == 0
        fire_and_forget = Producer({"bootstrap.servers": server.bootstrap, "acks": 0})
        fire_and_forget.produce("durable", value=b"acks=0", partition=0)
        assert fire_and_forget.flush(30) == 0
        consume_all(server.bootstrap, "durable", 2, 1001)  # the acks=0 record has landed too
    finally:
        server.process.kill()
    port = int(server.bootstrap.rsplit(":", 1)[1])
    again = ServerProcess(tmp_path / "data", extra_args=["--kafka-listener", f"127.0.0.1:{port}"]).start()
    try:
        values = [m.value() for m in consume_all(server.bootstrap, "durable", 2, 1001)]
        assert sorted(values) == sorted([*acknowledged, b"acks=0"]) and len(acknowledged) == 1000
    finally:
        again.kill()
