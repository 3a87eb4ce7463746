"""DECIMAL values keep every digit through the REST API: /inserts-stream reads them exactly, and
push and pull query answers write them with their digits and scale (ksqlDB's BigDecimal)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx

from tests.server.harness import ksql, query_rows, wait_idle

LONG = "1234567890123456789.1234512345123451234"  # 38 digits: past a double and Python's 28-digit default
EARLIEST = {"auto.offset.reset": "earliest"}


def _exact_rows(response: httpx.Response) -> list:
    """/query-stream's JSON array with numbers read as Decimal, as a BigDecimal-aware client reads them."""
    assert response.status_code == 200, response.text[:500]
    return json.loads(response.text, parse_float=Decimal)[1:]


def _push(client: httpx.Client, sql: str) -> list:
    return _exact_rows(client.post("/query-stream", headers={"accept": "application/json"},
                                   json={"sql": sql, "properties": EARLIEST}))


def test_inserts_stream_keeps_every_digit(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM DEC_IN (ID STRING KEY, DEC DECIMAL(38,19), D DOUBLE) "
                 "WITH (kafka_topic='dec_in', value_format='AVRO', partitions=1);")
    body = (json.dumps({"target": "DEC_IN"}) + "\n"
            + '{"ID": "a", "DEC": ' + LONG + ', "D": 0.5}\n'
            + '{"ID": "b", "DEC": 1.5, "D": 2}\n')
    acks = [json.loads(line) for line in client.post("/inserts-stream", content=body).text.splitlines()]
    assert [a["status"] for a in acks] == ["ok", "ok"], acks
    rows = _push(client, "SELECT ID, DEC, D FROM DEC_IN EMIT CHANGES LIMIT 2;")
    assert rows == [["a", Decimal(LONG), Decimal("0.5")], ["b", Decimal("1.5000000000000000000"), Decimal("2.0")]]
    assert str(rows[1][1]) == "1.5000000000000000000"  # the column's scale


def test_push_and_pull_answers_keep_every_digit(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM DEC_SRC (ID STRING KEY, DEC DECIMAL(38,19)) "
                 "WITH (kafka_topic='dec_src', value_format='JSON', partitions=1);")
    ksql(client, "CREATE TABLE DEC_SUM AS SELECT ID, SUM(DEC) AS TOTAL, MAX(DEC) AS HI FROM DEC_SRC GROUP BY ID;")
    ksql(client, f"INSERT INTO DEC_SRC (ID, DEC) VALUES ('k', {LONG});")
    ksql(client, "INSERT INTO DEC_SRC (ID, DEC) VALUES ('k', 0.0000000000000000001);")
    wait_idle(client)
    total = Decimal("1234567890123456789.1234512345123451235")
    assert _push(client, "SELECT ID, DEC FROM DEC_SRC EMIT CHANGES LIMIT 1;") == [["k", Decimal(LONG)]]
    response = client.post("/query", json={"ksql": "SELECT ID, TOTAL, HI FROM DEC_SUM WHERE ID = 'k';"})
    assert response.status_code == 200, response.text[:500]
    rows = [m["row"]["columns"] for m in json.loads(response.text, parse_float=Decimal) if "row" in m]
    assert rows == [["k", total, Decimal(LONG)]], response.text[:500]
    assert query_rows(client, "SELECT ID FROM DEC_SUM;") == [["k"]]


def test_records_endpoint_keeps_every_digit(client: httpx.Client) -> None:
    ksql(client, "CREATE STREAM DEC_REC (ID STRING KEY, DEC DECIMAL(38,19), D DOUBLE) "
                 "WITH (kafka_topic='dec_rec', value_format='PROTOBUF', partitions=1);")
    body = '{"records": [{"key": "r", "value": {"DEC": ' + LONG + ', "D": 0.25}}]}'
    response = client.post("/topics/dec_rec/records", content=body)
    assert response.status_code == 200, response.text
    assert _push(client, "SELECT ID, DEC, D FROM DEC_REC EMIT CHANGES LIMIT 1;") == [
        ["r", Decimal(LONG), Decimal("0.25")]]
