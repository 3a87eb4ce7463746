"""A query reading a Kafka partition batch after batch keeps librdkafka prefetching.

The log's reader pauses a partition whose buffer fills (records nobody reads), and a
paused partition is not fetched: a sequential reader must never get there, or each of
its reads would wait for a fetch instead of finding the next records already fetched.
"""

from __future__ import annotations

from ksql.engine.log import Record, TopicConfig
from ksql.engine.log.kafka import KafkaLog


class CountingConsumer:
    """The reader's consumer, its pauses counted (confluent-kafka's Consumer cannot be patched)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.paused: list = []

    def pause(self, partitions):
        self.paused.extend((tp.topic, tp.partition) for tp in partitions)
        return self.inner.pause(partitions)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_sequential_reader_never_pauses_its_partition(kafka_bootstrap, unique, monkeypatch):
    topic = f"sequential-{unique}"
    log = KafkaLog(kafka_bootstrap)
    try:
        log.create_topic(topic, TopicConfig(partitions=1))
        for start in range(0, 40_000, 5_000):
            log.append(topic, 0, [Record(b"k", b"%d" % i, 1_000, []) for i in range(start, start + 5_000)])
        consumer = CountingConsumer(log.reader.consumer)
        monkeypatch.setattr(log.reader, "consumer", consumer)
        offset, values = 0, []
        while offset < 40_000:
            batch = log.read_batch(topic, 0, offset, 5_000)
            assert len(batch), f"nothing read at {offset}"
            values += batch.values
            offset = batch.offsets[-1] + 1
        assert values == [b"%d" % i for i in range(40_000)]
        assert consumer.paused == []
    finally:
        log.close()
