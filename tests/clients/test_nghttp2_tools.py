"""nghttp2's command-line clients (Debian's nghttp2-client) against ksql-server: h2load, a strict load
generator, over HTTP/1.1 and HTTP/2 (it drops responses whose status line has no reason phrase), and
nghttp, which prints each DATA frame it receives. Without the tools these tests skip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("h2load") is None or shutil.which("nghttp") is None,
                                reason="nghttp2-client (h2load, nghttp) is not installed")


@pytest.fixture(scope="module")
def lookup_table(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        statements = ("CREATE STREAM NG_KV (K STRING KEY, V INT) WITH (KAFKA_TOPIC='ng_kv', PARTITIONS=1, "
                      "VALUE_FORMAT='JSON'); CREATE SOURCE TABLE NG_T (K STRING PRIMARY KEY, V INT) WITH "
                      "(KAFKA_TOPIC='ng_kv', VALUE_FORMAT='JSON');")
        assert client.post("/ksql", json={"ksql": statements}).status_code == 200
        rows = b"\n".join([b'{"target": "NG_KV"}', *(json.dumps({"K": f"k{i}", "V": i}).encode() for i in range(50))])
        assert client.post("/inserts-stream", content=rows).status_code == 200
        for _ in range(100):
            answer = client.post("/query", json={"ksql": "SELECT V FROM NG_T WHERE K = 'k7';"}).json()
            if any("row" in message for message in answer):
                break
    return "NG_T"


def _h2load(server: ServerProcess, tmp_path: Path, *args: str) -> str:
    body = tmp_path / "lookup.json"
    body.write_text(json.dumps({"ksql": "SELECT V FROM NG_T WHERE K = 'k7';"}))
    done = subprocess.run(["h2load", "--requests", "400", "--clients", "4", "--max-concurrent-streams", "4",
                           "--data", str(body), "--header", "content-type: application/json", *args,
                           f"{server.url}/query"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("protocol", ["HTTP/1.1", "HTTP/2"])
def test_h2load_gets_every_key_lookup_answered(server: ServerProcess, lookup_table: str, tmp_path: Path,
                                               protocol: str) -> None:
    out = _h2load(server, tmp_path, *(["--h1"] if protocol == "HTTP/1.1" else []))
    assert re.search(r"requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed", out), out
    assert "status codes: 400 2xx" in out, out


def test_nghttp_receives_a_pull_answer_one_message_a_frame(server: ServerProcess, lookup_table: str,
                                                           tmp_path: Path) -> None:
    body = tmp_path / "scan.json"
    body.write_text(json.dumps({"ksql": "SELECT K, V FROM NG_T WHERE V < 3;"}))
    done = subprocess.run(["nghttp", "--verbose", "--data", str(body), "--header", "content-type: application/json",
                           f"{server.url}/query"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    frames = re.findall(r"recv DATA frame <length=(\d+), flags=0x0(\d), stream_id=\d+>", done.stdout)
    assert [length != "0" for length, _ in frames].count(True) == 1 + 3, done.stdout  # header, then a row each
    assert frames[-1][1] == "1"  # the last one ends the stream
    assert sum(1 for line in done.stdout.splitlines() if line.startswith('{"row"')) == 3
