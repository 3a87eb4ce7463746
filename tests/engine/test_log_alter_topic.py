"""EmbeddedLog.alter_topic: new retention / cleanup settings and added partitions, kept across a reopen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ksql.engine.log import EmbeddedLog, InvalidTopicError, Record, TopicConfig


def test_added_partitions_and_settings_survive_a_reopen(tmp_path: Path) -> None:
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        log.create_topic("t", TopicConfig(partitions=1))
        log.append("t", 0, [Record(b"k", b"v", 1)])
        log.alter_topic("t", TopicConfig(partitions=3, retention_ms=60_000, cleanup_policy="compact"))
        assert log.partitions("t") == 3
        assert log.append("t", 2, [Record(None, b"new", 2)]) == [0]
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        assert log.topic_config("t") == TopicConfig(partitions=3, retention_ms=60_000, cleanup_policy="compact")
        assert [r.value for r in log.read("t", 0, 0)] == [b"v"]
        assert [r.value for r in log.read("t", 2, 0)] == [b"new"]


def test_fewer_partitions_or_a_bad_policy_is_refused(tmp_path: Path) -> None:
    with EmbeddedLog(str(tmp_path), fsync="never") as log:
        log.create_topic("t", TopicConfig(partitions=2))
        with pytest.raises(InvalidTopicError, match="partitions can only be added"):
            log.alter_topic("t", TopicConfig(partitions=1))
        with pytest.raises(InvalidTopicError, match="cleanup_policy"):
            log.alter_topic("t", TopicConfig(partitions=2, cleanup_policy="shred"))
        assert log.topic_config("t") == TopicConfig(partitions=2)


def test_new_retention_is_honoured(tmp_path: Path) -> None:
    with EmbeddedLog(str(tmp_path), fsync="never", segment_bytes=100, clock=lambda: 10_000) as log:
        log.create_topic("t")
        for ts in range(10):
            log.append("t", 0, [Record(None, b"x" * 50, ts)])
        log.enforce_retention()
        assert log.start_offset("t", 0) == 0
        log.alter_topic("t", replace(log.topic_config("t"), retention_ms=1_000))
        log.enforce_retention()
        assert log.start_offset("t", 0) == 9  # every closed segment is older than 1 s
