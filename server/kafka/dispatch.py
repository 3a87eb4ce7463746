"""The dispatch table: API key -> handler, and the versions of each API this broker serves.

A handler module calls `register()` for each API it implements; ApiVersions answers
exactly the APIs registered here, so a client never picks an API nobody handles.
Handlers take the decoded request (a kafka-python message at the negotiated version)
and return the response message, or None when the client expects none (acks=0).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.kafka.broker import Broker


@dataclass
class Connection:
    """What a handler may know about the client connection a request came on."""

    peer: str
    client_id: str | None = None
    # what handler modules keep per connection (an authentication's outcome, say)
    state: dict[str, Any] = field(default_factory=dict)


HandlerFn = Callable[["Broker", Any, Connection], Awaitable[Any]]


@dataclass(frozen=True)
class Handler:
    """One API: its request and response classes (kafka.protocol), the versions served, the function."""

    request: type
    response: type
    min_version: int
    max_version: int
    handle: HandlerFn

    @property
    def api_key(self) -> int:
        return self.request.API_KEY


HANDLERS: dict[int, Handler] = {}


def register(request: type, response: type, min_version: int, max_version: int,
             handle: HandlerFn) -> Handler:
    """Serve `request` (a kafka.protocol request class) at versions [min_version, max_version]."""
    if not 0 <= min_version <= max_version <= request.max_version:
        raise ValueError(f"{request.__name__}: versions {min_version}..{max_version} outside what the "
                         f"protocol library knows (0..{request.max_version})")
    handler = Handler(request, response, min_version, max_version, handle)
    HANDLERS[handler.api_key] = handler
    return handler


def handles(request: type, response: type, min_version: int, max_version: int
            ) -> Callable[[HandlerFn], HandlerFn]:
    """Decorator form of register()."""
    def decorate(fn: HandlerFn) -> HandlerFn:
        register(request, response, min_version, max_version, fn)
        return fn
    return decorate


def supported_versions() -> list[tuple[int, int, int]]:
    """(api_key, min_version, max_version) of every registered API, by key."""
    return sorted((h.api_key, h.min_version, h.max_version) for h in HANDLERS.values())
