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
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ksql.engine.codec import RecordEncoder, encode_window
from ksql.engine.engine import Engine
from ksql.engine.log import LogError, Record, default_partition
from ksql.engine.metastore import DataSource, WindowInfo
from ksql.engine.serde.json_serde import json_coercer
from ksql.errors import KsqlError, SerdeError
from ksql.testing import TestDriver, _encode_untyped
from server.core import KsqlServer
from server.errors import BAD_REQUEST, bad_request
from server.http import check_fields, parse_object, properties_of, read_body, too_large, wants
from server.queries import DELIMITED
from server.rows import dumps

TARGET_FIELDS = {"target": str, "properties": dict, "requestProperties": dict, "sessionVariables": dict}


class DuplexResponse(StreamingResponse):
    """A streaming response that leaves the request body to its generator (which reads it as it goes),
    where StreamingResponse would consume it looking for a disconnect."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except ClientDisconnect:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Lines:
    """Newline-delimited lines of a request body as it arrives, each at most `max_bytes` long."""

    def __init__(self, request: Request, max_bytes: int):
        self.chunks = request.stream().__aiter__()
        self.buffer = b""
        self.max_bytes = max_bytes
        self.ended = False

    async def next_batch(self) -> list[bytes] | None:
        """The complete lines available after reading at least one more chunk; None at the end."""
        while not self.ended:
            try:
                chunk = await self.chunks.__anext__()
            except StopAsyncIteration:
                self.ended = True
                rest, self.buffer = self.buffer, b""
                return [rest] if rest.strip() else None
            self.buffer += chunk
            if b"\n" in self.buffer:
                *lines, self.buffer = self.buffer.split(b"\n")
                if len(self.buffer) > self.max_bytes:
                    raise too_large(self.max_bytes)
                return [line for line in lines if line.strip()]
            if len(self.buffer) > self.max_bytes:
                raise too_large(self.max_bytes)
        return None


async def inserts_stream_endpoint(request: Request, server: KsqlServer, max_bytes: int) -> Response:
    lines = _Lines(request, max_bytes)
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
    pending = first[1:]

    as_json = wants(request, "application/json") and not wants(request, DELIMITED)

    async def acks() -> AsyncIterator[dict[str, Any]]:
        seq = 0
        batch: list[bytes] | None = pending
        while batch is not None:
            if batch:
                for error in await run_in_threadpool(inserter.insert_lines, batch):
                    yield {"status": "ok", "seq": seq} if error is None else {
                        "status": "error", "seq": seq, "error_code": BAD_REQUEST, "message": error}
                    seq += 1
            try:
                batch = await lines.next_batch()
            except KsqlError as err:
                yield {"status": "error", "seq": seq, "error_code": BAD_REQUEST, "message": str(err)}
                return

    body = _json_array(acks()) if as_json else _delimited(acks())
    return DuplexResponse(body, media_type="application/json" if as_json else DELIMITED)


async def _delimited(acks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """ksqlDB's delimited acks: one JSON object per line, each sent as it is known."""
    async for ack in acks:
        yield dumps(ack) + b"\n"


async def _json_array(acks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """The acks as one JSON array (Accept: application/json), still each sent as it is known."""
    first = True
    async for ack in acks:
        yield (b"[" if first else b",") + dumps(ack)
        first = False
    yield b"[]" if first else b"]"


class RowInserter:
    """Rows given as JSON objects -> records of one stream or table, appended under the server's lock."""

    def __init__(self, server: KsqlServer, target_name: str):
        self.server = server
        with server.writing() as engine:
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

    def _row(self, line: bytes) -> tuple:
        try:
            values = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise KsqlError(f"Invalid JSON in row: {err}") from None
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
            if column.is_header:
                raise KsqlError(f"Cannot insert into HEADER columns: {column.name}")
            try:
                row[column.name] = self.coercers[column.name](value)
            except SerdeError as err:
                raise KsqlError(f"Can't coerce a field of type {type(value).__name__} ({value}) into type "
                                f"{column.type}: {err}") from None
        schema = self.target.schema
        ts = _now_ms()
        return (*(row.get(c.name) for c in schema.key), *(row.get(c.name) for c in schema.value),
                ts, [], None, None, 0, False)

    def insert_lines(self, lines: list[bytes]) -> list[str | None]:
        """Insert what is valid; per line None (acknowledged) or the error message."""
        errors: list[str | None] = []
        by_partition: dict[int, list[Record]] = {}
        for line in lines:
            try:
                encoded = self.encoder.encode([self._row(line)])
            except KsqlError as err:
                errors.append(str(err))
                continue
            if not encoded:
                errors.append(f"Failed to insert values into '{self.target.name}': the row could not be "
                              "serialized in the stream's formats")
                continue
            for partition, records in encoded.items():
                by_partition.setdefault(partition, []).extend(records)
            errors.append(None)
        if by_partition:
            try:
                with self.server.writing() as engine:
                    for partition, records in by_partition.items():
                        engine.log.append(self.target.topic, partition, records)
            except (KsqlError, LogError) as err:
                return [e if e is not None else f"Failed to insert values: {err}" for e in errors]
        return errors


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- POST /topics/{topic}/records --------------------------------------------------------------

RECORD_FIELDS = {"key", "value", "timestamp", "partition", "headers", "window"}


async def produce_endpoint(request: Request, server: KsqlServer, topic: str, max_bytes: int) -> Response:
    doc = check_fields(parse_object(await read_body(request, max_bytes)), {"records": list}, ("records",),
                       "the records request")
    for record in doc["records"]:
        if not isinstance(record, dict):
            raise bad_request("Invalid record: a JSON object is expected")
        unknown = set(record) - RECORD_FIELDS
        if unknown:
            raise bad_request(f"Unrecognized field \"{sorted(unknown)[0]}\" in a record: known fields are "
                              f"{', '.join(sorted(RECORD_FIELDS))}")
    offsets = await run_in_threadpool(produce, server, topic, doc["records"])
    return JSONResponse({"offsets": offsets})


def produce(server: KsqlServer, topic: str, records: list[dict[str, Any]]) -> list[dict[str, int]]:
    with server.writing() as engine:
        log = engine.log
        if not log.topic_exists(topic):
            raise bad_request(f"Topic '{topic}' does not exist")
        source = next((s for s in engine.metastore.sources.values() if s.topic == topic), None)
        partitions = log.topic_config(topic).partitions
        batches: list[tuple[int, Record]] = []
        for spec in records:
            try:
                batches.append(_record(engine, spec, source, partitions))
            except (KsqlError, ValueError, TypeError, KeyError) as err:
                raise bad_request(f"Invalid record {orjson.dumps(spec).decode()[:200]}: {err}") from None
        out = []
        for partition, record in batches:
            [offset] = log.append(topic, partition, [record])
            out.append({"partition": partition, "offset": offset})
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
