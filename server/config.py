"""Server configuration: a ksqlDB-style properties file, then environment variables, then flags.

Later sources override earlier ones:

1. the properties file (`ksql-server --config-file ksql-server.properties`), Java
   `.properties` syntax as ksqlDB's `ksql-server.properties`;
2. environment variables in Confluent's Docker convention: `KSQL_` + the property
   name upper-cased with `.` as `_`, `_` as `__` and `-` as `___`
   (`KSQL_KSQL_SERVICE_ID=x` sets `ksql.service.id=x`, `KSQL_LISTENERS` sets `listeners`);
3. command-line flags (`--listeners`, `--service-id`, `--state-dir`, `-D name=value`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ksql.errors import KsqlError

DEFAULT_LISTENER = "http://0.0.0.0:8088"
DEFAULT_DATA_DIR = "./ksql-data"
DEFAULT_SERVICE_ID = "default_"

AT_LEAST_ONCE, EXACTLY_ONCE_V2 = "at_least_once", "exactly_once_v2"
# Kafka Streams' spellings of processing.guarantee; exactly_once (v1) means v2, as in Kafka 3
_GUARANTEES = {"at_least_once": AT_LEAST_ONCE, "exactly_once": EXACTLY_ONCE_V2,
               "exactly_once_beta": EXACTLY_ONCE_V2, "exactly_once_v2": EXACTLY_ONCE_V2}

# environment variables that configure the JVM / scripts in Confluent's images, not ksqlDB
_NOT_PROPERTIES = {"KSQL_HEAP_OPTS", "KSQL_JVM_PERFORMANCE_OPTS", "KSQL_OPTS", "KSQL_LOG4J_OPTS",
                   "KSQL_JMX_OPTS", "KSQL_CLASSPATH", "KSQL_CONFIG_DIR"}

# properties that configure the HTTP server, not the engine (kept out of SHOW PROPERTIES)
_SERVER_ONLY_PREFIXES = ("listeners", "authentication.", "ssl.", "ksql.server.", "ksql.log.", "access.control.")


class Listener(NamedTuple):
    """One `listeners` URL: where to bind, and whether it speaks TLS (https://)."""

    host: str
    port: int
    tls: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def read_properties(text: str) -> dict[str, str]:
    """Java .properties: `key=value`, `key: value` or `key value`; # and ! comments; `\\` continues a line."""
    props: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]?\s*(.*)$", line)
        if match is None:
            continue
        props[_unescape(match.group(1))] = _unescape(match.group(2).rstrip())
    return props


def _unescape(text: str) -> str:
    escapes = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}

    def replace(m: re.Match) -> str:
        ch = m.group(1)
        if ch.startswith("u"):
            return chr(int(ch[1:], 16))
        return escapes.get(ch, ch)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", replace, text)


def env_properties(environ: dict[str, str] | None = None) -> dict[str, str]:
    """KSQL_* environment variables as properties (Confluent's Docker image naming)."""
    out: dict[str, str] = {}
    for name, value in (os.environ if environ is None else environ).items():
        if not name.startswith("KSQL_") or name in _NOT_PROPERTIES:
            continue
        prop = name[len("KSQL_"):].lower().replace("___", "\x00").replace("__", "\x01")
        prop = prop.replace("_", ".").replace("\x00", "-").replace("\x01", "_")
        out[prop] = value
    return out


@dataclass
class ServerConfig:
    """Every property the server was given, with typed accessors for the ones it uses itself."""

    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, config_file: str | None = None, overrides: dict[str, str] | None = None,
             environ: dict[str, str] | None = None) -> ServerConfig:
        props: dict[str, str] = {}
        if config_file is not None:
            try:
                with open(config_file, encoding="utf-8") as f:
                    props.update(read_properties(f.read()))
            except OSError as err:
                raise KsqlError(f"Cannot read the config file {config_file}: {err.strerror}") from None
        props.update(env_properties(environ))
        props.update(overrides or {})
        return cls(props)

    def get(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)

    def get_int(self, name: str, default: int) -> int:
        value = self.properties.get(name)
        if value is None or str(value).strip() == "":
            return default
        try:
            return int(str(value).strip())
        except ValueError:
            raise KsqlError(f"Invalid value for {name}: '{value}'. It must be an integer.") from None

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.properties.get(name)
        if value is None:
            return default
        return str(value).strip().lower() == "true"

    @property
    def listeners(self) -> list[Listener]:
        """Each `listeners` URL (http:// or https://; https needs the ssl.* settings of server.tls)."""
        out = []
        for url in str(self.get("listeners", DEFAULT_LISTENER)).split(","):
            url = url.strip()
            if not url:
                continue
            parts = urlsplit(url if "://" in url else "http://" + url)
            if parts.scheme not in ("http", "https"):
                raise KsqlError(f"Unsupported listener {url}: use http:// or https://")
            try:
                port = parts.port if parts.port is not None else 8088
            except ValueError:
                raise KsqlError(f"Invalid listener {url}: bad port") from None
            out.append(Listener(parts.hostname or "0.0.0.0", port, parts.scheme == "https"))
        if not out:
            raise KsqlError("No listeners configured: set listeners=http://host:port")
        return out

    @property
    def service_id(self) -> str:
        return str(self.get("ksql.service.id", DEFAULT_SERVICE_ID))

    @property
    def data_dir(self) -> str:
        for name in ("state.dir", "ksql.streams.state.dir"):
            if self.get(name):
                return str(self.get(name))
        return DEFAULT_DATA_DIR

    @property
    def bootstrap_servers(self) -> str | None:
        """The Kafka cluster to use instead of the embedded log (None: embedded)."""
        for name in ("bootstrap.servers", "ksql.streams.bootstrap.servers"):
            value = str(self.get(name, "") or "").strip()
            if value:
                return value
        return None

    @property
    def processing_guarantee(self) -> str:
        """How persistent queries on Kafka process their input: at_least_once (the default) or
        exactly_once_v2 (Kafka transactions), from ksql.streams.processing.guarantee or the bare
        processing.guarantee. The embedded log is exactly-once either way."""
        for name in ("ksql.streams.processing.guarantee", "processing.guarantee"):
            value = str(self.get(name, "") or "").strip()
            if value:
                guarantee = _GUARANTEES.get(value.lower())
                if guarantee is None:
                    raise KsqlError(f"Invalid value for {name}: '{value}'. It must be one of "
                                    f"{', '.join(_GUARANTEES)}.")
                return guarantee
        return AT_LEAST_ONCE

    @property
    def engine_properties(self) -> dict[str, str]:
        """What the engine (and SHOW PROPERTIES) sees: everything but the HTTP server's settings."""
        return {k: v for k, v in self.properties.items() if not k.startswith(_SERVER_ONLY_PREFIXES)}
