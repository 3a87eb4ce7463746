"""Confluent Schema Registry REST API over the embedded registry: paths, JSON shapes, error bodies."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ksql.engine.schema_registry import EmbeddedSchemaRegistry
from ksql.engine.schema_registry.rest import CONTENT_TYPE, create_app, create_router

AVRO = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
AVRO2 = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"},
                                                            {"name": "b", "type": "int", "default": 0}]})
PROTO = 'syntax = "proto3";\nmessage M {\n  int32 a = 1;\n}\n'


@pytest.fixture
def client():
    return TestClient(create_app(EmbeddedSchemaRegistry()))


def test_register_and_read(client):
    r = client.post("/subjects/t-value/versions", json={"schema": AVRO})
    assert r.status_code == 200 and r.json() == {"id": 1}
    assert r.headers["content-type"].startswith(CONTENT_TYPE)
    assert client.post("/subjects/t-value/versions", json={"schema": AVRO}).json() == {"id": 1}
    assert client.post("/subjects/t-value/versions", json={"schema": AVRO2}).json() == {"id": 2}
    assert client.post("/subjects/p-value/versions", json={"schema": PROTO, "schemaType": "PROTOBUF"}).json() == {"id": 3}
    assert client.get("/subjects").json() == ["p-value", "t-value"]
    assert client.get("/subjects/t-value/versions").json() == [1, 2]
    assert client.get("/subjects/t-value/versions/latest").json() == {
        "subject": "t-value", "version": 2, "id": 2, "schema": AVRO2}
    assert client.get("/subjects/p-value/versions/1").json() == {
        "subject": "p-value", "version": 1, "id": 3, "schemaType": "PROTOBUF", "schema": PROTO}
    assert client.get("/subjects/t-value/versions/1/schema").text == AVRO
    assert client.get("/schemas/ids/1").json() == {"schema": AVRO}
    assert client.get("/schemas/ids/3").json() == {"schemaType": "PROTOBUF", "schema": PROTO}
    assert client.get("/schemas/ids/1/subjects").json() == ["t-value"]
    assert client.get("/schemas/ids/2/versions").json() == [{"subject": "t-value", "version": 2}]
    assert client.post("/subjects/t-value", json={"schema": AVRO}).json() == {
        "subject": "t-value", "version": 1, "id": 1, "schema": AVRO}
    assert client.get("/schemas/types").json() == ["PROTOBUF", "JSON", "AVRO"]
    assert client.get("/").json() == {}


def test_errors(client):
    def err(response, status, code):
        assert response.status_code == status, response.text
        assert response.json()["error_code"] == code
        assert response.json()["message"]

    err(client.get("/subjects/nope/versions"), 404, 40401)
    err(client.get("/schemas/ids/9"), 404, 40403)
    client.post("/subjects/t/versions", json={"schema": AVRO})
    err(client.get("/subjects/t/versions/5"), 404, 40402)
    err(client.get("/subjects/t/versions/zero"), 422, 42202)
    err(client.post("/subjects/t", json={"schema": AVRO2}), 404, 40403)
    err(client.post("/subjects/t/versions", json={"schema": "{nope"}), 422, 42201)
    err(client.post("/subjects/t/versions", json={"schema": AVRO, "schemaType": "XML"}), 422, 42201)
    err(client.post("/subjects/t/versions", content=b"{not json"), 400, 400)
    breaking = json.dumps({"type": "record", "name": "R", "fields": [{"name": "z", "type": "int"}]})
    err(client.post("/subjects/t/versions", json={"schema": breaking}), 409, 409)
    err(client.put("/config", json={"compatibility": "MAYBE"}), 422, 42203)
    err(client.get("/config/t"), 404, 40408)


def test_compatibility_and_config(client):
    client.post("/subjects/t/versions", json={"schema": AVRO})
    breaking = json.dumps({"type": "record", "name": "R", "fields": [{"name": "z", "type": "int"}]})
    r = client.post("/compatibility/subjects/t/versions/latest", json={"schema": breaking},
                    params={"verbose": "true"})
    assert r.json()["is_compatible"] is False and r.json()["messages"]
    assert client.post("/compatibility/subjects/t/versions/1", json={"schema": AVRO2}).json() == {
        "is_compatible": True}
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.put("/config", json={"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert client.put("/config/t", json={"compatibility": "NONE"}).json() == {"compatibility": "NONE"}
    assert client.get("/config/t").json() == {"compatibilityLevel": "NONE"}
    assert client.post("/subjects/t/versions", json={"schema": breaking}).json() == {"id": 2}
    assert client.delete("/config/t").json() == {"compatibilityLevel": "NONE"}
    assert client.get("/config/t", params={"defaultToGlobal": "true"}).json() == {"compatibilityLevel": "FULL"}


def test_deletes(client):
    client.post("/subjects/t/versions", json={"schema": AVRO})
    client.post("/subjects/t/versions", json={"schema": AVRO2})
    assert client.delete("/subjects/t/versions/2").json() == 2
    assert client.get("/subjects/t/versions", params={"deleted": "true"}).json() == [1, 2]
    assert client.delete("/subjects/t").json() == [1]
    assert client.get("/subjects").json() == []
    assert client.delete("/subjects/t", params={"permanent": "true"}).json() == [1, 2]
    assert client.get("/subjects", params={"deleted": "true"}).json() == []


def test_router_mounts_under_a_prefix():
    app = FastAPI()
    app.include_router(create_router(EmbeddedSchemaRegistry()), prefix="/schema-registry")
    client = TestClient(app)
    assert client.post("/schema-registry/subjects/x/versions", json={"schema": '"string"'}).json() == {"id": 1}
    assert client.get("/schema-registry/subjects").json() == ["x"]
