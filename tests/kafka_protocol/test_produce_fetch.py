"""Produce and Fetch at the protocol level (kafka-python's structs over a socket): idempotent producers'
retries land once, gaps and old epochs are refused, fetches wait for data, offsets are listed."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from tests.kafka_protocol.conftest import KafkaServer
from tests.kafka_protocol.test_quickstart import consume_all, create_topic


class RawClient:
    """One connection speaking requests built with kafka-python's protocol classes."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.correlation_id = 0

    def send(self, request, version: int):
        self.correlation_id += 1
        request.API_VERSION = version
        request.with_header(correlation_id=self.correlation_id, client_id="raw")
        self.sock.sendall(bytes(request.encode(header=True, framed=True)))
        size = struct.unpack(">i", self._read(4))[0]
        response_cls = request.header.get_response_class()
        return response_cls.decode(self._read(size), version=version, header=True)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the broker")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def _batch(values: list[bytes], producer_id: int = -1, epoch: int = -1, sequence: int = -1) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                        batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=1_000 + i, key=None, value=value, headers=[])
    return bytes(builder.build())


def _produce(client: RawClient, topic: str, records: bytes, partition: int = 0):
    request = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=10_000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.TopicProduceData.PartitionProduceData(index=partition, records=records)])])
    [topic_response] = client.send(request, 9).responses
    [partition_response] = topic_response.partition_responses
    return partition_response


@pytest.fixture
def topic(kafka_server: KafkaServer) -> str:
    name = f"raw-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_server, name, 1)
    return name


def test_idempotent_retries_land_once(kafka_server: KafkaServer, topic: str) -> None:
    client = RawClient(kafka_server.bootstrap)
    try:
        ids = client.send(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000), 4)
        assert ids.error_code == 0 and ids.producer_id >= 0 and ids.producer_epoch == 0
        pid = ids.producer_id
        first = _produce(client, topic, _batch([b"a", b"b"], pid, 0, 0))
        retry = _produce(client, topic, _batch([b"a", b"b"], pid, 0, 0))  # the acknowledgement was lost
        assert (first.error_code, first.base_offset) == (0, 0)
        assert (retry.error_code, retry.base_offset) == (0, 0)
        assert _produce(client, topic, _batch([b"c"], pid, 0, 2)).base_offset == 2
        gap = _produce(client, topic, _batch([b"e"], pid, 0, 9))
        assert gap.error_code == 45 and "sequence 9 where 3 was due" in gap.error_message  # OUT_OF_ORDER
        bumped = client.send(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000,
                                                   producer_id=pid, producer_epoch=0), 4)
        assert (bumped.producer_id, bumped.producer_epoch) == (pid, 1)
        assert _produce(client, topic, _batch([b"d"], pid, 1, 0)).base_offset == 3
        fenced = _produce(client, topic, _batch([b"z"], pid, 0, 3))
        assert fenced.error_code == 47  # INVALID_PRODUCER_EPOCH
    finally:
        client.close()
    assert [m.value() for m in consume_all(kafka_server.bootstrap, topic, 1, 4)] == [b"a", b"b", b"c", b"d"]


def test_confluent_idempotent_producer(kafka_server: KafkaServer, topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_server.bootstrap, "enable.idempotence": True,
                         "linger.ms": 2})
    for i in range(500):
        producer.produce(topic, value=str(i).encode())
    assert producer.flush(30) == 0
    values = [m.value() for m in consume_all(kafka_server.bootstrap, topic, 1, 500)]
    assert values == [str(i).encode() for i in range(500)]


def test_bad_produce_requests(kafka_server: KafkaServer, topic: str) -> None:
    client = RawClient(kafka_server.bootstrap)
    try:
        assert _produce(client, "no-such-topic", _batch([b"x"])).error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION
        assert _produce(client, topic, _batch([b"x"]), partition=7).error_code == 3
        damaged = bytearray(_batch([b"x"]))
        damaged[-1] ^= 1
        refused = _produce(client, topic, bytes(damaged))
        assert refused.error_code == 2 and "CRC32C" in refused.error_message  # CORRUPT_MESSAGE
    finally:
        client.close()


def _fetch(client: RawClient, topic: str, offset: int, max_wait_ms: int, min_bytes: int = 1):
    request = FetchRequest(replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=1 << 20,
                           isolation_level=0, session_id=0, session_epoch=-1, topics=[
                               FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchTopic.FetchPartition(
                                   partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)])],
                           forgotten_topics_data=[], rack_id="")
    [topic_response] = client.send(request, 11).responses
    return topic_response.partitions[0]


def test_fetch_waits_for_data(kafka_server: KafkaServer, topic: str) -> None:
    client = RawClient(kafka_server.bootstrap)
    producer = RawClient(kafka_server.bootstrap)
    try:
        empty = _fetch(client, topic, 0, max_wait_ms=100)
        assert (empty.error_code, empty.high_watermark, empty.records) == (0, 0, b"")
        later = threading.Timer(0.3, lambda: _produce(producer, topic, _batch([b"late"])))
        later.start()
        started = time.monotonic()
        waited = _fetch(client, topic, 0, max_wait_ms=20_000)
        later.join()
        assert time.monotonic() - started < 15  # answered when the record came, not at max_wait_ms
        assert waited.high_watermark == 1 and b"late" in waited.records
        out_of_range = _fetch(client, topic, 5, max_wait_ms=0)
        assert out_of_range.error_code == 1  # OFFSET_OUT_OF_RANGE
    finally:
        client.close()
        producer.close()


def test_list_offsets(kafka_server: KafkaServer, topic: str) -> None:
    client = RawClient(kafka_server.bootstrap)
    try:
        for ts in (1_000, 2_000, 3_000):
            builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
            builder.append(0, timestamp=ts, key=None, value=b"v", headers=[])
            _produce(client, topic, bytes(builder.build()))

        def lookup(timestamp: int) -> tuple[int, int]:
            request = ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
                ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[
                    ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(partition_index=0,
                                                                             timestamp=timestamp)])])
            [answer] = client.send(request, 7).topics[0].partitions
            assert answer.error_code == 0
            return answer.timestamp, answer.offset

        assert lookup(-2)[1] == 0 and lookup(-1)[1] == 3
        assert lookup(1_500) == (2_000, 1)
        assert lookup(9_000) == (-1, -1)
        assert lookup(-3) == (3_000, 2)
    finally:
        client.close()
    consumer = Consumer({"bootstrap.servers": kafka_server.bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 3)
        [found] = consumer.offsets_for_times([TopicPartition(topic, 0, 2_500)], timeout=10)
        assert found.offset == 2
    finally:
        consumer.close()
