"""PRINT topic: a topic's records as the lines ksqlDB's PRINT streams over /query.

    Key format: KAFKA_STRING
    Value format: JSON
    rowtime: 2021/05/19 14:44:40.893 Z, key: k1, value: {"ID":10}, partition: 0

Keys and values are shown in the formats of the stream or table declared over
the topic when there is one, else as text (or numbers, for 4 and 8 byte binary
keys and values, which is how KAFKA-format INT and BIGINT look).
"""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal

from ksql.engine.codec import key_serde, value_serde
from ksql.engine.log import Log, Record
from ksql.engine.metastore import DataSource
from ksql.engine.serde import spec_values
from ksql.errors import KsqlError
from ksql.functions.javalib import format_timestamp, java_double_str
from ksql.parser import ast


def resolve_topic(log: Log, name: str) -> str:
    if log.topic_exists(name):
        return name
    matches = [t for t in log.list_topics() if t.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise KsqlError(f"Could not find topic '{name}', or the KSQL user does not have permissions to list the "
                    "topic. Topic names are case-sensitive.")


def format_name(source: DataSource | None, is_key: bool) -> str:
    if source is None:
        return "KAFKA_STRING"
    fmt = source.formats.key if is_key else source.formats.value
    if fmt.name == "KAFKA":
        columns = source.schema.key if is_key else source.schema.serialized_value
        return "KAFKA_" + (str(columns[0].type) if columns else "STRING")
    return fmt.name


def _text(value: object) -> str:
    if isinstance(value, float):
        return java_double_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TopicPrinter:
    """Yields PRINT's lines for new records of one topic, honouring INTERVAL and LIMIT."""

    def __init__(self, log: Log, stmt: ast.Print, sources: list[DataSource]):
        self.log = log
        self.topic = resolve_topic(log, stmt.topic)
        self.source = next((s for s in sources if s.topic == self.topic), None)
        self.interval = max(1, stmt.interval or 1)
        self.limit = stmt.limit
        self.seen = 0
        self.printed = 0
        self.started = False
        partitions = log.topic_config(self.topic).partitions
        self.positions = {p: (log.start_offset(self.topic, p) if stmt.from_beginning
                              else log.end_offset(self.topic, p)) for p in range(partitions)}
        self._key = self._decoder(True)
        self._value = self._decoder(False)

    @property
    def done(self) -> bool:
        return self.limit is not None and self.printed >= self.limit

    def _decoder(self, is_key: bool):
        source = self.source
        if source is None or (source.window is not None and is_key):
            return untyped_text
        fmt = source.formats.key if is_key else source.formats.value
        columns = source.schema.key if is_key else source.schema.serialized_value
        if fmt.name in ("JSON", "DELIMITED") or not columns:
            return untyped_text
        if fmt.name in spec_values.SR_FORMATS:  # a schema-registry format: the record as JSON
            def decode_record(data: bytes | None) -> str:
                if data is None:
                    return "<null>"
                try:
                    value = spec_values.decode_side(fmt, data, topic=source.topic, is_key=is_key, columns=columns)
                    return json.dumps(value, separators=(",", ":"), default=_json_default)
                except Exception:  # noqa: BLE001 - bytes the format cannot read (too deep, cut, ...) print raw
                    return untyped_text(data)
            return decode_record
        serde = key_serde(source.schema, fmt) if is_key else value_serde(source.schema, fmt)

        def decode(data: bytes | None) -> str:
            if data is None:
                return "<null>"
            try:
                row = serde.deserialize(data)
            except Exception:  # noqa: BLE001 - bytes the format cannot read print raw
                return untyped_text(data)
            if row is None:
                return "<null>"
            return ", ".join("null" if v is None else _text(v) for v in row)
        return decode

    def poll(self, max_records: int = 1000) -> list[str]:
        lines: list[str] = []
        if not self.started:
            self.started = True
            lines += [f"Key format: {format_name(self.source, True)}",
                      f"Value format: {format_name(self.source, False)}"]
        for partition, offset in self.positions.items():
            if self.done:
                break
            records = self.log.read(self.topic, partition, offset, max_records)
            for rec in records:
                self.positions[partition] = rec.offset + 1
                self.seen += 1
                if (self.seen - 1) % self.interval:
                    continue
                lines.append(self.line(rec))
                self.printed += 1
                if self.done:
                    break
        return lines

    def key_text(self, rec: Record) -> str:
        """The record's key as PRINT shows it (in the format of the source over the topic, if any)."""
        return self._key(rec.key)

    def value_text(self, rec: Record) -> str:
        """The record's value as PRINT shows it."""
        return self._value(rec.value)

    def line(self, rec: Record) -> str:
        date, _, time_of_day = format_timestamp(rec.timestamp).partition("T")  # any long, as Java prints it
        year, month, day = date.rsplit("-", 2)
        stamp = f"{year}/{month}/{day} {time_of_day} Z"
        return (f"rowtime: {stamp}, key: {self._key(rec.key)}, value: {self._value(rec.value)}, "
                f"partition: {rec.partition}")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def untyped_text(data: bytes | None) -> str:
    if data is None:
        return "<null>"
    try:
        text = data.decode("utf-8")
        if text.isprintable():
            return text
    except UnicodeDecodeError:
        pass
    if len(data) == 4:
        return str(struct.unpack(">i", data)[0])
    if len(data) == 8:
        return str(struct.unpack(">q", data)[0])
    return data.hex()
