"""Kafka Connect's single message transforms and predicates, by Kafka's class names and properties.

A connector's config names a chain of them, as in Kafka Connect:

    transforms=route,mask
    transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
    transforms.route.regex=(.*)-raw
    transforms.route.replacement=$1
    transforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value
    transforms.mask.fields=ssn
    transforms.mask.predicate=isOrders
    predicates=isOrders
    predicates.isOrders.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
    predicates.isOrders.pattern=orders.*

`TransformationChain.from_config(config)` builds the chain; `chain.apply(record)` gives the
transformed record, or None when a transform (Filter) drops it. Records are dataclasses with
Connect's fields (topic, kafka_partition, key_schema, key, value_schema, value, timestamp,
headers; sink records add kafka_offset); a transform returns a copy, never changes its input.
Struct values are dicts (see ksql.connect.data).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ksql.connect import data
from ksql.connect.data import DataError, Field, Schema
from ksql.timeformat import compile_formatter, compile_parser

PACKAGE = "org.apache.kafka.connect.transforms"


class ConfigError(DataError):
    """A transform or predicate configured with a missing or invalid property (Kafka's ConfigException)."""


def _props(config: Mapping[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in config.items()}


def _list(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _required(config: Mapping[str, str], name: str, owner: str) -> str:
    value = config.get(name)
    if value is None or value == "":
        raise ConfigError(f"Missing required configuration \"{name}\" which has no default value ({owner})")
    return value


def _new_record(record: Any, **changes: Any) -> Any:
    """A copy of the record with some fields changed (Kafka's ConnectRecord.newRecord)."""
    return dataclasses.replace(record, **changes)


class Transformation(ABC):
    """One transform: apply(record) -> record, or None to drop it."""

    def __init__(self, config: Mapping[str, Any] | None = None):
        self.configure(_props(config or {}))

    def configure(self, config: dict[str, str]) -> None:  # noqa: B027 - most transforms take properties
        """Read the transform's properties (Kafka's property names)."""

    @abstractmethod
    def apply(self, record: Any) -> Any | None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what configure() took."""


class Predicate(ABC):
    """A condition on a record that decides whether a transform applies to it."""

    def __init__(self, config: Mapping[str, Any] | None = None):
        self.configure(_props(config or {}))

    def configure(self, config: dict[str, str]) -> None:  # noqa: B027 - RecordIsTombstone takes none
        """Read the predicate's properties."""

    @abstractmethod
    def test(self, record: Any) -> bool: ...


class _KeyOrValue(Transformation):
    """A transform of one side of a record: `$Key` subclasses work on the key, `$Value` on the value."""

    on_key = False

    def operating(self, record: Any) -> tuple[Schema | None, Any]:
        if self.on_key:
            return record.key_schema, record.key
        return record.value_schema, record.value

    def with_operating(self, record: Any, schema: Schema | None, value: Any) -> Any:
        if self.on_key:
            return _new_record(record, key_schema=schema, key=value)
        return _new_record(record, value_schema=schema, value=value)

    def require_map(self, value: Any, purpose: str) -> dict:
        if not isinstance(value, dict):
            raise DataError(f"Only Map objects supported in absence of schema for [{purpose}], "
                            f"found: {_java_type(value)}")
        return value

    def require_struct(self, schema: Schema, value: Any, purpose: str) -> dict:
        if schema.type != "struct" or not isinstance(value, dict):
            raise DataError(f"Only Struct objects supported for [{purpose}], found: {_java_type(value)}")
        return value


def _java_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _with_variants(cls: type[_KeyOrValue]) -> tuple[type, type]:
    """The `$Key` and `$Value` classes of a transform."""
    key = type(f"{cls.__name__}Key", (cls,), {"on_key": True, "__doc__": f"{cls.__name__} on the key."})
    value = type(f"{cls.__name__}Value", (cls,), {"on_key": False, "__doc__": f"{cls.__name__} on the value."})
    return key, value


# --- InsertField ----------------------------------------------------------------------------------

class InsertField(_KeyOrValue):
    """Adds the record's topic, partition, offset, timestamp and/or a static string as fields.

    A field name ending in `!` is required, in `?` (the default) optional."""

    PURPOSE = "field insertion"

    def configure(self, config: dict[str, str]) -> None:
        def spec(name: str) -> tuple[str, bool] | None:
            v = config.get(name, "").strip()
            if not v:
                return None
            if v.endswith("!"):
                return v[:-1], False
            return (v[:-1] if v.endswith("?") else v), True

        self.topic_field = spec("topic.field")
        self.partition_field = spec("partition.field")
        self.offset_field = spec("offset.field")
        self.timestamp_field = spec("timestamp.field")
        self.static_field = spec("static.field")
        self.static_value = config.get("static.value") or None
        if not any((self.topic_field, self.partition_field, self.offset_field, self.timestamp_field,
                    self.static_field)):
            raise ConfigError("No field insertion configured")
        if self.static_field and self.static_value is None:
            raise ConfigError("static.value is required when static.field is set")

    def _insertions(self, record: Any) -> list[tuple[tuple[str, bool], Schema, Any]]:
        out = []
        if self.topic_field:
            out.append((self.topic_field, data.primitive("string"), record.topic))
        if self.partition_field:
            out.append((self.partition_field, data.primitive("int32"), record.kafka_partition))
        if self.offset_field:
            if not hasattr(record, "kafka_offset"):
                raise DataError(f"Only SinkRecord supported for [{self.PURPOSE}], found: "
                                f"{type(record).__name__}")
            out.append((self.offset_field, data.primitive("int64"), record.kafka_offset))
        if self.timestamp_field:
            ts = None if record.timestamp is None else data.millis_to_timestamp(record.timestamp)
            out.append((self.timestamp_field, data.timestamp(), ts))
        if self.static_field:
            out.append((self.static_field, data.primitive("string"), self.static_value))
        return out

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if value is None:
            return record  # a tombstone passes unchanged
        insertions = self._insertions(record)
        if schema is None:
            updated = dict(self.require_map(value, self.PURPOSE))
            for (name, _), _, v in insertions:
                updated[name] = v
            return self.with_operating(record, None, updated)
        self.require_struct(schema, value, self.PURPOSE)
        fields = list(schema.fields)
        for (name, optional), field_schema, _ in insertions:
            fields.append(Field(name, field_schema.as_optional() if optional else field_schema))
        new_schema = dataclasses.replace(schema, fields=tuple(fields))
        updated = {f.name: value.get(f.name) for f in schema.fields}
        for (name, _), _, v in insertions:
            updated[name] = v
        data.validate(new_schema, updated)
        return self.with_operating(record, new_schema, updated)


# --- ReplaceField ----------------------------------------------------------------------------------

class ReplaceField(_KeyOrValue):
    """Keeps (`include`), drops (`exclude`) and renames (`renames=old:new,...`) fields."""

    PURPOSE = "field replacement"

    def configure(self, config: dict[str, str]) -> None:
        self.include = set(_list(config.get("include") or config.get("whitelist")))
        self.exclude = set(_list(config.get("exclude") or config.get("blacklist")))
        self.renames: dict[str, str] = {}
        for pair in _list(config.get("renames")):
            old, sep, new = pair.partition(":")
            if not sep or not old or not new:
                raise ConfigError(f"Invalid value {config.get('renames')} for configuration renames: "
                                  "Invalid rename mapping: " + pair)
            self.renames[old] = new

    def _kept(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if value is None:
            return record
        if schema is None:
            updated = {self.renames.get(k, k): v for k, v in self.require_map(value, self.PURPOSE).items()
                       if self._kept(k)}
            return self.with_operating(record, None, updated)
        self.require_struct(schema, value, self.PURPOSE)
        kept = [f for f in schema.fields if self._kept(f.name)]
        new_schema = dataclasses.replace(
            schema, fields=tuple(Field(self.renames.get(f.name, f.name), f.schema) for f in kept))
        updated = {self.renames.get(f.name, f.name): value.get(f.name) for f in kept}
        return self.with_operating(record, new_schema, updated)


# --- MaskField -------------------------------------------------------------------------------------

def _null_equivalent(value: Any) -> Any:
    """The 'empty' value of a value's type, what MaskField writes without a replacement."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, Decimal):
        return Decimal(0)
    if isinstance(value, str):
        return ""
    if isinstance(value, (bytes, bytearray)):
        return b""
    if isinstance(value, dt.datetime):
        return data.EPOCH
    if isinstance(value, dt.date):
        return data.EPOCH_DATE
    if isinstance(value, dt.time):
        return dt.time(0)
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    raise DataError(f"Cannot mask value of type: {type(value).__name__}")


def _replacement(value: Any, replacement: str) -> Any:
    """`replacement` in the type of `value` (numbers parsed, strings as given)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return int(replacement)
        if isinstance(value, float):
            return float(replacement)
        if isinstance(value, Decimal):
            return Decimal(replacement)
    except (ValueError, ArithmeticError):
        raise DataError(f"Unable to convert {replacement} ({type(replacement).__name__}) to number") from None
    if isinstance(value, str):
        return replacement
    raise DataError(f"Cannot mask value of type {type(value).__name__} with custom replacement.")


class MaskField(_KeyOrValue):
    """Replaces the listed fields with their type's empty value, or with `replacement`."""

    PURPOSE = "mask fields"

    def configure(self, config: dict[str, str]) -> None:
        self.fields = set(_list(_required(config, "fields", "MaskField")))
        self.replacement = config.get("replacement") or None

    def _mask(self, v: Any) -> Any:
        if v is None:
            return None
        return _null_equivalent(v) if self.replacement is None else _replacement(v, self.replacement)

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if value is None:
            return record
        if schema is None:
            updated = dict(self.require_map(value, self.PURPOSE))
        else:
            updated = dict(self.require_struct(schema, value, self.PURPOSE))
        for name in self.fields:
            if name in updated:
                updated[name] = self._mask(updated[name])
        return self.with_operating(record, schema, updated)


# --- Cast ------------------------------------------------------------------------------------------

_CAST_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string")
_WHOLE_VALUE = object()


def _cast(value: Any, target: str) -> Any:
    """Cast one primitive value (Kafka's Cast.castValueToType)."""
    if value is None:
        return None
    try:
        if target == "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (bytes, bytearray)):
                return base64.b64encode(value).decode()
            if isinstance(value, dt.datetime):
                return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
                    f"{value.microsecond // 1000:03d}Z"
            return str(value)
        if target == "boolean":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false"):
                    raise ValueError(value)
                return lowered == "true"
            return value != 0 if not isinstance(value, bool) else value
        if isinstance(value, dt.datetime):
            value = data.timestamp_to_millis(value)
        elif isinstance(value, dt.date):
            value = data.date_to_days(value)
        if target.startswith("float"):
            return float(value)
        number = int(value) if not isinstance(value, str) else int(value.strip())
        bits = int(target[3:])
        return ((number + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))  # Java's narrowing
    except (ValueError, TypeError, ArithmeticError):
        raise DataError(f"Cannot cast value {value!r} to {target}") from None


class Cast(_KeyOrValue):
    """Casts fields (`spec=field:type,...`) or the whole primitive value (`spec=type`)."""

    PURPOSE = "cast types"

    def configure(self, config: dict[str, str]) -> None:
        self.casts: dict[Any, str] = {}
        for item in _list(_required(config, "spec", "Cast")):
            name, sep, target = item.rpartition(":")
            target = target.strip().lower()
            if target not in _CAST_TYPES:
                raise ConfigError(f"Invalid value {config['spec']} for configuration spec: Cast transformation "
                                  f"does not support casting to {target}; supported types are "
                                  f"{', '.join(_CAST_TYPES)}")
            self.casts[name.strip() if sep else _WHOLE_VALUE] = target
        if _WHOLE_VALUE in self.casts and len(self.casts) > 1:
            raise ConfigError("Cast transformations that specify a type to cast the entire value to may only "
                              "specify a single cast in their spec")

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if value is None:
            return record
        whole = self.casts.get(_WHOLE_VALUE)
        if whole is not None:
            if isinstance(value, (dict, list)):
                raise DataError(f"Cast transformation cannot cast a whole {_java_type(value)} value")
            new_schema = None if schema is None else Schema(whole, optional=schema.optional)
            return self.with_operating(record, new_schema, _cast(value, whole))
        if schema is None:
            updated = dict(self.require_map(value, self.PURPOSE))
            for name, target in self.casts.items():
                if name in updated:
                    updated[name] = _cast(updated[name], target)
            return self.with_operating(record, None, updated)
        self.require_struct(schema, value, self.PURPOSE)
        fields = []
        for f in schema.fields:
            target = self.casts.get(f.name)
            fields.append(f if target is None else Field(f.name, Schema(target, optional=f.schema.optional)))
        new_schema = dataclasses.replace(schema, fields=tuple(fields))
        updated = {f.name: _cast(value.get(f.name), self.casts[f.name]) if f.name in self.casts
                   else value.get(f.name) for f in schema.fields}
        return self.with_operating(record, new_schema, updated)


# --- ValueToKey ------------------------------------------------------------------------------------

class ValueToKey(Transformation):
    """Replaces the key with a struct (or map) of the listed value fields."""

    PURPOSE = "copying fields from value to key"

    def configure(self, config: dict[str, str]) -> None:
        self.fields = _list(_required(config, "fields", "ValueToKey"))

    def apply(self, record: Any) -> Any:
        if record.value is None:
            return record
        if record.value_schema is None:
            if not isinstance(record.value, dict):
                raise DataError(f"Only Map objects supported in absence of schema for [{self.PURPOSE}], "
                                f"found: {_java_type(record.value)}")
            return _new_record(record, key_schema=None, key={f: record.value.get(f) for f in self.fields})
        fields = []
        for name in self.fields:
            f = record.value_schema.field(name)
            if f is None:
                raise DataError(f"Field does not exist: {name}")
            fields.append((name, f.schema))
        return _new_record(record, key_schema=data.struct(fields),
                           key={name: record.value.get(name) for name in self.fields})


# --- ExtractField ----------------------------------------------------------------------------------

class ExtractField(_KeyOrValue):
    """Replaces the key or value with one of its fields (`field`)."""

    PURPOSE = "field extraction"

    def configure(self, config: dict[str, str]) -> None:
        self.field = _required(config, "field", "ExtractField")

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if schema is None:
            if value is None:
                return record
            return self.with_operating(record, None, self.require_map(value, self.PURPOSE).get(self.field))
        f = schema.field(self.field) if schema.type == "struct" else None
        if f is None:
            raise DataError(f"Unknown field: {self.field}")
        if value is None:
            return self.with_operating(record, f.schema, None)
        return self.with_operating(record, f.schema, self.require_struct(schema, value, self.PURPOSE).get(self.field))


# --- TimestampConverter ----------------------------------------------------------------------------

_TARGETS = {"string": "string", "unix": "unix", "date": "Date", "time": "Time", "timestamp": "Timestamp"}
_UNIX_SCALE = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1, "nanoseconds": None}


class TimestampConverter(_KeyOrValue):
    """Converts a timestamp (the whole value, or `field`) between string (`format`), unix
    (`unix.precision`), Date, Time and Timestamp (`target.type`)."""

    PURPOSE = "converting timestamp formats"

    def configure(self, config: dict[str, str]) -> None:
        target = _required(config, "target.type", "TimestampConverter")
        if target.lower() not in _TARGETS:
            raise ConfigError(f"Unknown timestamp type in TimestampConverter: {target}. Valid values are "
                              "string, unix, Date, Time, Timestamp.")
        self.target = _TARGETS[target.lower()]
        self.field = config.get("field", "")
        self.pattern = config.get("format") or None
        if self.target == "string" and not self.pattern:
            raise ConfigError("TimestampConverter requires format option to be specified when using string "
                              "timestamps")
        self._format = compile_formatter(self.pattern) if self.pattern else None
        self._parse = compile_parser(self.pattern) if self.pattern else None
        precision = config.get("unix.precision") or "milliseconds"
        if precision not in _UNIX_SCALE:
            raise ConfigError(f"Invalid value {precision} for configuration unix.precision")
        self.precision = precision

    def _to_datetime(self, value: Any, schema: Schema | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        if isinstance(value, dt.time):
            return dt.datetime.combine(data.EPOCH_DATE, value, tzinfo=dt.UTC)
        if isinstance(value, str):
            if self._parse is None:
                raise DataError("TimestampConverter requires format option to be specified when using "
                                "string timestamps")
            try:
                return self._parse(value, dt.UTC)
            except Exception as err:  # noqa: BLE001 - the pattern's parse error, reported as Kafka does
                raise DataError(f"Could not parse timestamp: value ({value}) does not match pattern "
                                f"({self.pattern}): {err}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            scale = _UNIX_SCALE[self.precision]
            micros = value // 1000 if scale is None else value * scale
            return data.EPOCH + dt.timedelta(microseconds=micros)
        raise DataError(f"Expected a timestamp (Date/Time/Timestamp, string or unix time) but found "
                        f"{_java_type(value)}")

    def _convert(self, value: Any, schema: Schema | None) -> Any:
        if value is None:
            return None
        moment = self._to_datetime(value, schema)
        if self.target == "string":
            return self._format(moment)
        if self.target == "unix":
            micros = (moment - data.EPOCH) // dt.timedelta(microseconds=1)
            scale = _UNIX_SCALE[self.precision]
            return micros * 1000 if scale is None else micros // scale
        if self.target == "Date":
            return moment.date()
        if self.target == "Time":
            return moment.timetz().replace(tzinfo=None)
        return moment

    def _target_schema(self, optional: bool) -> Schema:
        return {"string": data.primitive("string", optional), "unix": data.primitive("int64", optional),
                "Date": data.date(optional), "Time": data.time(optional),
                "Timestamp": data.timestamp(optional)}[self.target]

    def apply(self, record: Any) -> Any:
        schema, value = self.operating(record)
        if not self.field:
            if value is None:
                return record
            new_schema = None if schema is None else self._target_schema(schema.optional)
            return self.with_operating(record, new_schema, self._convert(value, schema))
        if value is None:
            return record
        if schema is None:
            updated = dict(self.require_map(value, self.PURPOSE))
            updated[self.field] = self._convert(updated.get(self.field), None)
            return self.with_operating(record, None, updated)
        self.require_struct(schema, value, self.PURPOSE)
        f = schema.field(self.field)
        if f is None:
            raise DataError(f"Unknown field: {self.field}")
        new_schema = dataclasses.replace(schema, fields=tuple(
            Field(x.name, self._target_schema(x.schema.optional)) if x.name == self.field else x
            for x in schema.fields))
        updated = dict(value)
        updated[self.field] = self._convert(value.get(self.field), f.schema)
        return self.with_operating(record, new_schema, updated)


# --- RegexRouter and Filter ---------------------------------------------------------------------------

def java_replacement(replacement: str) -> Callable[[re.Match], str]:
    """Java's Matcher replacement string ($1, ${name}, \\$ escapes) as a function of a match."""
    parts: list[Any] = []
    i = 0
    literal: list[str] = []
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement):
            literal.append(replacement[i + 1])
            i += 2
        elif c == "$":
            parts.append("".join(literal))
            literal = []
            if replacement.startswith("{", i + 1):
                end = replacement.index("}", i)
                parts.append(replacement[i + 2:end])
                i = end + 1
            else:
                j = i + 1
                while j < len(replacement) and replacement[j].isdigit():
                    j += 1
                if j == i + 1:
                    raise ConfigError(f"Illegal group reference in replacement: {replacement}")
                parts.append(int(replacement[i + 1:j]))
                i = j
        else:
            literal.append(c)
            i += 1
    parts.append("".join(literal))

    def render(match: re.Match) -> str:
        # parts alternate: literal, group reference, literal, ...
        try:
            return "".join(p if k % 2 == 0 else (match.group(p) or "") for k, p in enumerate(parts))
        except IndexError:
            raise DataError(f"No group {parts[1::2]} in the match for replacement {replacement}") from None
    return render


class RegexRouter(Transformation):
    """Renames the topic when the whole topic name matches `regex`, to `replacement` ($1 ...)."""

    def configure(self, config: dict[str, str]) -> None:
        try:
            self.regex = re.compile(_required(config, "regex", "RegexRouter"))
        except re.error as err:
            raise ConfigError(f"Invalid value {config['regex']} for configuration regex: {err}") from None
        self.replacement = java_replacement(_required(config, "replacement", "RegexRouter"))

    def apply(self, record: Any) -> Any:
        match = self.regex.fullmatch(record.topic)
        if match is None:
            return record
        return _new_record(record, topic=self.replacement(match))


class Filter(Transformation):
    """Drops every record it applies to: with a predicate, the records that match it."""

    def apply(self, record: Any) -> None:
        return None


# --- predicates ----------------------------------------------------------------------------------------

class TopicNameMatches(Predicate):
    """True when the whole topic name matches `pattern`."""

    def configure(self, config: dict[str, str]) -> None:
        try:
            self.pattern = re.compile(_required(config, "pattern", "TopicNameMatches"))
        except re.error as err:
            raise ConfigError(f"Invalid value {config['pattern']} for configuration pattern: {err}") from None

    def test(self, record: Any) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey(Predicate):
    """True when the record has a header called `name`."""

    def configure(self, config: dict[str, str]) -> None:
        self.name = _required(config, "name", "HasHeaderKey")

    def test(self, record: Any) -> bool:
        return any(key == self.name for key, _ in (record.headers or ()))


class RecordIsTombstone(Predicate):
    """True for a record whose value is null."""

    def test(self, record: Any) -> bool:
        return record.value is None


# --- the registry and the chain --------------------------------------------------------------------

def _registry() -> dict[str, type]:
    classes: dict[str, type] = {f"{PACKAGE}.ValueToKey": ValueToKey, f"{PACKAGE}.RegexRouter": RegexRouter,
                                f"{PACKAGE}.Filter": Filter}
    for cls in (InsertField, ReplaceField, MaskField, Cast, ExtractField, TimestampConverter):
        key, value = _with_variants(cls)
        classes[f"{PACKAGE}.{cls.__name__}$Key"] = key
        classes[f"{PACKAGE}.{cls.__name__}$Value"] = value
    for pred in (TopicNameMatches, HasHeaderKey, RecordIsTombstone):
        classes[f"{PACKAGE}.predicates.{pred.__name__}"] = pred
    return classes


TRANSFORMS: dict[str, type] = _registry()


def _lookup(class_name: str, kind: type, where: str) -> type:
    cls = TRANSFORMS.get(class_name.strip())
    if cls is None or not issubclass(cls, kind):
        known = sorted(n for n, c in TRANSFORMS.items() if issubclass(c, kind))
        raise ConfigError(f"Invalid value {class_name} for configuration {where}: Class {class_name} could "
                          f"not be found. Known: {', '.join(known)}")
    return cls


def _sub_config(config: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {k[len(prefix):]: "" if v is None else str(v) for k, v in config.items() if k.startswith(prefix)}


@dataclass(frozen=True)
class TransformStage:
    """One transform of a chain: its alias, class name, and the predicate that guards it."""

    alias: str
    class_name: str
    transform: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, record: Any) -> Any | None:
        """The transformed record (None: dropped); the record unchanged when the predicate says skip."""
        if self.predicate is not None and self.predicate.test(record) == self.negate:
            return record
        return self.transform.apply(record)


class TransformationChain:
    """The transforms of a connector, each guarded by its predicate (negated when `negate=true`)."""

    def __init__(self, stages: list[TransformStage]):
        self.stages = stages

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TransformationChain:
        """The chain named by `transforms` and `predicates` in a connector's config."""
        predicates: dict[str, Predicate] = {}
        for alias in _list(config.get("predicates")):
            sub = _sub_config(config, f"predicates.{alias}.")
            pred_cls = _lookup(_required(sub, "type", f"predicate {alias}"), Predicate, f"predicates.{alias}.type")
            predicates[alias] = pred_cls(sub)
        stages = []
        for alias in _list(config.get("transforms")):
            sub = _sub_config(config, f"transforms.{alias}.")
            class_name = _required(sub, "type", f"transform {alias}").strip()
            t_cls = _lookup(class_name, Transformation, f"transforms.{alias}.type")
            pred_alias = sub.pop("predicate", "") or None
            negate = sub.pop("negate", "false").strip().lower() == "true"
            if pred_alias is not None and pred_alias not in predicates:
                raise ConfigError(f"Invalid value {pred_alias} for configuration transforms.{alias}.predicate: "
                                  "the predicate is not listed in 'predicates'")
            stages.append(TransformStage(alias, class_name, t_cls(sub), predicates.get(pred_alias), negate))
        return cls(stages)

    def apply(self, record: Any) -> Any | None:
        """The record after every transform, or None when one drops it."""
        for stage in self.stages:
            record = stage.apply(record)
            if record is None:
                return None
        return record

    def close(self) -> None:
        for stage in self.stages:
            stage.transform.close()
