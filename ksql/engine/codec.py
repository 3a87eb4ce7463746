"""Records <-> rows for a source: decoding log records into query rows and encoding results back.

A decoded row is a tuple laid out as planner.analysis.source_scope describes:
key columns, value columns (headers filled from record headers), ROWTIME,
ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND (None when unwindowed), raw headers,
value-is-null.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from operator import itemgetter

from ksql.engine.formats import FormatInfo
from ksql.engine.log import Record, RecordBatch, default_partition
from ksql.engine.metastore import DataSource, WindowInfo
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.schema import HEADER, HEADERS, LogicalSchema
from ksql.engine.serde import create_serde
from ksql.engine.serde.base import Column, Serde
from ksql.errors import KsqlError, SerdeError
from ksql.timeformat import parse_to_millis

processing_log = logging.getLogger("ksql.processing")

_LONG = struct.Struct(">q")
_TWO_LONGS = struct.Struct(">qq")


def key_serde(schema: LogicalSchema, fmt: FormatInfo, topic: str = "") -> Serde:
    """`topic` names the registry subject of the schema-registry formats (and error messages)."""
    columns = [Column(c.name, c.type) for c in schema.key]
    return create_serde(fmt.name, columns, is_key=True, delimiter=fmt.delimiter, topic=topic,
                        **fmt.serde_options())


def value_serde(schema: LogicalSchema, fmt: FormatInfo, topic: str = "") -> Serde:
    columns = [Column(c.name, c.type) for c in schema.serialized_value]
    return create_serde(fmt.name, columns, is_key=False, wrap_single_value=fmt.wrap_single_value,
                        delimiter=fmt.delimiter, topic=topic, **fmt.serde_options())


def failure_reason(err: BaseException) -> str:
    """What the processing log says about a record a serde could not read or write.

    SerdeError and KsqlError carry their own message; anything else (a RecursionError
    from deeply nested data, a MemoryError, a library's own exception) is named too."""
    if isinstance(err, KsqlError):
        return str(err)
    if isinstance(err, RecursionError):
        return "the data is nested too deeply to decode"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


# --- windowed keys (Kafka Streams' TimeWindowedSerde / SessionWindowedSerde layout) ----------

def encode_window(key: bytes | None, window: WindowInfo, start: int, end: int) -> bytes:
    key = key or b""
    if window.kind == "SESSION":
        return key + _TWO_LONGS.pack(end, start)
    return key + _LONG.pack(start)


def decode_window(data: bytes, window: WindowInfo) -> tuple[bytes, int, int]:
    """(inner key bytes, window start, window end)."""
    if window.kind == "SESSION":
        if len(data) < 16:
            raise SerdeError("Windowed key is too short for a session window")
        end, start = _TWO_LONGS.unpack_from(data, len(data) - 16)
        return data[:-16], start, end
    if len(data) < 8:
        raise SerdeError("Windowed key is too short for a time window")
    (start,) = _LONG.unpack_from(data, len(data) - 8)
    return data[:-8], start, start + (window.size_ms or 0)


# --- decoding ---------------------------------------------------------------------------------

def _rows_builder(n_keys: int, n_values: int):
    """(keys, values, timestamps, offsets, headers, partition) -> rows, for batches without null
    keys or values: the key and value tuples are unpacked in the loop target, so a None or a
    tuple of another length raises (TypeError / ValueError) instead of building a bad row."""
    ks = [f"k{i}" for i in range(n_keys)]
    vs = [f"v{i}" for i in range(n_values)]

    def target(names: list[str]) -> str:
        return "(" + "".join(f"{n}, " for n in names) + ")"
    row = ", ".join([*ks, *vs, "ts, partition, offset, None, None, headers, False"])
    columns = "timestamps, offsets, headers, strict=True"
    if n_keys:
        loop = f"for {target(ks)}, {target(vs)}, ts, offset, headers in zip(keys, values, {columns})"
    else:
        loop = f"for {target(vs)}, ts, offset, headers in zip(values, {columns})"
    src = (f"def build_rows(keys, values, timestamps, offsets, headers, partition):\n"
           f"    return [({row}) {loop}]\n")
    env: dict = {}
    exec(src, env)  # noqa: S102 - code built from column counts only
    return env["build_rows"]


class RecordDecoder:
    """Decodes a source's records into rows, skipping (and logging) records it cannot read."""

    def __init__(self, source: DataSource, query_id: str = "", throw_on_invalid_timestamp: bool = False,
                 reporter: ProcessingLog | None = None, fail_on_deserialization_error: bool = False):
        self.throw_on_invalid_timestamp = throw_on_invalid_timestamp  # ksql.timestamp.throw.on.invalid
        # ksql.fail.on.deserialization.error: a record no serde reads stops the query instead of being skipped
        self.fail_on_deserialization_error = fail_on_deserialization_error
        self.reporter = reporter or ProcessingLog()  # where skipped records are reported
        self.source = source
        self.query_id = query_id
        schema = source.schema
        self.key_serde = key_serde(schema, source.formats.key, source.topic)
        self.value_serde = value_serde(schema, source.formats.value, source.topic)
        self.window = source.window
        self.n_keys = len(schema.key)
        # value layout: ("v", index into the value serde's row) | ("hs",) | ("h", header key)
        layout: list[tuple] = []
        vi = 0
        for c in schema.value:
            if c.namespace == HEADERS:
                layout.append(("hs",))
            elif c.namespace == HEADER:
                layout.append(("h", c.header_key))
            else:
                layout.append(("v", vi))
                vi += 1
        self.layout = layout if any(x[0] != "v" for x in layout) else None
        self.n_values = len(schema.value)
        self.timestamp_of = self._timestamp_extractor()
        self._build_rows = _rows_builder(self.n_keys, self.n_values)

    def _timestamp_extractor(self) -> Callable[[tuple], int | None] | None:
        col_name = self.source.timestamp_column
        if col_name is None:
            return None
        cols = self.source.schema.key + self.source.schema.value
        index = next(i for i, c in enumerate(cols) if c.name == col_name)
        fmt = self.source.timestamp_format
        if fmt:
            def extract(row: tuple) -> int | None:
                text = row[index]
                return None if text is None else parse_to_millis(text, fmt)
            return extract
        return lambda row: row[index]

    def decode_batch(self, batch: RecordBatch) -> list[tuple]:
        """decode() of a batch read with Log.read_batch.

        Sources without windows, header columns or a timestamp column take one batch
        call per serde and one comprehension; any failure (a record to skip) redoes the
        batch record by record with decode()."""
        if self.window is not None or self.layout is not None or self.timestamp_of is not None:
            return self.decode(batch.records())
        try:
            keys = self.key_serde.deserialize_many(batch.keys) if self.n_keys else None
            values = self.value_serde.deserialize_many(batch.values)
            try:  # no null keys or values: one generated comprehension
                return self._build_rows(keys, values, batch.timestamps, batch.offsets, batch.headers,
                                        batch.partition)
            except (TypeError, ValueError):
                pass
            null_key, null_values = (None,) * self.n_keys, (None,) * self.n_values
            partition = batch.partition
            return [(*(null_key if k is None else k), *(null_values if v is None else v),
                     ts, partition, offset, None, None, headers, v is None)
                    for k, v, ts, offset, headers in zip(keys or [()] * len(values), values, batch.timestamps,
                                                         batch.offsets, batch.headers, strict=True)]
        except Exception:  # noqa: BLE001 - decode() skips and logs, or raises, as it always did
            return self.decode(batch.records())

    def decode_keys(self, batch: RecordBatch) -> list[Sequence | None]:
        """The key columns of each record of an unwindowed source, its value left undecoded (a table's
        view decodes values when they are read); None for a record whose key is null or cannot be read
        (reported as decode() reports it)."""
        try:
            return self.key_serde.deserialize_many(batch.keys)
        except Exception:  # noqa: BLE001 - one of them is this record's fault: found one by one below
            pass
        keys: list[Sequence | None] = []
        key_de = self.key_serde.deserialize
        for data, offset in zip(batch.keys, batch.offsets, strict=True):
            try:
                keys.append(key_de(data))
            except Exception as err:  # noqa: BLE001 - whatever the bytes make a serde raise
                self.reporter.deserialization_error(self.query_id, self.source.topic, batch.partition, offset,
                                                    "key", failure_reason(err), data)
                keys.append(None)
        return keys

    def decode(self, records: list[Record]) -> list[tuple]:
        rows: list[tuple] = []
        key_de = self.key_serde.deserialize
        value_de = self.value_serde.deserialize
        window = self.window
        null_values = [None] * self.n_values
        for rec in records:
            target = "key"
            try:
                key_bytes = rec.key
                wbounds: tuple = (None, None)
                if window is not None and key_bytes is not None:
                    key_bytes, ws, we = decode_window(key_bytes, window)
                    wbounds = (ws, we)
                key = key_de(key_bytes) if self.n_keys else []
                if key is None:
                    key = [None] * self.n_keys
                target = "value"
                value = value_de(rec.value) if rec.value is not None else None
            except Exception as err:  # noqa: BLE001 - whatever the bytes make a serde raise is this record's fault
                self.reporter.deserialization_error(self.query_id, self.source.topic, rec.partition, rec.offset,
                                                    target, failure_reason(err),
                                                    rec.key if target == "key" else rec.value)
                if self.fail_on_deserialization_error:
                    raise KsqlError(
                        "Deserialization exception handler is set to fail upon a deserialization error. If you "
                        "would rather have the streaming pipeline continue after a deserialization error, please "
                        "set the default.deserialization.exception.handler appropriately. Failed to deserialize "
                        f"{target} of record at {self.source.topic}/{rec.partition} offset {rec.offset}: "
                        f"{failure_reason(err)}") from None
                continue
            if value is None:
                values = null_values
            elif self.layout is None:
                values = value
            else:
                values = self._with_headers(value, rec.headers)
            row = (*key, *values, rec.timestamp, rec.partition, rec.offset, *wbounds, rec.headers,
                   value is None)
            if self.timestamp_of is not None:
                try:
                    ts = self.timestamp_of(row)
                except Exception as err:  # noqa: BLE001 - an unreadable timestamp is this record's fault
                    if self.throw_on_invalid_timestamp:
                        raise KsqlError("Fatal user code error in TimestampExtractor callback for record "
                                        f"at {self.source.topic}/{rec.partition} offset {rec.offset}: "
                                        f"{err}") from None
                    self.reporter.record_processing_error(
                        self.query_id, f"skipped record with bad timestamp at offset {rec.offset}: {err}", row)
                    continue
                if ts is None or ts < 0:
                    self.reporter.record_processing_error(
                        self.query_id, f"skipped record with invalid timestamp {ts} at offset {rec.offset}", row)
                    continue
                nk = self.n_keys + self.n_values
                row = (*row[:nk], ts, *row[nk + 1:])
            rows.append(row)
        return rows

    def _with_headers(self, value: list, headers) -> list:
        out = []
        for item in self.layout:
            if item[0] == "v":
                out.append(value[item[1]])
            elif item[0] == "hs":
                out.append([{"KEY": k, "VALUE": v} for k, v in headers])
            else:
                found = None
                for k, v in headers:
                    if k == item[1]:
                        found = v
                out.append(found)
        return out


# --- encoding ----------------------------------------------------------------------------------

_LAST = itemgetter(-1)


class RecordEncoder:
    """Encodes result rows for a sink and groups them by partition.

    A result row is (key columns..., value columns..., rowtime, headers, window start,
    window end, input partition, value-is-null).
    """

    def __init__(self, sink: DataSource, partitions: int, query_id: str = "",
                 null_key_when_all_null: bool = False, reporter: ProcessingLog | None = None):
        schema = sink.schema
        self.reporter = reporter or ProcessingLog()  # where dropped results are reported
        # a key copied from a null source key stays null, whatever the key format
        self.null_key_when_all_null = null_key_when_all_null and len(schema.key) > 1
        self.sink = sink
        self.query_id = query_id
        self.partitions = partitions
        self.n_keys = len(schema.key)
        self.n_values = len(schema.value)
        self.key_serde = key_serde(schema, sink.formats.key, sink.topic)
        self.value_serde = value_serde(schema, sink.formats.value, sink.topic)
        self.window = sink.window
        value_names = [c.name for c in schema.value]
        ts_col = sink.timestamp_column
        self.ts_index: int | None = None
        if ts_col is not None:
            key_names = [c.name for c in schema.key]
            self.ts_index = (key_names.index(ts_col) if ts_col in key_names
                             else self.n_keys + value_names.index(ts_col))
        self.ts_format = sink.timestamp_format  # a STRING timestamp column's pattern

    def timestamp_of(self, value) -> int | None:
        """The sink record's time from its TIMESTAMP column (a string parsed with its pattern)."""
        if value is None or self.ts_format is None:
            return value
        try:
            return parse_to_millis(value, self.ts_format)
        except KsqlError as err:
            processing_log.warning("%s: unparseable timestamp %r: %s", self.query_id, value, err)
            return None

    def encode_batches(self, rows: list[tuple]) -> dict[int, RecordBatch]:
        """encode() as one RecordBatch per partition (for Log.append_batch).

        Without a timestamp column, window or null values, each serde serializes the
        whole batch in one call; otherwise, or if any row fails, this is encode()."""
        nk, nv = self.n_keys, self.n_values
        if (self.ts_index is not None or self.window is not None or self.null_key_when_all_null
                or any(map(_LAST, rows))):
            return {p: RecordBatch.of(records) for p, records in self.encode(rows).items()}
        ts_slot = nk + nv
        try:
            keys = self.key_serde.serialize_many(rows, 0, nk) if nk else [None] * len(rows)
            values = self.value_serde.serialize_many(rows, nk, ts_slot)
        except Exception:  # noqa: BLE001 - encode() drops and logs, or raises, as it always did
            return {p: RecordBatch.of(records) for p, records in self.encode(rows).items()}
        timestamps = list(map(itemgetter(ts_slot), rows))
        headers = list(map(itemgetter(ts_slot + 1), rows))
        partitions = self.partitions
        if partitions == 1:
            return {0: RecordBatch(keys, values, timestamps, headers)}
        # murmur2 once per distinct key of the batch
        partition_of = {key: default_partition(key, partitions) for key in set(keys) if key is not None}
        out: dict[int, RecordBatch] = {}
        for key, value, ts, hs, row in zip(keys, values, timestamps, headers, rows, strict=True):
            p = row[-2] % partitions if key is None else partition_of[key]
            batch = out.get(p)
            if batch is None:
                batch = out[p] = RecordBatch([], [], [], [])
            batch.keys.append(key)
            batch.values.append(value)
            batch.timestamps.append(ts)
            batch.headers.append(hs)
        return out

    def encode(self, rows: list[tuple]) -> dict[int, list[Record]]:
        out: dict[int, list[Record]] = {}
        nk, nv = self.n_keys, self.n_values
        ts_slot, headers_slot, wstart_slot = nk + nv, nk + nv + 1, nk + nv + 2
        key_ser, value_ser = self.key_serde.serialize, self.value_serde.serialize
        ts_index, window, partitions = self.ts_index, self.window, self.partitions
        null_key_when_all_null = self.null_key_when_all_null
        single = out.setdefault(0, []) if partitions == 1 else None
        for row in rows:
            ts = row[ts_slot] if ts_index is None else self.timestamp_of(row[ts_index])
            if ts_index is not None and (ts is None or ts < 0):
                self.reporter.record_processing_error(self.query_id, f"dropped result with invalid timestamp {ts}",
                                                      row[:ts_slot])
                continue
            try:
                key = list(row[:nk])
                if not nk or (null_key_when_all_null and all(k is None for k in key)):
                    key_bytes = None
                else:
                    key_bytes = key_ser(key)
                # the partition is the key's without its window (Kafka Streams' WindowedStreamPartitioner)
                partition = None if single is not None or key_bytes is None else \
                    default_partition(key_bytes, partitions)
                if window is not None and row[wstart_slot] is not None:
                    key_bytes = encode_window(key_bytes, window, row[wstart_slot], row[wstart_slot + 1])
                value_bytes = None if row[-1] else value_ser(list(row[nk:ts_slot]))
            except Exception as err:  # noqa: BLE001 - a value no serde can write is this result's fault
                self.reporter.serialization_error(self.query_id, self.sink.topic, failure_reason(err), row[:ts_slot])
                continue
            record = Record(key_bytes, value_bytes, ts, row[headers_slot])
            if single is not None:
                single.append(record)
            else:
                out.setdefault(row[-2] % partitions if partition is None else partition, []).append(record)
        return out
