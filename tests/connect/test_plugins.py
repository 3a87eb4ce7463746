"""Connector classes by Connect class name and alias, and third-party connectors through entry points."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from ksql.connect import plugins as plugins_module
from ksql.connect.api import ConfigDef, SinkRecord, SourceConnector, SourceRecord, SourceTask
from ksql.connect.plugins import ConnectorPlugins, UnknownConnectorClass


class EchoTask(SourceTask):
    def start(self, config):
        self.config = config

    def poll(self):
        return []

    def stop(self):
        pass


class EchoConnector(SourceConnector):
    version = "2.5"

    def config(self):
        return ConfigDef().define("topic", required=True).define("count", "INT", 1)

    def start(self, config):
        self.props = dict(config)

    def task_class(self):
        return EchoTask

    def task_configs(self, max_tasks):
        return [self.props]


def test_a_class_is_found_by_its_full_name_its_simple_name_and_without_connector():
    plugins = ConnectorPlugins()
    plugins.register("com.example.EchoConnector", EchoConnector)
    for name in ("com.example.EchoConnector", "EchoConnector", "Echo"):
        assert plugins.get(name) is EchoConnector
    assert plugins.canonical_name("Echo") == "com.example.EchoConnector"


def test_an_unknown_class_is_refused_with_the_available_ones():
    plugins = ConnectorPlugins()
    plugins.register("com.example.EchoConnector", EchoConnector)
    with pytest.raises(UnknownConnectorClass, match="which name matches Nope, available connectors are: "
                                                    "com.example.EchoConnector"):
        plugins.get("Nope")


def test_a_lazy_builtin_is_imported_on_first_use(monkeypatch):
    module = types.ModuleType("lazy_connector_module")
    module.EchoConnector = EchoConnector
    monkeypatch.setitem(sys.modules, "lazy_connector_module", module)
    plugins = ConnectorPlugins()
    plugins.register("com.example.EchoConnector", "lazy_connector_module:EchoConnector")
    assert plugins.get("Echo") is EchoConnector
    info = plugins.infos()[0]
    assert (info.class_name, info.type, info.version) == ("com.example.EchoConnector", "source", "2.5")


def test_entry_points_register_classes_and_installers(monkeypatch):
    module = types.ModuleType("third_party_connectors")
    module.EchoConnector = EchoConnector
    module.install = lambda registry: registry.register("com.example.OtherConnector", EchoConnector)
    monkeypatch.setitem(sys.modules, "third_party_connectors", module)
    eps = importlib.metadata.EntryPoints([
        importlib.metadata.EntryPoint("com.example.EchoConnector", "third_party_connectors:EchoConnector",
                                      plugins_module.ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("other", "third_party_connectors", plugins_module.ENTRY_POINT_GROUP),
    ])
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == "ksql.connectors" else [])
    plugins = ConnectorPlugins()
    plugins.load_entry_points()
    assert plugins.class_names() == ["com.example.EchoConnector", "com.example.OtherConnector"]
    assert plugins.get("Other") is EchoConnector


def test_a_class_that_is_no_connector_is_refused():
    plugins = ConnectorPlugins()
    with pytest.raises(Exception, match="is not a SourceConnector or SinkConnector"):
        plugins.register("x.Y", dict)


def test_config_def_reports_missing_and_mistyped_properties():
    errors = EchoConnector().validate({"count": "many"})
    assert errors == {"topic": ['Missing required configuration "topic" which has no default value.'],
                      "count": ["Invalid value many for configuration count: Expected value to be a 32-bit integer"]}
    assert EchoConnector().config().get({"topic": "t"}, "count") == 1


def test_records_are_copied_by_new_record_and_carry_their_positions():
    record = SourceRecord("t", None, None, "k", None, {"a": 1}, source_partition={"file": "f"},
                          source_offset={"position": 3})
    moved = record.new_record(topic="u")
    assert (moved.topic, record.topic, moved.source_offset) == ("u", "t", {"position": 3})
    sink = SinkRecord("t", 0, None, None, None, 1, 5, [], kafka_offset=7)
    assert sink.kafka_offset == 7
