"""Inserted rows -> records, refused unless every query over the target would read them.

INSERT VALUES and /inserts-stream acknowledge a row once it is in the log. An
acknowledgement is a promise that the row counts, so a row that the queries over
its target would skip is refused instead of stored: a row of a windowed source
(its key has no window bounds), a table row without its whole key, a row whose
TIMESTAMP column is null, negative or unparseable, a row the formats cannot write,
and a row whose record the target's serdes cannot read back (e.g. a single null
DELIMITED column, written as an empty record).
"""

from __future__ import annotations

from ksql.engine.codec import RecordEncoder, failure_reason
from ksql.engine.log import Record, default_partition
from ksql.engine.metastore import DataSource
from ksql.errors import KsqlError
from ksql.timeformat import parse_to_millis
from ksql.types import ArrayType, MapType, SqlType, StructType

_INTEGRAL_RANGES = {"INTEGER": (-(2**31), 2**31 - 1), "BIGINT": (-(2**63), 2**63 - 1)}


def insert_record(target: DataSource, encoder: RecordEncoder, key: list, value: list,
                  rowtime: int) -> tuple[int, Record]:
    """(partition, record) for a row of `target` (key and value columns in schema order).

    `rowtime` is the record's time unless the target has a TIMESTAMP column. Raises
    KsqlError ("Failed to insert values into '<name>'. <why>") for a row the queries
    over the target would not read."""
    def refuse(reason: str) -> KsqlError:
        return KsqlError(f"Failed to insert values into '{target.name}'. {reason}")

    schema = target.schema
    if target.window is not None:
        raise refuse(f"Inserting values into windowed sources is not supported: the keys of {target.name} "
                     "carry their window's bounds")
    if target.kind == "TABLE" and schema.key and any(v is None for v in key):
        raise refuse(f"Value for primary key column(s) {', '.join(c.name for c in schema.key)} "
                     "is required for tables")
    timestamp = rowtime
    if encoder.ts_index is not None:
        timestamp = _timestamp_column_value(target, encoder, (*key, *value)[encoder.ts_index], refuse)
    try:
        key_bytes = encoder.key_serde.serialize(key) if key else None
        value_bytes = encoder.value_serde.serialize(value)
    except Exception as err:  # noqa: BLE001 - any failure to write the row is a refusal of it
        raise refuse(failure_reason(err)) from None
    try:
        if key:
            encoder.key_serde.deserialize(key_bytes)
        encoder.value_serde.deserialize(value_bytes)
    except Exception as err:  # noqa: BLE001 - what the queries' serdes would fail on, they would skip
        raise refuse(f"The row's record would be unreadable in the formats of {target.name}: "
                     f"{failure_reason(err)}") from None
    partition = default_partition(key_bytes, encoder.partitions) if key_bytes is not None else 0
    return partition, Record(key_bytes, value_bytes, timestamp, [])


def insert_records(target: DataSource, encoder: RecordEncoder, rows: list[tuple[list, list]],
                   rowtime: int) -> list[tuple[int, Record] | KsqlError]:
    """insert_record for each (key columns, value columns) of `rows`, all at `rowtime`: per row its
    (partition, record) or the KsqlError refusing it.

    Each serde writes the batch, and reads it back, in one call, unless a row needs more than that
    (a TIMESTAMP column, a window, a null table key) or the batch fails somewhere: then it is redone
    row by row, which tells the failing rows' reasons."""
    schema = target.schema
    nk, nv = len(schema.key), len(schema.value)
    if (not rows or target.window is not None or encoder.ts_index is not None
            or (target.kind == "TABLE" and nk and any(v is None for key, _ in rows for v in key))):
        return _one_by_one(target, encoder, rows, rowtime)
    try:
        keys = encoder.key_serde.serialize_many([key for key, _ in rows], 0, nk) if nk else [None] * len(rows)
        values = encoder.value_serde.serialize_many([value for _, value in rows], 0, nv)
        if nk:
            encoder.key_serde.deserialize_many(keys)
        encoder.value_serde.deserialize_many(values)
    except Exception:  # noqa: BLE001 - a row the serdes refuse: insert_record tells which and why
        return _one_by_one(target, encoder, rows, rowtime)
    partitions = encoder.partitions
    partition_of = {key: default_partition(key, partitions) for key in set(keys) if key is not None}
    return [(0 if key is None else partition_of[key], Record(key, value, rowtime, []))
            for key, value in zip(keys, values, strict=True)]


def _one_by_one(target: DataSource, encoder: RecordEncoder, rows: list[tuple[list, list]],
                rowtime: int) -> list[tuple[int, Record] | KsqlError]:
    out: list[tuple[int, Record] | KsqlError] = []
    for key, value in rows:
        try:
            out.append(insert_record(target, encoder, key, value, rowtime))
        except KsqlError as err:
            out.append(err)
    return out


def _timestamp_column_value(target: DataSource, encoder: RecordEncoder, raw, refuse) -> int:
    """The record time a row's TIMESTAMP column gives, as the queries' timestamp extractor reads it."""
    column = target.timestamp_column
    if raw is None:
        raise refuse(f"The TIMESTAMP column {column} is null: queries over {target.name} skip records "
                     "without a valid timestamp")
    timestamp = raw
    if encoder.ts_format is not None:
        try:
            timestamp = parse_to_millis(raw, encoder.ts_format)
        except (KsqlError, ValueError, TypeError) as err:
            raise refuse(f"The TIMESTAMP column {column} ('{raw}') does not match the timestamp format "
                         f"'{encoder.ts_format}': {err}") from None
    if timestamp < 0:
        raise refuse(f"The TIMESTAMP column {column} is negative ({timestamp}): queries over "
                     f"{target.name} skip records without a valid timestamp")
    return timestamp


def integral_out_of_range(value, t: SqlType) -> str | None:
    """Where a JSON value holds an integer outside its INT / BIGINT column type's range, or None.

    The JSON coercer wraps such integers as Java's narrowing does (for records read from
    topics); a row inserted by a client is refused instead of stored as another number."""
    if value is None:
        return None
    bounds = _INTEGRAL_RANGES.get(t.base)
    if bounds is not None:
        if isinstance(value, int) and not isinstance(value, bool) and not bounds[0] <= value <= bounds[1]:
            return f"{value} is out of range for type {t}"
        return None
    if isinstance(t, ArrayType) and isinstance(value, list):
        return next((p for v in value if (p := integral_out_of_range(v, t.item))), None)
    if isinstance(t, MapType) and isinstance(value, dict):
        return next((p for v in value.values() if (p := integral_out_of_range(v, t.value))), None)
    if isinstance(t, StructType) and isinstance(value, dict):
        upper = {str(k).upper(): v for k, v in value.items()}
        return next((p for f in t.fields
                     if (p := integral_out_of_range(value.get(f.name, upper.get(f.name.upper())), f.type))), None)
    return None
