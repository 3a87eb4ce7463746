"""The server and a damaged data directory: torn tails, corrupt batches and metadata.

A torn tail of a query's input does not make the query skip the records appended
after it; a corrupt batch is reported at start and the rest is served; damaged
topic metadata stops the server with a message naming the file.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql

SETUP = """
CREATE STREAM EVENTS (K STRING KEY, V INT) WITH (KAFKA_TOPIC='events', PARTITIONS=1, VALUE_FORMAT='JSON');
CREATE STREAM COPY AS SELECT K, V FROM EVENTS;
"""


def _insert(client: httpx.Client, values: range) -> None:
    lines = [json.dumps({"target": "EVENTS"})] + [json.dumps({"K": "k", "V": v}) for v in values]
    acks = client.post("/inserts-stream", content="\n".join(lines) + "\n").text.splitlines()
    assert len(acks) == len(values) and all(json.loads(a)["status"] == "ok" for a in acks)


def _lags(client: httpx.Client) -> list[int]:
    status = client.get("/clusterStatus").json()["clusterStatus"]
    return [q["offsetLag"] for host in status.values() for q in host["hostStoreLags"]["stateStoreLags"].values()]


def _copied(client: httpx.Client, want: int, including: range = range(0)) -> list[int]:
    """COPY's V values once the query caught up and COPY holds `want` rows and every value of
    `including` (or the deadline passed): a reported lag of 0 can come a moment before the rows
    that ended it are readable in the sink."""
    deadline = time.monotonic() + 20
    while True:
        response = client.post("/query", json={"ksql": "SELECT V FROM COPY;"})
        assert response.status_code == 200, response.text
        values = sorted(m["row"]["columns"][0] for m in response.json() if "row" in m)
        caught_up = len(values) >= want and set(including) <= set(values) and not any(_lags(client))
        if caught_up or time.monotonic() > deadline:
            return values
        time.sleep(0.05)


def _segment(data: Path, topic: str) -> Path:
    [segment] = (data / "topics" / topic / "0").glob("*.log")
    return segment


def _batches(segment: Path) -> list[int]:
    data = segment.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        out.append(pos)
        pos += 4 + struct.unpack_from("<I", data, pos)[0]
    return out


def test_new_records_after_a_torn_input_tail_all_reach_the_sink(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    with server.client() as c:
        ksql(c, SETUP, {"auto.offset.reset": "earliest"})
        for start in range(0, 20, 5):
            _insert(c, range(start, start + 5))
        assert _copied(c, 20) == list(range(20))
    assert server.terminate() == 0
    events = _segment(data, "events")
    last = _batches(events)[-1]
    with open(events, "r+b") as f:  # power loss mid-write: the last input batch is cut
        f.truncate(last + 10)
    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client() as c:
            rows = c.post("/query", json={"ksql": "SELECT V FROM EVENTS;"}).json()
            kept = sorted(m["row"]["columns"][0] for m in rows if "row" in m)
            assert len(kept) < 20 and kept == list(range(len(kept)))
            assert all(lag >= 0 for lag in _lags(c))
            _insert(c, range(100, 110))
            copied = _copied(c, 30, including=range(100, 110))
            assert set(range(100, 110)) <= set(copied), f"records after the torn tail were skipped: {copied}"
            assert _lags(c) == [0]
    finally:
        server.kill()
    assert "past the end" in server.output()


def test_a_corrupt_input_batch_is_reported_at_start_and_the_rest_is_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    with server.client() as c:
        ksql(c, SETUP, {"auto.offset.reset": "earliest"})
        for start in range(0, 20, 5):
            _insert(c, range(start, start + 5))
    assert server.terminate() == 0
    events = _segment(data, "events")
    with open(events, "r+b") as f:
        f.seek(_batches(events)[1] + 40)
        f.write(b"\x00\x00")
    server = ServerProcess(data, port=server.port).start()
    try:
        with server.client() as c:
            rows = c.post("/query", json={"ksql": "SELECT V FROM EVENTS;"}).json()
            values = sorted(m["row"]["columns"][0] for m in rows if "row" in m)
            assert len(values) < 20 and values[-1] == 19 and values[:5] == [0, 1, 2, 3, 4]
            _insert(c, range(100, 103))
            assert set(range(100, 103)) <= set(_copied(c, len(values), including=range(100, 103)))
    finally:
        server.kill()
    output = server.output()
    assert "events-0" in output and str(events) in output and "lost" in output, output


@pytest.mark.parametrize("topic", ["events", "_confluent-ksql-default__command_topic"])
def test_damaged_topic_metadata_stops_the_server_naming_the_file(tmp_path: Path, topic: str) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    with server.client() as c:
        ksql(c, SETUP)
    assert server.terminate() == 0
    meta = data / "topics" / topic / "topic.json"
    meta.write_text('{"partitions": 1, "retent')
    with pytest.raises(RuntimeError) as info:
        ServerProcess(data, port=server.port).start()
    message = str(info.value)
    assert str(meta) in message and "not valid JSON" in message and "Traceback" not in message, message
