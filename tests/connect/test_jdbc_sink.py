"""The JDBC sink against SQLite and a real PostgreSQL server: insert, upsert, update, delete on
tombstone, auto.create and auto.evolve, primary keys from the key, the value or Kafka coordinates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ksql.connect import data
from ksql.connect.api import SinkRecord as Rec
from ksql.connect.jdbc_dialect import JdbcError
from ksql.connect.jdbc_sink import JdbcSinkWriter, RecordError
from tests.connect.jdbc_helpers import execute, table_rows, unique_table

VALUE = data.struct([("ID", data.primitive("int64")), ("NAME", data.OPTIONAL_STRING),
                     ("PRICE", data.decimal(2, True)), ("AT", data.timestamp(True)),
                     ("OK", data.primitive("boolean", True))])
AT = dt.datetime(2024, 5, 1, 8, 30, 0, 123000, tzinfo=dt.UTC)


def row(topic: str, key, name: str | None, offset: int = 0, *, value: bool = True) -> Rec:
    v = {"ID": key, "NAME": name, "PRICE": Decimal("1.50"), "AT": AT, "OK": True} if value else None
    return Rec(topic, 0, data.primitive("int64"), key, VALUE if value else None, v, 1000, kafka_offset=offset)


def tombstone(topic: str, key) -> Rec:
    return Rec(topic, 0, data.primitive("int64"), key, None, None, 1000)


def writer(url: str, **props) -> JdbcSinkWriter:
    return JdbcSinkWriter({"connection.url": url, **{k.replace("_", "."): v for k, v in props.items()}})


def test_upsert_by_record_key_with_delete_on_tombstone(db_url):
    topic = unique_table("orders")
    w = writer(db_url, insert_mode="upsert", pk_mode="record_key", pk_fields="ID", delete_enabled="true",
               auto_create="true")
    w.write([row(topic, 1, "a"), row(topic, 2, "b"), row(topic, 1, "a2"), row(topic, 3, "c")])
    w.write([tombstone(topic, 2), row(topic, 3, "c2"), row(topic, 2, "b-again"), tombstone(topic, 3)])
    w.close()
    rows = table_rows(db_url, topic, "ID")
    assert [(r[0], r[1]) for r in rows] == [(1, "a2"), (2, "b-again")]
    assert Decimal(str(rows[0][2])) == Decimal("1.50")
    assert str(rows[0][3]).startswith("2024-05-01") and "08:30:00.123" in str(rows[0][3])
    # replaying the same batch (at-least-once redelivery) leaves the same rows
    w = writer(db_url, insert_mode="upsert", pk_mode="record_key", pk_fields="ID", delete_enabled="true")
    w.write([tombstone(topic, 2), row(topic, 3, "c2"), row(topic, 2, "b-again"), tombstone(topic, 3)])
    w.close()
    assert [(r[0], r[1]) for r in table_rows(db_url, topic, "ID")] == [(1, "a2"), (2, "b-again")]


def test_insert_mode_and_primary_key_violation(db_url):
    topic = unique_table("ins")
    w = writer(db_url, insert_mode="insert", pk_mode="record_value", pk_fields="ID", auto_create="true")
    w.write([row(topic, 1, "a"), row(topic, 2, "b")])
    with pytest.raises(JdbcError, match="refused the write"):
        w.write([row(topic, 3, "c"), row(topic, 1, "dup")])
    assert [r[:2] for r in table_rows(db_url, topic, "ID")] == [(1, "a"), (2, "b")]  # nothing of the batch
    errors = []
    w.write([row(topic, 3, "c"), row(topic, 1, "dup"), row(topic, 4, "d")], report=lambda r, e: errors.append((r, e)))
    w.close()
    assert [r[:2] for r in table_rows(db_url, topic, "ID")] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert [r.value["NAME"] for r, _ in errors] == ["dup"]
    assert isinstance(errors[0][1], RecordError)


def test_update_mode_changes_existing_rows_only(db_url):
    topic = unique_table("upd")
    writer(db_url, pk_mode="record_key", pk_fields="ID", auto_create="true").write([row(topic, 1, "a")])
    w = writer(db_url, insert_mode="update", pk_mode="record_key", pk_fields="ID")
    w.write([row(topic, 1, "changed"), row(topic, 9, "absent")])
    w.close()
    assert [r[:2] for r in table_rows(db_url, topic, "ID")] == [(1, "changed")]


def test_kafka_coordinates_as_primary_key_and_table_name_format(db_url):
    topic = unique_table("kafka")
    w = writer(db_url, pk_mode="kafka", auto_create="true", table_name_format="${topic}_copy",
               fields_whitelist="NAME")
    w.write([row(topic, 1, "a", offset=10), row(topic, 1, "b", offset=11)])
    w.close()
    rows = table_rows(db_url, f"{topic}_copy", "__connect_offset")
    assert rows == [(topic, 0, 10, "a"), (topic, 0, 11, "b")]


def test_schemaless_values_and_primitive_key(db_url):
    topic = unique_table("json")
    w = writer(db_url, insert_mode="upsert", pk_mode="record_key", auto_create="true")
    w.write([Rec(topic, 0, None, "k1", None, {"n": 1, "s": "x", "f": 1.5}),
             Rec(topic, 0, None, "k1", None, {"n": 2, "s": "y", "f": 2.5})])
    w.close()
    assert table_rows(db_url, topic, "__connect_key") == [("k1", 2, "y", 2.5)]


def test_auto_evolve_adds_optional_columns_and_refuses_without_it(db_url):
    topic = unique_table("evolve")
    w = writer(db_url, pk_mode="record_value", pk_fields="id", auto_create="true")
    w.write([Rec(topic, 0, None, None, None, {"id": 1})])
    with pytest.raises(JdbcError, match="missing fields \\(extra\\) and auto-evolution is disabled"):
        w.write([Rec(topic, 0, None, None, None, {"id": 2, "extra": "e"})])
    w.close()
    w = writer(db_url, pk_mode="record_value", pk_fields="id", auto_evolve="true")
    w.write([Rec(topic, 0, None, None, None, {"id": 2, "extra": "e"})])
    w.close()
    assert table_rows(db_url, topic, "id") == [(1, None), (2, "e")]


def test_missing_table_without_auto_create(db_url):
    with pytest.raises(JdbcError, match="is missing and auto-creation is disabled"):
        writer(db_url).write([row(unique_table("none"), 1, "a")])


def test_bad_records_are_refused_or_reported(db_url):
    topic = unique_table("bad")
    w = writer(db_url, pk_mode="record_value", pk_fields="ID", auto_create="true")
    bad = [Rec(topic, 0, None, None, None, "not an object"), tombstone(topic, 1),
           Rec(topic, 0, None, None, VALUE, {"ID": None, "NAME": "x"})]
    for record in bad:
        with pytest.raises(RecordError):
            w.write([record])
    errors = []
    w.write([*bad, row(topic, 5, "good")], report=lambda r, e: errors.append(str(e)))
    w.close()
    assert len(errors) == 3 and "delete.enabled=false" in errors[1]
    assert [r[:2] for r in table_rows(db_url, topic, "ID")] == [(5, "good")]


def test_identifiers_are_quoted_and_values_bound(db_url):
    topic = unique_table("q") + '"; DROP TABLE x; --'
    w = writer(db_url, pk_mode="record_value", pk_fields="we ird\"col", auto_create="true", insert_mode="upsert")
    w.write([Rec(topic, 0, None, None, None, {"we ird\"col": "'); DELETE FROM x; --", "v": 1})])
    w.close()
    assert execute(db_url, 'SELECT * FROM "' + topic.replace('"', '""') + '"') == [("'); DELETE FROM x; --", 1)]


def test_configuration_is_checked():
    with pytest.raises(JdbcError, match="must be 'record_key' when delete support is enabled"):
        JdbcSinkWriter({"connection.url": "jdbc:sqlite:/tmp/x.db", "delete.enabled": "true"})
    with pytest.raises(JdbcError, match="insert.mode"):
        JdbcSinkWriter({"connection.url": "jdbc:sqlite:/tmp/x.db", "insert.mode": "merge"})
    with pytest.raises(JdbcError, match="needs a primary key"):
        JdbcSinkWriter({"connection.url": "jdbc:sqlite:/tmp/x.db", "insert.mode": "upsert"})
    with pytest.raises(JdbcError, match="Unsupported connection.url"):
        JdbcSinkWriter({"connection.url": "jdbc:mysql://h/db"})


def test_a_value_of_the_wrong_type_for_its_column_is_the_record_s_fault(db_url):
    topic = unique_table("types")
    w = writer(db_url, pk_mode="record_value", pk_fields="id", auto_create="true")
    w.write([Rec(topic, 0, None, None, None, {"id": 1, "n": 10})])  # "n" becomes a BIGINT column
    errors = []
    w.write([Rec(topic, 0, None, None, None, {"id": 2, "n": "five"}), Rec(topic, 0, None, None, None,
                                                                          {"id": 3, "n": 30})],
            report=lambda r, e: errors.append(r.value["id"]))
    w.close()
    if db_url.startswith("jdbc:sqlite"):
        assert errors == []  # SQLite stores any value in any column
    else:
        assert errors == [2]
        assert table_rows(db_url, topic, "id") == [(1, 10), (3, 30)]
