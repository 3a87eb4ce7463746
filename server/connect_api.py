"""Kafka Connect's REST API over the server's connector runtime, so Connect tools see its connectors.

    GET    /connectors[?expand=status&expand=info]     POST /connectors {name, config}
    GET    /connectors/{name}                           DELETE /connectors/{name}
    GET|PUT /connectors/{name}/config                   GET /connectors/{name}/status|tasks|topics
    GET    /connectors/{name}/tasks/{id}/status         POST /connectors/{name}/tasks/{id}/restart
    PUT    /connectors/{name}/pause|resume              POST /connectors/{name}/restart[?includeTasks&onlyFailed]
    GET    /connector-plugins

Creating, replacing and deleting a connector run CREATE / DROP CONNECTOR statements, so they go into
the command log like the statements a user types and the connector survives a restart. Every
refusal is Connect's error JSON, {"error_code": <status>, "message": ...}.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ksql.connect.client import ConnectError
from ksql.connect.plugins import UnknownConnectorClass
from ksql.connect.runtime import ConnectRuntime
from ksql.errors import KsqlError
from server.core import KsqlServer
from server.errors import ApiError
from server.http import in_worker, read_body

log = logging.getLogger("ksql.server")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": status, "message": message}, status_code=status)


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_statement(kind: str, name: str, config: dict[str, str]) -> str:
    """The CREATE CONNECTOR statement of a connector created through the REST API."""
    props = ", ".join(f"{quote_string(k)}={quote_string(v)}" for k, v in config.items())
    return f"CREATE {kind} CONNECTOR {quote_identifier(name)} WITH ({props});"


def register(app: FastAPI, server: KsqlServer, max_bytes: int) -> None:
    """Add Connect's routes to `app`."""
    router = APIRouter()

    def runtime() -> ConnectRuntime:
        engine = server.engine
        if engine is None:
            raise ConnectError(503, "The server is shutting down")
        client = engine.connect
        if not isinstance(client, ConnectRuntime):
            raise ConnectError(404, "This server runs no connectors: its connector statements go to the Kafka "
                                    "Connect cluster at ksql.connect.url")
        return client

    async def answer(request: Request, work: Callable[[], Any], status: int = 200) -> Response:
        """Run `work` off the event loop; its result as JSON (None: no content), its refusal as Connect's."""
        try:
            result = await in_worker(request, work)
        except ConnectError as err:
            return _error(err.status if err.status < 500 else 503, err.detail)
        except ApiError as err:
            return _error(err.status, err.message)
        except KsqlError as err:
            return _error(400, str(err))
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204 if status == 200 else status)
        return JSONResponse(result, status_code=status)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            doc = orjson.loads(await read_body(request, max_bytes) or b"null")
        except orjson.JSONDecodeError as err:
            raise ConnectError(400, f"Request body is not JSON: {err}") from None
        if not isinstance(doc, dict):
            raise ConnectError(400, "Request body must be a JSON object")
        return doc

    def string_config(config: Any, name: str) -> dict[str, str]:
        if not isinstance(config, dict):
            raise ConnectError(400, "Connector config must be a JSON object of strings")
        out = {str(k): ("true" if v else "false") if isinstance(v, bool) else "" if v is None else str(v)
               for k, v in config.items() if not isinstance(v, (dict, list))}
        if len(out) != len(config):
            raise ConnectError(400, "Connector config values must be strings, numbers or booleans")
        out.pop("name", None)
        if not out.get("connector.class", "").strip():
            raise ConnectError(400, f"Connector config {{name={name}}} contains no connector type")
        return out

    def run(sql: str) -> dict[str, Any]:
        """Run one connector statement as /ksql would (logged); its entity."""
        [stmt] = server.prepare(sql)
        return server.execute(stmt, {}).entity

    def create(name: str, config: dict[str, str]) -> dict[str, Any]:
        rt = runtime()
        try:
            kind = "SINK" if rt.plugins.get(config["connector.class"]).type == "sink" else "SOURCE"
        except UnknownConnectorClass as err:
            raise ConnectError(400, str(err)) from None
        if rt.exists(name):
            raise ConnectError(409, f"Connector {name} already exists")
        return run(create_statement(kind, name, config))["info"]

    def delete(name: str) -> None:
        runtime().info(name)  # 404 for an unknown connector
        run(f"DROP CONNECTOR {quote_identifier(name)};")

    @router.get("/connectors")
    async def list_connectors(request: Request) -> Response:
        expand = request.query_params.getlist("expand")

        def work() -> Any:
            rt = runtime()
            names = rt.connector_names()
            if not expand:
                return names
            out: dict[str, Any] = {}
            for name in names:
                try:
                    entry = {}
                    if "info" in expand:
                        entry["info"] = rt.info(name)
                    if "status" in expand:
                        entry["status"] = rt.status(name)
                    out[name] = entry
                except ConnectError:  # deleted meanwhile
                    continue
            return out
        return await answer(request, work)

    @router.post("/connectors")
    async def post_connector(request: Request) -> Response:
        try:
            doc = await body_of(request)
            name = doc.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ConnectError(400, "Connector name must be a non-empty string")
            config = string_config(doc.get("config"), name)
        except ConnectError as err:
            return _error(err.status, err.detail)
        except ApiError as err:
            return _error(err.status, err.message)
        if "name" in (doc.get("config") or {}) and str(doc["config"]["name"]) != name:
            return _error(400, "Connector name configuration (" + str(doc["config"]["name"]) + ") doesn't match "
                               "connector name in the URL (" + name + ")")
        return await answer(request, lambda: create(name, config), 201)

    @router.get("/connectors/{name}")
    async def get_connector(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().info(name))

    @router.delete("/connectors/{name}")
    async def delete_connector(request: Request, name: str) -> Response:
        return await answer(request, lambda: delete(name))

    @router.get("/connectors/{name}/config")
    async def get_config(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().config(name))

    @router.put("/connectors/{name}/config")
    async def put_config(request: Request, name: str) -> Response:
        try:
            config = string_config(await body_of(request), name)
        except ConnectError as err:
            return _error(err.status, err.detail)
        except ApiError as err:
            return _error(err.status, err.message)
        def replace() -> Response:
            existed = runtime().exists(name)
            if existed:
                delete(name)
            return JSONResponse(create(name, config), status_code=200 if existed else 201)
        return await answer(request, replace)

    @router.get("/connectors/{name}/status")
    async def get_status(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().status(name))

    @router.get("/connectors/{name}/tasks")
    async def get_tasks(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().tasks(name))

    @router.get("/connectors/{name}/topics")
    async def get_topics(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().topics(name))

    @router.get("/connectors/{name}/tasks/{task_id}/status")
    async def get_task_status(request: Request, name: str, task_id: str) -> Response:
        return await answer(request, lambda: runtime().task_status(name, _task_id(name, task_id)))

    @router.post("/connectors/{name}/tasks/{task_id}/restart")
    async def restart_task(request: Request, name: str, task_id: str) -> Response:
        return await answer(request, lambda: runtime().restart_task(name, _task_id(name, task_id)), 204)

    @router.put("/connectors/{name}/pause")
    async def pause(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().pause(name), 202)

    @router.put("/connectors/{name}/resume")
    async def resume(request: Request, name: str) -> Response:
        return await answer(request, lambda: runtime().resume(name), 202)

    @router.post("/connectors/{name}/restart")
    async def restart(request: Request, name: str) -> Response:
        try:
            include_tasks = _flag(request, "includeTasks")
            only_failed = _flag(request, "onlyFailed")
        except ConnectError as err:
            return _error(err.status, err.detail)

        def work() -> Any:
            rt = runtime()
            rt.restart(name, include_tasks, only_failed)
            return rt.status(name) if include_tasks or only_failed else None
        return await answer(request, work, 202 if include_tasks or only_failed else 204)

    @router.get("/connector-plugins")
    async def plugins(request: Request) -> Response:
        return await answer(request, lambda: runtime().plugins_info())

    app.include_router(router)


def _task_id(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConnectError(404, f"Task {name}-{text} not found") from None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ConnectError(400, f"Invalid value for query parameter {name}: {value!r} (true or false)")
    return value == "true"
