"""Nothing in SQL text can inject code into the Python source the engine generates and executes.

Expressions compile to Python source (ksql.planner.expressions.compiler), and the
JSON serde and record decoder generate code too. Every place SQL text can carry a
string into them (quoted identifiers as column names, aliases, lambda variables,
function names and struct fields; string, number and map-key literals; WITH
property values) gets payloads that would create a marker file if they ever ran
as code. Each test checks the marker never appears, that the text comes out as
the data it is, and (structurally) that every generated source names only the
engine's own helpers, whatever names the SQL used.
"""

from __future__ import annotations

import ast as pyast
import builtins
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ksql.engine import codec
from ksql.engine.serde import json_serde
from ksql.errors import KsqlError
from ksql.planner.expressions import compiler
from ksql.testing import TestDriver


def payloads(marker: Path) -> list[str]:
    """Texts that break out of a Python string, name or f-string if pasted into source unescaped."""
    code = f"open({str(marker)!r}, 'w')"
    return [
        f"'); {code}; ('", f'"); {code}; ("', f"'''); {code}; ('''", f'"""); {code}; ("""',
        f"\\'); {code} #", f'\\"); {code} #', f"\n{code}\n", f"\\\n{code}", f"{{{code}}}",
        f"}}); {code}; ({{", f"' + {code} + '", f"` + {code} + `", f"_c0); {code}; (_c0",
        f"x'''\"\"\"\\\n\r\t{code}", "row", "_c0", "_k1", "_t1", "_v1", "__import__", "None", "lambda",
        "a\x00\u2028\\N{BULLET}",
    ]


def backquoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


LOCAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")  # what generated code binds itself: lower case
GLOBAL_NAME = re.compile(r"_?[a-z_][a-z0-9_]*|_[A-Z][A-Za-z_]*|Decimal")  # what the engine puts in namespaces
ALLOWED_BUILTINS = {"None", "True", "False", "float", "int", "str", "zip", "Exception", "KeyError", "TypeError"}
ALLOWED_ATTRIBUTES = {"get", "fullmatch", "append", "__class__"}


@pytest.fixture
def sources(monkeypatch) -> list[tuple[str, set[str]]]:
    """Every Python source the engine generates while the test runs, with its namespace's names."""
    seen: list[tuple[str, set[str]]] = []
    compiled: list[str] = []

    def recording_compile(src, filename, mode, *args, **kwargs):
        compiled.append(src)
        return builtins.compile(src, filename, mode, *args, **kwargs)

    def recording_exec(src, namespace, *args, **kwargs):
        text = src if isinstance(src, str) else compiled.pop()
        seen.append((text, set(namespace)))
        return builtins.exec(src, namespace, *args, **kwargs)

    monkeypatch.setattr(compiler, "compile", recording_compile, raising=False)
    for module in (compiler, json_serde, codec):
        monkeypatch.setattr(module, "exec", recording_exec, raising=False)
    return seen


def assert_only_engine_code(sources: list[tuple[str, set[str]]]) -> None:
    """Each generated source parses; every name it reads is one the engine put in its namespace
    (helpers, hoisted constants _k1...), one it binds itself (row, _c3, _v2: lower case) or one of a
    few builtins; it reads no other attributes than a few methods and imports nothing. A payload
    pasted as code would read `open`."""
    assert sources
    for src, namespace in sources:
        assert not [n for n in namespace if not GLOBAL_NAME.fullmatch(n) and n != "__builtins__"]
        tree = pyast.parse(src)
        bound = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name) and isinstance(n.ctx, pyast.Store)}
        bound |= {n.arg for n in pyast.walk(tree) if isinstance(n, pyast.arg)}
        bound |= {n.name for n in pyast.walk(tree)
                  if isinstance(n, (pyast.FunctionDef, pyast.ExceptHandler)) and n.name is not None}
        assert all(LOCAL_NAME.fullmatch(n) and not hasattr(builtins, n) for n in bound), bound
        for node in pyast.walk(tree):
            assert not isinstance(node, (pyast.Import, pyast.ImportFrom, pyast.Global, pyast.Nonlocal)), src
            if isinstance(node, pyast.Name):
                assert node.id in namespace or node.id in bound or node.id in ALLOWED_BUILTINS, \
                    f"unexpected name {node.id!r} in\n{src}"
            elif isinstance(node, pyast.Attribute):
                assert node.attr in ALLOWED_ATTRIBUTES, f"unexpected attribute {node.attr!r} in\n{src}"


def test_quoted_identifiers_as_columns_and_aliases_are_names_not_code(tmp_path, sources):
    marker = tmp_path / "ran"
    texts = payloads(marker)
    columns = ", ".join(f"{backquoted(t)} STRING" for t in texts)
    d = TestDriver()
    d.execute(f"CREATE STREAM S (ID STRING KEY, {columns}) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    selected = ", ".join(f"UCASE({backquoted(t)}) AS {backquoted(t + '!')}" for t in texts)
    d.execute(f"CREATE STREAM OUT AS SELECT ID, {selected} FROM S WHERE {backquoted(texts[0])} IS NOT NULL;")
    d.pipe("s", "k", {t: t.lower() for t in texts})
    [out] = d.read_output("OUT")
    assert out["value"] == {t + "!": t.lower().upper() for t in texts}
    assert not marker.exists()
    assert_only_engine_code(sources)
    d.close()


def test_string_number_and_map_key_literals_are_values_not_code(tmp_path, sources):
    marker = tmp_path / "ran"
    texts = payloads(marker)
    d = TestDriver()
    d.execute("CREATE STREAM S (ID STRING KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    strings = ", ".join(f"{quoted(t)} AS S{i}" for i, t in enumerate(texts))
    concat = ", ".join(f"CONCAT(V, {quoted(t)}) AS C{i}" for i, t in enumerate(texts))
    maps = ", ".join(f"MAP({quoted(t)} := V)[{quoted(t)}] AS M{i}" for i, t in enumerate(texts))
    likes = " AND ".join(f"NOT (V LIKE {quoted(t)})" for t in texts)
    numbers = ("1e308 AS N0, 123456789012345678901234567890.125 AS N1, 2147483648 AS N2, "
               "-9223372036854775807 AS N3, 0.1 AS N4, 1E-5 AS N5")
    d.execute(f"CREATE STREAM OUT AS SELECT ID, {strings}, {concat}, {maps}, {numbers} FROM S "
              f"WHERE V IN ({', '.join(quoted(t) for t in texts[:3])}, 'v') AND {likes};")
    d.pipe("s", "k", {"V": "v"})
    [out] = d.read_output("OUT")
    value = out["value"]
    for i, t in enumerate(texts):
        assert (value[f"S{i}"], value[f"C{i}"], value[f"M{i}"]) == (t, "v" + t, "v")
    assert [value[f"N{i}"] for i in range(1, 5)] == [Decimal("123456789012345678901234567890.125"),
                                                     2147483648, -9223372036854775807, Decimal("0.1")]
    assert (float(value["N0"]), float(value["N5"])) == (1e308, 1e-5)
    assert not marker.exists()
    assert_only_engine_code(sources)
    d.close()


def test_lambda_variables_and_struct_fields_are_mapped_not_pasted(tmp_path, sources):
    marker = tmp_path / "ran"
    texts = payloads(marker)
    d = TestDriver()
    d.execute("CREATE STREAM S (ID STRING KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    lambdas = ", ".join(f"TRANSFORM(ARRAY[V], {backquoted(t)} => CONCAT({backquoted(t)}, {quoted(t)})) AS L{i}"
                        for i, t in enumerate(texts))
    two = ", ".join(f"REDUCE(ARRAY[1, 2], 0, ({backquoted(t)}, {backquoted(t + '2')}) => "
                    f"{backquoted(t)} + {backquoted(t + '2')}) AS R{i}" for i, t in enumerate(texts))
    struct = "STRUCT(" + ", ".join(f"{backquoted(t)} := {quoted(t)}" for t in texts) + ")"
    fields = ", ".join(f"{struct}->{backquoted(t)} AS F{i}" for i, t in enumerate(texts))
    d.execute(f"CREATE STREAM OUT AS SELECT ID, {lambdas}, {two}, {struct} AS ST, {fields} FROM S;")
    d.pipe("s", "k", {"V": "v"})
    [out] = d.read_output("OUT")
    value = out["value"]
    for i, t in enumerate(texts):
        assert (value[f"L{i}"], value[f"R{i}"], value[f"F{i}"]) == (["v" + t], 3, t)
    assert value["ST"] == {t: t for t in texts}
    assert not marker.exists()
    assert_only_engine_code(sources)
    d.close()


def test_function_names_are_looked_up_never_pasted(tmp_path, sources):
    marker = tmp_path / "ran"
    d = TestDriver()
    d.execute("CREATE STREAM S (ID STRING KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")
    for t in payloads(marker):
        with pytest.raises(KsqlError, match="Can't find any functions with the name"):
            d.execute(f"CREATE STREAM OUT AS SELECT ID, {backquoted(t)}(V) AS X FROM S;")
    assert not marker.exists()
    d.close()


def test_with_property_values_are_never_code(tmp_path, sources):
    marker = tmp_path / "ran"
    d = TestDriver()
    accepted = 0
    for i, t in enumerate(payloads(marker)):
        for prop in ("TIMESTAMP_FORMAT", "VALUE_DELIMITER", "KEY_SCHEMA_FULL_NAME", "VALUE_SCHEMA_FULL_NAME",
                     "FORMAT", "KAFKA_TOPIC", "TIMESTAMP", "WINDOW_TYPE"):
            props = {"KAFKA_TOPIC": f"'t{i}{prop}'", "VALUE_FORMAT": "'JSON'", prop: quoted(t)}
            if prop == "VALUE_DELIMITER":
                props["VALUE_FORMAT"] = "'DELIMITED'"
            if prop == "TIMESTAMP_FORMAT":
                props["TIMESTAMP"] = "'TS'"
            if prop == "FORMAT":
                del props["VALUE_FORMAT"]
            with_clause = ", ".join(f"{k}={v}" for k, v in props.items())
            try:
                d.execute(f"CREATE STREAM S{i}{prop} (ID STRING KEY, TS STRING) WITH ({with_clause});")
                d.pipe(f"t{i}{prop}", "k", {"TS": t})
                accepted += 1
            except KsqlError:
                pass  # refused with a message: fine, as long as nothing ran
    assert accepted  # some were taken as plain text (a schema name, a timestamp format)
    assert not marker.exists()
