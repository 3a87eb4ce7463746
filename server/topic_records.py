"""GET /topics/{topic}/records: a page of a topic's records by partition and offset, for browsing.

    GET /topics/orders/records?partition=0&offset=120&limit=50

answers

    {"topic": "orders", "keyFormat": "KAFKA_STRING", "valueFormat": "JSON",
     "partitions": [{"partition": 0, "startOffset": 0, "endOffset": 200}, ...],
     "records": [{"partition": 0, "offset": 120, "timestamp": 1700000000000,
                  "key": "k1", "value": "{\"ID\":10}", "headers": [{"key": "h", "value": "v"}]}, ...]}

Keys and values are the text PRINT shows (decoded in the formats of the stream or
table declared over the topic, else as text or numbers). Without `partition`,
every partition is read; without `offset`, the newest `limit` records of each
partition are returned (as a topic browser opens on the latest messages). Records
come in (partition, offset) order; at most `limit` (default 100, at most 1000)
per partition.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ksql.engine.log import Log, LogError
from ksql.errors import KsqlError
from ksql.parser import ast
from server.core import KsqlServer
from server.errors import NOT_FOUND, ApiError, bad_request, log_error_message
from server.http import in_worker
from server.printer import TopicPrinter, format_name, untyped_text

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PARAMETERS = ("partition", "offset", "limit")


async def topic_records_endpoint(request: Request, server: KsqlServer, topic: str) -> Response:
    params = request.query_params
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise bad_request(f"Unrecognized parameter \"{unknown[0]}\": known parameters are {', '.join(PARAMETERS)}")
    partition = _int_param(params.get("partition"), "partition", 0)
    offset = _int_param(params.get("offset"), "offset", 0)
    limit = _int_param(params.get("limit"), "limit", 1)
    if limit is not None and limit > MAX_LIMIT:
        raise bad_request(f"Invalid parameter \"limit\": at most {MAX_LIMIT}, got {limit}")
    engine = server.engine
    if engine is None or server.log is None:
        raise ApiError(503, 50300, "The server is shutting down")
    sources = list(engine.metastore.sources.values())
    try:
        page = await in_worker(request, read_page, server.log, sources, topic, partition, offset,
                               limit or DEFAULT_LIMIT)
    except LogError as err:
        raise bad_request(log_error_message(err)) from None
    return JSONResponse(page)


def read_page(log: Log, sources: list, topic: str, partition: int | None, offset: int | None,
              limit: int) -> dict[str, Any]:
    """The page of records the request asks for, with each partition's offset range."""
    try:
        printer = TopicPrinter(log, ast.Print(topic=topic, from_beginning=True), sources)
    except KsqlError as err:
        raise ApiError(404, NOT_FOUND, str(err)) from None
    ranges = [{"partition": p, "startOffset": log.start_offset(printer.topic, p),
               "endOffset": log.end_offset(printer.topic, p)} for p in sorted(printer.positions)]
    if partition is not None and partition >= len(ranges):
        raise bad_request(f"Invalid parameter \"partition\": topic '{printer.topic}' has {len(ranges)} "
                          f"partition(s), numbered from 0")
    records: list[dict[str, Any]] = []
    for span in ranges:
        if partition is None or span["partition"] == partition:
            start = span["endOffset"] - limit if offset is None else offset
            records += _read(log, printer, span["partition"], max(start, span["startOffset"]),
                             span["endOffset"], limit)
    return {"topic": printer.topic, "keyFormat": format_name(printer.source, True),
            "valueFormat": format_name(printer.source, False), "partitions": ranges, "records": records}


def _read(log: Log, printer: TopicPrinter, partition: int, start: int, end: int, limit: int
          ) -> list[dict[str, Any]]:
    """Up to `limit` records of one partition from offset `start` (a read may stop at a segment's end)."""
    records: list[dict[str, Any]] = []
    while start < end and len(records) < limit:
        batch = log.read(printer.topic, partition, start, limit - len(records))
        if not batch:
            break
        for rec in batch[:limit - len(records)]:
            records.append({"partition": partition, "offset": rec.offset, "timestamp": rec.timestamp,
                            "key": None if rec.key is None else printer.key_text(rec),
                            "value": None if rec.value is None else printer.value_text(rec),
                            "headers": [{"key": name, "value": None if value is None else untyped_text(value)}
                                        for name, value in rec.headers]})
        start = batch[-1].offset + 1
    return records


def _int_param(text: str | None, name: str, minimum: int) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"Invalid parameter \"{name}\": expected an integer, got '{text[:50]}'") from None
    if value < minimum:
        raise bad_request(f"Invalid parameter \"{name}\": at least {minimum}, got {value}")
    return value
