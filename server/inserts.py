"""Writing rows: POST /inserts-stream (ksqlDB's streaming inserts) and POST /topics/{topic}/records.

/inserts-stream: the body is newline-delimited JSON, first `{"target": "STREAM"}`,
then one object of column values per row; the response streams one ack per row,
in order, while the body is still arriving: `{"status":"ok","seq":0}` or
`{"status":"error","seq":3,"error_code":40000,"message":"..."}`. A row is
acknowledged once it is durably in the log.

/topics/{topic}/records appends records to a topic directly (there is no Kafka
producer for the embedded log): `{"records": [{"key": ..., "value": ..., "timestamp":
ms, "partition": n, "headers": [{"KEY": "h", "VALUE": base64}]}]}`. Keys and values
are JSON values serialized in the formats of the stream or table declared over
the topic (as ksql.testing.TestDriver.pipe does); without one, objects and arrays
are written as JSON, strings as UTF-8 and numbers as Kafka's big-endian ints/doubles.
`"rawKey"` / `"rawValue"` (base64) give the exact bytes instead, as any other producer
may write them, readable or not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ksql.engine.codec import RecordEncoder, encode_window
from ksql.engine.engine import INSERT_VALUES_DISABLED_MESSAGE, Engine
from ksql.engine.inserts import insert_records, integral_out_of_range
from ksql.engine.log import LogError, Record, default_partition
from ksql.engine.metastore import DataSource, WindowInfo
from ksql.engine.properties import INSERT_INTO_VALUES_ENABLED_CONFIG, is_enabled
from ksql.engine.serde.json_serde import dumps_exact, exact_numbers, json_coercer
from ksql.errors import KsqlError, SerdeError
from ksql.testing import TestDriver, _encode_untyped
from ksql.types import contains_decimal
from server.core import KsqlServer
from server.errors import BAD_REQUEST, ApiError, bad_request, log_error_message, storage_error
from server.h2frames import BatchedStreamingResponse
from server.http import DRAIN_BYTES, check_fields, parse_object, properties_of, read_body, too_large, wants
from server.insert_rounds import InsertRounds
from server.queries import DELIMITED
from server.rows import dumps

READ_AHEAD_CHUNKS = 256  # chunks of an /inserts-stream body read ahead while a batch is inserted
TARGET_FIELDS = {"target": str, "properties": dict, "requestProperties": dict, "sessionVariables": dict}


class DuplexResponse(BatchedStreamingResponse):
    """A streaming response that leaves the request body to its generator (which reads it as it goes),
    where StreamingResponse would consume it looking for a disconnect. Its body yields lists of
    messages: each list is one send, each message its own chunk (or DATA frame) on the wire."""

    def __init__(self, content: AsyncIterator[list[bytes]], media_type: str, on_close: Callable[[], None]) -> None:
        super().__init__(content, media_type=media_type)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except ClientDisconnect:
            return
        finally:
            self.on_close()


class _Lines:
    """Newline-delimited lines of a request body as it arrives, each at most `max_bytes` long.

    The body is read by a task of its own into a short queue, so that while one batch of rows is
    being inserted the chunks that arrive meanwhile wait there and make the next batch together
    (a client sending a row per chunk still gets its rows inserted many at a time)."""

    def __init__(self, request: Request, max_bytes: int):
        self.request = request
        self.buffer = b""
        self.max_bytes = max_bytes
        self.ended = False
        self.oversized = False  # a line over the limit follows the lines returned
        self.chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(READ_AHEAD_CHUNKS)
        self.reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        """Put the body's chunks on the queue, then None (or the exception that ended the reading)."""
        try:
            async for chunk in self.request.stream():
                await self.chunks.put(chunk)
        except Exception as err:  # noqa: BLE001 - e.g. ClientDisconnect: raised where the chunks are taken
            await self.chunks.put(err)
            return
        await self.chunks.put(None)

    async def _chunks(self) -> list[bytes] | None:
        """At least one more chunk, with every other chunk already read; None at the end of the body."""
        if self.reader is None:
            self.reader = asyncio.create_task(self._read())
        taken = [await self.chunks.get()]
        while not self.chunks.empty() and taken[-1] is not None and not isinstance(taken[-1], BaseException):
            taken.append(self.chunks.get_nowait())
        if isinstance(taken[-1], BaseException):
            self.ended = True
            raise taken[-1]
        if taken[-1] is None:
            self.ended = True
            taken.pop()
        return taken if taken or not self.ended else None

    async def next_batch(self) -> list[bytes] | None:
        """The complete lines available after reading at least one more chunk; None at the end.

        A line over the size limit raises ApiError (413), after the lines before it were returned."""
        if self.oversized:
            raise too_large(self.max_bytes)
        while not self.ended:
            chunks = await self._chunks()
            if chunks is None:
                break
            self.buffer += b"".join(chunks)
            if self.ended:
                lines, self.buffer = self.buffer.split(b"\n"), b""
                return self._within_limit(lines) or None
            if b"\n" in self.buffer:
                *lines, self.buffer = self.buffer.split(b"\n")
                return self._within_limit(lines + ([self.buffer] if len(self.buffer) > self.max_bytes else []))
            if len(self.buffer) > self.max_bytes:
                raise too_large(self.max_bytes)
        return None

    def _within_limit(self, lines: list[bytes]) -> list[bytes]:
        """The non-blank lines before the first one over the size limit (which ends the body)."""
        for i, line in enumerate(lines):
            if len(line) > self.max_bytes:
                if i == 0:
                    raise too_large(self.max_bytes)
                self.oversized, lines = True, lines[:i]
                break
        return [line for line in lines if line.strip()]

    async def drain(self) -> None:
        """Read and drop the rest of the body (up to DRAIN_BYTES), so the client that is still sending
        receives the response rather than a reset connection."""
        size = 0
        while not self.ended and size <= DRAIN_BYTES:
            try:
                chunks = await self._chunks()
            except Exception:  # noqa: BLE001 - the client is gone: nothing left to drain
                return
            size += sum(len(c) for c in chunks or [])

    def close(self) -> None:
        """Stop reading the body (the response has ended)."""
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()


async def inserts_stream_endpoint(request: Request, server: KsqlServer, rounds: InsertRounds,
                                  max_bytes: int) -> Response:
    lines = _Lines(request, max_bytes)
    try:
        return await _inserts_stream(request, server, rounds, lines)
    except BaseException:
        lines.close()
        raise


async def _inserts_stream(request: Request, server: KsqlServer, rounds: InsertRounds, lines: _Lines) -> Response:
    first: list[bytes] = []
    while not first:
        batch = await lines.next_batch()
        if batch is None:
            raise bad_request("Invalid /inserts-stream request: the body is empty, {\"target\": ...} expected")
        first = batch
    doc = check_fields(parse_object(first[0], "the /inserts-stream request"), TARGET_FIELDS, ("target",),
                       "the /inserts-stream request")
    properties_of(doc, "properties", "requestProperties")
    inserter = await run_in_threadpool(RowInserter, server, doc["target"])
    try:  # the rows that came with the target: a full disk here is the response's status
        first_results = await rounds.insert(inserter, first[1:]) if first[1:] else []
    except OSError as err:
        raise storage_error(err, "no row was inserted.") from None

    as_json = wants(request, "application/json") and not wants(request, DELIMITED)

    async def acks() -> AsyncIterator[list[bytes]]:
        """Each batch's acks (JSON objects), in one list: one send for the batch, one message per row."""
        seq = 0
        results: list[str | None] = first_results
        batch: list[bytes] | None = []
        while batch is not None:
            if batch:
                try:
                    results = await rounds.insert(inserter, batch)
                except OSError as err:  # acknowledged rows stay; this batch and the rest are refused
                    refused = storage_error(err, "the row was not inserted.")
                    yield [dumps({"status": "error", "seq": seq + i, "error_code": refused.error_code,
                                  "message": refused.message}) for i in range(len(batch))]
                    return
            if results:
                yield [_ack(seq + i, error) for i, error in enumerate(results)]
                seq += len(results)
            results = []
            try:
                batch = await lines.next_batch()
            except ApiError as err:  # a line over the size limit: the stream ends here
                yield [dumps({"status": "error", "seq": seq, "error_code": err.error_code, "message": err.message})]
                await lines.drain()
                return
            except KsqlError as err:
                yield [dumps({"status": "error", "seq": seq, "error_code": BAD_REQUEST, "message": str(err)})]
                return

    body = _json_array(acks()) if as_json else _delimited(acks())
    return DuplexResponse(body, "application/json" if as_json else DELIMITED, lines.close)


def _ack(seq: int, error: str | None) -> bytes:
    """One row's ack, as ksqlDB writes it."""
    if error is None:
        return b'{"status":"ok","seq":%d}' % seq
    return dumps({"status": "error", "seq": seq, "error_code": BAD_REQUEST, "message": error})


async def _delimited(acks: AsyncIterator[list[bytes]]) -> AsyncIterator[list[bytes]]:
    """ksqlDB's delimited acks: one JSON object per line, each batch's sent as they are known."""
    async for batch in acks:
        yield [ack + b"\n" for ack in batch]


async def _json_array(acks: AsyncIterator[list[bytes]]) -> AsyncIterator[list[bytes]]:
    """The acks as one JSON array (Accept: application/json), still each batch's sent as they are known."""
    first = True
    async for batch in acks:
        yield [(b"[" if first and i == 0 else b",") + ack for i, ack in enumerate(batch)]
        first = False
    yield [b"[]" if first else b"]"]


class RowInserter:
    """Rows given as JSON objects -> records of one stream or table, encoded without the engine lock (and
    appended with other writers' rows by server.insert_rounds)."""

    def __init__(self, server: KsqlServer, target_name: str):
        self.server = server
        with server.writing() as engine:
            if not is_enabled(engine.config.properties, INSERT_INTO_VALUES_ENABLED_CONFIG):  # the server's own
                raise bad_request(INSERT_VALUES_DISABLED_MESSAGE)
            target = engine.metastore.get(target_name) or engine.metastore.get(target_name.upper())
            if target is None:
                raise bad_request(f"Cannot insert values into an unknown stream/table: `{target_name}`")
            if target.is_source:
                raise bad_request(f"Cannot insert values into read-only {target.kind.lower()}: {target.name}")
            partitions = engine.log.topic_config(target.topic).partitions
        self.target = target
        self.encoder = RecordEncoder(target, partitions, "INSERT")
        schema = target.schema
        self.columns = schema.key + schema.value
        self.by_name = {c.name: c for c in self.columns}
        self.by_upper: dict[str, list] = {}
        for c in self.columns:
            self.by_upper.setdefault(c.name.upper(), []).append(c)
        self.coercers = {c.name: json_coercer(c.type) for c in self.columns}
        self.has_decimals = any(contains_decimal(c.type) for c in self.columns)
        self.headers = {c.name for c in self.columns if c.is_header}
        self.key_names = [c.name for c in schema.key]
        self.value_names = [c.name for c in schema.value]
        # inserters with the same encoding key encode alike: their rows may be encoded together
        self.encoding = (id(target), partitions)

    def _columns(self, line: bytes) -> tuple[list, list]:
        """(key columns, value columns) of one JSON line of column values; KsqlError saying why it is refused."""
        try:
            values = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise KsqlError(f"Invalid JSON in row: {err}") from None
        if self.has_decimals:
            values = exact_numbers(line, values)
        if not isinstance(values, dict):
            raise KsqlError("Invalid row: a JSON object of column values is expected")
        row: dict[str, Any] = {}
        for name, value in values.items():
            column = self.by_name.get(name)
            if column is None:
                candidates = self.by_upper.get(str(name).upper(), [])
                column = candidates[0] if len(candidates) == 1 else None
            if column is None:
                raise KsqlError(f"Column name {name} does not exist.")
            if column.name in self.headers:
                raise KsqlError(f"Cannot insert into HEADER columns: {column.name}")
            problem = integral_out_of_range(value, column.type)
            try:
                if problem is not None:
                    raise SerdeError(problem)
                row[column.name] = self.coercers[column.name](value)
            except SerdeError as err:
                raise KsqlError(f"Can't coerce a field of type {type(value).__name__} ({value}) into type "
                                f"{column.type}: {err}") from None
        return [row.get(name) for name in self.key_names], [row.get(name) for name in self.value_names]

    def encode(self, batches: list[list[bytes]]) -> list[tuple[list[str | None], dict[int, list[Record]]]]:
        """Per batch of lines (those of several requests into this target, see `encoding`): the records of
        its valid lines (partition -> records in order), and per line None or why it is refused. The rows
        of every batch are written by each serde in one call (appending them is server.insert_rounds')."""
        errors: list[list[str | None]] = [[None] * len(lines) for lines in batches]
        rows: list[tuple[list, list]] = []
        origins: list[tuple[int, int]] = []  # (batch, line) of each row
        for b, lines in enumerate(batches):
            for i, line in enumerate(lines):
                try:
                    rows.append(self._columns(line))
                except KsqlError as err:
                    errors[b][i] = str(err)
                    continue
                origins.append((b, i))
        by_partition: list[dict[int, list[Record]]] = [{} for _ in batches]
        for (b, i), encoded in zip(origins, insert_records(self.target, self.encoder, rows, _now_ms()), strict=True):
            if isinstance(encoded, KsqlError):
                errors[b][i] = str(encoded)
                continue
            partition, record = encoded
            by_partition[b].setdefault(partition, []).append(record)
        return list(zip(errors, by_partition, strict=True))


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- POST /topics/{topic}/records --------------------------------------------------------------

RECORD_FIELDS = {"key", "value", "rawKey", "rawValue", "timestamp", "partition", "headers", "window"}
PRODUCE_BATCH = 1000


async def produce_endpoint(request: Request, server: KsqlServer, topic: str, max_bytes: int) -> Response:
    body = await read_body(request, max_bytes)
    doc = check_fields(parse_object(body), {"records": list}, ("records",), "the records request")
    doc = exact_numbers(body, doc)  # a DECIMAL value may have more digits than a double holds
    for index, record in enumerate(doc["records"]):
        check_record(record, index)
    offsets = await run_in_threadpool(produce, server, topic, doc["records"])
    return JSONResponse({"offsets": offsets})


def check_record(record: Any, index: int) -> None:
    """Refuse a record whose fields are not of the documented shapes, naming the record and the field."""
    where = f"record {index}"
    if not isinstance(record, dict):
        raise bad_request(f"Invalid {where}: a JSON object is expected")
    unknown = set(record) - RECORD_FIELDS
    if unknown:
        raise bad_request(f"Unrecognized field \"{sorted(unknown)[0]}\" in {where}: known fields are "
                          f"{', '.join(sorted(RECORD_FIELDS))}")
    for side in ("key", "value"):
        if side in record and f"raw{side.title()}" in record:
            raise bad_request(f"Invalid {where}: give either \"{side}\" or \"raw{side.title()}\", not both")
    for name in ("timestamp", "partition"):
        value = record.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise bad_request(f"Invalid {name} in {where}: a non-negative integer is expected")
    window = record.get("window")
    if window is not None:
        if not isinstance(window, dict) or not all(isinstance(window.get(k), int) and not isinstance(window.get(k), bool)
                                                   for k in ("start", "end")):
            raise bad_request(f"Invalid window in {where}: expected {{\"start\": ms, \"end\": ms, "
                              "\"type\": \"TUMBLING\"|\"SESSION\"}")
    headers = record.get("headers")
    if headers is not None:
        if not isinstance(headers, list):
            raise bad_request(f"Invalid headers in {where}: an array of {{\"KEY\", \"VALUE\"}} objects is expected")
        for header in headers:
            if not isinstance(header, dict) or not isinstance(header.get("KEY"), str) \
                    or not isinstance(header.get("VALUE"), str | None):
                raise bad_request(f"Invalid header in {where}: {{\"KEY\": name, \"VALUE\": base64 or null}} "
                                  "is expected")
            if header.get("VALUE") is not None:
                try:
                    base64.b64decode(header["VALUE"], validate=True)
                except binascii.Error:
                    raise bad_request(f"Invalid header {header['KEY']} in {where}: VALUE is not base64") from None


def produce(server: KsqlServer, topic: str, records: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Encode every record (one invalid record refuses the whole request, before anything is written),
    then append them. The engine lock is taken per batch of PRODUCE_BATCH records, so a big request
    does not hold up the runner or other requests for long."""
    with server.writing() as engine:
        if not engine.log.topic_exists(topic):
            raise bad_request(f"Topic '{topic}' does not exist")
        source = next((s for s in engine.metastore.sources.values() if s.topic == topic), None)
        partitions = engine.log.topic_config(topic).partitions
    encoded: list[tuple[int, Record]] = []
    for start in range(0, len(records), PRODUCE_BATCH):
        with server.writing() as engine:
            for spec in records[start:start + PRODUCE_BATCH]:
                try:
                    encoded.append(_record(engine, spec, source, partitions))
                except (KsqlError, SerdeError, ValueError, TypeError, KeyError) as err:
                    raise bad_request(f"Invalid record {dumps_exact(spec).decode()[:200]}: {err}") from None
    out: list[dict[str, int]] = []
    for start in range(0, len(encoded), PRODUCE_BATCH):
        batch = encoded[start:start + PRODUCE_BATCH]
        by_partition: dict[int, list[Record]] = {}
        for partition, record in batch:  # one append (one fsync) per partition, in request order
            by_partition.setdefault(partition, []).append(record)
        try:
            offsets = {p: iter(os) for p, os in server.append(topic, by_partition).items()}
        except LogError as err:
            raise bad_request(f"Failed to append to topic '{topic}' after {len(out)} records: "
                              f"{log_error_message(err)}") from None
        except OSError as err:
            raise storage_error(err, f"the records from record {len(out)} on were not appended.") from None
        out.extend({"partition": partition, "offset": next(offsets[partition])} for partition, _ in batch)
    return out


def _record(engine: Engine, spec: dict[str, Any], source: DataSource | None, partitions: int
            ) -> tuple[int, Record]:
    key, value = spec.get("key"), spec.get("value")
    if source is not None:
        # the TestDriver's serializer of JSON values, which needs nothing of a driver but its engine
        driver = SimpleNamespace(engine=engine)
        key_bytes = TestDriver._encode_side(driver, key, source, True)
        value_bytes = TestDriver._encode_side(driver, value, source, False)
    else:
        key_bytes, value_bytes = _encode_untyped(key, "KAFKA"), _encode_untyped(value, "JSON")
    key_bytes = _raw(spec, "rawKey", key_bytes)
    value_bytes = _raw(spec, "rawValue", value_bytes)
    window = spec.get("window")
    if window is not None:
        kind = "SESSION" if str(window.get("type", "")).upper() == "SESSION" else "TUMBLING"
        info = (source.window if source is not None and source.window is not None
                else WindowInfo(kind, int(window["end"]) - int(window["start"])))
        key_bytes = encode_window(key_bytes, info, int(window["start"]), int(window["end"]))
    headers = [(str(h["KEY"]), None if h.get("VALUE") is None else base64.b64decode(h["VALUE"]))
               for h in spec.get("headers") or []]
    partition = spec.get("partition")
    if partition is None:
        partition = default_partition(key_bytes, partitions) if key_bytes is not None else 0
    elif not isinstance(partition, int) or not 0 <= partition < partitions:
        raise KsqlError(f"partition {partition} is out of range [0, {partitions})")
    timestamp = spec.get("timestamp")
    return partition, Record(key_bytes, value_bytes, _now_ms() if timestamp is None else int(timestamp), headers)


def _raw(spec: dict[str, Any], field: str, encoded: bytes | None) -> bytes | None:
    """The bytes a record's rawKey / rawValue (base64) gives, else the encoded key / value."""
    if field not in spec:
        return encoded
    raw = spec[field]
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise KsqlError(f"{field} must be a base64 string")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as err:
        raise KsqlError(f"{field} is not valid base64: {err}") from None
