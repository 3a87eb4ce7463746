"""The embedded schema registry: subjects, versions, global ids and compatibility, in process.

It keeps what Confluent's Schema Registry keeps, the same way: every change is
a record on a compacted `_schemas` topic of the engine's log (key
{"keytype": "SCHEMA"|"CONFIG", ...}, value the version or config, null to
delete), and the state is rebuilt by replaying that topic on start. On a
durable log the registry therefore survives restarts; on the in-memory log it
lives as long as the log. The topic is only created on the first change, so an
engine that never uses a schema-registry format has no `_schemas` topic.

Ids are global: the same schema registered under two subjects gets one id, as in
Confluent's registry. A schema may be registered with a given id (Confluent's
IMPORT mode), which test fixtures and migrations use.

Staged registrations (`stage`) are schemas declared ahead of use (a test's
topic fixtures): they are registered, in order, the first time their subject is
read or an unknown id is asked for, so ids follow first use, as ksqlDB's test
runner assigns them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import orjson

from ksql.engine.log import Log, Record, TopicConfig
from ksql.engine.log.base import LogError
from ksql.engine.schema_registry.client import (
    DEFAULT_COMPATIBILITY,
    INCOMPATIBLE_SCHEMA,
    OPERATION_NOT_PERMITTED,
    REFERENCE_EXISTS,
    STORE_ERROR,
    SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
    SUBJECT_NOT_SOFT_DELETED,
    VERSION_NOT_SOFT_DELETED,
    RegisteredSchema,
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
    normalize_level,
    parse_version,
    schema_not_found,
    subject_not_found,
    version_not_found,
)
from ksql.engine.schema_registry.schemas import ParsedSchema, compatibility_problems, parse_schema

SCHEMAS_TOPIC = "_schemas"


@dataclass
class _Version:
    version: int
    id: int
    deleted: bool = False


class EmbeddedSchemaRegistry(SchemaRegistryClient):
    """An in-process registry, persisted on a log topic when given a log."""

    def __init__(self, log: Log | None = None, *, topic: str = SCHEMAS_TOPIC,
                 compatibility: str = DEFAULT_COMPATIBILITY):
        self._lock = threading.RLock()
        self._log = log
        self._topic = topic
        self._schemas: dict[int, Schema] = {}
        self._keys: dict[int, tuple] = {}  # id -> identity (type, canonical text, references)
        self._parsed: dict[int, ParsedSchema] = {}
        self._subjects: dict[str, list[_Version]] = {}
        self._config: dict[str | None, str] = {None: normalize_level(compatibility)}
        self._staged: list[list[tuple[str, Schema, int | None]]] = []
        if log is not None and log.topic_exists(topic):
            self._replay()

    # -- persistence ----------------------------------------------------------------------

    def _write(self, key: dict, value: dict | None) -> None:
        """Append one change to the log (when there is one), then apply it."""
        if self._log is not None:
            try:
                if not self._log.topic_exists(self._topic):
                    self._log.create_topic(self._topic, TopicConfig(partitions=1, cleanup_policy="compact"))
                self._log.append(self._topic, 0, [Record(
                    orjson.dumps(key), None if value is None else orjson.dumps(value),
                    int(time.time() * 1000), [])])
            except LogError as err:
                raise SchemaRegistryError(f"Error while writing to the schemas topic: {err}",
                                          status=500, error_code=STORE_ERROR) from None
        self._apply(key, value)

    def _replay(self) -> None:
        assert self._log is not None
        offset = self._log.start_offset(self._topic, 0)
        end = self._log.end_offset(self._topic, 0)
        while offset < end:
            records = self._log.read(self._topic, 0, offset, 1000)
            if not records:
                break
            for rec in records:
                try:
                    key = orjson.loads(rec.key) if rec.key is not None else None
                    value = orjson.loads(rec.value) if rec.value is not None else None
                except orjson.JSONDecodeError:
                    continue  # not a record this registry wrote
                if isinstance(key, dict):
                    self._apply(key, value)
            offset = records[-1].offset + 1

    def _apply(self, key: dict, value: dict | None) -> None:
        kind = key.get("keytype")
        if kind == "SCHEMA":
            subject, version = key["subject"], int(key["version"])
            versions = self._subjects.setdefault(subject, [])
            versions[:] = [v for v in versions if v.version != version]
            if value is not None:
                schema_id = int(value["id"])
                if schema_id not in self._schemas:
                    self._schemas[schema_id] = Schema(
                        value["schema"], value.get("schemaType") or "AVRO",
                        tuple(SchemaReference.from_json(r) for r in value.get("references") or []))
                versions.append(_Version(version, schema_id, bool(value.get("deleted"))))
                versions.sort(key=lambda v: v.version)
            if not versions:
                del self._subjects[subject]
        elif kind == "CONFIG":
            subject = key.get("subject")
            if value is None:
                if subject is not None:
                    self._config.pop(subject, None)
            else:
                self._config[subject] = normalize_level(value.get("compatibilityLevel"))

    def _write_version(self, subject: str, v: _Version) -> None:
        schema = self._schemas[v.id]
        value = {"subject": subject, "version": v.version, "id": v.id, **schema.to_json(),
                 "deleted": v.deleted}
        self._write({"keytype": "SCHEMA", "subject": subject, "version": v.version, "magic": 1}, value)

    # -- staging ----------------------------------------------------------------------------

    def stage(self, entries: list[tuple[str, Schema, int | None]]) -> None:
        """Declare schemas (subject, schema, id or None) to register together when first used.

        A group may hold a schema and the schemas it references (under their own
        subjects): ids go in listed order, registration goes references first.
        Each schema is validated now."""
        with self._lock:
            group = list(entries)
            for _, schema, _ in group:
                parse_schema(schema, self._group_references(schema, group))
            self._staged.append(group)

    def expected_version(self, subject: str, schema: Schema) -> int:
        """The version `schema` has, or will get, under `subject` (for references to staged schemas)."""
        with self._lock:
            for v in self._live(subject):
                if self._schemas[v.id] == schema:
                    return v.version
            ahead = 0
            for group in self._staged:
                for s, staged, _ in group:
                    if s == subject:
                        if staged == schema:
                            return max((v.version for v in self._subjects.get(subject, [])), default=0) + ahead + 1
                        ahead += 1
            return max((v.version for v in self._subjects.get(subject, [])), default=0) + ahead + 1

    def _group_references(self, schema: Schema, group: list[tuple[str, Schema, int | None]]) -> dict[str, Schema]:
        out: dict[str, Schema] = {}

        def walk(s: Schema) -> None:
            for ref in s.references:
                if ref.name in out:
                    continue
                target = next((sch for subj, sch, _ in group if subj == ref.subject), None)
                if target is None:
                    target = self.resolve_references(Schema("", s.schema_type, (ref,)))[ref.name]
                out[ref.name] = target
                walk(target)
        walk(schema)
        return out

    def _existing_id(self, schema: Schema, references: dict[str, Schema]) -> int | None:
        identity = self._identity(schema, parse_schema(schema, references))
        return next((i for i in sorted(self._schemas) if self._key_of(i) == identity), None)

    def _next_id(self, taken: set[int] = frozenset()) -> int:
        """The next free id: after the highest, skipping ids staged registrations asked for."""
        reserved = {i for g in self._staged for _, _, i in g if i is not None} | set(taken)
        candidate = max([*self._schemas, *taken], default=0) + 1
        while candidate in reserved:
            candidate += 1
        return candidate

    def _flush(self, subject: str | None = None) -> None:
        """Register staged groups that mention `subject` (every group when None)."""
        if not self._staged:
            return
        with self._lock:
            while True:
                group = next((g for g in self._staged
                              if subject is None or any(s == subject for s, _, _ in g)), None)
                if group is None:
                    return
                self._staged.remove(group)
                taken = {i for _, _, i in group if i is not None}
                pending = []
                for s, schema, schema_id in group:
                    if schema_id is None:
                        schema_id = self._existing_id(schema, self._group_references(schema, group))
                        if schema_id is None:
                            schema_id = self._next_id(taken)
                        taken.add(schema_id)
                    pending.append((s, schema, schema_id))
                while pending:
                    ready = next((e for e in pending if all(
                        any(v.version == ref.version for v in self._live(ref.subject))
                        for ref in e[1].references)), pending[0])
                    pending.remove(ready)
                    self.register(ready[0], ready[1], schema_id=ready[2])

    # -- schemas ----------------------------------------------------------------------------

    def parsed(self, schema_id: int) -> ParsedSchema:
        """The parsed schema with this id (cached)."""
        with self._lock:
            p = self._parsed.get(schema_id)
            if p is None:
                schema = self.schema_by_id(schema_id)
                p = self._parsed[schema_id] = parse_schema(schema, self.resolve_references(schema))
            return p

    def _identity(self, schema: Schema, parsed: ParsedSchema) -> tuple:
        return (schema.schema_type, parsed.canonical, schema.references)

    def _key_of(self, schema_id: int) -> tuple:
        key = self._keys.get(schema_id)
        if key is None:
            schema = self._schemas[schema_id]
            try:
                key = self._identity(schema, self.parsed(schema_id))
            except SchemaRegistryError:
                key = (schema.schema_type, schema.schema_str, schema.references)
            self._keys[schema_id] = key
        return key

    def _live(self, subject: str) -> list[_Version]:
        return [v for v in self._subjects.get(subject, []) if not v.deleted]

    def register(self, subject: str, schema: Schema, *, schema_id: int | None = None) -> int:
        with self._lock:
            self._flush(subject)
            parsed = parse_schema(schema, self.resolve_references(schema))
            identity = self._identity(schema, parsed)
            live = self._live(subject)
            for v in live:
                if self._key_of(v.id) == identity and schema_id in (None, v.id):
                    return v.id
            if schema_id is not None:
                if not isinstance(schema_id, int) or schema_id < 1:
                    raise SchemaRegistryError(f"Invalid schema id {schema_id}", status=422,
                                              error_code=42205)
                if schema_id in self._schemas and self._key_of(schema_id) != identity:
                    raise SchemaRegistryError(f"Overwrite new schema with id {schema_id} is not permitted.",
                                              status=422, error_code=OPERATION_NOT_PERMITTED)
            level = self.get_compatibility(subject)
            if live and level != "NONE":
                against = live if level.endswith("_TRANSITIVE") else live[-1:]
                problems: list[str] = []
                for v in reversed(against):
                    problems += compatibility_problems(parsed, self.parsed(v.id), level)
                if problems:
                    raise SchemaRegistryError(
                        f"Schema being registered is incompatible with an earlier schema for subject "
                        f"\"{subject}\", details: [{', '.join(problems)}]",
                        status=409, error_code=INCOMPATIBLE_SCHEMA)
            if schema_id is None:
                schema_id = next((i for i in sorted(self._schemas) if self._key_of(i) == identity), None)
            if schema_id is None:
                schema_id = self._next_id()
            if schema_id not in self._schemas:
                self._schemas[schema_id] = schema
                self._parsed[schema_id] = parsed
                self._keys[schema_id] = identity
            all_versions = self._subjects.get(subject, [])
            version = max((v.version for v in all_versions), default=0) + 1
            self._write_version(subject, _Version(version, schema_id))
            return schema_id

    def lookup(self, subject: str, schema: Schema) -> RegisteredSchema:
        with self._lock:
            self._flush(subject)
            if not self._live(subject):
                raise subject_not_found(subject)
            parsed = parse_schema(schema, self.resolve_references(schema))
            identity = self._identity(schema, parsed)
            for v in self._live(subject):
                if self._key_of(v.id) == identity:
                    return RegisteredSchema(v.id, subject, v.version, self._schemas[v.id])
            raise schema_not_found()

    def schema_by_id(self, schema_id: int) -> Schema:
        with self._lock:
            if schema_id not in self._schemas:
                self._flush()
            schema = self._schemas.get(schema_id)
            if schema is None:
                raise schema_not_found(schema_id)
            return schema

    def subjects_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        with self._lock:
            self.schema_by_id(schema_id)
            return [(s, v.version) for s, versions in sorted(self._subjects.items())
                    for v in versions if v.id == schema_id and not v.deleted]

    def subjects(self, *, deleted: bool = False) -> list[str]:
        with self._lock:
            self._flush()
            return sorted(s for s, versions in self._subjects.items()
                          if deleted or any(not v.deleted for v in versions))

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        with self._lock:
            self._flush(subject)
            found = [v.version for v in self._subjects.get(subject, []) if deleted or not v.deleted]
            if not found:
                raise subject_not_found(subject)
            return found

    def version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        number = parse_version(version)
        with self._lock:
            self._flush(subject)
            live = self._live(subject)
            if not live:
                raise subject_not_found(subject)
            if number == -1:
                v = live[-1]
            else:
                v = next((x for x in live if x.version == number), None)
                if v is None:
                    raise version_not_found(number)
            return RegisteredSchema(v.id, subject, v.version, self._schemas[v.id])

    def _check_not_referenced(self, subject: str, versions: list[int]) -> None:
        for vs in self._subjects.values():
            for v in vs:
                if v.deleted:
                    continue
                for ref in self._schemas[v.id].references:
                    if ref.subject == subject and ref.version in versions:
                        raise SchemaRegistryError(
                            f"One or more references exist to the schema {{magic=1,keytype=SCHEMA,"
                            f"subject={subject},version={ref.version}}}.", status=422,
                            error_code=REFERENCE_EXISTS)

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        with self._lock:
            self._flush(subject)
            versions = self._subjects.get(subject, [])
            if not versions:
                raise subject_not_found(subject)
            live = [v for v in versions if not v.deleted]
            if permanent:
                if live:
                    raise SchemaRegistryError(
                        f"Subject '{subject}' was not deleted first before being permanently deleted",
                        status=404, error_code=SUBJECT_NOT_SOFT_DELETED)
                numbers = [v.version for v in versions]
                for v in list(versions):
                    self._write({"keytype": "SCHEMA", "subject": subject, "version": v.version, "magic": 1}, None)
                return numbers
            if not live:
                raise SchemaRegistryError(
                    f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
                    status=404, error_code=40404)
            self._check_not_referenced(subject, [v.version for v in live])
            for v in live:
                self._write_version(subject, _Version(v.version, v.id, True))
            self._config.pop(subject, None)
            return [v.version for v in live]

    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int:
        number = parse_version(version)
        with self._lock:
            self._flush(subject)
            versions = self._subjects.get(subject, [])
            if not versions:
                raise subject_not_found(subject)
            if number == -1:
                live = [v for v in versions if not v.deleted]
                if not live:
                    raise subject_not_found(subject)
                target = live[-1]
            else:
                target = next((v for v in versions if v.version == number), None)
                if target is None:
                    raise version_not_found(number)
            if permanent:
                if not target.deleted:
                    raise SchemaRegistryError(
                        f"Subject '{subject}' Version {target.version} was not deleted first before being "
                        "permanently deleted", status=404, error_code=VERSION_NOT_SOFT_DELETED)
                self._write({"keytype": "SCHEMA", "subject": subject, "version": target.version, "magic": 1},
                            None)
                return target.version
            if target.deleted:
                raise version_not_found(target.version)
            self._check_not_referenced(subject, [target.version])
            self._write_version(subject, _Version(target.version, target.id, True))
            return target.version

    # -- compatibility ----------------------------------------------------------------------

    def compatibility_problems(self, subject: str, schema: Schema, version: int | str = "latest") -> list[str]:
        with self._lock:
            self._flush(subject)
            parsed = parse_schema(schema, self.resolve_references(schema))
            level = self.get_compatibility(subject)
            live = self._live(subject)
            if not live:
                raise subject_not_found(subject)
            if level.endswith("_TRANSITIVE"):
                against = live
            else:
                against = [self._find_live(subject, live, version)]
            problems: list[str] = []
            for v in against:
                problems += compatibility_problems(parsed, self.parsed(v.id), level)
            return problems

    @staticmethod
    def _find_live(subject: str, live: list[_Version], version: int | str) -> _Version:
        number = parse_version(version)
        if number == -1:
            return live[-1]
        for v in live:
            if v.version == number:
                return v
        raise version_not_found(number)

    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        with self._lock:
            if subject is None:
                return self._config[None]
            level = self._config.get(subject)
            if level is None:
                if not default_to_global:
                    raise SchemaRegistryError(
                        f"Subject '{subject}' does not have subject-level compatibility configured",
                        status=404, error_code=SUBJECT_COMPATIBILITY_NOT_CONFIGURED)
                return self._config[None]
            return level

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        level = normalize_level(level)
        with self._lock:
            self._write({"keytype": "CONFIG", "subject": subject, "magic": 0}, {"compatibilityLevel": level})
            return level

    def delete_compatibility(self, subject: str) -> str:
        with self._lock:
            previous = self.get_compatibility(subject, default_to_global=False)
            self._write({"keytype": "CONFIG", "subject": subject, "magic": 0}, None)
            return previous
