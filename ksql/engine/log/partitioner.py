"""Kafka's default partitioner: murmur2 of the serialized key, exactly as the Java client."""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`: returns a signed 32-bit int like the Java code."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    m = _M
    n4 = length & ~3
    i = 0
    while i < n4:
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & _MASK
        k ^= k >> 24
        k = (k * m) & _MASK
        h = ((h * m) & _MASK) ^ k
        i += 4
    rest = length & 3
    if rest == 3:
        h ^= data[n4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 + 1] << 8
    if rest >= 1:
        h ^= data[n4]
        h = (h * m) & _MASK
    h ^= h >> 13
    h = (h * m) & _MASK
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def to_positive(n: int) -> int:
    """Kafka's `Utils.toPositive`."""
    return n & 0x7FFFFFFF


def default_partition(key: bytes | None, num_partitions: int) -> int:
    """Partition of a record: murmur2-based for keys; 0 for null keys (deterministic)."""
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    if key is None:
        return 0
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
