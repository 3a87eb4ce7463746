"""Confluent Schema Registry's REST API over a SchemaRegistryClient (the embedded store, usually).

`create_router(registry)` gives a FastAPI router the REST server mounts (e.g.
under /schema-registry, or at the root of its own port); `create_app(registry)`
a standalone ASGI app. Paths, JSON shapes and error bodies
({"error_code": 40401, "message": "Subject 'x' not found."}) are Confluent's, so
Confluent's clients (confluent-kafka's SchemaRegistryClient, Kafka Connect,
kcat) work against it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ksql.engine.schema_registry.client import (
    SCHEMA_TYPES,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    normalize_level,
    parse_version,
)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, media_type=CONTENT_TYPE)


def _error(err: SchemaRegistryError) -> JSONResponse:
    return _json({"error_code": err.error_code, "message": err.message}, err.status)


async def _run(fn: Callable[[], Any]) -> Response:
    """Run a registry call off the event loop; registry errors become Confluent error bodies."""
    try:
        result = await run_in_threadpool(fn)
    except SchemaRegistryError as err:
        return _error(err)
    return result if isinstance(result, Response) else _json(result)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise SchemaRegistryError(f"Unrecognized request body: {err}", status=400, error_code=400) from None
    except RecursionError:
        raise SchemaRegistryError("Unrecognized request body: JSON nested too deeply", status=400,
                                  error_code=400) from None


def _flag(value: str | None) -> bool:
    return str(value).lower() == "true"


def create_router(registry: SchemaRegistryClient) -> APIRouter:
    """The registry's REST endpoints as a router (no prefix)."""
    r = APIRouter()

    @r.get("/")
    async def root() -> Response:
        return _json({})

    @r.get("/schemas/types")
    async def schema_types() -> Response:
        return _json(sorted(SCHEMA_TYPES, reverse=True))

    @r.get("/schemas/ids/{schema_id}")
    async def schema_by_id(schema_id: int) -> Response:
        return await _run(lambda: registry.schema_by_id(schema_id).to_json())

    @r.get("/schemas/ids/{schema_id}/schema")
    async def raw_schema_by_id(schema_id: int) -> Response:
        return await _run(lambda: Response(registry.schema_by_id(schema_id).schema_str, media_type=CONTENT_TYPE))

    @r.get("/schemas/ids/{schema_id}/subjects")
    async def subjects_by_id(schema_id: int) -> Response:
        return await _run(lambda: sorted({s for s, _ in registry.subjects_for_id(schema_id)}))

    @r.get("/schemas/ids/{schema_id}/versions")
    async def versions_by_id(schema_id: int) -> Response:
        return await _run(lambda: [{"subject": s, "version": v} for s, v in registry.subjects_for_id(schema_id)])

    @r.get("/subjects")
    async def subjects(deleted: str | None = None) -> Response:
        return await _run(lambda: registry.subjects(deleted=_flag(deleted)))

    @r.get("/subjects/{subject}/versions")
    async def versions(subject: str, deleted: str | None = None) -> Response:
        return await _run(lambda: registry.versions(subject, deleted=_flag(deleted)))

    @r.get("/subjects/{subject}/versions/{version}")
    async def version(subject: str, version: str) -> Response:
        return await _run(lambda: registry.version(subject, parse_version(version)).to_json())

    @r.get("/subjects/{subject}/versions/{version}/schema")
    async def raw_version(subject: str, version: str) -> Response:
        return await _run(lambda: Response(registry.version(subject, parse_version(version)).schema.schema_str,
                                           media_type=CONTENT_TYPE))

    @r.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> Response:
        try:
            body = await _body(request)
            schema = Schema.from_json(body)
            schema_id = body.get("id")
            if schema_id is not None and (not isinstance(schema_id, int) or isinstance(schema_id, bool)):
                raise SchemaRegistryError(f"Invalid schema id {schema_id}", status=422, error_code=42205)
        except SchemaRegistryError as err:
            return _error(err)
        return await _run(lambda: {"id": registry.register(subject, schema, schema_id=schema_id)})

    @r.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request) -> Response:
        try:
            schema = Schema.from_json(await _body(request))
        except SchemaRegistryError as err:
            return _error(err)
        return await _run(lambda: registry.lookup(subject, schema).to_json())

    @r.delete("/subjects/{subject}")
    async def delete_subject(subject: str, permanent: str | None = None) -> Response:
        return await _run(lambda: registry.delete_subject(subject, permanent=_flag(permanent)))

    @r.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(subject: str, version: str, permanent: str | None = None) -> Response:
        return await _run(lambda: registry.delete_version(subject, parse_version(version),
                                                          permanent=_flag(permanent)))

    @r.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility(subject: str, version: str, request: Request, verbose: str | None = None) -> Response:
        try:
            schema = Schema.from_json(await _body(request))
        except SchemaRegistryError as err:
            return _error(err)

        def check() -> dict:
            problems = registry.compatibility_problems(subject, schema, parse_version(version))
            out: dict = {"is_compatible": not problems}
            if _flag(verbose):
                out["messages"] = problems
            return out
        return await _run(check)

    @r.get("/config")
    async def get_config() -> Response:
        return await _run(lambda: {"compatibilityLevel": registry.get_compatibility()})

    @r.put("/config")
    async def put_config(request: Request) -> Response:
        try:
            level = normalize_level((await _body(request)).get("compatibility"))
        except (SchemaRegistryError, AttributeError) as err:
            if isinstance(err, SchemaRegistryError):
                return _error(err)
            return _json({"error_code": 400, "message": "Unrecognized request body"}, 400)
        return await _run(lambda: {"compatibility": registry.set_compatibility(level)})

    @r.get("/config/{subject}")
    async def get_subject_config(subject: str, defaultToGlobal: str | None = None) -> Response:  # noqa: N803
        return await _run(lambda: {"compatibilityLevel": registry.get_compatibility(
            subject, default_to_global=_flag(defaultToGlobal))})

    @r.put("/config/{subject}")
    async def put_subject_config(subject: str, request: Request) -> Response:
        try:
            level = normalize_level((await _body(request)).get("compatibility"))
        except (SchemaRegistryError, AttributeError) as err:
            if isinstance(err, SchemaRegistryError):
                return _error(err)
            return _json({"error_code": 400, "message": "Unrecognized request body"}, 400)
        return await _run(lambda: {"compatibility": registry.set_compatibility(level, subject)})

    @r.delete("/config/{subject}")
    async def delete_subject_config(subject: str) -> Response:
        return await _run(lambda: {"compatibilityLevel": registry.delete_compatibility(subject)})

    @r.get("/mode")
    async def mode() -> Response:
        return _json({"mode": "READWRITE"})

    return r


def create_app(registry: SchemaRegistryClient) -> FastAPI:
    """A standalone ASGI app serving the registry's REST API at its root."""
    app = FastAPI(title="Schema Registry", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_router(registry))
    return app
