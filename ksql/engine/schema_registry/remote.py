"""A client of an external Confluent Schema Registry (`ksql.schema.registry.url`), over its REST API.

Same interface as the embedded store; Confluent's error bodies
({"error_code": 40401, "message": "..."}) become SchemaRegistryError with that
status and code. Schemas by id never change, so they are cached.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx

from ksql.engine.schema_registry.client import (
    STORE_ERROR,
    RegisteredSchema,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    normalize_level,
    parse_version,
)

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RemoteSchemaRegistry(SchemaRegistryClient):
    """Talks to a Confluent-compatible registry at `url` (basic auth as 'user:password' if given)."""

    def __init__(self, url: str, *, basic_auth: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        first = str(url).split(",")[0].strip().rstrip("/")
        if not first:
            raise SchemaRegistryError("ksql.schema.registry.url is empty", status=500, error_code=STORE_ERROR)
        auth = None
        if basic_auth:
            user, _, password = basic_auth.partition(":")
            auth = (user, password)
        self.url = first
        self._http = httpx.Client(base_url=first, auth=auth, timeout=timeout, transport=transport,
                                  headers={"Accept": _CONTENT_TYPE})
        self._by_id: dict[int, Schema] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, body: Any = None, params: dict | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body, params=params,
                                          headers={"Content-Type": _CONTENT_TYPE} if body is not None else None)
        except httpx.HTTPError as err:
            raise SchemaRegistryError(f"Schema registry at {self.url} is not reachable: {err}",
                                      status=503, error_code=STORE_ERROR) from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code >= 400:
            if isinstance(data, dict) and "message" in data:
                raise SchemaRegistryError(str(data["message"]), status=response.status_code,
                                          error_code=int(data.get("error_code") or response.status_code))
            raise SchemaRegistryError(f"Schema registry answered {response.status_code}: {response.text[:200]}",
                                      status=response.status_code, error_code=response.status_code)
        return data

    @staticmethod
    def _subject(subject: str) -> str:
        return quote(subject, safe="")

    def _registered(self, subject: str, data: dict) -> RegisteredSchema:
        schema = Schema.from_json(data)
        return RegisteredSchema(int(data["id"]), data.get("subject", subject), int(data["version"]), schema)

    def register(self, subject: str, schema: Schema, *, schema_id: int | None = None) -> int:
        body = schema.to_json()
        if schema_id is not None:
            body["id"] = schema_id
        data = self._call("POST", f"/subjects/{self._subject(subject)}/versions", body=body)
        return int(data["id"])

    def lookup(self, subject: str, schema: Schema) -> RegisteredSchema:
        data = self._call("POST", f"/subjects/{self._subject(subject)}", body=schema.to_json())
        return self._registered(subject, data)

    def schema_by_id(self, schema_id: int) -> Schema:
        with self._lock:
            cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        schema = Schema.from_json(self._call("GET", f"/schemas/ids/{int(schema_id)}"))
        with self._lock:
            self._by_id[schema_id] = schema
        return schema

    def subjects_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        data = self._call("GET", f"/schemas/ids/{int(schema_id)}/versions")
        return [(d["subject"], int(d["version"])) for d in data or []]

    def subjects(self, *, deleted: bool = False) -> list[str]:
        return list(self._call("GET", "/subjects", params={"deleted": "true"} if deleted else None) or [])

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        return [int(v) for v in self._call("GET", f"/subjects/{self._subject(subject)}/versions",
                                           params={"deleted": "true"} if deleted else None) or []]

    def version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        number = parse_version(version)
        text = "latest" if number == -1 else str(number)
        return self._registered(subject, self._call("GET", f"/subjects/{self._subject(subject)}/versions/{text}"))

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        return [int(v) for v in self._call("DELETE", f"/subjects/{self._subject(subject)}",
                                           params={"permanent": "true"} if permanent else None) or []]

    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int:
        number = parse_version(version)
        text = "latest" if number == -1 else str(number)
        return int(self._call("DELETE", f"/subjects/{self._subject(subject)}/versions/{text}",
                              params={"permanent": "true"} if permanent else None))

    def compatibility_problems(self, subject: str, schema: Schema, version: int | str = "latest") -> list[str]:
        number = parse_version(version)
        text = "latest" if number == -1 else str(number)
        data = self._call("POST", f"/compatibility/subjects/{self._subject(subject)}/versions/{text}",
                          body=schema.to_json(), params={"verbose": "true"})
        if data.get("is_compatible"):
            return []
        return list(data.get("messages") or ["the schema is not compatible"])

    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        path = "/config" if subject is None else f"/config/{self._subject(subject)}"
        params = {"defaultToGlobal": "true"} if subject is not None and default_to_global else None
        data = self._call("GET", path, params=params)
        return normalize_level(data.get("compatibilityLevel") or data.get("compatibility"))

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        path = "/config" if subject is None else f"/config/{self._subject(subject)}"
        data = self._call("PUT", path, body={"compatibility": normalize_level(level)})
        return normalize_level(data.get("compatibility"))

    def delete_compatibility(self, subject: str) -> str:
        data = self._call("DELETE", f"/config/{self._subject(subject)}")
        return normalize_level(data.get("compatibilityLevel") or data.get("compatibility"))
