"""Cross-origin requests from browsers, allowed as ksqlDB allows them.

ksqlDB's server properties: `access.control.allow.origin` (comma-separated
origins, `*` for any, `*` inside an origin for any text: `http://*.example.com`),
`access.control.allow.methods` (default GET,POST,HEAD) and
`access.control.allow.headers` (default X-Requested-With,Content-Type,Accept,Origin).
Unset, nothing is allowed: no CORS header is sent, as in ksqlDB. Preflight
(OPTIONS) requests are answered before authentication, which browsers never send
with them.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from server.config import ServerConfig

ALLOW_ORIGIN = "access.control.allow.origin"
ALLOW_METHODS = "access.control.allow.methods"
ALLOW_HEADERS = "access.control.allow.headers"
DEFAULT_METHODS = "GET,POST,HEAD"
DEFAULT_HEADERS = "X-Requested-With,Content-Type,Accept,Origin"


def _items(value: Any) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


def with_cors(app: Any, config: ServerConfig) -> Any:
    """`app` behind CORS handling when access.control.allow.origin is set, else `app` itself."""
    origins = _items(config.get(ALLOW_ORIGIN))
    if not origins:
        return app
    methods = _items(config.get(ALLOW_METHODS)) or _items(DEFAULT_METHODS)
    headers = _items(config.get(ALLOW_HEADERS)) or _items(DEFAULT_HEADERS)
    if "*" in origins:
        return CORSMiddleware(app, allow_origins=["*"], allow_methods=methods, allow_headers=headers,
                              allow_credentials=True)
    pattern = "|".join(".*".join(re.escape(part) for part in origin.split("*")) for origin in origins)
    return CORSMiddleware(app, allow_origin_regex=pattern, allow_methods=methods, allow_headers=headers,
                          allow_credentials=True)
