"""Pass-through conformance cases (CREATE source; CREATE sink AS SELECT * FROM source)
taken from ksqlDB's QTT files and run through the serdes alone: the input bytes are
deserialized with the source's serdes and re-serialized with the sink's, and the
result is judged with the referee's comparison rules and wire decoding."""

from __future__ import annotations

import base64
import decimal
import json
import re
import sys
from pathlib import Path

import pytest

from ksql.engine.serde import Column, create_serde, json_coercer, parse_delimiter, validate_format
from ksql.errors import KsqlError, SerdeError
from ksql.types import (
    ArrayType,
    DecimalType,
    MapType,
    StructField,
    StructType,
    primitive,
)

QTT_DIR = Path("/work/shared/conformance")
FILES = ["json.json", "delimited.json", "kafka.json", "serdes.json", "elements.json", "decimal.json",
         "bytes.json", "date.json", "time.json", "timestamp.json", "formats.json"]

if not (QTT_DIR / "qtt.py").exists():  # pragma: no cover
    pytest.skip("conformance files not available", allow_module_level=True)

sys.path.insert(0, str(QTT_DIR))
import qtt  # noqa: E402

# --- a tiny schema parser for the CREATE statements of these files -----------------


def split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for c in s:
        if c in "<(":
            depth += 1
        elif c in ">)":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    out.append(cur)
    return [x.strip() for x in out if x.strip()]


def ident(name: str) -> str:
    name = name.strip()
    if name.startswith("`"):
        return name[1:-1]
    return name.upper()


def parse_type(s: str):
    s = s.strip()
    u = s.upper()
    m = re.match(r"DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$", u)
    if m:
        return DecimalType(int(m.group(1)), int(m.group(2)))
    if u.startswith("ARRAY<"):
        return ArrayType(parse_type(s[6:-1]))
    if u.startswith("MAP<"):
        k, v = split_top(s[4:-1])
        return MapType(parse_type(k), parse_type(v))
    if u.startswith("STRUCT<"):
        fields = []
        for f in split_top(s[7:-1]):
            n, t = f.split(None, 1)
            fields.append(StructField(ident(n), parse_type(t)))
        return StructType(tuple(fields))
    t = primitive(u)
    assert t is not None, s
    return t


def parse_create(stmt: str):
    m = re.match(r"\s*CREATE\s+(STREAM|TABLE)\s+(\w+)\s*\((.*)\)\s*WITH\s*\((.*)\)\s*;\s*$",
                 stmt, re.I | re.S)
    if not m:
        return None
    key, value = [], []
    for c in split_top(m.group(3)):
        name, rest = c.split(None, 1)
        is_key = bool(re.search(r"\bKEY\s*$", rest, re.I))
        t = re.sub(r"\s+(PRIMARY\s+)?KEY\s*$", "", rest, flags=re.I)
        (key if is_key else value).append(Column(ident(name), parse_type(t)))
    return key, value, props(m.group(4))


def props(text: str) -> dict:
    return {k.upper(): v for k, v in re.findall(r"(\w+)\s*=\s*'?([^',]*)'?", text)}


def side_formats(p: dict, base: dict | None = None):
    base = base or {}
    fmt = p.get("FORMAT")
    kf = p.get("KEY_FORMAT") or fmt or base.get("kf") or "KAFKA"
    vf = p.get("VALUE_FORMAT") or fmt or base.get("vf")
    wrap = p.get("WRAP_SINGLE_VALUE")
    wrap = None if wrap is None else wrap.lower() == "true"
    vd = p.get("VALUE_DELIMITER")
    kd = p.get("KEY_DELIMITER")
    return {
        "kf": kf.upper(), "vf": vf.upper() if vf else None, "wrap": wrap,
        "vd": parse_delimiter(vd) if vd else base.get("vd"),
        "kd": parse_delimiter(kd, "KEY_DELIMITER") if kd else base.get("kd"),
    }


# --- cases ---------------------------------------------------------------------------


def expanded(path):
    """(name, node, exact inputs, exact outputs, statements) per test and {FORMAT} variant."""
    plain, exact = qtt.load_case_file(path)
    for node, enode in zip(plain["tests"], exact["tests"], strict=True):
        if node.get("enabled") is False:
            continue
        for fmt in node.get("format") or [None]:
            name = f"{path.name}: {node['name']}" + (f" - {fmt}" if fmt else "")
            stmts = [s if fmt is None else s.replace("{FORMAT}", fmt) for s in node["statements"]]
            yield name, node, enode.get("inputs", []), enode.get("outputs", []), stmts


def pass_through_cases():
    for fname in FILES:
        path = QTT_DIR / "qtt" / fname
        if not path.exists():
            continue
        for name, node, exact_inputs, exact_outputs, stmts in expanded(path):
            if node.get("expectedException") or len(stmts) < 2 or node.get("properties"):
                continue
            src = parse_create(stmts[0])
            if not src:
                continue
            key, value, sp = src
            sf = side_formats(sp)
            of, ok = sf, True
            all_cols = [c.name for c in key + value]
            for stmt in stmts[1:]:
                m = re.match(r"\s*CREATE\s+(STREAM|TABLE)\s+(\w+)\s*(?:WITH\s*\((.*?)\))?\s*AS\s+SELECT\s+"
                             r"(.*?)\s+FROM\s+\w+\s*;\s*$", stmt, re.I | re.S)
                if not m:
                    ok = False
                    break
                sel = m.group(4).strip()
                if sel != "*" and [ident(x) for x in split_top(sel)] != all_cols:
                    ok = False
                    break
                of = side_formats(props(m.group(3) or ""), of)
            if not ok:
                continue
            formats = {sf["kf"], sf["vf"], of["kf"], of["vf"]}
            if formats & {"AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"} or node.get("topics"):
                continue
            yield pytest.param(key, value, sf, of, exact_inputs, exact_outputs, id=name)


def _dump_exact(v) -> bytes:
    def default(o):
        if isinstance(o, decimal.Decimal):
            return "__DEC__" + str(o) + "__DEC__"
        raise TypeError
    text = json.dumps(v, default=default, separators=(",", ":"))
    return re.sub(r'"__DEC__(.*?)__DEC__"', r"\1", text).encode()


def input_bytes(fmt, columns, v):
    if v is None:
        return None
    if fmt == "JSON":
        return _dump_exact(v)
    if fmt == "DELIMITED":
        return v.encode()
    if fmt == "KAFKA":
        if not columns:
            return str(v).encode()
        t = columns[0].type
        if t.base == "BYTES":
            runtime = base64.b64decode(v)
        else:
            runtime = json_coercer(t)(v)
        return create_serde("KAFKA", columns, is_key=False).serialize([runtime])
    raise AssertionError(fmt)


def wire_matches(fmt, data, expected) -> bool:
    if fmt == "JSON":
        return qtt.matches(qtt.decode_wire(data, "JSON"), expected)
    if fmt == "DELIMITED":
        return qtt.matches(qtt.decode_wire(data, "DELIMITED"), expected)
    if fmt == "KAFKA":
        return True  # checked through the deserialized value
    return data is None


@pytest.mark.parametrize("key,value,sf,of,inputs,outputs", list(pass_through_cases()))
def test_pass_through(key, value, sf, of, inputs, outputs):
    for side_cols, fmt, wrap, delim, is_key in ((key, sf["kf"], None, sf["kd"], True),
                                               (value, sf["vf"], sf["wrap"], sf["vd"], False)):
        validate_format(fmt, side_cols, is_key=is_key, wrap_single_value=wrap,
                        delimiter=delim if fmt == "DELIMITED" else None)
    kin = create_serde(sf["kf"], key, is_key=True, delimiter=sf["kd"])
    vin = create_serde(sf["vf"], value, is_key=False, wrap_single_value=sf["wrap"], delimiter=sf["vd"])
    kout = create_serde(of["kf"], key, is_key=True, delimiter=of["kd"])
    vout = create_serde(of["vf"], value, is_key=False, wrap_single_value=of["wrap"], delimiter=of["vd"])
    produced = []
    for rec in inputs:
        try:
            krow = kin.deserialize(input_bytes(sf["kf"], key, rec.get("key")))
            vrow = vin.deserialize(input_bytes(sf["vf"], value, rec.get("value")))
        except SerdeError:
            continue  # ksqlDB logs and skips records it cannot read
        produced.append((kout.serialize(krow), vout.serialize(vrow)))
    assert len(produced) == len(outputs)
    for (kb, vb), exp in zip(produced, outputs, strict=True):
        for data, fmt, serde, _cols, e in ((kb, of["kf"], kout, key, exp.get("key")),
                                          (vb, of["vf"], vout, value, exp.get("value"))):
            assert wire_matches(fmt, data, e), (fmt, data, e)
            if fmt == "KAFKA":
                row = serde.deserialize(data)
                got = None if not row else row[0]
                assert qtt.matches(got, e), (got, e)


def test_found_cases():
    assert len(list(pass_through_cases())) > 70


def test_validation_messages_from_files():
    """Single-statement refusals whose messages the serde layer owns."""
    checked = 0
    for fname in ("json.json", "delimited.json", "kafka.json", "elements.json", "serdes.json"):
        for name, case, _ in qtt.expand(QTT_DIR / "qtt" / fname):
            exc = case.get("expectedException")
            if not exc or len(case["statements"]) != 1:
                continue
            if not re.search(r"format|WRAP_SINGLE|Map keys|delimiter|DELIMITER", exc["message"]):
                continue
            src = parse_create(case["statements"][0])
            if not src:
                continue
            key, value, sp = src
            try:
                sf = side_formats(sp)
                if sf["vf"] in ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"):
                    continue
                validate_format(sf["kf"], key, is_key=True,
                                delimiter=sp.get("KEY_DELIMITER") and sf["kd"])
                validate_format(sf["vf"], value, is_key=False, wrap_single_value=sf["wrap"],
                                delimiter=sp.get("VALUE_DELIMITER") and sf["vd"])
            except KsqlError as e:
                assert exc["message"].replace("Failed to prepare statement: ", "") in str(e), name
                checked += 1
                continue
            raise AssertionError(f"{name}: expected {exc['message']}")
    assert checked >= 15
