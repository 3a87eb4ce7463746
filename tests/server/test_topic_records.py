"""GET /topics/{topic}/records: a topic's records by partition and offset, decoded as PRINT shows them."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.server.harness import ksql


@pytest.fixture(scope="module")
def topics(server) -> None:
    with server.client() as client:
        ksql(client, "CREATE STREAM BROWSED (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='browsed', PARTITIONS=2, "
                     "KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');")
        records = [{"key": i, "value": {"NAME": f"n{i}"}, "partition": i % 2, "timestamp": 1_700_000_000_000 + i}
                   for i in range(10)]
        records[0]["headers"] = [{"KEY": "source", "VALUE": base64.b64encode(b"web").decode()}]
        assert client.post("/topics/browsed/records", json={"records": records}).status_code == 200
        ksql(client, "CREATE STREAM RAW_ONLY (V STRING) WITH (KAFKA_TOPIC='raw_only', PARTITIONS=1, "
                     "VALUE_FORMAT='KAFKA');")
        ksql(client, "DROP STREAM RAW_ONLY;")  # the topic stays, with no stream over it
        raw = [{"rawKey": base64.b64encode(b"k").decode(), "rawValue": base64.b64encode(b"plain text").decode()}]
        assert client.post("/topics/raw_only/records", json={"records": raw}).status_code == 200


def page(client: httpx.Client, topic: str, **params) -> dict:
    response = client.get(f"/topics/{topic}/records", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_page_names_every_partition_s_offsets_and_decodes_keys_and_values(client, topics) -> None:
    body = page(client, "browsed")
    assert body["topic"] == "browsed"
    assert (body["keyFormat"], body["valueFormat"]) == ("KAFKA_INTEGER", "JSON")  # as PRINT names them
    assert body["partitions"] == [{"partition": 0, "startOffset": 0, "endOffset": 5},
                                  {"partition": 1, "startOffset": 0, "endOffset": 5}]
    assert [(r["partition"], r["offset"]) for r in body["records"]] == [(0, o) for o in range(5)] + [
        (1, o) for o in range(5)]
    first = body["records"][0]
    assert first == {"partition": 0, "offset": 0, "timestamp": 1_700_000_000_000, "key": "0",
                     "value": '{"NAME":"n0"}', "headers": [{"key": "source", "value": "web"}]}


def test_without_an_offset_the_newest_records_of_each_partition_come(client, topics) -> None:
    body = page(client, "browsed", limit=2)
    assert [(r["partition"], r["offset"], r["key"]) for r in body["records"]] == [
        (0, 3, "6"), (0, 4, "8"), (1, 3, "7"), (1, 4, "9")]


def test_one_partition_from_an_offset(client, topics) -> None:
    body = page(client, "browsed", partition=1, offset=1, limit=3)
    assert [(r["partition"], r["offset"], r["key"]) for r in body["records"]] == [(1, 1, "3"), (1, 2, "5"),
                                                                                   (1, 3, "7")]
    assert page(client, "browsed", partition=1, offset=99)["records"] == []


def test_a_topic_without_a_source_shows_its_bytes_as_text(client, topics) -> None:
    body = page(client, "raw_only")
    assert (body["keyFormat"], body["valueFormat"]) == ("KAFKA_STRING", "KAFKA_STRING")
    assert [(r["key"], r["value"]) for r in body["records"]] == [("k", "plain text")]


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/topics/no_such_topic/records", 404, "Could not find topic 'no_such_topic'"),
    ("/topics/browsed/records?partition=2", 400, "topic 'browsed' has 2 partition(s)"),
    ("/topics/browsed/records?partition=-1", 400, "Invalid parameter \"partition\": at least 0"),
    ("/topics/browsed/records?offset=ten", 400, "Invalid parameter \"offset\": expected an integer"),
    ("/topics/browsed/records?limit=0", 400, "Invalid parameter \"limit\": at least 1"),
    ("/topics/browsed/records?limit=5000", 400, "Invalid parameter \"limit\": at most 1000"),
    ("/topics/browsed/records?from=3", 400, "Unrecognized parameter \"from\""),
])
def test_bad_requests_say_what_is_wrong(client, topics, path: str, status: int, message: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert message in response.json()["message"]
