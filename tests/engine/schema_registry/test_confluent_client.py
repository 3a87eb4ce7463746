"""Confluent's own clients (confluent-kafka's SchemaRegistryClient and AvroDeserializer) read what the
engine writes, through the embedded registry's REST API served by uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal

import pytest

uvicorn = pytest.importorskip("uvicorn")
schema_registry = pytest.importorskip("confluent_kafka.schema_registry")
avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
serialization = pytest.importorskip("confluent_kafka.serialization")

from ksql.engine.engine import Engine, EngineConfig  # noqa: E402
from ksql.engine.log import MemoryLog  # noqa: E402
from ksql.engine.schema_registry import Schema  # noqa: E402
from ksql.engine.schema_registry.remote import RemoteSchemaRegistry  # noqa: E402
from ksql.engine.schema_registry.rest import create_app  # noqa: E402


@pytest.fixture
def served_engine():
    """An engine on an in-memory log, its registry's REST API on 127.0.0.1 at a free port."""
    engine = Engine(MemoryLog(), EngineConfig(properties={"auto.offset.reset": "earliest"},
                                              create_missing_topics=True))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine.schema_registry), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield engine, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.close()


def test_avro_deserializer_reads_sink_rows(served_engine):
    engine, url = served_engine
    engine.execute("CREATE STREAM ORDERS (ID INT KEY, NAME STRING, AMOUNT DECIMAL(5, 2), TAGS ARRAY<STRING>) "
                   "WITH (kafka_topic='orders', format='AVRO', partitions=1);")
    engine.execute("CREATE STREAM BIG WITH (kafka_topic='big_orders') AS "
                   "SELECT ID, UCASE(NAME) AS NAME, AMOUNT, TAGS FROM ORDERS WHERE AMOUNT > 2;")
    engine.execute("INSERT INTO ORDERS (ID, NAME, AMOUNT, TAGS) VALUES (1, 'apple', 1.50, ARRAY['x']);")
    engine.execute("INSERT INTO ORDERS (ID, NAME, AMOUNT, TAGS) VALUES (2, 'pear', 12.25, ARRAY['y', 'z']);")
    engine.execute("INSERT INTO ORDERS (ID, AMOUNT) VALUES (3, 3.00);")
    engine.run_until_idle()

    client = schema_registry.SchemaRegistryClient({"url": url})
    assert sorted(client.get_subjects()) == ["big_orders-key", "big_orders-value", "orders-key", "orders-value"]
    keys, values = avro.AvroDeserializer(client), avro.AvroDeserializer(client)
    key_ctx = serialization.SerializationContext("big_orders", serialization.MessageField.KEY)
    value_ctx = serialization.SerializationContext("big_orders", serialization.MessageField.VALUE)
    rows = [(keys(r.key, key_ctx), values(r.value, value_ctx))
            for r in engine.log.read("big_orders", 0, 0, 100)]
    assert rows == [
        (2, {"NAME": "PEAR", "AMOUNT": Decimal("12.25"), "TAGS": ["y", "z"]}),
        (3, {"NAME": None, "AMOUNT": Decimal("3.00"), "TAGS": None}),
    ]
    latest = client.get_latest_version("big_orders-value")
    assert latest.schema.schema_type == "AVRO"
    assert '"name": "KsqlDataSourceSchema"' in latest.schema.schema_str


def test_remote_registry_client_against_the_rest_api(served_engine):
    engine, url = served_engine
    remote = RemoteSchemaRegistry(url)
    try:
        schema = Schema('{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}')
        schema_id = remote.register("r-value", schema)
        assert remote.schema_by_id(schema_id).schema_str == schema.schema_str
        assert remote.latest("r-value").version == 1
        assert remote.lookup("r-value", schema).id == schema_id
        assert remote.subject_exists("r-value") and not remote.subject_exists("nope")
        assert remote.get_compatibility() == "BACKWARD"
        breaking = Schema('{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}')
        assert remote.compatibility_problems("r-value", breaking)
        with pytest.raises(Exception, match="incompatible") as err:
            remote.register("r-value", breaking)
        assert err.value.error_code == 409
        assert engine.schema_registry.versions("r-value") == [1]
    finally:
        remote.close()
