"""HTTP Basic authentication, as ksqlDB's `authentication.method=BASIC`.

Users come from a credentials file in the format ksqlDB's JAAS
PropertyFileLoginModule reads (`user: password[,role...]`, passwords in clear
text or `MD5:<hex>`), named by `authentication.basic.credentials.file`, and/or
inline from `authentication.basic.users=alice:secret,bob:pw` (`;` between users to give roles:
`alice:secret,admin;bob:pw`). When
`authentication.roles` is set, a user needs one of those roles. Every endpoint
but /healthcheck requires credentials; a refusal is ksqlDB's 401 error JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from ksql.errors import KsqlError
from server.config import ServerConfig
from server.errors import UNAUTHORIZED, generic_error
from server.rows import dumps

OPEN_PATHS = frozenset({"/healthcheck"})


@dataclass(frozen=True)
class User:
    password: str  # clear text, or MD5:<hex digest>
    roles: frozenset[str]

    def accepts(self, password: str) -> bool:
        if self.password.startswith("MD5:"):
            digest = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 - the file format's choice
            return hmac.compare_digest(digest, self.password[4:].lower())
        return hmac.compare_digest(self.password.encode(), password.encode())


def read_users(text: str) -> dict[str, User]:
    users: dict[str, User] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            raise KsqlError(f"Invalid credentials line (expected 'user: password[,role...]'): {line}")
        password, *roles = [p.strip() for p in rest.split(",")]
        if password.startswith(("OBF:", "CRYPT:")):
            raise KsqlError(f"Unsupported password encoding for user {name.strip()}: use clear text or MD5:")
        users[name.strip()] = User(password, frozenset(r for r in roles if r))
    return users


def users_from_config(config: ServerConfig) -> dict[str, User] | None:
    """The configured users, or None when authentication is off."""
    method = str(config.get("authentication.method", "NONE")).upper()
    if method == "NONE":
        return None
    if method != "BASIC":
        raise KsqlError(f"Unsupported authentication.method {method}: NONE or BASIC")
    users: dict[str, User] = {}
    path = config.get("authentication.basic.credentials.file")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                users.update(read_users(f.read()))
        except OSError as err:
            raise KsqlError(f"Cannot read the credentials file {path}: {err.strerror}") from None
    inline = str(config.get("authentication.basic.users") or "")
    if inline:  # "alice:pw,bob:pw", or "alice:pw,admin;bob:pw" to give roles
        users.update(read_users("\n".join(inline.split(";" if ";" in inline else ","))))
    if not users:
        raise KsqlError("authentication.method=BASIC needs users: set authentication.basic.credentials.file "
                        "or authentication.basic.users")
    return users


def roles_from_config(config: ServerConfig) -> frozenset[str]:
    """`authentication.roles`: a user needs one of them (none: any user will do)."""
    return frozenset(r.strip() for r in str(config.get("authentication.roles", "")).split(",") if r.strip())


def check_password(users: dict[str, User], roles: frozenset[str], name: str, password: str) -> bool:
    """Whether `name` is a user with this password and, when roles are required, one of them."""
    user = users.get(name)
    if user is None or not user.accepts(password):
        return False
    return not roles or bool(roles & user.roles)


class BasicAuthMiddleware:
    """Refuses requests without valid Basic credentials (HTTP and WebSocket alike)."""

    def __init__(self, app: ASGIApp, users: dict[str, User], realm: str = "KsqlServer",
                 roles: frozenset[str] = frozenset()):
        self.app = app
        self.users = users
        self.realm = realm
        self.roles = roles

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            name, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and check_password(self.users, self.roles, name, password)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = dumps(generic_error("Unauthorized", UNAUTHORIZED))
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "Unauthorized"})
            return
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", f'Basic realm="{self.realm}"'.encode())]})
        await send({"type": "http.response.body", "body": body})
