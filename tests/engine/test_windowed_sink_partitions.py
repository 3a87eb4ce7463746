"""The partition of a windowed result: its key's, whatever the window.

Kafka Streams writes a windowed key with WindowedStreamPartitioner, which hashes the serialized key
without its window; so every window of one key lands in one partition, in the order it was computed.
"""

from __future__ import annotations

import pytest

from ksql.engine.codec import decode_window
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record, default_partition

PARTITIONS = 4


@pytest.mark.parametrize("window, key_format, key", [
    ("HOPPING (SIZE 5 SECONDS, ADVANCE BY 1 SECOND)", "KAFKA", "a"),
    ("TUMBLING (SIZE 1 SECOND)", "JSON", "b"),
    ("SESSION (2 SECONDS)", "KAFKA", "c"),
])
def test_every_window_of_a_key_lands_in_the_partition_of_the_key(window, key_format, key):
    log = MemoryLog()
    engine = Engine(log, EngineConfig())
    try:
        engine.execute(f"CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions={PARTITIONS}, "
                       f"key_format='{key_format}', value_format='JSON');")
        engine.execute(f"CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S WINDOW {window} GROUP BY K;")
        sink = engine.metastore.get("T")
        key_bytes = b'"%s"' % key.encode() if key_format == "JSON" else key.encode()
        home = default_partition(key_bytes, PARTITIONS)
        for ts in (10_000, 10_500, 13_000, 17_000):
            log.append("s", home, [Record(key_bytes, b'{"V": 1}', ts, [])])
            engine.run_until_idle()
        written = {p: log.end_offset(sink.topic, p) - log.start_offset(sink.topic, p) for p in range(PARTITIONS)}
        assert written[home] >= 4 and sum(written.values()) == written[home]
        starts = [decode_window(r.key, sink.window)[1] for r in log.read(sink.topic, home, 0, 100)]
        assert len(set(starts)) > 1  # several windows, all in the key's partition
    finally:
        engine.close()
