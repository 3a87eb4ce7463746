"""The engine: executes statements against the metastore, the log and the running queries.

`Engine.execute(sql)` is the one entry point the TestDriver, the server and the
CLI use. Each statement yields a `StatementResult` whose `entity` has the shape
of ksqlDB's REST entities, so the server can return it as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ksql.connect import statements as connect_statements
from ksql.connect.client import ConnectClient, RestConnectClient
from ksql.connect.runtime import ConnectRuntime
from ksql.engine.codec import RecordEncoder, key_serde, value_serde
from ksql.engine.formats import (
    SourceFormats,
    check_properties,
    resolve_formats,
    with_key_columns,
)
from ksql.engine.inserts import insert_record
from ksql.engine.join import JoinQuery
from ksql.engine.log import COMPACTED_SEGMENT_BYTES, InvalidTopicError, Log, Record, TopicConfig
from ksql.engine.materialization import TableView
from ksql.engine.metastore import DataSource, MetaStore, WindowInfo
from ksql.engine.processing_log import ProcessingLog
from ksql.engine.processing_log import setup as setup_processing_log
from ksql.engine.properties import (
    ACTIVE_QUERY_LIMIT_CONFIG,
    ASSERT_TOPIC_TIMEOUT_CONFIG,
    CREATE_OR_REPLACE_ENABLED_CONFIG,
    FAIL_ON_DESERIALIZATION_ERROR_CONFIG,
    HEADERS_COLUMNS_ENABLED_CONFIG,
    INSERT_INTO_VALUES_ENABLED_CONFIG,
    KSQL_DEFAULTS,
    OUTPUT_TOPIC_PREFIX_CONFIG,
    PERSISTENT_PREFIX_CONFIG,
    PULL_QUERIES_ENABLE_CONFIG,
    SINK_PARTITIONS_CONFIG,
    SINK_REPLICAS_CONFIG,
    SOURCE_TABLE_MATERIALIZATION_CONFIG,
    SUPPRESS_ENABLED_CONFIG,
    expression_options,
    is_enabled,
    long_property,
)
from ksql.engine.pull import PullPlan, PullResult, plan_pull
from ksql.engine.query import PAUSED, RUNNING, TERMINATED, PersistentQuery, PlanInputs
from ksql.engine.schema import (
    HEADER,
    HEADERS,
    KEY,
    ROWTIME,
    VALUE,
    LogicalSchema,
    SchemaColumn,
)
from ksql.engine.schema_inference import assert_schema, sink_formats, source_schema
from ksql.engine.schema_registry import create_registry
from ksql.engine.single_owner import SingleOwner
from ksql.errors import KsqlError
from ksql.functions import FunctionRegistry, default_registry
from ksql.parser import StatementLimits, ast, parse, substitute_variables
from ksql.parser.limits import positive_property, refusing_deep_nesting
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.analysis import HEADERS_TYPE, ProjectionPlan, walk
from ksql.planner.expressions import ExpressionTyper, Scope, compile_projection
from ksql.planner.expressions.options import ExpressionOptions, compiling_with, current_options
from ksql.planner.join import JoinAnalyzer, JoinPlan
from ksql.types import (
    BIGINT,
    BYTES,
    STRING,
    TIMESTAMP,
    ArrayType,
    MapType,
    SqlType,
    StructType,
    can_widen,
    contains_map,
)

log = logging.getLogger("ksql.engine")

VERSION = "0.1.0"
# the most partitions and replicas a topic the engine creates may have (server properties)
MAX_PARTITIONS = "ksql.topic.max.partitions"
MAX_REPLICAS = "ksql.topic.max.replicas"
DEFAULT_MAX_PARTITIONS = 1000
DEFAULT_MAX_REPLICAS = 100
CONNECT_URL = "ksql.connect.url"  # an external Kafka Connect cluster for connector statements
# refusals of statements whose feature flag (ksql.*.enabled) is off (INSERT VALUES': ksqlDB's own words)
INSERT_VALUES_DISABLED_MESSAGE = (
    "The server has disabled INSERT INTO ... VALUES functionality. To enable it, restart your ksqlDB server "
    f"with '{INSERT_INTO_VALUES_ENABLED_CONFIG}'=true")
CREATE_OR_REPLACE_DISABLED_MESSAGE = (
    "CREATE OR REPLACE is disabled on this server. To enable it, set "
    f"'{CREATE_OR_REPLACE_ENABLED_CONFIG}'=true")
HEADERS_DISABLED_MESSAGE = (
    "Cannot create {kind} '{name}' with headers columns: they are disabled on this server. To enable them, set "
    f"'{HEADERS_COLUMNS_ENABLED_CONFIG}'=true")


@dataclass
class StatementResult:
    """What one statement did, as a ksqlDB REST entity (a dict with "@type")."""

    statement: str
    entity: dict[str, Any]
    query_id: str | None = None


# statements that change nothing a pull query's plan depends on (see Engine.changed)
_READ_ONLY_STATEMENTS = (ast.Show, ast.Describe, ast.DescribeFunction, ast.DescribeConnector, ast.Explain,
                         ast.SelectStatement, ast.Print)

@dataclass
class EngineConfig:
    """Engine-level settings; `properties` holds ksqlDB's ksql.* and streams configs."""

    properties: dict[str, Any] = field(default_factory=dict)
    create_missing_topics: bool = False  # the TestDriver creates source topics on demand
    missing_topic_partitions: int = 1  # ... with this many partitions when the statement names none
    service_id: str = "default_"


class Engine:
    """SQL in, streams, tables and persistent queries out."""

    def __init__(self, log_: Log, config: EngineConfig | None = None,
                 registry: FunctionRegistry | None = None):
        self.log = log_
        self.config = config or EngineConfig()
        self.registry = registry or default_registry()
        self.metastore = MetaStore()
        self.queries: dict[str, PersistentQuery] = {}
        # set by a server whose worker processes compute queries: an aggregation they can compute has its
        # state restored by the worker that takes it, not first in this process (PersistentQuery.defer_restore)
        self.restore_where_computed = False
        self.views: dict[str, TableView] = {}  # materialized tables that pull queries read
        self._views_lock = threading.Lock()  # pull queries create views outside any engine-wide lock
        # bumped when a statement that may change what a query plan depends on ends: cached pull
        # plans made at an older generation are stale
        self.generation = 0
        # where AVRO/PROTOBUF/JSON_SR schemas live: embedded in the log, or ksql.schema.registry.url
        self.schema_registry = create_registry(self.config.properties, log_)
        self.session_properties: dict[str, Any] = {}
        self.replaying = False  # True while the command log re-executes statements accepted before
        self.variables: dict[str, str] = {}
        self._sequence = 0
        # limits a client cannot raise: read from the engine's (server's) properties only
        self.statement_limits = StatementLimits.from_properties(self.config.properties)
        self.max_partitions = positive_property(self.config.properties, MAX_PARTITIONS, DEFAULT_MAX_PARTITIONS)
        self.max_replicas = positive_property(self.config.properties, MAX_REPLICAS, DEFAULT_MAX_REPLICAS)
        self.active_query_limit = self._int_prop(
            {ACTIVE_QUERY_LIMIT_CONFIG: KSQL_DEFAULTS[ACTIVE_QUERY_LIMIT_CONFIG], **self.config.properties},
            ACTIVE_QUERY_LIMIT_CONFIG)
        self.processing_log = ProcessingLog.for_engine(self.config.properties, self.config.service_id)
        setup_processing_log(self)
        self._connect: ConnectClient | None = None

    @property
    def connect(self) -> ConnectClient:
        """Where connector statements go: the Kafka Connect cluster at ksql.connect.url, else this
        engine's own connector runtime (created on first use; a server sets its own before replay)."""
        if self._connect is None:
            url = str(self.config.properties.get(CONNECT_URL) or "").strip()
            if url:
                self._connect = RestConnectClient(url)
            else:
                self._connect = ConnectRuntime(self.log, service_id=self.config.service_id,
                                               schema_registry=self.schema_registry)
        return self._connect

    @connect.setter
    def connect(self, client: ConnectClient) -> None:
        self._connect = client

    # -- entry points -----------------------------------------------------------------------

    def execute(self, sql: str, properties: dict[str, Any] | None = None) -> list[StatementResult]:
        """Parse and run every statement in `sql`, in order; stop at the first refusal."""
        return [self.execute_statement(stmt, properties) for stmt in self.prepare(sql)]

    def prepare(self, sql: str, limits: StatementLimits | None = None) -> list[ast.Statement]:
        """Substitute ${variables} (when enabled) and parse, each statement held to `limits`
        (default: the engine's statement limits)."""
        if self._substitution_enabled():
            sql = substitute_variables(sql, self.variables)
        return parse(sql, limits or self.statement_limits)

    @property
    def sequence(self) -> int:
        """The sequence number of the last statement run (its entity's commandSequenceNumber)."""
        return self._sequence

    def _substitution_enabled(self) -> bool:
        value = self.property("ksql.variable.substitution.enable", True)
        return str(value).lower() != "false"

    def property(self, name: str, default: Any = None) -> Any:
        if name in self.session_properties:
            return self.session_properties[name]
        return self.config.properties.get(name, default)

    def all_properties(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**self.config.properties, **self.session_properties, **(overrides or {})}

    def execute_statement(self, stmt: ast.Statement, properties: dict[str, Any] | None = None
                          ) -> StatementResult:
        handler = getattr(self, "_exec_" + type(stmt).__name__, None)
        if handler is None:
            raise KsqlError(f"Statement not supported by the engine: {getattr(stmt, 'text', stmt)}")
        # only statements that succeed advance the sequence, so replaying the accepted statements
        # (the command log) gives every query the same id and so the same committed offsets
        self._sequence += 1
        try:
            with refusing_deep_nesting(), compiling_with(self._expression_options(properties)):
                return handler(stmt, properties or {})
        except BaseException:
            self._sequence -= 1
            raise
        finally:
            if not isinstance(stmt, _READ_ONLY_STATEMENTS):
                self.changed()

    def _expression_options(self, overrides: dict[str, Any] | None) -> ExpressionOptions:
        """The statement's options for its expressions. Replaying the command log accepts lambdas whatever
        ksql.lambdas.enabled is now: ksqlDB's flag only refuses new statements."""
        options = expression_options(self.all_properties(overrides))
        return replace(options, lambdas=True) if self.replaying else options

    def changed(self) -> None:
        """The metastore, properties or variables may have changed: plans made before are stale."""
        self.generation += 1

    def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Let every running query process all it can (deterministic: queries in creation order)."""
        total = 0
        for _ in range(max_rounds):
            progressed = 0
            for query in list(self.queries.values()):
                progressed += query.poll()
            progressed += self.processing_log.flush(self.log)  # queries may read the processing log
            total += progressed
            if not progressed:
                break
        self.catch_up_views()
        self.processing_log.flush(self.log)  # what push queries reported (max_rounds=0 polls no query)
        return total

    def catch_up_views(self) -> None:
        """Apply the tables' new records to their materialized views. Needs no exclusive access to the
        engine (each view has its own lock): a server does it outside its engine lock."""
        for view in list(self.views.values()):
            view.catch_up(wait=False)  # a pull query catching it up right now reads the same records

    def create_internal_source(self, sql: str) -> None:
        """Create a stream or table the server itself defines (the processing log's): not a statement
        of the command log, so it takes no sequence number and shifts no query id."""
        [stmt] = parse(sql)
        assert isinstance(stmt, ast.CreateSource)
        self._exec_CreateSource(stmt, {})

    def table_view(self, source: DataSource) -> TableView:
        """The materialized view of a table, created on first use and then kept current."""
        view = self.views.get(source.name)
        if view is not None and view.source is source:
            return view
        with self._views_lock:  # two pull queries planning at once must not make two views
            view = self.views.get(source.name)
            if view is None or view.source is not source:
                view = TableView(source, self.log)
                self.views[source.name] = view
            return view

    def pull_query(self, sql: str, properties: dict[str, Any] | None = None) -> PullResult:
        """Run a pull query (a SELECT without EMIT) and return its rows.

        `properties` are the request's (e.g. ksql.query.pull.limit.clause.enabled)."""
        return self.plan_pull_query(sql, properties).run()

    def plan_pull_query(self, sql: str, properties: dict[str, Any] | None = None) -> PullPlan:
        """Check and compile a pull query; its `run()` needs no exclusive access to the engine."""
        [stmt] = self.prepare(sql)
        if not isinstance(stmt, ast.SelectStatement):
            raise KsqlError(f"Not a query: {getattr(stmt, 'text', sql)}")
        return self.plan_pull_statement(stmt, properties)

    def plan_pull_statement(self, stmt: ast.SelectStatement, properties: dict[str, Any] | None = None
                            ) -> PullPlan:
        """plan_pull_query of a parsed statement. Reads the metastore without changing it: a server
        plans outside its engine lock (a statement running meanwhile shows its state before or after)."""
        if stmt.query.emit is not None:
            raise KsqlError("Push queries (EMIT CHANGES) stream their rows: use the /query endpoint.")
        if not is_enabled(self.config.properties, PULL_QUERIES_ENABLE_CONFIG):  # the server's: no override
            raise KsqlError("Pull queries are disabled. See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES "
                            f"if you intended to issue a push query.\nPlease set {PULL_QUERIES_ENABLE_CONFIG}=true "
                            "to enable this feature.\n")
        props = self.all_properties(properties)
        if stmt.query.limit is not None and \
                str(props.get("ksql.query.pull.limit.clause.enabled", "true")).lower() == "false":
            raise KsqlError("LIMIT clause in pull queries is currently disabled. You can enable them by setting "
                            "ksql.query.pull.limit.clause.enabled=true. See https://cnfl.io/queries for more "
                            "info.\nAdd EMIT CHANGES if you intended to issue a push query.")
        with refusing_deep_nesting(), compiling_with(expression_options(props)):
            return plan_pull(self, stmt.query, props)

    def close(self) -> None:
        if isinstance(self._connect, ConnectRuntime):
            self._connect.close()
        for q in self.queries.values():
            if isinstance(q, PersistentQuery | SingleOwner):
                q.terminate(drop_state=False)
            else:
                q.state = TERMINATED
        self.queries.clear()
        for view in self.views.values():
            view.close()
        self.views.clear()

    # -- helpers ------------------------------------------------------------------------------

    def _status(self, stmt: ast.Statement, message: str, query_id: str | None = None) -> StatementResult:
        entity = {
            "@type": "currentStatus",
            "statementText": getattr(stmt, "text", ""),
            "commandId": f"{type(stmt).__name__.lower()}/{self._sequence}",
            "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
            "commandSequenceNumber": self._sequence,
            "warnings": [],
        }
        return StatementResult(getattr(stmt, "text", ""), entity, query_id)

    def _next_query_id(self, prefix: str) -> str:
        return f"{prefix}_{self._sequence - 1}"

    def _ensure_topic(self, name: str, partitions: int | None, replicas: int | None = None,
                      create: bool = True, retention_ms: int = -1, cleanup_policy: str = "delete") -> TopicConfig:
        if self.log.topic_exists(name):
            existing = self.log.topic_config(name)
            if partitions is not None and existing.partitions != partitions:
                raise KsqlError(
                    f"A Kafka topic with the name '{name}' already exists, with different partition/replica "
                    f"configuration than required. KSQL expects {partitions} partitions (topic has "
                    f"{existing.partitions}), {replicas or existing.replicas} replication factor (topic has "
                    f"{existing.replicas}).")
            return existing
        if not create:
            raise KsqlError(
                f"Topic '{name}' does not exist. If you want to create a new topic for the stream/table "
                "please re-run the statement providing the required 'PARTITIONS' configuration in the WITH "
                "clause (and optionally 'REPLICAS'). For example: CREATE STREAM FOO (ID INT KEY, NAME "
                "STRING) WITH (KAFKA_TOPIC='foo', PARTITIONS=2, REPLICAS=1, VALUE_FORMAT='JSON');")
        # on the embedded log a compacted topic rolls small segments: the cleaner leaves the active one
        segment_bytes = COMPACTED_SEGMENT_BYTES if "compact" in cleanup_policy and not self.log.distributed else -1
        config = TopicConfig(partitions=partitions or self.config.missing_topic_partitions, replicas=replicas or 1,
                             retention_ms=retention_ms,
                             cleanup_policy=cleanup_policy, segment_bytes=segment_bytes)
        if config.partitions > self.max_partitions:
            raise KsqlError(f"Cannot create topic '{name}' with {config.partitions} partitions: the limit is "
                            f"{self.max_partitions} ({MAX_PARTITIONS}). Give a smaller PARTITIONS in the WITH "
                            "clause.")
        if config.replicas > self.max_replicas:
            raise KsqlError(f"Cannot create topic '{name}' with {config.replicas} replicas: the limit is "
                            f"{self.max_replicas} ({MAX_REPLICAS}). Give a smaller REPLICAS in the WITH clause.")
        try:
            self.log.create_topic(name, config)
        except InvalidTopicError as err:  # a KAFKA_TOPIC the log cannot name: the statement's error
            raise KsqlError(str(err)) from None
        return config

    def _topic_policy(self, props: dict, kind: str, windowed: bool, derived: bool) -> dict[str, Any]:
        """retention_ms and cleanup_policy of a topic the statement creates, as ksqlDB sets them: a
        table's topic is compacted (and, windowed, also deleted by time), a stream's is deleted by
        time; RETENTION_MS sets the time. CLEANUP_POLICY may be given for CREATE STREAM / TABLE only."""
        policy = "delete" if kind == "STREAM" else "compact,delete" if windowed else "compact"
        if "CLEANUP_POLICY" in props:
            if derived:
                raise KsqlError("Invalid config variable in the WITH clause: CLEANUP_POLICY.\nThe CLEANUP_POLICY "
                                "config is automatically inferred based on the type of source (STREAM or TABLE)."
                                "\nUsers can't set the CLEANUP_POLICY config manually.")
            given = str(props["CLEANUP_POLICY"]).strip().lower().replace(" ", "")
            if given not in ("compact", "delete", "compact,delete", "delete,compact"):
                raise KsqlError(f"Invalid value for CLEANUP_POLICY: {props['CLEANUP_POLICY']}. It must be one of "
                                "'compact', 'delete' or 'compact,delete'.")
            policy = given
        retention = self._int_prop(props, "RETENTION_MS")
        if retention is not None and retention < -1:
            raise KsqlError(f"Invalid value for RETENTION_MS: {props['RETENTION_MS']}. It must be a "
                            "non-negative number of milliseconds (or -1 for unlimited).")
        return {"retention_ms": -1 if retention is None else retention, "cleanup_policy": policy}

    @staticmethod
    def _int_prop(props: dict, name: str) -> int | None:
        if name not in props:
            return None
        value = props[name]
        try:
            number = int(str(value))
        except ValueError:
            raise KsqlError(f"Invalid value for {name}: {value}. It must be an integer.") from None
        if number < 1 and name in ("PARTITIONS", "REPLICAS", SINK_PARTITIONS_CONFIG, SINK_REPLICAS_CONFIG):
            raise KsqlError(f"Invalid value for {name}: {value}. It must be a positive integer.")
        return number

    # -- DDL: CREATE STREAM / TABLE ------------------------------------------------------------

    def _build_schema(self, stmt: ast.CreateSource) -> LogicalSchema:
        columns: list[SchemaColumn] = []
        seen: set[str] = set()
        for el in stmt.elements:
            t = self.metastore.resolve_type(el.type)
            if el.name in seen:
                raise KsqlError(f"Duplicate column names: {el.name}")
            seen.add(el.name)
            if el.name in current_options().reserved_column_names():
                raise KsqlError(f"'{el.name}' is a reserved column name. You cannot use it as a name "
                                "for a column.")
            constraint = el.constraint
            if constraint == "KEY" and stmt.kind == "TABLE":
                raise KsqlError(f"Column `{el.name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.")
            if constraint == "PRIMARY KEY" and stmt.kind == "STREAM":
                raise KsqlError(f"Column `{el.name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.")
            if constraint in ("KEY", "PRIMARY KEY"):
                columns.append(SchemaColumn(el.name, t, KEY))
            elif constraint == "HEADERS":
                if t != HEADERS_TYPE:
                    raise KsqlError(f"Invalid type for HEADERS column: expected {HEADERS_TYPE}, got {t}")
                columns.append(SchemaColumn(el.name, t, HEADERS))
            elif constraint == "HEADER":
                if t != BYTES:
                    raise KsqlError(f"Invalid type for HEADER('{el.header_key}') column: expected BYTES, got {t}")
                columns.append(SchemaColumn(el.name, t, HEADER, el.header_key))
            else:
                columns.append(SchemaColumn(el.name, t, VALUE))
        headers = [c for c in columns if c.namespace == HEADERS]
        if len(headers) > 1:
            raise KsqlError("Schema already contains a HEADERS column.")
        schema = LogicalSchema(tuple(columns)).with_key_first()
        return schema

    @staticmethod
    def _check_key_types(schema: LogicalSchema) -> None:
        for c in schema.key:
            if contains_map(c.type):
                raise KsqlError(
                    "Map keys, including types that contain maps, are not supported as they may lead to "
                    f"unexpected behavior due to inconsistent serialization. Key column name: `{c.name}`. "
                    f"Column type: {c.type}. See https://github.com/confluentinc/ksql/issues/6621 for more.")

    def _validate_serdes(self, schema: LogicalSchema, formats: SourceFormats) -> None:
        """Build the serdes once so an unsupported format/schema pair is refused up front."""
        self._check_key_types(schema)
        key_serde(schema, formats.key)
        value_serde(schema, formats.value)

    def _timestamp_settings(self, props: dict, schema: LogicalSchema) -> tuple[str | None, str | None]:
        if "TIMESTAMP" not in props:
            if "TIMESTAMP_FORMAT" in props:
                raise KsqlError("TIMESTAMP_FORMAT requires TIMESTAMP to be set")
            return None, None
        name = str(props["TIMESTAMP"])
        column = schema.find(name) or schema.find(name.upper())
        if column is None:
            raise KsqlError(f"The TIMESTAMP column set in the WITH clause does not exist in the schema: "
                            f"'{name.upper()}'")
        fmt = props.get("TIMESTAMP_FORMAT")
        if fmt is not None:
            if column.type != STRING:
                raise KsqlError(f"Timestamp column, `{column.name}`, should be of type STRING when "
                                "TIMESTAMP_FORMAT is set.")
            from ksql.timeformat import compile_parser
            try:
                compile_parser(str(fmt))
            except KsqlError as err:
                raise KsqlError(f"Invalid TIMESTAMP_FORMAT: {err}") from None
        elif column.type not in (BIGINT, TIMESTAMP):
            raise KsqlError(f"Timestamp column, `{column.name}`, should be LONG(INT64), TIMESTAMP, or a "
                            "String with a timestamp_format specified.")
        return column.name, (str(fmt) if fmt is not None else None)

    @staticmethod
    def _window_info(props: dict) -> WindowInfo | None:
        if "WINDOW_TYPE" not in props:
            return None
        kind = str(props["WINDOW_TYPE"]).upper()
        if kind not in ("TUMBLING", "HOPPING", "SESSION"):
            raise KsqlError(f"Invalid WINDOW_TYPE: {kind}. Valid values: SESSION, HOPPING, TUMBLING")
        size = None
        if kind != "SESSION":
            if "WINDOW_SIZE" not in props:
                raise KsqlError(f"{kind} windows require 'WINDOW_SIZE' to be provided in the WITH clause. "
                                "For example: 'WINDOW_SIZE'='10 SECONDS'")
            size = parse_duration_text(str(props["WINDOW_SIZE"]))
        elif "WINDOW_SIZE" in props:
            raise KsqlError("'WINDOW_SIZE' should not be set for SESSION windows.")
        return WindowInfo(kind, size)

    def _check_replace(self, name: str, kind: str, or_replace: bool, is_source: bool,
                       props: dict[str, Any]) -> DataSource | None:
        """The source CREATE [OR REPLACE] replaces, if any; refuses what may not be replaced. A statement
        of the command log replays whatever ksql.create.or.replace.enabled is now."""
        if or_replace and not self.replaying and not is_enabled(props, CREATE_OR_REPLACE_ENABLED_CONFIG):
            raise KsqlError(CREATE_OR_REPLACE_DISABLED_MESSAGE)
        existing = self.metastore.get(name)
        if is_source and or_replace:
            raise KsqlError(f"Cannot add {kind.lower()} '{name}': CREATE OR REPLACE is not supported on "
                            f"source {kind.lower()}s.")
        if existing is not None:
            if existing.is_source and or_replace:
                raise KsqlError(f"Cannot add {kind.lower()} '{name}': CREATE OR REPLACE is not supported on "
                                f"source {existing.kind.lower()}s.")
            if not or_replace:
                raise KsqlError(f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the "
                                "same name already exists")
            if existing.kind != kind:
                raise KsqlError(f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the "
                                "same name already exists")
        return existing

    def _check_headers_enabled(self, stmt: ast.CreateSource, props: dict[str, Any]) -> None:
        """Refuse HEADERS / HEADER('k') columns when ksql.headers.columns.enabled is false; sources the
        command log holds keep theirs (ksqlDB replays them whatever the flag is now)."""
        if self.replaying or is_enabled(props, HEADERS_COLUMNS_ENABLED_CONFIG):
            return
        if any(el.constraint in ("HEADERS", "HEADER") for el in stmt.elements):
            raise KsqlError(HEADERS_DISABLED_MESSAGE.format(kind=stmt.kind.lower(), name=stmt.name))

    def _exec_CreateSource(self, stmt: ast.CreateSource, overrides: dict) -> StatementResult:
        props = stmt.properties
        check_properties(props)
        if stmt.if_not_exists and self.metastore.get(stmt.name) is not None:
            return self._status(stmt, f"Cannot add {stmt.kind.lower()} '{stmt.name}': "
                                f"A {stmt.kind.lower()} with the same name already exists")
        all_props = self.all_properties(overrides)
        self._check_replace(stmt.name, stmt.kind, stmt.or_replace, stmt.is_source, all_props)
        self._check_headers_enabled(stmt, all_props)
        if "KEY_SCHEMA_ID" in props and stmt.elements and any(
                e.constraint in ("KEY", "PRIMARY KEY") for e in stmt.elements):
            raise KsqlError("Table elements and KEY_SCHEMA_ID cannot both exist for create statement.")
        if "VALUE_SCHEMA_ID" in props and any(
                e.constraint not in ("KEY", "PRIMARY KEY") for e in stmt.elements):
            raise KsqlError("Table elements and VALUE_SCHEMA_ID cannot both exist for create statement.")
        schema = self._build_schema(stmt)
        self._check_key_types(schema)  # before any serde (a registry format's own MAP rule) sees the key
        formats = resolve_formats(props, all_props, has_key_columns=bool(schema.key))
        for side, fmt in (("KEY", formats.declared_key), ("VALUE", formats.value)):
            if f"{side}_SCHEMA_ID" in props and fmt.name in ("KAFKA", "DELIMITED", "JSON", "NONE"):
                raise KsqlError(f"{side}_FORMAT should support schema inference when {side}_SCHEMA_ID is "
                                f"provided. Current format is {fmt.name}.")
        schema, formats = source_schema(self, stmt, schema, formats, all_props)  # registry, inference
        if stmt.kind == "TABLE" and not schema.key:
            raise KsqlError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
        window = self._window_info(props)
        if window is not None and not schema.key:
            raise KsqlError("Windowed sources require a key column.")
        self._validate_serdes(schema, formats)
        ts_col, ts_fmt = self._timestamp_settings(props, schema)
        if "KAFKA_TOPIC" not in props:
            raise KsqlError(f"Missing required property \"KAFKA_TOPIC\" for CREATE {stmt.kind}")
        topic = str(props["KAFKA_TOPIC"])
        partitions = self._int_prop(props, "PARTITIONS")
        self._ensure_topic(topic, partitions, self._int_prop(props, "REPLICAS"),
                           create=partitions is not None or self.config.create_missing_topics,
                           **self._topic_policy(props, stmt.kind, window is not None, derived=False))
        source = DataSource(
            name=stmt.name, kind=stmt.kind, schema=schema, topic=topic, formats=formats,
            timestamp_column=ts_col, timestamp_format=ts_fmt, window=window,
            is_source=stmt.is_source, sql=stmt.text,
            materialized=not stmt.is_source or is_enabled(all_props, SOURCE_TABLE_MATERIALIZATION_CONFIG))
        existing = self.metastore.get(stmt.name)
        if existing is not None:
            source.reader_query_ids = existing.reader_query_ids
            source.writer_query_ids = existing.writer_query_ids
        self.metastore.sources[stmt.name] = source
        noun = "Stream" if stmt.kind == "STREAM" else "Table"
        return self._status(stmt, f"{noun} created")

    # -- CREATE ... AS SELECT, INSERT INTO ... SELECT ----------------------------------------

    def plan_query(self, query: ast.Query, sink_name: str, kind: str, transient: bool = False,
                   overrides: dict[str, Any] | None = None) -> ProjectionPlan | AggregatePlan | JoinPlan:
        """Plan a persistent query's SELECT: a projection, or an aggregation when it groups. A
        `transient` one (EXPLAIN of a push query) need not project the source's key columns.
        The request's `overrides` win over the session's and the server's properties (function configs)."""
        return self._plan_query(query, sink_name, kind, transient, overrides)[0]

    def _plan_query(self, query: ast.Query, sink_name: str, kind: str, transient: bool = False,
                    overrides: dict[str, Any] | None = None
                    ) -> tuple[ProjectionPlan | AggregatePlan | JoinPlan, PlanInputs | None]:
        """plan_query(), with what planning took (None for a join), from which a worker process
        compiles the same plan."""
        props = self.all_properties(overrides)
        if query.limit is not None:
            noun = "STREAM" if kind == "STREAM" else "TABLE"
            raise KsqlError(f"CREATE {noun} AS SELECT statements don't support LIMIT clause.")
        if query.emit == "FINAL" and not self.replaying and not is_enabled(props, SUPPRESS_ENABLED_CONFIG):
            raise KsqlError(f"Suppression is currently disabled. You can enable it by setting "
                            f"{SUPPRESS_ENABLED_CONFIG} to true")
        relation = query.from_
        if isinstance(relation, ast.Join):
            plan = JoinAnalyzer(self.metastore, self.registry, props).analyze(query, sink_name)
            self._check_copartitioned(plan)
            return plan, None
        source = self.metastore.get(relation.name)
        if source is None:
            raise KsqlError(f"{relation.name} does not exist." + self.metastore.case_hint(relation.name))
        if source.kind == "TABLE" and source.window is not None:
            raise KsqlError("KSQL does not support persistent queries on windowed tables.")
        aggregating = bool(query.group_by or query.window is not None or self._has_aggregates(query))
        if aggregating:
            self._refuse_table_functions(query)
        elif query.having is not None:
            raise KsqlError("HAVING requires a GROUP BY clause.")
        elif query.emit == "FINAL":
            raise KsqlError("EMIT FINAL is only supported for windowed aggregations.")
        if transient:
            props["ksql.new.query.planner.enabled"] = "true"
        inputs = PlanInputs(query, source, sink_name, aggregating, props)
        return inputs.plan(self.registry), inputs

    def _check_copartitioned(self, plan: JoinPlan) -> None:
        """Key-to-key joins need sources with equal partition counts, as ksqlDB requires."""
        by_alias = {leaf.alias: leaf.source for leaf in plan.leaves}
        for step in plan.steps:
            a, b = step.left_key, step.right_key
            if not (isinstance(a, ast.ColumnRef) and isinstance(b, ast.ColumnRef)):
                continue
            left, right = by_alias[a.source], by_alias[b.source]
            if [c.name for c in left.schema.key] != [a.name] or [c.name for c in right.schema.key] != [b.name]:
                continue
            lp = self.log.topic_config(left.topic).partitions
            rp = self.log.topic_config(right.topic).partitions
            if lp != rp:
                raise KsqlError(f"Can't join `{left.name}` with `{right.name}` since the number of partitions "
                                f"don't match. `{left.name}` partitions = {lp}; `{right.name}` partitions = "
                                f"{rp}. Please repartition either one so that the number of partitions match.")

    def _has_aggregates(self, query: ast.Query) -> bool:
        exprs = [i.expr for i in query.select if isinstance(i, ast.SelectItem)]
        return any(self.registry.is_aggregate(call.name) for e in exprs for call in _function_calls(e))

    def _refuse_table_functions(self, query: ast.Query) -> None:
        for item in query.select:
            if isinstance(item, ast.SelectItem):
                for call in _function_calls(item.expr):
                    if self.registry.is_table_function(call.name):
                        raise KsqlError("Table functions cannot be used with aggregations.")

    def _exec_CreateAsSelect(self, stmt: ast.CreateAsSelect, overrides: dict) -> StatementResult:
        props = stmt.properties
        check_properties(props)
        if stmt.if_not_exists and self.metastore.get(stmt.name) is not None:
            return self._status(stmt, f"Cannot add {stmt.kind.lower()} '{stmt.name}': "
                                f"A {stmt.kind.lower()} with the same name already exists")
        existing = self._check_replace(stmt.name, stmt.kind, stmt.or_replace, False,
                                       self.all_properties(overrides))
        plan, inputs = self._plan_query(stmt.query, stmt.name, stmt.kind, overrides=overrides)
        source = plan.source
        produces = "TABLE" if isinstance(plan, AggregatePlan) else \
            plan.kind if isinstance(plan, JoinPlan) else source.kind
        if produces == "STREAM" and stmt.kind == "TABLE":
            raise KsqlError("Invalid result type. Your SELECT query produces a STREAM. Please use CREATE "
                            "STREAM AS SELECT statement instead.")
        if produces == "TABLE" and stmt.kind == "STREAM":
            raise KsqlError("Invalid result type. Your SELECT query produces a TABLE. Please use CREATE "
                            "TABLE AS SELECT statement instead.")
        all_props = self.all_properties(overrides)
        formats = resolve_formats(props, all_props, has_key_columns=bool(plan.schema.key),
                                  inherit=source.formats)
        if "FORMAT" not in props and "KEY_FORMAT" not in props and not source.schema.key and plan.schema.key:
            formats = with_key_columns(formats, True)
        if isinstance(plan, AggregatePlan) and formats.value.name in ("DELIMITED", "KAFKA") and \
                any(c.spec.intermediate_is_complex for c in plan.aggregates):
            raise KsqlError("One of the functions used in the statement has an intermediate type that the value "
                            "format can not handle. Please remove the function or change the format.")
        self._validate_serdes(plan.schema, formats)
        ts_col, ts_fmt = self._timestamp_settings(props, plan.schema)
        topic = str(props["KAFKA_TOPIC"]) if "KAFKA_TOPIC" in props else \
            str(all_props.get(OUTPUT_TOPIC_PREFIX_CONFIG) or "") + stmt.name
        self._check_query_capacity(replacing=existing.writer_query_ids if existing else set())
        formats = sink_formats(self, props, plan.schema, formats, topic, all_props)  # registry, schema ids
        source_config = self.log.topic_config(source.topic)
        # WITH's PARTITIONS/REPLICAS, else the legacy ksql.sink.* configs, else the source topic's counts
        legacy_partitions = self._int_prop(all_props, SINK_PARTITIONS_CONFIG)
        legacy_replicas = self._int_prop(all_props, SINK_REPLICAS_CONFIG)
        partitions = self._int_prop(props, "PARTITIONS") or legacy_partitions or source_config.partitions
        replicas = self._int_prop(props, "REPLICAS") or legacy_replicas or source_config.replicas
        sink = DataSource(
            name=stmt.name, kind=stmt.kind, schema=plan.schema, topic=topic, formats=formats,
            timestamp_column=ts_col, timestamp_format=ts_fmt, window=_sink_window(plan), sql=stmt.text)
        if existing is not None:
            for qid in list(existing.writer_query_ids):
                self._terminate(qid)
        explicit_partitions = "PARTITIONS" in props or legacy_partitions is not None
        self._ensure_topic(topic, partitions if explicit_partitions or not self.log.topic_exists(topic)
                           else None, replicas,
                           **self._topic_policy(props, stmt.kind, sink.window is not None, derived=True))
        prefix = "CSAS" if stmt.kind == "STREAM" else "CTAS"
        query_id = self._next_query_id(f"{prefix}_{stmt.name}")
        self.metastore.sources[stmt.name] = sink
        self._start_query(query_id, stmt.text, plan, sink, overrides, inputs)
        return self._status(stmt, f"Created query with ID {query_id}", query_id)

    def _check_query_capacity(self, replacing: set[str]) -> None:
        """Refuse a persistent query beyond `ksql.query.persistent.active.limit`: the server's setting, which
        ksqlDB counts among the properties a client cannot override. Not when replaying the command log:
        queries accepted once come back whatever the limit is now."""
        if self.replaying:
            return
        limit = self.active_query_limit
        count = len(set(self.queries) - replacing) + 1
        if count > limit:
            raise KsqlError(
                "Not executing statement(s) as it would cause the number of active, persistent queries to "
                "exceed the configured limit. Use the TERMINATE command to terminate existing queries, or "
                f"increase the '{ACTIVE_QUERY_LIMIT_CONFIG}' setting via the 'ksql-server.properties' file. "
                f"Current persistent query count: {count}. Configured limit: {limit}.")

    def _start_query(self, query_id: str, sql: str, plan: ProjectionPlan | AggregatePlan | JoinPlan,
                     sink: DataSource, overrides: dict, inputs: PlanInputs | None = None) -> PersistentQuery:
        """Start a persistent query; the request's properties win over the session's and the server's."""
        props = self.all_properties(overrides)
        earliest = str(props.get("auto.offset.reset",
                                 props.get("ksql.streams.auto.offset.reset", "latest"))).lower()
        throw = str(props.get("ksql.timestamp.throw.on.invalid", "false")).lower() == "true"
        fail_on_bad_records = str(props.get(FAIL_ON_DESERIALIZATION_ERROR_CONFIG, "false")).lower() == "true"
        prefix = str(props.get(PERSISTENT_PREFIX_CONFIG, KSQL_DEFAULTS[PERSISTENT_PREFIX_CONFIG]))
        if isinstance(plan, JoinPlan):
            options = current_options()  # a server of a cluster may build the query later (SingleOwner)

            def join_query() -> JoinQuery:
                with compiling_with(options):
                    return JoinQuery(query_id, sql, plan, sink, self.log, earliest=earliest == "earliest",
                                     throw_on_invalid_timestamp=throw,
                                     fail_on_deserialization_error=fail_on_bad_records,
                                     service_id=self.config.service_id, query_prefix=prefix,
                                     processing_log=self.processing_log)

            query = join_query()
            if self.log.distributed:  # its state spans all partitions: one server of a cluster runs it
                topic = plan.leaves[0].source.topic
                query = SingleOwner(query, join_query, self.log.join_group(query.group, [topic]), topic)
            for leaf in plan.leaves:
                leaf.source.reader_query_ids.add(query_id)
        else:
            query = PersistentQuery(query_id, sql, plan, sink, self.log, earliest=earliest == "earliest",
                                    throw_on_invalid_timestamp=throw, fail_on_deserialization_error=fail_on_bad_records,
                                    service_id=self.config.service_id, query_prefix=prefix,
                                    processing_log=self.processing_log, plan_inputs=inputs,
                                    defer_restore=self.restore_where_computed)
            plan.source.reader_query_ids.add(query_id)
        self.queries[query_id] = query
        sink.writer_query_ids.add(query_id)
        return query

    def _exec_InsertInto(self, stmt: ast.InsertInto, overrides: dict) -> StatementResult:
        check_properties(stmt.properties, {"QUERY_ID"})
        target = self.metastore.get(stmt.target)
        if target is None:
            raise KsqlError(f"Source `{stmt.target}` does not exist.")
        if target.kind != "STREAM":
            raise KsqlError(f"INSERT INTO can only be used to insert into a stream. {target.name} is a table.")
        if target.is_source:
            raise KsqlError(f"Cannot insert into read-only stream: {target.name}")
        if any(c.is_header for c in target.schema.columns):
            raise KsqlError(f"Cannot insert into {target.name} because it has header columns")
        plan, inputs = self._plan_query(stmt.query, stmt.target, "STREAM", overrides=overrides)
        if plan.source.kind != "STREAM" or isinstance(plan, AggregatePlan):
            raise KsqlError(f"INSERT INTO can only be used to insert into a stream. {target.name} is a table.")
        result_schema, sink_schema = plan.schema, target.schema
        results, sinks = result_schema.key + result_schema.value, sink_schema.key + sink_schema.value
        compatible = len(results) == len(sinks) and all(
            a.name == b.name and a.is_key == b.is_key and _insert_compatible(a.type, b.type)
            for a, b in zip(results, sinks, strict=True))
        if not compatible:
            raise KsqlError(f"Incompatible schema between results and sink. Result schema is {result_schema} "
                            f"Sink schema is {sink_schema}")
        if any(a.type != b.type for a, b in zip(results, sinks, strict=True)):
            plan = _widened(plan, sink_schema)
        self._check_query_capacity(replacing=set())
        query_id = str(stmt.properties.get("QUERY_ID") or self._next_query_id("INSERTQUERY"))
        sink = DataSource(
            name=target.name, kind=target.kind, schema=target.schema, topic=target.topic,
            formats=target.formats, timestamp_column=target.timestamp_column,
            timestamp_format=target.timestamp_format, window=target.window, sql=target.sql)
        query = self._start_query(query_id, stmt.text, plan, sink, overrides, inputs)
        target.writer_query_ids.add(query.query_id)
        return self._status(stmt, f"Created query with ID {query_id}", query_id)

    # -- INSERT VALUES --------------------------------------------------------------------------

    def _exec_InsertValues(self, stmt: ast.InsertValues, overrides: dict) -> StatementResult:
        topic, partition, record = self._insert_record(stmt, overrides)
        self.log.append(topic, partition, [record])
        return self._status(stmt, "Inserted 1 row")

    def prepare_insert(self, stmt: ast.InsertValues, overrides: dict[str, Any] | None = None
                       ) -> tuple[str, int, Record]:
        """INSERT VALUES up to its append: (topic, partition, record) for the caller to append, so a
        server can append many writers' rows at once. Counts as a statement run (it advances the
        sequence as execute_statement does); raises KsqlError for a refused row. `overrides` are the
        request's properties."""
        self._sequence += 1
        try:
            with refusing_deep_nesting(), compiling_with(expression_options(self.all_properties(overrides))):
                return self._insert_record(stmt, overrides or {})
        except BaseException:
            self._sequence -= 1
            raise

    def _insert_record(self, stmt: ast.InsertValues, overrides: dict) -> tuple[str, int, Record]:
        """The record an INSERT VALUES writes, with its topic and partition (KsqlError if refused)."""
        if not is_enabled(self.all_properties(overrides), INSERT_INTO_VALUES_ENABLED_CONFIG):
            raise KsqlError(INSERT_VALUES_DISABLED_MESSAGE)
        target = self.metastore.get(stmt.target)
        if target is None:
            raise KsqlError(f"Cannot insert values into an unknown stream/table: `{stmt.target}`"
                            + self.metastore.case_hint(stmt.target))
        if target.is_source:
            raise KsqlError(f"Cannot insert values into read-only {target.kind.lower()}: {target.name}")
        schema = target.schema
        insertable = [c for c in schema.key + schema.value if not c.is_header]
        if stmt.columns is None:
            names = [c.name for c in insertable]
            if len(stmt.values) != len(names):
                raise KsqlError(f"Expected a value for each column. Expected Columns: {names}. "
                                f"Got {[_sql(v) for v in stmt.values]}")
        else:
            names = list(stmt.columns)
            if len(names) != len(stmt.values):
                raise KsqlError(f"Expected number columns and values to match: {names}, "
                                f"{[_sql(v) for v in stmt.values]}")
        by_name = {c.name: c for c in schema.key + schema.value}
        values: dict[str, Any] = {}
        for name, expr in zip(names, stmt.values, strict=True):
            if name == ROWTIME:
                values[ROWTIME] = self._constant(expr, BIGINT, name)
                continue
            column = by_name.get(name)
            if column is None:
                raise KsqlError(f"Column name {name} does not exist.")
            if column.is_header:
                raise KsqlError(f"Cannot insert into HEADER columns: {name}")
            values[name] = self._constant(expr, column.type, name)
        sink_topic_config = self.log.topic_config(target.topic)
        encoder = RecordEncoder(target, sink_topic_config.partitions, "INSERT")
        key = [values.get(c.name) for c in schema.key]
        value = [values.get(c.name) for c in schema.value]
        ts = values.get(ROWTIME)
        if ts is None:
            ts = int(time.time() * 1000)
        partition, record = insert_record(target, encoder, key, value, ts)
        return target.topic, partition, record

    def _constant(self, expr: ast.Expr, target: SqlType, column: str) -> Any:
        """Evaluate a VALUES expression and coerce it to the column type."""
        scope = Scope([])
        typer = ExpressionTyper(scope, self.registry)
        try:
            t = typer.type_of(expr)
        except KsqlError as err:
            raise KsqlError(f"Failed to insert values: {err}") from None
        if t.base != "NULL" and t != target and not can_widen(t, target) and not _fits_struct(t, target):
            raise KsqlError(f"Expected type {target} for field {column} but got {_sql(expr)}({t})")
        plain = t == target or _fits_struct(t, target)  # an untyped NULL takes the column type (CAST)
        fn = compile_projection(None, [expr if plain else ast.Cast(expr, target)], scope, self.registry, _raise)
        result = fn(())
        value = None if result is None else result[0]
        return _as_struct(value, target) if _fits_struct(t, target) and t != target else value

    # -- DROP, TYPES, TERMINATE -----------------------------------------------------------------

    def _exec_DropSource(self, stmt: ast.DropSource, overrides: dict) -> StatementResult:
        source = self.metastore.get(stmt.name)
        if source is None:
            if stmt.if_exists:
                return self._status(stmt, f"Source `{stmt.name}` does not exist.")
            raise KsqlError(f"Source {stmt.name} does not exist.")
        if source.kind != stmt.kind:
            raise KsqlError(f"Incompatible data source type is {source.kind}, but statement was DROP {stmt.kind}")
        if stmt.delete_topic and source.is_source:
            raise KsqlError(f"Cannot delete topic for read-only source: {source.name}")
        readers = sorted(q for q in source.reader_query_ids if q in self.queries)
        if readers:
            sinks = sorted({self.queries[q].sink.name for q in readers})
            raise KsqlError(f"Cannot drop {source.name}.\nThe following streams and/or tables read from "
                            f"this source: [{', '.join(sinks)}].\nYou need to drop them before dropping "
                            f"{source.name}.")
        for qid in list(source.writer_query_ids):
            self._terminate(qid)
        del self.metastore.sources[stmt.name]
        if stmt.delete_topic and self.log.topic_exists(source.topic):
            self.log.delete_topic(source.topic)
        return self._status(stmt, f"Source `{stmt.name}` (topic: {source.topic}) was dropped.")

    def _terminate(self, query_id: str) -> None:
        query = self.queries.pop(query_id, None)
        if query is None:
            raise KsqlError(f"Unknown queryId: {query_id}")
        if isinstance(query, PersistentQuery | SingleOwner | JoinQuery):
            query.terminate()
        else:
            query.state = TERMINATED
        for source in self.metastore.sources.values():
            source.writer_query_ids.discard(query_id)
            source.reader_query_ids.discard(query_id)

    def _exec_Terminate(self, stmt: ast.Terminate, overrides: dict) -> StatementResult:
        ids = list(self.queries) if stmt.query_id is None else [stmt.query_id]
        for qid in ids:
            if qid not in self.queries and qid.upper() in self.queries:
                qid = qid.upper()
            self._terminate(qid)
        return self._status(stmt, "Query terminated.")

    def _exec_PauseResume(self, stmt: ast.PauseResume, overrides: dict) -> StatementResult:
        ids = list(self.queries) if stmt.query_id is None else [stmt.query_id]
        for qid in ids:
            query = self.queries.get(qid) or self.queries.get(qid.upper())
            if query is None:
                raise KsqlError(f"Unknown queryId: {qid}")
            query.state = PAUSED if stmt.action == "PAUSE" else RUNNING
        return self._status(stmt, f"Query {stmt.action.lower()}d.")

    def _exec_CreateType(self, stmt: ast.CreateType, overrides: dict) -> StatementResult:
        existing = self.metastore.types.get(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                return self._status(stmt, f"Type {stmt.name} already exists")
            raise KsqlError(f"Cannot register custom type '{stmt.name}' since it is already registered "
                            f"with type: {existing}")
        self.metastore.types[stmt.name] = self.metastore.resolve_type(stmt.type)
        return self._status(stmt, "Created type")

    def _exec_DropType(self, stmt: ast.DropType, overrides: dict) -> StatementResult:
        if stmt.name not in self.metastore.types:
            if stmt.if_exists:
                return self._status(stmt, f"Type {stmt.name} does not exist")
            raise KsqlError(f"Type {stmt.name} does not exist.")
        del self.metastore.types[stmt.name]
        return self._status(stmt, "Dropped type")

    def _exec_AlterSource(self, stmt: ast.AlterSource, overrides: dict) -> StatementResult:
        source = self.metastore.get(stmt.name)
        if source is None:
            raise KsqlError(f"Source {stmt.name} does not exist.")
        if source.is_source:
            raise KsqlError(f"Cannot alter {source.kind.lower()} '{source.name}': ALTER operations are not "
                            f"supported on source {source.kind.lower()}s.")
        if source.writer_query_ids:
            raise KsqlError("ALTER command is not supported for CREATE ... AS statements.")
        columns = list(source.schema.columns)
        for el in stmt.columns:
            if source.schema.find(el.name) is not None or any(c.name == el.name for c in columns):
                raise KsqlError(f"Cannot add column `{el.name}` to schema. A column with the same name "
                                "already exists.")
            columns.append(SchemaColumn(el.name, self.metastore.resolve_type(el.type), VALUE))
        schema = LogicalSchema(tuple(columns))
        self._validate_serdes(schema, source.formats)
        source.schema = schema
        return self._status(stmt, f"{source.kind.capitalize()} {source.name} altered.")

    # -- properties and variables ----------------------------------------------------------------

    def _exec_SetProperty(self, stmt: ast.SetProperty, overrides: dict) -> StatementResult:
        self.session_properties[stmt.name] = stmt.value
        return self._status(stmt, f"Successfully set property {stmt.name} to {stmt.value}")

    def _exec_UnsetProperty(self, stmt: ast.UnsetProperty, overrides: dict) -> StatementResult:
        self.session_properties.pop(stmt.name, None)
        return self._status(stmt, f"Successfully unset property {stmt.name}")

    def _exec_DefineVariable(self, stmt: ast.DefineVariable, overrides: dict) -> StatementResult:
        self.variables[stmt.name] = stmt.value
        return self._status(stmt, f"Defined variable {stmt.name}")

    def _exec_UndefineVariable(self, stmt: ast.UndefineVariable, overrides: dict) -> StatementResult:
        if self.variables.pop(stmt.name, None) is None:
            raise KsqlError(f"Cannot undefine variable '{stmt.name}' which was never defined")
        return self._status(stmt, f"Undefined variable {stmt.name}")

    def _exec_SelectStatement(self, stmt: ast.SelectStatement, overrides: dict) -> StatementResult:
        raise KsqlError("The following statement types should be issued to the websocket endpoint "
                        "'/query': * PRINT * SELECT")

    def _exec_RunScript(self, stmt: ast.RunScript, overrides: dict) -> StatementResult:
        raise KsqlError("RUN SCRIPT is a client command: run it from the ksql CLI, which sends the "
                        "script's statements to the server.")

    # -- ASSERT -----------------------------------------------------------------------------------

    def _exec_AssertTopic(self, stmt: ast.AssertTopic, overrides: dict) -> StatementResult:
        timeout_ms = stmt.timeout.millis if stmt.timeout else \
            long_property(self.all_properties(overrides), ASSERT_TOPIC_TIMEOUT_CONFIG)
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            exists = self.log.topic_exists(stmt.topic)
            if exists == stmt.exists:
                break
            if time.monotonic() >= deadline:
                state = "does not exist" if stmt.exists else "exists"
                raise KsqlError(f"Topic {stmt.topic} {state}.")
            time.sleep(0.05)
        if stmt.exists and "PARTITIONS" in stmt.properties:
            want = self._int_prop(stmt.properties, "PARTITIONS")
            have = self.log.topic_config(stmt.topic).partitions
            if want != have:
                raise KsqlError(f"Mismatched configuration for topic {stmt.topic}: For config partitions, "
                                f"expected {want} got {have}")
        entity = {"@type": "assert_topic", "statementText": stmt.text, "topicName": stmt.topic,
                  "exists": stmt.exists, "warnings": []}
        return StatementResult(stmt.text, entity)

    def _exec_AssertSchema(self, stmt: ast.AssertSchema, overrides: dict) -> StatementResult:
        return StatementResult(stmt.text, assert_schema(self, stmt))

    # -- listing ----------------------------------------------------------------------------------

    def _exec_Show(self, stmt: ast.Show, overrides: dict) -> StatementResult:
        from ksql.engine import describe

        return StatementResult(stmt.text, describe.show(self, stmt))

    def _exec_CreateConnector(self, stmt: ast.CreateConnector, overrides: dict) -> StatementResult:
        return StatementResult(stmt.text, connect_statements.create_connector(self.connect, stmt))

    def _exec_DropConnector(self, stmt: ast.DropConnector, overrides: dict) -> StatementResult:
        return StatementResult(stmt.text, connect_statements.drop_connector(self.connect, stmt))

    def _exec_DescribeConnector(self, stmt: ast.DescribeConnector, overrides: dict) -> StatementResult:
        return StatementResult(stmt.text, connect_statements.describe_connector(self, self.connect, stmt))

    def _exec_Describe(self, stmt: ast.Describe, overrides: dict) -> StatementResult:
        from ksql.engine import describe

        return StatementResult(stmt.text, describe.describe(self, stmt))

    def _exec_DescribeFunction(self, stmt: ast.DescribeFunction, overrides: dict) -> StatementResult:
        from ksql.engine import describe

        return StatementResult(stmt.text, describe.describe_function(self, stmt))

    def _exec_Explain(self, stmt: ast.Explain, overrides: dict) -> StatementResult:
        from ksql.engine import describe

        return StatementResult(stmt.text, describe.explain(self, stmt))


def _fits_struct(source: SqlType, target: SqlType) -> bool:
    """A struct (or array/map of structs) whose fields are a subset of the target's, any order or case."""
    if isinstance(source, ArrayType) and isinstance(target, ArrayType):
        return _fits_struct(source.item, target.item) or source.item == target.item
    if isinstance(source, MapType) and isinstance(target, MapType):
        return source.key == target.key and (_fits_struct(source.value, target.value) or
                                             source.value == target.value)
    if not (isinstance(source, StructType) and isinstance(target, StructType)):
        return False
    for f in source.fields:
        other = target.field(f.name)
        if other is None or not (f.type == other.type or can_widen(f.type, other.type) or
                                 _fits_struct(f.type, other.type)):
            return False
    return True


def _as_struct(value: Any, target: SqlType) -> Any:
    """A VALUES struct laid out as the column's struct: fields by name, missing ones null."""
    if value is None:
        return None
    if isinstance(target, ArrayType):
        return [_as_struct(v, target.item) for v in value]
    if isinstance(target, MapType):
        return {k: _as_struct(v, target.value) for k, v in value.items()}
    if isinstance(target, StructType):
        by_upper = {k.upper(): v for k, v in value.items()}
        return {f.name: _as_struct(value.get(f.name, by_upper.get(f.name.upper())), f.type) for f in target.fields}
    return value


_NUMERIC_RANK = {"INTEGER": 1, "BIGINT": 2, "DECIMAL": 3, "DOUBLE": 4}


def _insert_compatible(result: SqlType, sink: SqlType) -> bool:
    """INSERT INTO widens numbers up the INT -> BIGINT -> DECIMAL -> DOUBLE ladder, any precision."""
    if result == sink or can_widen(result, sink):
        return True
    r, s = _NUMERIC_RANK.get(result.base), _NUMERIC_RANK.get(sink.base)
    return r is not None and s is not None and r <= s


def _widened(plan: ProjectionPlan | JoinPlan, sink: LogicalSchema) -> ProjectionPlan | JoinPlan:
    """The plan with each result column cast to the sink's wider type (INSERT INTO's implicit casts)."""
    from dataclasses import replace

    def cast(exprs, columns):
        return tuple(e if c.type == r.type else ast.Cast(e, c.type)
                     for e, c, r in zip(exprs, columns, plan.schema.key + plan.schema.value, strict=False))

    keys = cast(plan.key_exprs, sink.key)
    values = tuple(e if c.type == r.type else ast.Cast(e, c.type)
                   for e, c, r in zip(plan.value_exprs, sink.value, plan.schema.value, strict=True))
    return replace(plan, key_exprs=keys, value_exprs=values, schema=sink)


def _sink_window(plan: ProjectionPlan | AggregatePlan | JoinPlan) -> WindowInfo | None:
    """A windowed aggregation writes windowed keys; a projection or a join keeps its source's windowing."""
    if isinstance(plan, JoinPlan):
        return plan.window
    if isinstance(plan, AggregatePlan):
        if plan.window is None:
            return None
        return WindowInfo(plan.window.kind, None if plan.window.kind == "SESSION" else plan.window.size_ms)
    return plan.source.window


def parse_duration_text(text: str) -> int:
    """'10 SECONDS' -> 10000, as WINDOW_SIZE is written."""
    parts = text.strip().split()
    units = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
    if len(parts) == 2 and parts[0].isdigit():
        unit = parts[1].upper().rstrip("S")
        if unit in units:
            return int(parts[0]) * units[unit]
    raise KsqlError(f"Invalid duration: '{text}'. Expected '<number> <time unit>', e.g. '10 SECONDS'")


def _function_calls(expr: ast.Expr) -> list[ast.FunctionCall]:
    return [e for e in walk(expr) if isinstance(e, ast.FunctionCall)]


def _sql(expr: ast.Expr) -> str:
    from ksql.planner.expressions import format_expr

    return format_expr(expr)


def _raise(message: str) -> None:
    raise KsqlError(message)

