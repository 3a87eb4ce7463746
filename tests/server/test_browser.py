"""Browsers as clients: CORS as ksqlDB configures it, and a real Chromium page from another origin
reading rows with EventSource and fetch()."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, free_port, start_chromium

PAGE = """<!doctype html>
<html><body><script>
const server = "SERVER";
window.results = {done: false};
function events(sql) {  // rows of an EventSource query, until its `end` (or an `error` with data)
  return new Promise(resolve => {
    const got = {rows: []};
    const source = new EventSource(server + "/query/sse?sql=" + encodeURIComponent(sql) +
                                   "&properties=" + encodeURIComponent('{"auto.offset.reset":"earliest"}'));
    source.addEventListener("header", e => { got.header = JSON.parse(e.data); });
    source.onmessage = e => got.rows.push(JSON.parse(e.data));
    source.addEventListener("end", e => { source.close(); got.end = JSON.parse(e.data); resolve(got); });
    source.addEventListener("error", e => {
      if (e.data) { source.close(); got.error = JSON.parse(e.data); resolve(got); }
    });
  });
}
async function run() {
  try {
    const post = (path, body, accept) => fetch(server + path, {method: "POST",
        headers: {"Content-Type": "application/json", "Accept": accept}, body: JSON.stringify(body)});
    const created = await post("/ksql", {ksql: "CREATE STREAM PAGE_S (K STRING KEY, V INT) WITH (" +
        "KAFKA_TOPIC='page_s', PARTITIONS=1, VALUE_FORMAT='JSON'); INSERT INTO PAGE_S (K, V) VALUES ('a', 1);" +
        "INSERT INTO PAGE_S (K, V) VALUES ('b', 2);"}, "application/vnd.ksql.v1+json");
    window.results.ksql = (await created.json())[0].commandStatus.status;
    const streamed = await post("/query-stream", {sql: "SELECT K, V FROM PAGE_S EMIT CHANGES LIMIT 2;",
        properties: {"auto.offset.reset": "earliest"}}, "application/json");
    window.results.queryStream = await streamed.json();
    window.results.push = await events("SELECT K, V FROM PAGE_S EMIT CHANGES LIMIT 2;");
    window.results.pull = await events("SELECT K, V FROM PAGE_S;");
    window.results.refused = await events("SELECT * FROM NO_SUCH_STREAM EMIT CHANGES;");
  } catch (err) {
    window.results.failure = String(err);
  }
  window.results.done = true;
}
run();
</script></body></html>
"""


def test_cors_is_off_unless_configured(client: httpx.Client) -> None:
    preflight = client.options("/ksql", headers={"Origin": "http://elsewhere.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    response = client.get("/info", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An http.server on another port (another origin) serving the files of a directory."""
    root = tmp_path_factory.mktemp("page")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory, page_origin: tuple[str, Path]) -> Iterator[ServerProcess]:
    origin, _ = page_origin
    process = ServerProcess(tmp_path_factory.mktemp("cors") / "data", {
        "ksql.log.fsync": "never", "access.control.allow.origin": f"http://nothere.example,{origin}"}).start()
    try:
        yield process
    finally:
        process.kill()


def test_preflight_is_answered_for_allowed_origins_only(cors_server: ServerProcess,
                                                         page_origin: tuple[str, Path]) -> None:
    origin, _ = page_origin
    with cors_server.client() as client:
        preflight = client.options("/query-stream", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        assert set(preflight.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "HEAD"}
        refused = client.options("/query-stream", headers={"Origin": "http://evil.example",
                                                           "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        simple = client.get("/info", headers={"Origin": origin})
        assert simple.headers["access-control-allow-origin"] == origin


def test_a_page_from_another_origin_reads_rows_with_eventsource_and_fetch(
        cors_server: ServerProcess, page_origin: tuple[str, Path], tmp_path: Path) -> None:
    origin, root = page_origin
    (root / "page.html").write_text(PAGE.replace("SERVER", cors_server.url))
    driver = start_chromium(tmp_path / "chromium-profile")
    try:
        driver.get(f"{origin}/page.html")
        deadline = time.monotonic() + 60
        results = {}
        while time.monotonic() < deadline:
            results = driver.execute_script("return window.results") or {}
            if results.get("done"):
                break
            time.sleep(0.2)
    finally:
        driver.quit()
    assert results.get("done") and "failure" not in results, json.dumps(results)
    assert results["ksql"] == "SUCCESS"
    assert results["queryStream"][1:] == [["a", 1], ["b", 2]]
    assert results["push"]["header"]["columnNames"] == ["K", "V"]
    assert results["push"]["rows"] == [["a", 1], ["b", 2]]
    assert results["push"]["end"] == {"finalMessage": "Limit Reached"}
    assert results["pull"]["rows"] == [["a", 1], ["b", 2]] and "end" in results["pull"]
    assert results["refused"]["error"]["@type"] == "statement_error"
    assert "NO_SUCH_STREAM" in results["refused"]["error"]["message"]
