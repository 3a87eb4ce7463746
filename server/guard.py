"""The outermost ASGI layer: no exception reaches the HTTP server or the client as a stack trace.

An exception that escaped every endpoint's own handling is a bug of the server: it
is logged here, once, with its traceback, and the client gets ksqlDB's generic
error JSON (or a WebSocket close 1011) saying nothing of the server's internals.

An HTTP/1.1 request refused before its body was read leaves that body in the
connection, which therefore cannot serve another request: its error response
says `Connection: close`, so the client does not send the next request into a
connection the server is about to drop.

A client's disconnect is told to every later `receive()` of its request, not only
the first: both a watcher of the request's engine work and the response
streaming afterwards need to learn it.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import SERVER_ERROR, generic_error
from server.rows import dumps

log = logging.getLogger("ksql.server")

INTERNAL_ERROR_MESSAGE = "The server failed to process the request (the cause is in the server's log)"
WEBSOCKET_INTERNAL_ERROR = 1011


def internal_error_body() -> bytes:
    return dumps(generic_error(INTERNAL_ERROR_MESSAGE, SERVER_ERROR))


class ErrorGuard:
    """Logs an escaped exception and answers a generic error, when the response has not started yet."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False
        accepted = False
        body_read = scope["type"] != "http" or scope.get("http_version") not in ("1.0", "1.1") \
            or not _has_body(scope)

        disconnected = False

        async def tracking_receive() -> Message:
            nonlocal body_read, disconnected
            if disconnected:  # every later reader learns it too (server.http.in_worker's watcher reads first)
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            if disconnected or not message.get("more_body", False):
                body_read = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started, accepted
            if message["type"] == "http.response.start" and message["status"] >= 400 and not body_read:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            if message["type"] in ("http.response.start", "websocket.close", "websocket.http.response.start"):
                started = True
            elif message["type"] == "websocket.accept":
                accepted = True
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except Exception:  # noqa: BLE001 - the last line of defence: log it, tell the client nothing
            log.exception("unexpected error serving %s %s", scope.get("method", "WebSocket"), scope.get("path"))
            if started:
                return  # too late to answer anything else: the response ends here
            try:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": WEBSOCKET_INTERNAL_ERROR,
                                "reason": "Internal server error" if accepted else ""})
                    return
                body = internal_error_body()
                await tracking_send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            except OSError:  # the client is gone too
                return


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    return headers.get(b"content-length", b"0").strip() not in (b"0", b"") or b"transfer-encoding" in headers
