"""Kafka topic configs <-> the log's TopicConfig: the settings the embedded log honours.

retention.ms, retention.bytes, cleanup.policy, segment.bytes and delete.retention.ms are
stored in the topic's config and applied by the log's retention and compaction; anything
else is refused with INVALID_CONFIG naming it, rather than accepted and silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ksql.engine.log import TopicConfig

DEFAULTS = TopicConfig()
# Kafka's ConfigType values (DescribeConfigs v3+)
LONG, LIST = 5, 7
POLICIES = ("delete", "compact", "compact,delete")


class ConfigError(ValueError):
    """A config name or value this broker does not take (INVALID_CONFIG)."""


@dataclass(frozen=True)
class Setting:
    name: str  # Kafka's name
    field: str  # TopicConfig's field
    config_type: int
    documentation: str


SETTINGS = {s.name: s for s in (
    Setting("retention.ms", "retention_ms", LONG,
            "How long records are kept (ms) before their segment is deleted; -1: forever"),
    Setting("retention.bytes", "retention_bytes", LONG,
            "The most bytes a partition keeps before its oldest segments are deleted; -1: no limit"),
    Setting("cleanup.policy", "cleanup_policy", LIST,
            "delete (retention), compact (latest record per key), or both"),
    Setting("segment.bytes", "segment_bytes", LONG,
            "The size (bytes) at which a partition's segment is closed and a new one started; -1: the log's own"),
    Setting("delete.retention.ms", "delete_retention_ms", LONG,
            "How long (ms) compaction keeps a tombstone after its segment was written"),
)}
MINIMUMS = {"segment.bytes": 1024}  # a segment must hold at least a record batch


def _parse(setting: Setting, value: str) -> int | str:
    if setting.config_type == LONG:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{setting.name} must be a whole number, got {value!r}") from None
        if number < -1:
            raise ConfigError(f"{setting.name} must be -1 (no limit) or more, got {number}")
        minimum = MINIMUMS.get(setting.name)
        if minimum is not None and number != -1 and number < minimum:
            raise ConfigError(f"{setting.name} must be -1 or at least {minimum}, got {number}")
        return number
    policy = ",".join(sorted(p.strip() for p in value.split(",")))
    if policy not in POLICIES:
        raise ConfigError(f"cleanup.policy must be delete, compact or compact,delete, got {value!r}")
    return policy


def apply(config: TopicConfig, changes: dict[str, str | None]) -> TopicConfig:
    """`config` with the Kafka settings `changes` (None: back to the default). Raises ConfigError."""
    fields = {}
    for name, value in changes.items():
        setting = SETTINGS.get(name)
        if setting is None:
            raise ConfigError(f"config {name!r} is not supported by this broker "
                              f"(supported: {', '.join(SETTINGS)})")
        fields[setting.field] = getattr(DEFAULTS, setting.field) if value is None else _parse(setting, value)
    return replace(config, **fields)


def describe(config: TopicConfig) -> list[tuple[Setting, str, bool]]:
    """(setting, value, is it the default) of every supported setting."""
    out = []
    for setting in SETTINGS.values():
        value = getattr(config, setting.field)
        out.append((setting, str(value), value == getattr(DEFAULTS, setting.field)))
    return out
