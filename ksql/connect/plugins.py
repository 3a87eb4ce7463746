"""The connector classes a server can run, by Connect class name and by alias.

As in Kafka Connect, `connector.class` may be the full class name
(`org.apache.kafka.connect.file.FileStreamSourceConnector`), its simple name
(`FileStreamSourceConnector`) or the simple name without `Connector` (`FileStreamSource`);
names are case-sensitive, as in Connect.

Built-in connectors are listed in BUILTIN as "module:attribute" and imported on first use, so a
server that runs no JDBC connector never imports a database driver. Third-party connectors in
Python are found through the `ksql.connectors` entry point group: each entry point is either a
Connector subclass (registered under the entry point's name, which should be its Connect-style
class name) or an `install(registry)` callable / a module defining one, as for functions.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from dataclasses import dataclass

from ksql.connect.api import Connector, SinkConnector, SourceConnector
from ksql.errors import KsqlError

ENTRY_POINT_GROUP = "ksql.connectors"

#: Connect class name -> "module:attribute" of the built-in connector classes.
BUILTIN: dict[str, str] = {
    "io.confluent.kafka.connect.datagen.DatagenConnector": "ksql.connect.datagen:DatagenConnector",
    "org.apache.kafka.connect.file.FileStreamSourceConnector": "ksql.connect.file:FileStreamSourceConnector",
    "org.apache.kafka.connect.file.FileStreamSinkConnector": "ksql.connect.file:FileStreamSinkConnector",
    "io.confluent.connect.jdbc.JdbcSourceConnector": "ksql.connect.jdbc_source:JdbcSourceConnector",
    "io.confluent.connect.jdbc.JdbcSinkConnector": "ksql.connect.jdbc_sink:JdbcSinkConnector",
}


class UnknownConnectorClass(KsqlError):
    """`connector.class` names no installed connector."""


@dataclass(frozen=True)
class PluginInfo:
    """One entry of GET /connector-plugins."""

    class_name: str
    type: str
    version: str


def aliases(class_name: str) -> list[str]:
    """The names Connect accepts for a class: the simple name and, without its `Connector` suffix, the
    shorter one."""
    simple = class_name.rsplit(".", 1)[-1]
    names = [simple]
    if simple.endswith("Connector") and len(simple) > len("Connector"):
        names.append(simple[: -len("Connector")])
    return [n for n in names if n != class_name]


class ConnectorPlugins:
    """Connector classes by Connect class name and alias."""

    def __init__(self) -> None:
        self._lazy: dict[str, str] = {}
        self._classes: dict[str, type[Connector]] = {}
        self._aliases: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, class_name: str, cls: type[Connector] | str) -> None:
        """Make `cls` (a Connector subclass, or "module:attribute" to import on first use) runnable as
        `class_name` and its aliases. A later registration of the same name replaces the earlier one."""
        if not isinstance(cls, str) and not (isinstance(cls, type) and issubclass(cls, (SourceConnector,
                                                                                         SinkConnector))):
            raise KsqlError(f"Connector plugin {class_name} is not a SourceConnector or SinkConnector: {cls!r}")
        with self._lock:
            if isinstance(cls, str):
                self._lazy[class_name] = cls
                self._classes.pop(class_name, None)
            else:
                self._classes[class_name] = cls
                self._lazy.pop(class_name, None)
            for alias in aliases(class_name):
                self._aliases.setdefault(alias, class_name)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register the connectors published as Python entry points in `group`."""
        for ep in importlib.metadata.entry_points(group=group):
            try:
                obj = ep.load()
            except Exception as e:
                raise KsqlError(f"Failed to load connector plugin {ep.name} ({ep.value}): {e}") from e
            if isinstance(obj, type) and issubclass(obj, Connector):
                self.register(ep.name, obj)
            else:
                install = getattr(obj, "install", obj)
                if not callable(install):
                    raise KsqlError(f"Connector plugin {ep.name} ({ep.value}) is neither a Connector class nor "
                                    "an install(registry) callable")
                install(self)

    def canonical_name(self, name: str) -> str:
        """The full class name for `name` (a class name or an alias); UnknownConnectorClass otherwise."""
        name = name.strip()
        with self._lock:
            if name in self._classes or name in self._lazy:
                return name
            if name in self._aliases:
                return self._aliases[name]
        raise UnknownConnectorClass(
            f"Failed to find any class that implements Connector and which name matches {name}, available "
            f"connectors are: {', '.join(self.class_names())}")

    def get(self, name: str) -> type[Connector]:
        """The connector class called `name` (a class name or an alias)."""
        class_name = self.canonical_name(name)
        with self._lock:
            cls = self._classes.get(class_name)
            target = self._lazy.get(class_name)
        if cls is not None:
            return cls
        module_name, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise UnknownConnectorClass(f"Connector class {class_name} could not be loaded: {e}") from e
        with self._lock:
            self._classes[class_name] = cls
            self._lazy.pop(class_name, None)
        return cls

    def class_names(self) -> list[str]:
        """Every registered class name, sorted."""
        with self._lock:
            return sorted({*self._classes, *self._lazy})

    def infos(self) -> list[PluginInfo]:
        """GET /connector-plugins: class, type (source/sink) and version of each plugin."""
        out = []
        for name in self.class_names():
            cls = self.get(name)
            out.append(PluginInfo(name, cls.type, cls.version))
        return out


_DEFAULT: ConnectorPlugins | None = None
_DEFAULT_LOCK = threading.Lock()


def default_plugins() -> ConnectorPlugins:
    """The process-wide plugins: the built-in connectors and those installed through entry points."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            plugins = ConnectorPlugins()
            for class_name, target in BUILTIN.items():
                plugins.register(class_name, target)
            plugins.load_entry_points()
            _DEFAULT = plugins
        return _DEFAULT
