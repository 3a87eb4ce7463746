"""SASL/PLAIN for Kafka clients when the server has Basic authentication on: the same users.

With `authentication.method=BASIC`, a Kafka client authenticates as an HTTP client does:
the users of `authentication.basic.credentials.file` / `authentication.basic.users` (and
one of `authentication.roles` when set) over SASL/PLAIN (RFC 4616: authzid NUL user NUL
password). Until a connection has authenticated, it may only ask ApiVersions,
SaslHandshake and SaslAuthenticate; anything else closes it, as Kafka does.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.auth import User, check_password, roles_from_config, users_from_config
from server.config import ServerConfig

MECHANISM = "PLAIN"
# the API keys an unauthenticated connection may send: ApiVersions, SaslHandshake, SaslAuthenticate
OPEN_API_KEYS = frozenset({18, 17, 36})
PRINCIPAL = "principal"  # Connection.state key: the user a connection authenticated as


@dataclass(frozen=True)
class SaslPlain:
    users: dict[str, User]
    roles: frozenset[str]

    @classmethod
    def from_config(cls, config: ServerConfig) -> SaslPlain | None:
        """None when authentication is off (raises KsqlError for a bad configuration)."""
        users = users_from_config(config)
        return None if users is None else cls(users, roles_from_config(config))

    def authenticate(self, token: bytes) -> str | None:
        """The user a PLAIN token proves to be, or None."""
        try:
            authzid, user, password = token.decode("utf-8").split("\0")
        except ValueError:  # not three fields, or not UTF-8
            return None
        if authzid and authzid != user:  # acting as someone else is not supported
            return None
        return user if check_password(self.users, self.roles, user, password) else None
