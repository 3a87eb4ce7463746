"""WITH-clause format resolution, as ksqlDB decides key and value formats."""

from __future__ import annotations

import pytest

from ksql.engine.formats import resolve_formats
from ksql.errors import KsqlError


def test_defaults_and_format_property():
    f = resolve_formats({"VALUE_FORMAT": "json"}, {}, has_key_columns=True)
    assert (f.key.name, f.value.name) == ("KAFKA", "JSON")
    f = resolve_formats({"FORMAT": "DELIMITED"}, {}, has_key_columns=True)
    assert (f.key.name, f.value.name) == ("DELIMITED", "DELIMITED")


def test_source_without_key_columns_has_key_format_none_but_remembers_declared():
    f = resolve_formats({"FORMAT": "JSON"}, {}, has_key_columns=False)
    assert f.key.name == "NONE" and f.declared_key.name == "JSON"


def test_default_value_format_from_config():
    f = resolve_formats({}, {"ksql.persistence.default.format.value": "JSON"}, has_key_columns=True)
    assert f.value.name == "JSON"


def test_inherits_from_source_for_create_as_select():
    source = resolve_formats({"KEY_FORMAT": "JSON", "VALUE_FORMAT": "DELIMITED", "VALUE_DELIMITER": "|"}, {},
                             has_key_columns=True)
    f = resolve_formats({}, {}, has_key_columns=True, inherit=source)
    assert (f.key.name, f.value.name, f.value.delimiter) == ("JSON", "DELIMITED", "|")


@pytest.mark.parametrize("props, message", [
    ({}, "missing the 'VALUE_FORMAT' property"),
    ({"VALUE_FORMAT": "FOO"}, "Unknown format: FOO"),
    ({"FORMAT": "JSON", "KEY_FORMAT": "KAFKA"}, "Cannot supply both 'KEY_FORMAT' and 'FORMAT'"),
    ({"VALUE_FORMAT": "JSON", "VALUE_DELIMITER": "|"}, r"JSON does not support the following configs: \[delimiter\]"),
    ({"VALUE_FORMAT": "DELIMITED", "VALUE_DELIMITER": "<~>"}, "Delimiter must be a single character"),
    ({"VALUE_FORMAT": "KAFKA", "WRAP_SINGLE_VALUE": True}, "does not support 'WRAP_SINGLE_VALUE' set to 'true'"),
])
def test_refusals(props, message):
    with pytest.raises(KsqlError, match=message):
        resolve_formats(props, {}, has_key_columns=True)
