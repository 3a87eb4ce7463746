"""Where connector statements go: the server's own runtime, or a Kafka Connect cluster over its REST API.

Both answer with Kafka Connect's REST shapes and refuse with ConnectError (Connect's HTTP status
and message), so ksql.connect.statements does not care which one it talks to. The REST client is
used when `ksql.connect.url` is set, as in ksqlDB.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import quote

import httpx

from ksql.errors import KsqlError

REQUEST_TIMEOUT_SECONDS = 30.0


class ConnectError(KsqlError):
    """A refused Connect request, with Connect's HTTP status (404 unknown connector, 409 exists, 400 bad
    config, 503 cluster unreachable)."""

    def __init__(self, status: int, message: str, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = message if detail is None else detail  # Connect's own message, without ksqlDB's prefix


class ConnectClient(ABC):
    """The Connect operations connector statements need."""

    #: True for the server's own runtime: its connector statements go into the command log.
    embedded: bool = False

    @abstractmethod
    def connector_names(self) -> list[str]: ...

    @abstractmethod
    def create(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        """POST /connectors: the new connector's info ({name, config, tasks, type})."""

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def info(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def status(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def topics(self, name: str) -> dict[str, Any]: ...


class RestConnectClient(ConnectClient):
    """A Kafka Connect cluster at `url` (its REST API)."""

    def __init__(self, url: str, timeout: float = REQUEST_TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise ConnectError(503, f"Could not reach the Kafka Connect cluster at {self.url}: {err}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise ConnectError(response.status_code, str(message))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectError(502, f"The Kafka Connect cluster at {self.url} answered {method} {path} with "
                                    "something that is not JSON") from None

    @staticmethod
    def _path(name: str, suffix: str = "") -> str:
        return f"/connectors/{quote(name, safe='')}{suffix}"

    def connector_names(self) -> list[str]:
        return list(self._request("GET", "/connectors") or [])

    def create(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/connectors", {"name": name, "config": config})

    def delete(self, name: str) -> None:
        self._request("DELETE", self._path(name))

    def info(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name))

    def status(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name, "/status"))

    def topics(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name, "/topics"))

    def close(self) -> None:
        self._http.close()
