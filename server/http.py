"""Reading requests: bounded bodies, JSON objects with known fields, properties maps; and running a
request's engine work in a worker thread that gives up when the client disconnects.

Everything a client can get wrong here becomes an ApiError with ksqlDB's error
JSON (400 for malformed or unknown fields, 413 for oversized bodies).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ksql.engine.properties import check_overrides
from ksql.errors import KsqlError
from server.engine_lock import CANCELLED
from server.errors import REQUEST_TOO_LARGE, ApiError, bad_request

T = TypeVar("T")

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
DRAIN_BYTES = 64 * 1024 * 1024


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused with 413 once it exceeds `max_bytes`.

    The rest of an oversized body is read and dropped (up to DRAIN_BYTES) so the client,
    which may still be sending, receives the 413 rather than a reset connection."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            if size > DRAIN_BYTES:
                break
            continue
        chunks.append(chunk)
    if size > max_bytes:
        raise too_large(max_bytes)
    return b"".join(chunks)


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, REQUEST_TOO_LARGE, f"Request body is larger than the limit of {max_bytes} bytes "
                                            "(ksql.server.max.request.bytes)")


def parse_object(body: bytes, what: str = "request") -> dict[str, Any]:
    if not body.strip():
        raise bad_request(f"Invalid {what}: the body is empty, a JSON object is expected")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise bad_request(f"Invalid JSON in {what}: {err}") from None
    if not isinstance(doc, dict):
        raise bad_request(f"Invalid {what}: a JSON object is expected")
    return doc


def check_fields(doc: dict[str, Any], spec: dict[str, type | tuple[type, ...]], required: tuple[str, ...],
                 what: str) -> dict[str, Any]:
    """Refuse unknown fields, missing required ones and fields of the wrong JSON type."""
    for name in doc:
        if name not in spec:
            raise bad_request(f"Unrecognized field \"{name}\" in {what}: known fields are "
                              f"{', '.join(sorted(spec))}")
    for name in required:
        if doc.get(name) is None:
            raise bad_request(f"Missing field \"{name}\" in {what}")
    for name, kind in spec.items():
        value = doc.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is int):
            names = {str: "a string", dict: "an object", int: "an integer", list: "an array"}
            expected = names.get(kind, "a value") if isinstance(kind, type) else "a value"
            raise bad_request(f"Invalid field \"{name}\" in {what}: expected {expected}")
    return doc


def properties_of(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    """The request's properties (ksqlDB clients send them under several names), merged."""
    out: dict[str, Any] = {}
    for name in names:
        value = doc.get(name)
        if value:
            for key, v in value.items():
                if isinstance(v, (dict, list)):
                    raise bad_request(f"Invalid property {key}: a string, number or boolean is expected")
                out[str(key)] = v
    return out


def refuse_unknown_properties(properties: dict[str, Any] | None) -> None:
    """A request's query properties must be ones ksqlDB knows: anything else is a 400, as in ksqlDB."""
    try:
        check_overrides(properties or {})
    except KsqlError as err:
        raise bad_request(str(err)) from None


def wants(request: Request, media_type: str) -> bool:
    return media_type in request.headers.get("accept", "")


async def in_worker(request: Request | None, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a worker thread, off the event loop. When `request` is given (its body already
    read), a disconnect of its client cancels the work's next wait for the engine lock."""
    if request is None:
        return await run_in_threadpool(work, *args)
    cancelled = threading.Event()
    watcher = asyncio.create_task(_watch_disconnect(request, cancelled))
    token = CANCELLED.set(cancelled)  # the worker thread runs in a copy of this context
    try:
        return await run_in_threadpool(work, *args)
    finally:
        CANCELLED.reset(token)
        watcher.cancel()


async def _watch_disconnect(request: Request, cancelled: threading.Event) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
    cancelled.set()
