"""A poll of a persistent query is one round over every partition (the embedded log).

The round writes its output, then one changelog checkpoint for all the partitions it
read (an aggregation), then ONE commit of its input offsets; a GROUP BY on the key
needs no repartition topic, and a restart resumes from the round's checkpoint with
every record counted once.
"""

from __future__ import annotations

import orjson

from ksql.engine.aggregate import changelog_topic
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import EmbeddedLog, Record, TopicConfig

PARTITIONS = 3
STATEMENTS = ["CREATE STREAM E (K STRING KEY, V INT) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');",
              "CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM E GROUP BY K;"]
EARLIEST = {"auto.offset.reset": "earliest"}


def _start(path) -> tuple[EmbeddedLog, Engine]:
    log = EmbeddedLog(str(path))
    if not log.topic_exists("events"):
        log.create_topic("events", TopicConfig(partitions=PARTITIONS))
    engine = Engine(log, EngineConfig(properties=EARLIEST))
    for sql in STATEMENTS:
        engine.execute(sql)
    return log, engine


def _counts(engine: Engine) -> dict:
    engine.run_until_idle()
    return {r[0]: r[1] for r in engine.pull_query("SELECT K, N FROM COUNTS;").rows}


def test_a_round_commits_once_and_checkpoints_its_state_once(tmp_path, monkeypatch):
    log, engine = _start(tmp_path)
    [query] = engine.queries.values()
    for p in range(PARTITIONS):
        log.append("events", p, [Record(f"key{p}".encode(), orjson.dumps({"V": i}), 1_000 + i, [])
                                 for i in range(p + 1)])
    commits: list[dict] = []
    changelog_appends: list[int] = []
    real_commit, real_append_batch = log.commit, log.append_batch
    changelog = changelog_topic("default_", query.query_id)

    def commit(group, offsets):
        commits.append(dict(offsets))
        real_commit(group, offsets)

    def append_batch(topic, partition, batch):
        if topic == changelog:
            changelog_appends.append(len(batch))
        return real_append_batch(topic, partition, batch)

    monkeypatch.setattr(log, "commit", commit)
    monkeypatch.setattr(log, "append_batch", append_batch)
    assert query.poll() == 1 + 2 + 3
    assert commits == [{("events", p): p + 1 for p in range(PARTITIONS)}]
    assert len(changelog_appends) == 1  # the three groups' state and one checkpoint, in one append
    assert not [t for t in log.list_topics() if t.endswith("-repartition")]
    monkeypatch.undo()
    assert _counts(engine) == {"key0": 1, "key1": 2, "key2": 3}
    engine.close()
    log.close()

    log, engine = _start(tmp_path)  # the round's checkpoint: nothing counted twice, nothing lost
    log.append("events", 2, [Record(b"key2", orjson.dumps({"V": 9}), 5_000, [])])
    assert _counts(engine) == {"key0": 1, "key1": 2, "key2": 4}
    engine.close()
    log.close()
