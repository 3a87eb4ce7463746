"""The CLI's only way to the server: ksqlDB's REST API over HTTP (httpx).

    POST /ksql          statements -> list of entities
    POST /query         SELECT / PRINT -> a streamed JSON array (or PRINT's text lines)
    POST /close-query   end a push query
    GET  /info          version and status, for the banner

Transport failures become ServerUnreachable (could not connect) or
ConnectionLost (the connection broke during a request); an error answer becomes
ServerError carrying ksqlDB's error entity. Nothing else escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

KSQL_MEDIA = "application/vnd.ksql.v1+json"
CONNECT_SECONDS = 5.0
INFO_SECONDS = 10.0
CLOSE_SECONDS = 5.0


class ClientError(Exception):
    """Anything that went wrong talking to the server; str() is the message for the user."""


class ServerUnreachable(ClientError):
    pass


class ConnectionLost(ClientError):
    pass


class ServerError(ClientError):
    """The server refused a request: HTTP status and ksqlDB's error entity."""

    def __init__(self, status: int, entity: dict[str, Any]):
        self.status = status
        self.entity = entity
        super().__init__(str(entity.get("message") or f"HTTP {status}"))

    @property
    def statement(self) -> str | None:
        return self.entity.get("statementText")


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else "http://" + url


def loads(text: str) -> Any:
    """JSON with numbers kept as written (DECIMAL and DOUBLE values print as the server sent them)."""
    return json.loads(text, parse_float=Decimal)


class JsonArrayReader:
    """Objects of a JSON array arriving in pieces (ksqlDB's chunked /query response)."""

    def __init__(self) -> None:
        self.buffer = ""
        self.ended = False
        self._decoder = json.JSONDecoder(parse_float=Decimal)

    def feed(self, text: str) -> list[Any]:
        self.buffer += text
        out: list[Any] = []
        while not self.ended:
            i = 0
            while i < len(self.buffer) and self.buffer[i] in " \t\r\n,[":
                i += 1
            if i < len(self.buffer) and self.buffer[i] == "]":
                self.ended = True
                i += 1
            self.buffer = self.buffer[i:]
            if self.ended or not self.buffer:
                break
            try:
                obj, end = self._decoder.raw_decode(self.buffer)
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            out.append(obj)
            self.buffer = self.buffer[end:]
        return out


class QueryStream:
    """One running query's response: JSON messages (header, rows, final/error message) or text lines."""

    def __init__(self, response: httpx.Response, is_print: bool):
        self.response = response
        # ksqlDB streams PRINT's lines under the request's JSON media type; this server says text/plain
        self.is_text = is_print or response.headers.get("content-type", "").startswith("text/")
        self.query_id: str | None = None

    def events(self) -> Iterator[Any]:
        if self.is_text:
            yield from (line for line in self.response.iter_lines() if line.strip())  # blank lines: keep-alives
            return
        reader = JsonArrayReader()
        for chunk in self.response.iter_text():
            for message in reader.feed(chunk):
                header = message.get("header") if isinstance(message, dict) else None
                if isinstance(header, dict):
                    self.query_id = header.get("queryId")
                yield message
        if not reader.ended and reader.buffer.strip():
            raise ConnectionLost("The server ended the query's response in the middle of a message")


class KsqlClient:
    """A session with one server: base URL, credentials, and a connection pool."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None):
        self.url = normalize_url(url)
        self.auth = auth
        self._args: dict[str, Any] = {
            "base_url": self.url,
            "auth": httpx.BasicAuth(*auth) if auth else None,
            "timeout": httpx.Timeout(None, connect=CONNECT_SECONDS),
            "headers": {"Accept": KSQL_MEDIA, "Content-Type": KSQL_MEDIA},
        }
        self.http = httpx.Client(**self._args)

    def close(self) -> None:
        self.http.close()

    def with_url(self, url: str) -> KsqlClient:
        """A client for another server, with the same credentials (the CLI's `server URL`)."""
        return KsqlClient(url, self.auth)

    # -- requests --------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """GET /info's KsqlServerInfo (version, serverStatus, ...)."""
        with self._errors():
            response = self.http.get("/info", timeout=INFO_SECONDS)
        body = self._json(response)
        info = body.get("KsqlServerInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise ServerUnreachable(f"{self.url} does not look like a ksqlDB server (GET /info answered "
                                    f"{response.text[:200]!r})")
        return info

    def ksql(self, text: str, properties: dict[str, str], variables: dict[str, str],
             sequence: int | None = None) -> list[dict[str, Any]]:
        """POST /ksql: the entities of the statements in `text`."""
        body = self._body(text, properties, variables)
        if sequence is not None:
            body["commandSequenceNumber"] = sequence
        with self._errors():
            response = self.http.post("/ksql", content=json.dumps(body))
        entities = self._json(response)
        if not isinstance(entities, list):
            raise ServerError(response.status_code, {"message": f"Unexpected answer from the server: {entities!r}"})
        return entities

    @contextmanager
    def query(self, text: str, properties: dict[str, str], variables: dict[str, str],
              is_print: bool = False) -> Iterator[QueryStream]:
        """POST /query on a connection of its own, dropped when the block ends (that ends the query)."""
        http = httpx.Client(**self._args)
        try:
            with self._errors():
                with http.stream("POST", "/query", content=json.dumps(self._body(text, properties, variables))) \
                        as response:
                    if response.status_code != 200:
                        response.read()
                        self._json(response)
                    yield QueryStream(response, is_print)
        finally:
            http.close()

    def close_query(self, query_id: str) -> None:
        """POST /close-query; a query that already ended is not an error here."""
        try:
            with self._errors():
                self.http.post("/close-query", content=json.dumps({"queryId": query_id}), timeout=CLOSE_SECONDS)
        except ClientError:
            pass

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _body(text: str, properties: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"ksql": text, "streamsProperties": dict(properties)}
        if variables:
            body["sessionVariables"] = dict(variables)
        return body

    def _json(self, response: httpx.Response) -> Any:
        """The body as JSON; a non-2xx answer raises ServerError with its entity."""
        try:
            body = loads(response.text) if response.text.strip() else None
        except json.JSONDecodeError:
            body = None
        if response.is_success:
            return body
        if not isinstance(body, dict):
            body = {"message": f"HTTP {response.status_code} {response.reason_phrase}: {response.text[:500]}".strip()}
        if response.status_code == 401:
            body = {**body, "message": f"{body.get('message') or 'Unauthorized'}: the server at {self.url} "
                                       "refused the user name or password (ksql -u USER)"}
        raise ServerError(response.status_code, body)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError as err:
            raise ServerUnreachable(f"Could not connect to the server at {self.url}: {_reason(err)}") from None
        except httpx.TimeoutException as err:
            raise ServerUnreachable(f"The server at {self.url} did not answer in time ({_reason(err)})") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError) as err:
            raise ConnectionLost(f"Lost the connection to the server at {self.url}: {_reason(err)}") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
            raise ServerUnreachable(f"Invalid server address {self.url}: {err}") from None
        except httpx.HTTPError as err:
            raise ConnectionLost(f"HTTP error talking to {self.url}: {_reason(err)}") from None


def _reason(err: Exception) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(err)).strip()
    return text or type(err).__name__
