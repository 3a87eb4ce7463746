"""Server-Sent Events push queries, read with an HTTP client as a browser's EventSource reads them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("sse") / "data", {
        "ksql.log.fsync": "never", "ksql.server.sse.ping.seconds": "1", "ksql.server.push.buffer.rows": "10",
    }).start()
    try:
        yield process
    finally:
        process.kill()


def events(response: httpx.Response) -> Iterator[dict]:
    """The events of a text/event-stream: {"event", "id", "data", "retry"} or {"comment"} for `: ...` lines."""
    event: dict = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
                event = {}
            continue
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        event[name] = event["data"] + "\n" + value if name == "data" and "data" in event else value


def _insert(url: str, stream: str, values: range) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for v in values:
            ksql(c, f"INSERT INTO {stream} (K, V) VALUES ('k{v}', {v});")


def test_rows_arrive_as_inserted_and_a_reconnect_resumes_without_loss(sse_server: ServerProcess) -> None:
    with sse_server.client() as client:
        ksql(client, "CREATE STREAM SSE1 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='sse1', PARTITIONS=2, "
                     "VALUE_FORMAT='JSON');")
    params = {"sql": "SELECT V FROM SSE1 EMIT CHANGES;"}
    received: list[int] = []
    last_id = None
    with httpx.Client(base_url=sse_server.url, timeout=10) as browser:
        with browser.stream("GET", "/query/sse", params=params) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response)
            header = next(stream)
            assert header["event"] == "header" and json.loads(header["data"])["columnNames"] == ["V"]
            last_id = header["id"]  # the start position: a reconnect before any row resumes there
            writer = threading.Thread(target=_insert, args=(sse_server.url, "SSE1", range(0, 20)))
            writer.start()
            for event in stream:
                if "data" in event:
                    received.append(json.loads(event["data"])[0])
                    last_id = event["id"]
                if len(received) == 10:
                    break  # the connection drops here
            writer.join()
        _insert(sse_server.url, "SSE1", range(20, 30))  # while nobody listens
        with browser.stream("GET", "/query/sse", params=params, headers={"Last-Event-ID": last_id}) as response:
            stream = events(response)
            assert next(stream)["event"] == "header"
            writer = threading.Thread(target=_insert, args=(sse_server.url, "SSE1", range(30, 35)))
            writer.start()
            for event in stream:
                if "data" in event:
                    received.append(json.loads(event["data"])[0])
                if len(received) == 35:
                    break
            writer.join()
    assert sorted(received) == list(range(35))  # nothing lost, nothing twice


def test_limit_ends_with_an_end_event_and_heartbeats_keep_the_connection(sse_server: ServerProcess) -> None:
    with sse_server.client() as client:
        ksql(client, "CREATE STREAM SSE2 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='sse2', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
    body = {"sql": "SELECT * FROM SSE2 EMIT CHANGES LIMIT 2;"}
    seen: list[dict] = []
    with httpx.Client(base_url=sse_server.url, timeout=10) as browser:
        with browser.stream("POST", "/query/sse", json=body) as response:
            stream = events(response)
            seen.append(next(stream))
            start = time.monotonic()
            for event in stream:
                seen.append(event)
                if "comment" in event and not any("data" in e for e in seen[1:]):
                    _insert(sse_server.url, "SSE2", range(2))  # after a heartbeat, send the rows
            elapsed = time.monotonic() - start
    kinds = [e.get("event", "comment" if "comment" in e else "message") for e in seen]
    assert kinds[0] == "header" and "comment" in kinds and kinds[-1] == "end"
    rows = [json.loads(e["data"]) for e in seen if "data" in e and "event" not in e]
    assert rows == [["k0", 0], ["k1", 1]]
    assert json.loads(seen[-1]["data"]) == {"finalMessage": "Limit Reached"}
    assert elapsed < 10


def test_bad_sse_requests_are_ksqldb_errors(sse_server: ServerProcess) -> None:
    with httpx.Client(base_url=sse_server.url, timeout=10) as c:
        missing = c.get("/query/sse")
        assert missing.status_code == 400 and 'Missing field "sql"' in missing.json()["message"]
        unknown = c.get("/query/sse", params={"sql": "SELECT * FROM NOPE EMIT CHANGES;"})
        assert unknown.status_code == 400 and unknown.json()["@type"] == "statement_error"
        bad_position = c.get("/query/sse", params={"sql": "SELECT * FROM NOPE EMIT CHANGES;"},
                             headers={"Last-Event-ID": "zero"})
        assert bad_position.status_code == 400
        extra = c.get("/query/sse", params={"sql": "x", "color": "red"})
        assert extra.status_code == 400 and "color" in extra.json()["message"]


def test_a_client_that_stops_reading_stalls_neither_the_engine_nor_other_clients(sse_server: ServerProcess) -> None:
    with sse_server.client() as client:
        ksql(client, "CREATE STREAM SSE3 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='sse3', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        ksql(client, "CREATE STREAM SSE3_COPY AS SELECT * FROM SSE3;")
    total = 3000
    with httpx.Client(base_url=sse_server.url, timeout=30) as slow:
        with slow.stream("GET", "/query/sse", params={"sql": "SELECT V FROM SSE3 EMIT CHANGES;"}) as response:
            stream = events(response)
            next(stream)  # the header; then this client stops reading
            with httpx.Client(base_url=sse_server.url, timeout=30) as c:
                lines = "\n".join([json.dumps({"target": "SSE3"})] + [json.dumps({"K": f"k{i}", "V": i})
                                                                      for i in range(total)])
                acks = c.post("/inserts-stream", content=lines + "\n").text.splitlines()
                assert len(acks) == total
                fast = c.post("/query-stream", headers={"accept": "application/json"},
                              json={"sql": f"SELECT V FROM SSE3_COPY EMIT CHANGES LIMIT {total};",
                                    "properties": {"auto.offset.reset": "earliest"}})
                assert len(fast.json()) == total + 1  # the persistent query kept going
            got = []
            for event in stream:  # the slow client resumes: everything, in order
                if "data" in event:
                    got.append(json.loads(event["data"])[0])
                    if len(got) == total:
                        break
    assert got == list(range(total))


def test_an_eventsource_reads_a_refusal_as_an_error_event(sse_server: ServerProcess) -> None:
    with httpx.Client(base_url=sse_server.url, timeout=10) as browser:
        with browser.stream("GET", "/query/sse", params={"sql": "SELECT * FROM NOPE EMIT CHANGES;"},
                            headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            [event] = [e for e in events(response) if "comment" not in e]
    assert event["event"] == "error"
    error = json.loads(event["data"])
    assert error["@type"] == "statement_error" and error["error_code"] == 40001 and "NOPE" in error["message"]
