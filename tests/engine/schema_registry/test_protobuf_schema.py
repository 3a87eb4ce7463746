""".proto parsing, printing and compiling, as the registry and the PROTOBUF serde use them."""

from __future__ import annotations

import pytest

from ksql.engine.schema_registry.protobuf_schema import (
    CompiledProto,
    ProtoError,
    canonical_proto,
    parse_proto,
    print_proto,
)

FULL = """
// a comment
syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
import "confluent/meta.proto";
import "confluent/type/decimal.proto";
option java_package = "com.shop";

/* an order */
message Order {
  reserved 9, 10;
  int64 id = 1;
  optional string note = 2;
  repeated Line lines = 3;
  map<string, int32> counts = 4;
  google.protobuf.Timestamp at = 5;
  confluent.type.Decimal total = 6 [(confluent.field_meta) = { params: [{key: "precision", value: "8"},
                                                                        {key: "scale", value: "2"}] }];
  Status status = 7;
  oneof payment { string card = 8; bytes token = 11; }
  message Line { string sku = 1; uint32 qty = 2 [deprecated = true]; }
  enum Status { NEW = 0; DONE = 1; }
}
message Other { .shop.v1.Order.Line line = 1; }
"""


def test_parse_model():
    f = parse_proto(FULL)
    assert f.syntax == "proto3" and f.package == "shop.v1"
    assert f.imports == ["google/protobuf/timestamp.proto", "confluent/meta.proto", "confluent/type/decimal.proto"]
    order = f.messages[0]
    fields = {x.name: x for x in order.fields}
    assert fields["note"].label == "optional"
    assert fields["lines"].label == "repeated"
    assert fields["counts"].map_types == ("string", "int32")
    assert fields["total"].meta_params() == {"precision": "8", "scale": "2"}
    assert fields["card"].oneof == "payment"
    assert [m.name for m in order.messages] == ["Line"] and order.enums[0].values == [("NEW", 0), ("DONE", 1)]


def test_print_is_canonical():
    text = print_proto(parse_proto(FULL))
    assert canonical_proto(text) == text  # printing is a fixed point
    compact = 'syntax="proto3";message A{int32 a=1;}'
    spaced = 'syntax = "proto3";\n\n// c\nmessage A {\n    int32 a = 1;\n}\n'
    assert canonical_proto(compact) == canonical_proto(spaced)


def test_compile_and_message_indexes():
    c = CompiledProto(FULL)
    order = c.message()
    assert order.full_name == "shop.v1.Order"
    assert c.message("Other").full_name == "shop.v1.Other"
    assert c.message("shop.v1.Other").full_name == "shop.v1.Other"
    line = order.nested_types[0]
    assert c.message_indexes(order) == [0] and c.message_indexes(line) == [0, 0]
    assert c.message_indexes(c.message("Other")) == [1]
    assert c.message_at([0, 0]) is line and c.message_at([]) is order
    assert c.field_meta["shop.v1.Order.total"] == {"precision": "8", "scale": "2"}
    fields = order.fields_by_name
    assert fields["note"].has_presence and not fields["id"].has_presence
    assert fields["counts"].message_type.GetOptions().map_entry
    msg = c.message_class(order)(id=5, note="hi")
    msg.lines.add(sku="x", qty=2)
    again = c.message_class(order).FromString(msg.SerializeToString())
    assert again.lines[0].sku == "x" and again.note == "hi"
    with pytest.raises(ProtoError, match="does not contain a message named Nope"):
        c.message("Nope")


def test_imports_from_references():
    c = CompiledProto('syntax = "proto3"; import "event.proto"; message L { Event e = 1; }',
                      {"event.proto": 'syntax = "proto3"; import "google/type/date.proto"; '
                                      'message Event { google.type.Date d = 1; }'})
    assert c.message().fields[0].message_type.full_name == "Event"


@pytest.mark.parametrize("text, message", [
    ('syntax = "proto3"; message A { int32 a = 1; int64 b = 1; }', "used twice"),
    ('syntax = "proto3"; message A { Missing a = 1; }', "unknown type Missing"),
    ('syntax = "proto3"; import "nowhere.proto"; message A { int32 a = 1; }', "cannot resolve import"),
    ('syntax = "proto3"; message A { required int32 a = 1; }', "required fields are not allowed"),
    ('syntax = "proto4"; message A {}', "unsupported syntax"),
    ('syntax = "proto3"; message A { int32 a = 1 }', "expected ';'"),
    ('syntax = "proto3"; message A { map<double, int32> m = 1; }', "invalid map key type"),
    ('syntax = "proto3"; message A { int32 a = 0; }', "invalid field number"),
    ("message A { int32 a = 1; } $", "unexpected character"),
])
def test_errors(text, message):
    with pytest.raises(ProtoError, match=message):
        CompiledProto(text)
