"""The ASGI application: ksqlDB's REST API (plus Server-Sent Events) over a KsqlServer.

Endpoints (ksqlDB's paths and JSON shapes):

    POST /ksql                 statements -> list of entities
    POST /query                SELECT / PRINT -> chunked JSON (or PRINT's text lines)
    POST /query-stream         SELECT -> delimited JSON rows (HTTP/1.1 and HTTP/2)
    POST /inserts-stream       rows in, one ack per row out
    POST /close-query          end a push query
    GET  /info  /healthcheck  /clusterStatus  /status  /status/{commandId}
    GET  /is_valid_property/{name}  /v1/metadata  /v1/metadata/id  /chc/live  /chc/ready
    GET  /metrics              Prometheus' text format: queries, requests, latencies (see server.metrics)
    POST /ksql/terminate       end every query, drop every source (deleting topics matching deleteTopicList)
    POST /lag                  a lag report from another server of the cluster (acknowledged)
    WS   /ws/query             push queries over a WebSocket
    GET|POST /query/sse        push queries as Server-Sent Events (see server.sse)
    POST /topics/{topic}/records  append records to a topic (see server.inserts)
    GET  /topics/{topic}/records  read records by partition and offset (see server.topic_records)
    GET  /  /console/...       the web console (see server.web_console)
    /schema-registry/...       the schema registry's Confluent REST API (subjects, schemas, config)

Browsers' cross-origin requests are allowed as configured (see server.cors).
Every error is ksqlDB's error JSON with a matching status; nothing leaks a stack trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ksql.engine import properties as properties_catalogue
from ksql.engine.schema_registry.rest import create_app as schema_registry_app
from ksql.errors import KsqlError
from server import connect_api, inserts, queries, sse, statements, topic_records, websocket
from server.auth import BasicAuthMiddleware, roles_from_config, users_from_config
from server.core import SERVER_VERSION, KsqlServer
from server.cors import with_cors
from server.engine_lock import RequestCancelled
from server.errors import (
    BAD_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    ApiError,
    bad_request,
    generic_error,
    storage_error,
)
from server.guard import ErrorGuard, internal_error_body
from server.http import (
    DEFAULT_MAX_REQUEST_BYTES,
    check_fields,
    in_worker,
    parse_object,
    properties_of,
    read_body,
    refuse_unknown_properties,
)
from server.insert_rounds import InsertRounds
from server.metrics import RequestMetrics
from server.web_console import mount_console

log = logging.getLogger("ksql.server")

KSQL_FIELDS = {"ksql": str, "streamsProperties": dict, "requestProperties": dict, "sessionVariables": dict,
               "commandSequenceNumber": int}
KSQL_MEDIA = "application/vnd.ksql.v1+json"
SCHEMA_REGISTRY_PATH = "/schema-registry"
DENYLIST_PROPERTY = "ksql.properties.overrides.denylist"

Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(server: KsqlServer) -> Any:
    """The FastAPI app over `server` (already started), wrapped in authentication when configured."""
    app = FastAPI(title="ksql-py server", version=SERVER_VERSION, docs_url=None, redoc_url=None,
                  openapi_url=None)
    max_bytes = server.config.get_int("ksql.server.max.request.bytes", DEFAULT_MAX_REQUEST_BYTES)
    insert_rounds = InsertRounds(server)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> Response:
        return JSONResponse(err.entity(), status_code=err.status, headers=err.headers)

    @app.exception_handler(KsqlError)
    async def ksql_error(request: Request, err: KsqlError) -> Response:
        return JSONResponse(generic_error(str(err), BAD_REQUEST), status_code=400)

    @app.exception_handler(OSError)
    async def disk_error(request: Request, err: OSError) -> Response:
        if isinstance(err, (ConnectionError, TimeoutError)) or err.errno is None:  # not the disk
            log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=err)
            return await internal_error(request, err)
        log.error("%s %s: the disk refused a write: %s", request.method, request.url.path, err)
        api = storage_error(err, "the request was not applied.")
        return JSONResponse(api.entity(), status_code=api.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        code = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}.get(err.status_code, err.status_code * 100)
        message = {404: f"Not found: {request.url.path}",
                   405: f"Method {request.method} not allowed on {request.url.path}"}.get(
            err.status_code, str(err.detail))
        return JSONResponse(generic_error(message, code), status_code=err.status_code)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, err: ClientDisconnect) -> Response:
        return Response(status_code=400)

    @app.exception_handler(RequestCancelled)
    async def cancelled(request: Request, err: RequestCancelled) -> Response:
        return JSONResponse(generic_error("The request was cancelled: the client disconnected", BAD_REQUEST),
                            status_code=400)

    # the response to an unexpected exception (Starlette's last handler); ErrorGuard logs it
    app.add_exception_handler(Exception, internal_error)

    def serving_route(path: str, method: str) -> Callable[[Endpoint], Endpoint]:
        """Register a request-only endpoint as Starlette's own route rather than FastAPI's: nothing is
        injected, so FastAPI's per-request dependency solving, a share of each key lookup, is skipped.
        Exception handlers, middleware and 405 answers are the same."""
        def register(endpoint: Endpoint) -> Endpoint:
            app.add_route(path, endpoint, methods=[method])
            return endpoint
        return register

    # -- statements ------------------------------------------------------------------------------

    @serving_route("/ksql", "POST")
    async def ksql(request: Request) -> Response:
        doc = check_fields(parse_object(await read_body(request, max_bytes)), KSQL_FIELDS, ("ksql",),
                           "the /ksql request")
        properties = properties_of(doc, "streamsProperties", "requestProperties")
        refuse_unknown_properties(doc.get("streamsProperties"))
        if doc.get("commandSequenceNumber") is not None:
            await statements.wait_for_command(server, doc["commandSequenceNumber"])
        entities = await in_worker(request, statements.run_script, server, doc["ksql"], properties,
                                   doc.get("sessionVariables"))
        return JSONResponse(entities, media_type=_media(request))

    # -- queries ---------------------------------------------------------------------------------

    @serving_route("/query", "POST")
    async def query(request: Request) -> Response:
        return await queries.query_endpoint(request, server, max_bytes)

    @serving_route("/query-stream", "POST")
    async def query_stream(request: Request) -> Response:
        return await queries.query_stream_endpoint(request, server, max_bytes)

    @serving_route("/close-query", "POST")
    async def close_query(request: Request) -> Response:
        return await queries.close_query_endpoint(request, server, max_bytes)

    @app.api_route("/query/sse", methods=["GET", "POST"])
    async def query_sse(request: Request) -> Response:
        return await sse.sse_endpoint(request, server, max_bytes)

    @app.websocket("/ws/query")
    async def ws_query(ws: WebSocket) -> None:
        await websocket.ws_query_endpoint(ws, server)

    # -- writes ----------------------------------------------------------------------------------

    @serving_route("/inserts-stream", "POST")
    async def inserts_stream(request: Request) -> Response:
        return await inserts.inserts_stream_endpoint(request, server, insert_rounds, max_bytes)

    @app.post("/topics/{topic}/records")
    async def produce(request: Request, topic: str) -> Response:
        return await inserts.produce_endpoint(request, server, topic, max_bytes)

    @app.get("/topics/{topic}/records")
    async def topic_records_page(request: Request, topic: str) -> Response:
        return await topic_records.topic_records_endpoint(request, server, topic)

    # -- server information ----------------------------------------------------------------------

    @serving_route("/info", "GET")
    async def info(request: Request) -> Response:
        return JSONResponse({"KsqlServerInfo": {
            "version": SERVER_VERSION, "kafkaClusterId": server.cluster_id, "ksqlServiceId": server.service_id,
            "serverStatus": "RUNNING" if server.running else "TERMINATING"}}, media_type=_media(request))

    @serving_route("/healthcheck", "GET")
    async def healthcheck(request: Request) -> Response:
        running = server.running
        failed = server.failed_queries()
        healthy = running and not failed
        queries: dict[str, Any] = {"isHealthy": not failed}
        if failed:  # which queries are in ERROR and why (they retry by themselves)
            queries["errors"] = [{"queryId": qid, "errorMessage": reason} for qid, reason in sorted(failed.items())]
        body = {"isHealthy": healthy, "details": {
            "metastore": {"isHealthy": running}, "kafka": {"isHealthy": running},
            "commandRunner": {"isHealthy": running}, "persistentQueries": queries}}
        return JSONResponse(body, status_code=200 if healthy else 503, media_type=_media(request))

    @app.get("/clusterStatus")
    async def cluster_status(request: Request) -> Response:
        """Every server of the cluster; the query lags are known for this one only."""
        now = int(time.time() * 1000)
        lags = await in_worker(request, server.query_lags)
        status = {}
        for member in server.cluster_members():
            own = member.host == server.host
            status[member.host] = {
                "hostAlive": member.alive, "lastStatusUpdateMs": now if own else member.last_heartbeat_ms,
                "activeStandbyPerQuery": {},
                "hostStoreLags": {"stateStoreLags": lags if own else {},
                                  "updateTimeMs": now if own else member.last_heartbeat_ms}}
        return JSONResponse({"clusterStatus": status}, media_type=_media(request))

    @app.get("/is_valid_property/{name:path}")
    async def is_valid_property(request: Request, name: str) -> Response:
        if properties_catalogue.resolve(name) is None:
            raise bad_request(statements.unknown_property_message(name))
        denied = {p.strip() for p in str(server.config.get(DENYLIST_PROPERTY, "")).split(",") if p.strip()}
        if name in denied:
            raise bad_request(f"A property override was set locally for a property that the server prohibits "
                              f"overrides for: '{name}'")
        return JSONResponse(True, media_type=_media(request))

    @app.get("/v1/metadata")
    async def metadata(request: Request) -> Response:
        return JSONResponse({"version": SERVER_VERSION, "clusterId": _cluster_id(server)},
                            media_type=_media(request))

    @app.get("/v1/metadata/id")
    async def metadata_id(request: Request) -> Response:
        return JSONResponse(_cluster_id(server), media_type=_media(request))

    @app.get("/chc/live")
    @app.get("/chc/ready")
    async def container_health_check(request: Request) -> Response:
        return JSONResponse({})

    @app.post("/ksql/terminate")
    async def terminate(request: Request) -> Response:
        doc = check_fields(parse_object(await read_body(request, max_bytes)),
                           {"deleteTopicList": list, "streamsProperties": dict}, (), "the /ksql/terminate request")
        patterns = doc.get("deleteTopicList") or []
        if not all(isinstance(p, str) for p in patterns):
            raise bad_request("Invalid field \"deleteTopicList\" in the /ksql/terminate request: "
                              "expected an array of strings")
        entities = await in_worker(request, statements.terminate_cluster, server, patterns)
        return JSONResponse(entities, media_type=_media(request))

    @app.post("/lag")
    async def lag_report(request: Request) -> Response:
        check_fields(parse_object(await read_body(request, max_bytes)),
                     {"host": dict, "hostPartitionStoreLags": dict, "lastLagUpdateMs": int}, ("host",),
                     "the /lag request")
        return JSONResponse({"isOk": True}, media_type=_media(request))

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus' text exposition format (names in server.metrics)."""
        body = await in_worker(request, server.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    async def status_all(request: Request) -> Response:
        return JSONResponse({"commandStatuses": {k: v["status"] for k, v in server.statuses.items()}},
                            media_type=_media(request))

    @app.get("/status/{command_id:path}")
    async def status_one(request: Request, command_id: str) -> Response:
        status = server.statuses.get(command_id)
        if status is None:
            raise ApiError(404, NOT_FOUND, f"Command not found: {command_id}")
        return JSONResponse(status, media_type=_media(request))

    # Kafka Connect's REST API over the server's connector runtime
    connect_api.register(app, server, max_bytes)

    # the embedded (or configured) schema registry, with Confluent's REST API, for AVRO/PROTOBUF/JSON_SR
    assert server.engine is not None
    registry = schema_registry_app(server.engine.schema_registry)
    registry.add_exception_handler(Exception, internal_error)
    app.mount(SCHEMA_REGISTRY_PATH, registry)
    mount_console(app)
    users = users_from_config(server.config)
    if users is None:
        return RequestMetrics(ErrorGuard(with_cors(app, server.config)), app.routes, server.metrics)
    roles = roles_from_config(server.config)
    realm = str(server.config.get("authentication.realm", "KsqlServer"))
    return RequestMetrics(ErrorGuard(with_cors(BasicAuthMiddleware(app, users, realm, roles), server.config)),
                          app.routes, server.metrics)


async def internal_error(request: Request, err: Exception) -> Response:
    return Response(internal_error_body(), status_code=500, media_type="application/json")


def _cluster_id(server: KsqlServer) -> dict[str, Any]:
    """ksqlDB's ServerClusterId: the Kafka cluster and the ksql service this server belongs to."""
    return {"scope": {"path": [], "clusters": {"kafka-cluster": server.cluster_id,
                                                "ksql-cluster": server.service_id}}, "id": ""}


def _media(request: Request) -> str:
    return KSQL_MEDIA if KSQL_MEDIA in request.headers.get("accept", "") else "application/json"

