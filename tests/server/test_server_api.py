"""ksqlDB's REST API, black-box: endpoints, JSON shapes, streaming, HTTP/2 and every kind of bad input."""

from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest

from tests.server.harness import ServerProcess, ksql

EARLIEST = {"auto.offset.reset": "earliest"}


def _stream(client: httpx.Client, rows: int = 0) -> str:
    """A new stream with `rows` rows (K = k<i>, V = i)."""
    name = f"S_{uuid.uuid4().hex[:8].upper()}"
    ksql(client, f"CREATE STREAM {name} (K STRING KEY, V INT) WITH (KAFKA_TOPIC='{name.lower()}', "
                 "PARTITIONS=1, VALUE_FORMAT='JSON');")
    if rows:
        ksql(client, "".join(f"INSERT INTO {name} (K, V) VALUES ('k{i}', {i});" for i in range(rows)))
    return name


def _query_messages(text: str) -> list[dict]:
    return json.loads(text)


# --- server information ----------------------------------------------------------------------------

def test_info_healthcheck_and_cluster_status(client: httpx.Client) -> None:
    info = client.get("/info").json()["KsqlServerInfo"]
    assert info["ksqlServiceId"] == "default_" and info["serverStatus"] == "RUNNING" and info["version"]
    health = client.get("/healthcheck").json()
    assert health["isHealthy"] is True and health["details"]["commandRunner"]["isHealthy"] is True
    status = client.get("/clusterStatus").json()["clusterStatus"]
    [host] = status.values()
    assert host["hostAlive"] is True and "stateStoreLags" in host["hostStoreLags"]


def test_status_of_commands(client: httpx.Client) -> None:
    name = _stream(client)
    statuses = client.get("/status").json()["commandStatuses"]
    command_id = next(k for k in statuses if statuses[k] == "SUCCESS")
    one = client.get(f"/status/{command_id}").json()
    assert one["status"] == "SUCCESS" and one["message"]
    missing = client.get("/status/stream/NOPE/create")
    assert missing.status_code == 404 and missing.json()["error_code"] == 40400
    ksql(client, f"DROP STREAM {name};")


# --- /ksql ---------------------------------------------------------------------------------------

def test_ksql_returns_one_entity_per_statement(client: httpx.Client) -> None:
    name = _stream(client)
    entities = ksql(client, f"SHOW STREAMS; DESCRIBE {name}; INSERT INTO {name} (K, V) VALUES ('a', 1);"
                            "LIST PROPERTIES;")
    assert [e["@type"] for e in entities] == ["streams", "sourceDescription", "properties"]
    assert name in [s["name"] for s in entities[0]["streams"]]
    assert entities[1]["sourceDescription"]["fields"][0] == {
        "name": "K", "schema": {"type": "STRING", "fields": None, "memberSchema": None}, "type": "KEY"}


def test_failing_statement_is_a_statement_error_with_the_entities_before_it(client: httpx.Client) -> None:
    name = f"S_{uuid.uuid4().hex[:8].upper()}"
    response = client.post("/ksql", json={"ksql": f"CREATE STREAM {name} (V INT) WITH (KAFKA_TOPIC='{name}', "
                                                  "PARTITIONS=1, VALUE_FORMAT='JSON'); DROP STREAM NOT_THERE;"})
    assert response.status_code == 400
    body = response.json()
    assert body["@type"] == "statement_error" and body["error_code"] == 40001
    assert body["statementText"] == "DROP STREAM NOT_THERE"
    assert "NOT_THERE does not exist" in body["message"]
    assert [e["@type"] for e in body["entities"]] == ["currentStatus"]


def test_syntax_error(client: httpx.Client) -> None:
    response = client.post("/ksql", json={"ksql": "CREATE STREEM X;"})
    assert response.status_code == 400
    assert response.json()["@type"] == "statement_error" and "Syntax Error" in response.json()["message"]


def test_query_syntax_error_names_position_then_statement(client: httpx.Client) -> None:
    sql = "SELECT * FROM S1 ORDER BY MYKEY DESC;"
    response = client.post("/query", json={"ksql": sql})
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith(f"line 1:24: Syntax Error\n\nStatement: {sql}\n\n")
    assert "Syntax error at or near 'BY' at line 1:24" in message  # the detail is kept after ksqlDB's text


def test_queries_belong_to_the_query_endpoint(client: httpx.Client) -> None:
    name = _stream(client)
    response = client.post("/ksql", json={"ksql": f"SELECT * FROM {name} EMIT CHANGES;"})
    assert response.status_code == 400 and response.json()["error_code"] == 40002


@pytest.mark.parametrize("body,message", [
    (b'{"ksql": "SHOW STREAMS;"', "Invalid JSON"),
    (b"[1, 2]", "a JSON object is expected"),
    (b"", "the body is empty"),
    (b'{"ksql": "SHOW STREAMS;", "bogus": 1}', 'Unrecognized field "bogus"'),
    (b'{"ksql": 42}', 'Invalid field "ksql"'),
    (b'{"streamsProperties": {}}', 'Missing field "ksql"'),
    (b'{"ksql": "SHOW STREAMS;", "streamsProperties": {"a": [1]}}', "Invalid property a"),
])
def test_malformed_requests_are_400_with_ksqldb_error_json(client: httpx.Client, body: bytes,
                                                         message: str) -> None:
    for path in ("/ksql", "/query"):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["@type"] == "generic_error" and error["error_code"] == 40000
        assert message in error["message"]


def test_unknown_paths_and_methods_answer_error_json(client: httpx.Client) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error_code"] == 40400
    wrong = client.get("/ksql")
    assert wrong.status_code == 405 and wrong.json()["error_code"] == 40500


def test_oversized_request_is_413(client: httpx.Client) -> None:
    response = client.post("/ksql", json={"ksql": "SHOW STREAMS; " * 10_000})  # the fixture allows 100000 bytes
    assert response.status_code == 413 and response.json()["error_code"] == 41300
    assert client.get("/healthcheck").status_code == 200  # still up


# --- /query ---------------------------------------------------------------------------------------

def test_query_streams_header_rows_and_final_message(client: httpx.Client) -> None:
    name = _stream(client, rows=3)
    response = client.post("/query", json={"ksql": f"SELECT V, K FROM {name} EMIT CHANGES LIMIT 2;",
                                           "streamsProperties": EARLIEST})
    assert response.status_code == 200
    messages = _query_messages(response.text)
    assert messages[0]["header"]["schema"] == "`V` INTEGER, `K` STRING"
    assert messages[0]["header"]["queryId"].startswith(f"transient_{name}_")
    assert messages[1:] == [{"row": {"columns": [0, "k0"]}}, {"row": {"columns": [1, "k1"]}},
                            {"finalMessage": "Limit Reached"}]


def test_query_refuses_other_statements(client: httpx.Client) -> None:
    response = client.post("/query", json={"ksql": "SHOW STREAMS;"})
    assert response.status_code == 400 and response.json()["error_code"] == 40002


def test_print_topic(client: httpx.Client) -> None:
    name = _stream(client, rows=2)
    response = client.post("/query", json={"ksql": f"PRINT '{name.lower()}' FROM BEGINNING LIMIT 2;"})
    lines = [line for line in response.text.splitlines() if line.startswith("rowtime:")]
    assert len(lines) == 2
    assert lines[0].endswith(', key: k0, value: {"V":0}, partition: 0')


def test_push_query_delivers_rows_inserted_while_it_runs_and_close_query_ends_it(
        server: ServerProcess, client: httpx.Client) -> None:
    name = _stream(client)
    received: list = []
    with server.client(timeout=10.0) as streaming, streaming.stream(
            "POST", "/query-stream", json={"sql": f"SELECT * FROM {name} EMIT CHANGES;"}) as response:
        lines = response.iter_lines()
        header = json.loads(next(lines))
        assert header["columnNames"] == ["K", "V"] and header["columnTypes"] == ["STRING", "INTEGER"]
        ksql(client, f"INSERT INTO {name} (K, V) VALUES ('a', 1); INSERT INTO {name} (K, V) VALUES ('b', 2);")
        received.append(json.loads(next(lines)))
        received.append(json.loads(next(lines)))
        closed = client.post("/close-query", json={"queryId": header["queryId"]})
        assert closed.status_code == 200
        assert [line for line in lines if line.strip()] == []  # the stream ends
    assert received == [["a", 1], ["b", 2]]
    again = client.post("/close-query", json={"queryId": header["queryId"]})
    assert again.status_code == 400 and "No query with id" in again.json()["message"]


def test_query_stream_json_format(client: httpx.Client) -> None:
    name = _stream(client, rows=2)
    response = client.post("/query-stream", headers={"accept": "application/json"},
                           json={"sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;", "properties": EARLIEST})
    body = response.json()
    assert body[0]["columnNames"] == ["K", "V"] and body[1:] == [["k0", 0], ["k1", 1]]


def test_query_stream_over_http2_cleartext(server: ServerProcess, client: httpx.Client) -> None:
    name = _stream(client, rows=2)
    with httpx.Client(http1=False, http2=True, base_url=server.url, timeout=10.0) as h2:
        response = h2.post("/query-stream", json={"sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;",
                                                  "properties": EARLIEST})
    assert response.http_version == "HTTP/2"
    lines = [json.loads(line) for line in response.text.splitlines() if line]
    assert lines[1:] == [["k0", 0], ["k1", 1]]


def test_push_query_errors(client: httpx.Client) -> None:
    unknown = client.post("/query-stream", json={"sql": "SELECT * FROM NOPE EMIT CHANGES;"})
    assert unknown.status_code == 400 and "NOPE does not exist" in unknown.json()["message"]
    two = client.post("/query-stream", json={"sql": "SELECT 1 FROM A; SELECT 2 FROM B;"})
    assert two.status_code == 400


def test_too_many_push_queries_is_429(server: ServerProcess, client: httpx.Client) -> None:
    name = _stream(client)
    opened = []
    try:
        for _ in range(5):  # the fixture's ksql.max.push.queries
            c = server.client(timeout=10.0)
            stream = c.stream("POST", "/query-stream", json={"sql": f"SELECT * FROM {name} EMIT CHANGES;"})
            lines = stream.__enter__().iter_lines()
            next(lines)
            opened.append((c, stream, lines))  # a dropped line iterator would close its stream
        refused = client.post("/query-stream", json={"sql": f"SELECT * FROM {name} EMIT CHANGES;"})
        assert refused.status_code == 429
        assert refused.json()["error_code"] == 42900
        assert "ksql.max.push.queries" in refused.json()["message"]
    finally:
        for c, stream, _ in opened:
            stream.__exit__(None, None, None)
            c.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # disconnected clients free their slots
        if client.post("/query", json={"ksql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 0;"}).status_code == 200:
            break
        time.sleep(0.05)
    else:
        pytest.fail("push query slots were not freed by disconnecting clients")


# --- writes ---------------------------------------------------------------------------------------

def test_inserts_stream_acks_each_row(client: httpx.Client) -> None:
    name = _stream(client)
    body = "\n".join([json.dumps({"target": name}), json.dumps({"K": "a", "V": 1}), json.dumps({"k": "b", "v": "2"}),
                      json.dumps({"K": "c", "V": "not a number"}), json.dumps({"NOPE": 1}), "{broken",
                      json.dumps({"K": "d", "V": 4})]) + "\n"
    response = client.post("/inserts-stream", content=body)
    acks = [json.loads(line) for line in response.text.splitlines()]
    assert [a["status"] for a in acks] == ["ok", "ok", "error", "error", "error", "ok"]
    assert [a["seq"] for a in acks] == list(range(6))
    assert "Column name NOPE does not exist" in acks[3]["message"]
    rows = client.post("/query-stream", headers={"accept": "application/json"},
                       json={"sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 3;", "properties": EARLIEST})
    assert rows.json()[1:] == [["a", 1], ["b", 2], ["d", 4]]


def test_inserts_stream_refuses_unknown_targets(client: httpx.Client) -> None:
    response = client.post("/inserts-stream", content=json.dumps({"target": "NOPE"}) + "\n")
    assert response.status_code == 400 and "unknown stream/table" in response.json()["message"]


def test_topic_records_endpoint_uses_the_source_formats(client: httpx.Client) -> None:
    name = _stream(client)
    response = client.post(f"/topics/{name.lower()}/records", json={"records": [
        {"key": "x", "value": {"V": 7}, "timestamp": 1234}]})
    assert response.json() == {"offsets": [{"partition": 0, "offset": 0}]}
    rows = client.post("/query-stream", headers={"accept": "application/json"},
                       json={"sql": f"SELECT ROWTIME, K, V FROM {name} EMIT CHANGES LIMIT 1;",
                             "properties": EARLIEST})
    assert rows.json()[1] == [1234, "x", 7]
    bad = client.post("/topics/no_such_topic/records", json={"records": []})
    assert bad.status_code == 400


# --- pull queries and WebSocket ---------------------------------------------------------------------

def test_pull_query_on_a_materialized_table(client: httpx.Client) -> None:
    name = _stream(client)
    ksql(client, f"CREATE TABLE {name}_T AS SELECT K, COUNT(*) AS N FROM {name} GROUP BY K;")
    ksql(client, f"INSERT INTO {name} (K, V) VALUES ('a', 1); INSERT INTO {name} (K, V) VALUES ('a', 2);")
    deadline = time.monotonic() + 5
    while True:
        response = client.post("/query", json={"ksql": f"SELECT * FROM {name}_T WHERE K = 'a';"})
        assert response.status_code == 200, response.text
        messages = response.json()
        if messages[1:] == [{"row": {"columns": ["a", 2]}}] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert messages[0]["header"]["schema"] == "`K` STRING KEY, `N` BIGINT"
    assert messages[1:] == [{"row": {"columns": ["a", 2]}}]


def test_websocket_query(server: ServerProcess, client: httpx.Client) -> None:
    from websockets.sync.client import connect

    name = _stream(client, rows=2)
    request = json.dumps({"ksql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;", "streamsProperties": EARLIEST})
    url = server.url.replace("http://", "ws://") + "/ws/query?" + urlencode({"request": request})
    with connect(url) as ws:
        schema = json.loads(ws.recv(timeout=5))
        rows = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert [f["name"] for f in schema] == ["K", "V"]
    assert rows == [{"row": {"columns": ["k0", 0]}}, {"row": {"columns": ["k1", 1]}}]


def test_concurrent_clients(server: ServerProcess, client: httpx.Client) -> None:
    """Statements, inserts and queries from several threads at once: all answered, nothing lost."""
    name = _stream(client)
    errors: list = []

    def insert(worker: int) -> None:
        try:
            with server.client() as c:
                for i in range(10):
                    ksql(c, f"INSERT INTO {name} (K, V) VALUES ('w{worker}', {i});")
                    c.get("/info")
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=insert, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = client.post("/query-stream", headers={"accept": "application/json"},
                       json={"sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 40;", "properties": EARLIEST})
    assert len(rows.json()) == 41


def test_a_failing_persistent_query_stops_alone(client: httpx.Client) -> None:
    name = _stream(client)
    ksql(client, f"CREATE STREAM {name}_TS (K STRING KEY, T STRING) WITH (KAFKA_TOPIC='{name.lower()}_ts', "
                 "PARTITIONS=1, VALUE_FORMAT='JSON', TIMESTAMP='T', TIMESTAMP_FORMAT='yyyy-MM-dd');")
    ksql(client, f"CREATE STREAM {name}_BAD AS SELECT * FROM {name}_TS;",
         {"ksql.timestamp.throw.on.invalid": "true", "auto.offset.reset": "earliest"})
    ksql(client, f"CREATE STREAM {name}_GOOD AS SELECT * FROM {name};", EARLIEST)
    # fatal there (INSERT VALUES refuses such a row: another producer writes it)
    response = client.post(f"/topics/{name.lower()}_ts/records",
                           json={"records": [{"key": "x", "value": {"T": "garbage"}}]})
    assert response.status_code == 200
    ksql(client, f"INSERT INTO {name} (K, V) VALUES ('a', 1);")
    rows = client.post("/query-stream", headers={"accept": "application/json"},
                       json={"sql": f"SELECT * FROM {name}_GOOD EMIT CHANGES LIMIT 1;", "properties": EARLIEST})
    assert rows.json()[1] == ["a", 1]
    deadline = time.monotonic() + 5
    while True:
        states = {q["id"]: q["state"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"]}
        bad = next(state for qid, state in states.items() if qid.startswith(f"CSAS_{name}_BAD"))
        if bad == "ERROR" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert bad == "ERROR"
    bad_id = next(qid for qid in states if qid.startswith(f"CSAS_{name}_BAD"))
    health = client.get("/healthcheck")  # unhealthy while a query is in ERROR (it retries by itself)
    assert health.status_code == 503 and health.json()["isHealthy"] is False
    assert [e["queryId"] for e in health.json()["details"]["persistentQueries"]["errors"]] == [bad_id]
    ksql(client, f"TERMINATE {bad_id};")
    assert client.get("/healthcheck").status_code == 200


def test_show_queries_lists_push_queries_and_terminate_ends_them(server: ServerProcess,
                                                                client: httpx.Client) -> None:
    name = _stream(client)
    with server.client(timeout=10.0) as streaming, streaming.stream(
            "POST", "/query-stream", json={"sql": f"SELECT * FROM {name} EMIT CHANGES;"}) as response:
        lines = response.iter_lines()
        query_id = json.loads(next(lines))["queryId"]
        listed = {q["id"]: q for q in ksql(client, "SHOW QUERIES;")[0]["queries"]}
        assert listed[query_id]["queryType"] == "PUSH"
        assert listed[query_id]["queryString"] == f"SELECT * FROM {name} EMIT CHANGES"
        [entity] = ksql(client, f"TERMINATE {query_id};")
        assert entity["@type"] == "terminate_query" and entity["wasTerminated"] is True
        assert [line for line in lines if line.strip()] == []
    assert query_id not in {q["id"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"]}
