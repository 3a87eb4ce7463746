"""The schema registry interface the engine uses, and the values it speaks in.

Two implementations: the embedded store (store.py, the default, kept in the
engine's log) and a client of an external Confluent Schema Registry
(remote.py). Both raise SchemaRegistryError carrying Confluent's HTTP status
and error code, so the REST app (rest.py) can answer exactly as Confluent does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ksql.errors import KsqlError

SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")
COMPATIBILITY_LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
                        "FULL", "FULL_TRANSITIVE")
DEFAULT_COMPATIBILITY = "BACKWARD"

# Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors)
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
OPERATION_NOT_PERMITTED = 42205
REFERENCE_EXISTS = 42206
STORE_ERROR = 50001


class SchemaRegistryError(KsqlError):
    """A registry refusal or failure; `status` is the HTTP status, `error_code` Confluent's code."""

    def __init__(self, message: str, *, status: int = 500, error_code: int = STORE_ERROR):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


def subject_not_found(subject: str) -> SchemaRegistryError:
    return SchemaRegistryError(f"Subject '{subject}' not found.", status=404, error_code=SUBJECT_NOT_FOUND)


def version_not_found(version: object) -> SchemaRegistryError:
    return SchemaRegistryError(f"Version {version} not found.", status=404, error_code=VERSION_NOT_FOUND)


def schema_not_found(schema_id: int | None = None) -> SchemaRegistryError:
    text = "Schema not found" if schema_id is None else f"Schema {schema_id} not found"
    return SchemaRegistryError(text, status=404, error_code=SCHEMA_NOT_FOUND)


def invalid_schema(reason: str) -> SchemaRegistryError:
    return SchemaRegistryError(f"Invalid schema {reason}", status=422, error_code=INVALID_SCHEMA)


def invalid_version(version: object) -> SchemaRegistryError:
    return SchemaRegistryError(
        f"The specified version '{version}' is not a valid version id. Allowed values are between "
        "[1, 2^31-1] and the string \"latest\"", status=422, error_code=INVALID_VERSION)


def invalid_compatibility(level: object) -> SchemaRegistryError:
    return SchemaRegistryError(
        f"Invalid compatibility level: {level}. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
        status=422, error_code=INVALID_COMPATIBILITY_LEVEL)


@dataclass(frozen=True)
class SchemaReference:
    """An import (Protobuf), `$ref` (JSON) or named type (Avro) held under another subject."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict:
        return {"name": self.name, "subject": self.subject, "version": self.version}

    @classmethod
    def from_json(cls, obj: dict) -> SchemaReference:
        try:
            return cls(str(obj["name"]), str(obj["subject"]), int(obj["version"]))
        except (KeyError, TypeError, ValueError):
            raise invalid_schema(f"reference {obj!r}: needs name, subject and version") from None


@dataclass(frozen=True)
class Schema:
    """A schema as registered: its text, type (AVRO, PROTOBUF or JSON) and references."""

    schema_str: str
    schema_type: str = "AVRO"
    references: tuple[SchemaReference, ...] = ()

    def to_json(self) -> dict:
        """Confluent's JSON shape: schemaType and references are left out when default/empty."""
        out: dict = {}
        if self.schema_type != "AVRO":
            out["schemaType"] = self.schema_type
        if self.references:
            out["references"] = [r.to_json() for r in self.references]
        out["schema"] = self.schema_str
        return out

    @classmethod
    def from_json(cls, obj: dict) -> Schema:
        if not isinstance(obj, dict) or not isinstance(obj.get("schema"), str):
            raise invalid_schema("the request needs a 'schema' string")
        schema_type = str(obj.get("schemaType") or "AVRO").upper()
        if schema_type not in SCHEMA_TYPES:
            raise SchemaRegistryError(f"Invalid schema type {obj.get('schemaType')}", status=422,
                                      error_code=INVALID_SCHEMA)
        refs = tuple(SchemaReference.from_json(r) for r in obj.get("references") or [])
        return cls(obj["schema"], schema_type, refs)


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema under a subject: its global id and its version in that subject."""

    id: int
    subject: str
    version: int
    schema: Schema

    def to_json(self) -> dict:
        return {"subject": self.subject, "version": self.version, "id": self.id, **self.schema.to_json()}


class SchemaRegistryClient(ABC):
    """What the engine and the REST app need of a schema registry (Confluent's REST API, as methods)."""

    @abstractmethod
    def register(self, subject: str, schema: Schema, *, schema_id: int | None = None) -> int:
        """Register `schema` under `subject` (or find it there) and return its id.

        `schema_id` asks for a given id (Confluent's IMPORT mode), as test fixtures
        and migrations do. Raises 409 when the subject's compatibility refuses it."""

    @abstractmethod
    def lookup(self, subject: str, schema: Schema) -> RegisteredSchema:
        """The version of `subject` holding this schema; 40401 / 40403 when there is none."""

    @abstractmethod
    def schema_by_id(self, schema_id: int) -> Schema:
        """The schema with this global id; 40403 when unknown."""

    @abstractmethod
    def subjects_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) pairs that hold the schema with this id."""

    @abstractmethod
    def subjects(self, *, deleted: bool = False) -> list[str]: ...

    @abstractmethod
    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        """The subject's versions; 40401 when it has none."""

    @abstractmethod
    def version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        """A version of the subject (an int, or "latest" / -1); 40401 / 40402 when absent."""

    @abstractmethod
    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]: ...

    @abstractmethod
    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int: ...

    @abstractmethod
    def compatibility_problems(self, subject: str, schema: Schema, version: int | str = "latest") -> list[str]:
        """Why `schema` may not be registered under `subject` as its compatibility level says
        (checked against `version`, or every version for transitive levels); [] when it may."""

    @abstractmethod
    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        """The level for `subject` (or the global one); 40408 when the subject has none of its own
        and `default_to_global` is false."""

    @abstractmethod
    def set_compatibility(self, level: str, subject: str | None = None) -> str: ...

    @abstractmethod
    def delete_compatibility(self, subject: str) -> str:
        """Drop a subject-level setting, returning what it was."""

    # -- conveniences ---------------------------------------------------------------------

    def latest(self, subject: str) -> RegisteredSchema:
        return self.version(subject, "latest")

    def subject_exists(self, subject: str) -> bool:
        try:
            self.versions(subject)
            return True
        except SchemaRegistryError as err:
            if err.error_code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
                return False
            raise

    def is_compatible(self, subject: str, schema: Schema, version: int | str = "latest") -> bool:
        return not self.compatibility_problems(subject, schema, version)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (remote client)."""

    def resolve_references(self, schema: Schema) -> dict[str, Schema]:
        """Every schema `schema` references, directly or not, by reference name."""
        out: dict[str, Schema] = {}

        def walk(s: Schema) -> None:
            for ref in s.references:
                if ref.name in out:
                    continue
                try:
                    target = self.version(ref.subject, ref.version).schema
                except SchemaRegistryError:
                    raise invalid_schema(f"reference {ref.name}: {ref.subject} version {ref.version} "
                                         "does not exist") from None
                out[ref.name] = target
                walk(target)
        walk(schema)
        return out

    def parsed(self, schema_id: int):
        """The schema with this id, parsed with its references (a schemas.ParsedSchema; cached)."""
        from ksql.engine.schema_registry.schemas import parse_schema

        cache = self.__dict__.setdefault("_parsed_by_id", {})
        p = cache.get(schema_id)
        if p is None:
            schema = self.schema_by_id(schema_id)
            p = cache[schema_id] = parse_schema(schema, self.resolve_references(schema))
        return p


def normalize_level(level: object) -> str:
    """A compatibility level in upper case; 42203 for anything else."""
    text = str(level or "").strip().upper()
    if text not in COMPATIBILITY_LEVELS:
        raise invalid_compatibility(level)
    return text


def parse_version(version: int | str) -> int:
    """An int version, -1 for "latest"; 42202 for anything else."""
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    else:
        text = str(version).strip()
        if text.lower() == "latest":
            return -1
        try:
            number = int(text)
        except ValueError:
            raise invalid_version(version) from None
    if number == -1:
        return -1
    if not 1 <= number <= 2**31 - 1:
        raise invalid_version(version)
    return number
