"""KAFKA format (Kafka's primitive serializers) and NONE format, plus the zero-column serde."""

from __future__ import annotations

import struct

from ksql.engine.serde.base import Column, Serde
from ksql.engine.serde.formats import FormatSpec, columns_str
from ksql.errors import SerdeError


class EmptySerde(Serde):
    """No columns on this side: nothing is written, and any bytes read are ignored."""

    def serialize(self, row):
        return None

    def deserialize(self, data):
        return []

    def serialize_many(self, rows, start, stop):
        return [None] * len(rows)

    def deserialize_many(self, datas):
        return [()] * len(datas)


_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")


def _ser_int(v):
    try:
        return _INT.pack(v)
    except struct.error as e:
        raise SerdeError(f"Error serializing KAFKA message: INTEGER value out of range: {v}") from e


def _ser_long(v):
    try:
        return _LONG.pack(v)
    except struct.error as e:
        raise SerdeError(f"Error serializing KAFKA message: BIGINT value out of range: {v}") from e


def _ser_double(v):
    return _DOUBLE.pack(float(v))


def _ser_string(v):
    return v.encode("utf-8")


def _ser_bytes(v):
    return bytes(v)


def _de_int(data):
    if len(data) != 4:
        raise SerdeError("Size of data received by IntegerDeserializer is not 4")
    return _INT.unpack(data)[0]


def _de_long(data):
    if len(data) != 8:
        raise SerdeError("Size of data received by LongDeserializer is not 8")
    return _LONG.unpack(data)[0]


def _de_double(data):
    if len(data) != 8:
        raise SerdeError("Size of data received by Deserializer is not 8")
    return _DOUBLE.unpack(data)[0]


def _de_string(data):
    return bytes(data).decode("utf-8", errors="replace")


def _de_bytes(data):
    return bytes(data)


_CODECS = {
    "INTEGER": (_ser_int, _de_int),
    "BIGINT": (_ser_long, _de_long),
    "DOUBLE": (_ser_double, _de_double),
    "STRING": (_ser_string, _de_string),
    "BYTES": (_ser_bytes, _de_bytes),
}


class KafkaSerde(Serde):
    __slots__ = ("_ser", "_de", "_topic")

    def __init__(self, column: Column, topic: str):
        self._ser, self._de = _CODECS[column.type.base]
        self._topic = topic

    def serialize(self, row):
        if row is None:
            return None
        v = row[0]
        if v is None:
            return None
        return self._ser(v)

    def deserialize(self, data):
        if data is None:
            return None
        try:
            return [self._de(data)]
        except SerdeError as e:
            raise SerdeError(f"Error deserializing KAFKA message from topic: {self._topic}. {e}") from None

    def serialize_many(self, rows, start, stop):
        ser = self._ser
        try:
            if ser is _ser_string:
                return [None if (v := row[start]) is None else v.encode("utf-8") for row in rows]
            return [None if (v := row[start]) is None else ser(v) for row in rows]
        except Exception:  # noqa: BLE001 - redone one by one to raise exactly what serialize() raises
            return super().serialize_many(rows, start, stop)

    def deserialize_many(self, datas):
        de = self._de
        try:
            if de is _de_string:  # bytes (not memoryview / bytearray) decode without the copy
                return [None if d is None else (d.decode("utf-8", "replace"),) for d in datas]
            return [None if d is None else (de(d),) for d in datas]
        except Exception:  # noqa: BLE001 - redone one by one to raise exactly what deserialize() raises
            return super().deserialize_many(datas)


class KafkaFormat(FormatSpec):
    name = "KAFKA"
    wrap_values = frozenset({False})

    def schema_problem(self, columns, is_key):
        if not columns:
            return None
        if len(columns) != 1:
            return f"The 'KAFKA' format only supports a single field. Got: {columns_str(columns, is_key)}"
        t = columns[0].type
        if t.base not in _CODECS:
            return f"The 'KAFKA' format does not support type '{t.base}'"
        return None

    def features(self, columns, is_key, wrap_single_value):
        return ["UNWRAP_SINGLES"] if (not is_key and wrap_single_value is False) else []

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic):
        if not columns:
            return EmptySerde()
        return KafkaSerde(columns[0], topic)


class NoneFormat(FormatSpec):
    name = "NONE"

    def schema_problem(self, columns, is_key):
        if columns:
            return ("The 'NONE' format can only be used when no columns are defined. "
                    f"Got: {columns_str(columns, is_key)}")
        return None

    def create(self, columns, *, is_key, wrap_single_value, delimiter, topic):
        return EmptySerde()


__all__ = ["EmptySerde", "KafkaFormat", "KafkaSerde", "NoneFormat"]
