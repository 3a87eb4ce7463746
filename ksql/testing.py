"""TestDriver: run SQL against the real engine on an in-memory log, deterministically.

This is how a user unit-tests their own SQL: create topics, execute statements,
pipe records in (as JSON-like values, serialized with the formats of the source
declared on the topic), and read what the persistent queries wrote. Every pipe
returns only once every query has processed all it can.
"""

from __future__ import annotations

import base64
import decimal
from typing import Any

import orjson

from ksql.engine.codec import decode_window, encode_window, key_serde, value_serde
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record, TopicConfig
from ksql.engine.metastore import DataSource, WindowInfo
from ksql.engine.schema_registry import EmbeddedSchemaRegistry
from ksql.engine.serde import spec_values
from ksql.engine.serde.json_serde import dumps_exact
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry
from ksql.types import BIGINT, BYTES, DOUBLE, INTEGER, STRING, SqlType

# ksqlDB's test runner creates a topic that neither the test nor the statement gives a partition count
# with this many partitions
RUNNER_PARTITIONS = 4


class _RecordingLog(MemoryLog):
    """A MemoryLog that keeps every record in partition 0, and remembers the order of appends made by
    the engine (not by the driver).

    Kafka Streams' TopologyTestDriver, which runs ksqlDB's tests, processes every topic as its
    partition 0: a topic's partition count is seen by the statements (the co-partitioning of joins),
    not by the records, which all pass through one task in the order they were written."""

    def __init__(self) -> None:
        super().__init__()
        self.piping = False
        self.appended: list[tuple[str, int, int]] = []

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        offsets = super().append(topic, 0, records)
        if not self.piping:
            self.appended.extend((topic, 0, o) for o in offsets)
        return offsets


class TestDriver:
    """The engine on an in-memory log, driven record by record (see the conformance README)."""

    __test__ = False  # not a pytest test class

    def __init__(self, properties: dict[str, Any] | None = None, registry: FunctionRegistry | None = None):
        """`registry`: the functions queries may call (default: the built-ins), e.g. with your own UDFs."""
        props = {"auto.offset.reset": "earliest", **(properties or {})}
        self.log = _RecordingLog()
        config = EngineConfig(properties=props, create_missing_topics=True, missing_topic_partitions=RUNNER_PARTITIONS)
        self.engine = Engine(self.log, config, registry)
        # like ksqlDB's test runner (a mock registry), subjects take any new schema
        self.engine.schema_registry = EmbeddedSchemaRegistry(self.log, compatibility="NONE")
        self.topic_specs: dict[str, dict] = {}

    # -- setup ------------------------------------------------------------------------------

    def create_topic(self, spec: dict) -> None:
        name = spec["name"]
        self.topic_specs[name] = spec
        spec_values.register_topic_schemas(self.engine.schema_registry, spec)
        # without a partition count the statements (or the first record piped) create the topic, as
        # ksqlDB's runner takes the count from the statement then
        if "partitions" in spec and not self.log.topic_exists(name):
            self.log.create_topic(name, TopicConfig(partitions=int(spec.get("partitions") or RUNNER_PARTITIONS),
                                                    replicas=int(spec.get("replicas") or 1)))

    def execute(self, sql: str) -> list:
        results = self.engine.execute(sql)
        self.engine.run_until_idle()
        return results

    # -- input ------------------------------------------------------------------------------

    def _source_for(self, topic: str) -> DataSource | None:
        for source in self.engine.metastore.sources.values():
            if source.topic == topic:
                return source
        return None

    def pipe(self, topic: str, key: Any, value: Any, timestamp: int | None = None,
             headers: list[dict] | None = None, window: dict | None = None) -> None:
        if not self.log.topic_exists(topic):
            self.log.create_topic(topic, TopicConfig(partitions=RUNNER_PARTITIONS))
        source = self._source_for(topic)
        spec = self.topic_specs.get(topic, {})
        if source is not None:
            key_bytes = self._encode_side(key, source, is_key=True)
            value_bytes = self._encode_side(value, source, is_key=False)
            win_info = source.window
        else:
            key_bytes = _encode_untyped(key, str(spec.get("keyFormat") or "KAFKA").upper())
            value_bytes = _encode_untyped(value, str(spec.get("valueFormat") or "JSON").upper())
            win_info = None
        if window is not None:
            kind = "SESSION" if str(window.get("type", "")).upper() == "SESSION" else "TUMBLING"
            info = win_info or WindowInfo(kind, int(window["end"]) - int(window["start"]))
            key_bytes = encode_window(key_bytes, info, int(window["start"]), int(window["end"]))
        record_headers = [(h["KEY"], None if h.get("VALUE") is None else base64.b64decode(h["VALUE"]))
                          for h in headers or []]
        self.log.piping = True
        try:
            self.log.append(topic, 0, [Record(key_bytes, value_bytes, int(timestamp or 0), record_headers)])
        finally:
            self.log.piping = False
        self.engine.run_until_idle()

    def _encode_side(self, data: Any, source: DataSource, is_key: bool) -> bytes | None:
        if data is None:
            return None
        fmt = source.formats.key if is_key else source.formats.value
        columns = source.schema.key if is_key else source.schema.serialized_value
        name = fmt.name
        if name == "JSON":
            return dumps_exact(data)
        if name == "DELIMITED":
            return (data if isinstance(data, str) else _plain_text(data)).encode()
        if name == "NONE" or not columns:
            return None if name == "NONE" else _encode_untyped(data, "KAFKA")
        if name == "KAFKA":
            serde = key_serde(source.schema, fmt) if is_key else value_serde(source.schema, fmt)
            return serde.serialize([_coerce(data, columns[0].type)])
        if name in spec_values.SR_FORMATS:
            return spec_values.encode_side(self.engine.schema_registry, fmt, data, topic=source.topic,
                                           is_key=is_key, columns=columns)
        raise KsqlError(f"The {name} format is not supported by the test driver")

    # -- output -----------------------------------------------------------------------------

    def read_output(self, topic: str) -> list[dict]:
        source = None
        for s in self.engine.metastore.sources.values():
            if s.topic == topic:
                source = s
        out = []
        for t, partition, offset in self.log.appended:
            if t != topic:
                continue
            rec = self.log.read(t, partition, offset, 1)[0]
            out.append(self._decode_record(rec, source))
        return out

    def _decode_record(self, rec: Record, source: DataSource | None) -> dict:
        key_bytes, window = rec.key, None
        if source is not None and source.window is not None and key_bytes is not None:
            key_bytes, start, end = decode_window(key_bytes, source.window)
            window = {"start": start, "end": end,
                      "type": "SESSION" if source.window.kind == "SESSION" else "TIME"}
        if source is None:
            key = _decode_untyped(key_bytes)
            value = _decode_untyped(rec.value)
        else:
            key = self._decode_side(key_bytes, source, is_key=True)
            value = self._decode_side(rec.value, source, is_key=False)
        return {
            "key": key, "value": value, "key_bytes": rec.key, "value_bytes": rec.value,
            "timestamp": rec.timestamp, "window": window,
            "headers": [{"KEY": k, "VALUE": None if v is None else base64.b64encode(v).decode()}
                        for k, v in rec.headers],
        }

    @staticmethod
    def _decode_side(data: bytes | None, source: DataSource, is_key: bool) -> Any:
        if data is None:
            return None
        fmt = source.formats.key if is_key else source.formats.value
        if fmt.name == "JSON":
            return _json_exact(data)
        if fmt.name == "DELIMITED":
            return data.decode("utf-8")
        if fmt.name == "NONE":
            return None
        if fmt.name in spec_values.SR_FORMATS:
            columns = source.schema.key if is_key else source.schema.serialized_value
            return spec_values.decode_side(fmt, data, topic=source.topic, is_key=is_key, columns=columns)
        serde = key_serde(source.schema, fmt) if is_key else value_serde(source.schema, fmt)
        row = serde.deserialize(data)
        return None if row is None else (row[0] if len(row) == 1 else row)

    def sources(self) -> list[dict]:
        return [{
            "name": s.name, "type": s.kind, "topic": s.topic, "schema": str(s.schema),
            "keyFormat": s.formats.key.name, "valueFormat": s.formats.value.name,
        } for s in self.engine.metastore.sources.values()]

    def close(self) -> None:
        self.engine.close()
        self.log.close()


def _json_exact(data: bytes) -> Any:
    import json

    return json.loads(data, parse_float=decimal.Decimal)


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(value: Any, t: SqlType) -> Any:
    """A test file's JSON value as the runtime value of a column type (for the KAFKA format)."""
    if value is None:
        return None
    if t in (INTEGER, BIGINT):
        return int(value)
    if t == DOUBLE:
        return float(value)
    if t == STRING:
        return value if isinstance(value, str) else _plain_text(value)
    if t == BYTES:
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    return value


def _encode_untyped(value: Any, fmt: str) -> bytes | None:
    """Bytes for a record on a topic no source describes yet, guided by the topic spec's format."""
    if value is None:
        return None
    if fmt == "JSON" or isinstance(value, (dict, list)):
        return dumps_exact(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return orjson.dumps(value)
    if isinstance(value, int):
        return value.to_bytes(8 if abs(value) >= 2**31 else 4, "big", signed=True)
    if isinstance(value, float):
        import struct

        return struct.pack(">d", value)
    return str(value).encode()


def _decode_untyped(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return _json_exact(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")
