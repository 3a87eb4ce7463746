"""SHOW / LIST / DESCRIBE / EXPLAIN: the metastore and running queries as ksqlDB REST entities."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ksql.engine import explain as explain_texts
from ksql.engine import properties
from ksql.engine.join import JoinQuery
from ksql.engine.metastore import DataSource
from ksql.engine.metrics import TopicTraffic, format_stats, latest
from ksql.engine.query import PersistentQuery
from ksql.engine.single_owner import SingleOwner
from ksql.errors import KsqlError
from ksql.parser import ast
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.join import JoinPlan

if TYPE_CHECKING:
    from ksql.engine.engine import Engine


def _field(column) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": column.name, "schema": _type_schema(column.type)}
    if column.is_key:
        entry["type"] = "KEY"
    elif column.is_header:
        entry["type"] = "HEADER"
        if column.header_key is not None:
            entry["headerKey"] = column.header_key
    return entry


def _type_schema(t) -> dict[str, Any]:
    from ksql.types import ArrayType, DecimalType, MapType, StructType

    if isinstance(t, ArrayType):
        return {"type": "ARRAY", "fields": None, "memberSchema": _type_schema(t.item)}
    if isinstance(t, MapType):
        return {"type": "MAP", "fields": None, "memberSchema": _type_schema(t.value)}
    if isinstance(t, StructType):
        return {"type": "STRUCT", "fields": [{"name": f.name, "schema": _type_schema(f.type)}
                                              for f in t.fields], "memberSchema": None}
    if isinstance(t, DecimalType):
        return {"type": "DECIMAL", "fields": None, "memberSchema": None,
                "parameters": {"precision": t.precision, "scale": t.scale}}
    return {"type": str(t), "fields": None, "memberSchema": None}


def source_summary(source: DataSource) -> dict[str, Any]:
    return {
        "type": source.kind,
        "name": source.name,
        "topic": source.topic,
        "keyFormat": source.formats.key.name,
        "valueFormat": source.formats.value.name,
        "isWindowed": source.window is not None,
    }


def _failure(query: Any) -> dict[str, Any]:
    """For a query in ERROR: its recent errors (ksqlDB's QueryError entities), the last one why."""
    return {"queryErrors": list(query.query_errors)} if query.state == "ERROR" else {}


def source_description(engine: Engine, source: DataSource, extended: bool) -> dict[str, Any]:
    def queries(ids):
        return [{"queryString": engine.queries[q].sql, "sinks": [engine.queries[q].sink.name],
                 "id": q, "state": engine.queries[q].state, **_failure(engine.queries[q])}
                for q in sorted(ids) if q in engine.queries]

    config = engine.log.topic_config(source.topic) if engine.log.topic_exists(source.topic) else None
    traffic = topic_traffic(engine, source) if extended else None
    return {
        "name": source.name,
        "windowType": source.window.kind if source.window else None,
        "readQueries": queries(source.reader_query_ids),
        "writeQueries": queries(source.writer_query_ids),
        "fields": [_field(c) for c in source.schema.key + source.schema.value],
        "type": source.kind,
        "timestamp": source.timestamp_column or "",
        "statistics": traffic.statistics() if traffic else "",
        "errorStats": traffic.error_stats() if traffic else "",
        "extended": extended,
        "keyFormat": source.formats.key.name,
        "valueFormat": source.formats.value.name,
        "topic": source.topic,
        "partitions": config.partitions if config else 0,
        "replication": config.replicas if config else 0,
        "statement": source.sql,
        "queryOffsetSummaries": _offset_summaries(engine, source) if extended else [],
        "sourceConstraints": sorted(q for q in source.reader_query_ids),
    }


def topic_traffic(engine: Engine, source: DataSource) -> TopicTraffic:
    """What the persistent queries reading and writing `source` consumed, produced and failed on."""
    traffic = TopicTraffic()
    for query_id in sorted(source.reader_query_ids):
        query = engine.queries.get(query_id)
        if query is None:
            continue
        metrics, reporter = query.metrics, query.reporter
        traffic.readers += 1
        traffic.consumed += metrics.records_in
        traffic.consumed_bytes += metrics.bytes_in
        traffic.consumed_rate += metrics.rates()[0]
        traffic.last_consumed_ms = latest(traffic.last_consumed_ms, metrics.last_in_ms)
        traffic.failed += reporter.failures
        traffic.last_failed_ms = latest(traffic.last_failed_ms, reporter.last_failure_ms)
    for query_id in sorted(source.writer_query_ids):
        query = engine.queries.get(query_id)
        if query is None:
            continue
        metrics = query.metrics
        traffic.writers += 1
        traffic.produced += metrics.records_out
        traffic.produced_rate += metrics.rates()[1]
        traffic.last_produced_ms = latest(traffic.last_produced_ms, metrics.last_out_ms)
    return traffic


def query_statistics(query: Any) -> tuple[str, str]:
    """A query's (statistics, errorStats) in ksqlDB's format: what it read and wrote, what it skipped."""
    metrics, reporter = query.metrics, query.reporter
    rate_in, rate_out = metrics.rates()
    statistics = format_stats([("messages-per-sec", rate_in), ("total-messages", metrics.records_in),
                               ("total-bytes", metrics.bytes_in), ("output-per-sec", rate_out),
                               ("output-messages", metrics.records_out), ("output-bytes", metrics.bytes_out)],
                              "last-message", latest(metrics.last_in_ms, metrics.last_out_ms))
    errors = format_stats([("failed-messages", reporter.failures)], "last-failed", reporter.last_failure_ms)
    return statistics, errors


def partition_lags(engine: Engine, query: Any) -> list[tuple[str, int, int]]:
    """(topic, partition, records not yet processed) for each source partition the query reads."""
    inner = query.inner if isinstance(query, SingleOwner) else query
    log = engine.log
    if isinstance(inner, PersistentQuery):
        inputs = [(inner.source_topic, inner.group, inner.partitions)]
    elif isinstance(inner, JoinQuery):
        inputs = [(leaf.source.topic, group, partitions) for leaf, _, partitions, group in inner.inputs]
    else:
        return []
    lags = []
    for topic, group, partitions in inputs:
        if not log.topic_exists(topic):
            continue
        for p in range(partitions):
            position = max(log.committed(group, topic, p) or 0, log.start_offset(topic, p))
            lags.append((topic, p, max(log.end_offset(topic, p) - position, 0)))
    return lags


def _offset_summaries(engine: Engine, source: DataSource) -> list[dict[str, Any]]:
    """Per query reading the source: its consumer group's offsets against the topic's (as ksqlDB)."""
    log = engine.log
    if not log.topic_exists(source.topic):
        return []
    partitions = log.topic_config(source.topic).partitions
    out = []
    for group in consumer_groups(engine, source):
        offsets = [{"partition": p, "logStartOffset": log.start_offset(source.topic, p),
                    "logEndOffset": log.end_offset(source.topic, p),
                    "consumerOffset": log.committed(group, source.topic, p) or 0}
                   for p in range(partitions)]
        out.append({"groupId": group, "topicSummaries": [{"kafkaTopic": source.topic, "offsets": offsets}]})
    return out


def consumer_groups(engine: Engine, source: DataSource) -> list[str]:
    """The consumer groups of the persistent queries reading `source`, one per query input."""
    groups = []
    for query_id in sorted(source.reader_query_ids):
        query = engine.queries.get(query_id)
        if isinstance(query, SingleOwner):
            query = query.inner
        if isinstance(query, PersistentQuery):
            groups.append(query.group)
        elif isinstance(query, JoinQuery):
            groups += [group for leaf, _, _, group in query.inputs if leaf.source.topic == source.topic]
    return groups


def _topic(engine: Engine, name: str, extended: bool) -> dict[str, Any]:
    """ksqlDB's KafkaTopicInfo, or KafkaTopicInfoExtended with the consumers of the queries reading it
    (each query consumes through one consumer group, with one consumer in this server)."""
    config = engine.log.topic_config(name)
    info: dict[str, Any] = {"name": name, "replicaInfo": [config.replicas] * config.partitions}
    if extended:
        groups = {g for s in engine.metastore.sources.values() if s.topic == name for g in consumer_groups(engine, s)}
        info["consumerCount"] = len(groups)
        info["consumerGroupCount"] = len(groups)
    return info


def query_description(engine: Engine, query: Any) -> dict[str, Any]:
    """ksqlDB's QueryDescription of a persistent query (EXPLAIN, SHOW QUERIES EXTENDED), with the query's
    `statistics` and `errorStats` as DESCRIBE EXTENDED formats them."""
    sources = sorted(s.name for s in engine.metastore.sources.values() if query.query_id in s.reader_query_ids)
    statistics, error_stats = query_statistics(query)
    texts = plan_texts(engine, query.query_id, query.plan, query.sink.name, query.sink.topic)
    return {
        "id": query.query_id, "statementText": query.sql,
        "windowType": query.sink.window.kind if query.sink.window else None,
        "fields": [_field(c) for c in query.sink.schema.key + query.sink.schema.value],
        "sources": sources, "sinks": [query.sink.name], **texts,
        "overriddenProperties": {}, "ksqlHostQueryStatus": {}, "queryType": "PERSISTENT",
        "queryErrors": list(query.query_errors),
        "tasksMetadata": [], "state": query.state, "statistics": statistics, "errorStats": error_stats,
    }


def plan_texts(engine: Engine, query_id: str, plan: Any, sink_name: str | None, sink_topic: str | None
               ) -> dict[str, str]:
    """A query's `topology`, `executionPlan` and `logicalPlan` texts (see ksql.engine.explain)."""
    return {"topology": explain_texts.topology(plan, sink_topic, "Aggregate-GroupBy-repartition",
                                              "Aggregate-Aggregate-Materialize"),
            "executionPlan": explain_texts.execution_plan(query_id, plan, sink_name),
            "logicalPlan": explain_texts.logical_plan(plan, sink_name)}


def show(engine: Engine, stmt: ast.Show) -> dict[str, Any]:
    what = stmt.what.upper()
    base = {"statementText": stmt.text, "warnings": []}
    sources = sorted(engine.metastore.sources.values(), key=lambda s: s.name)
    if what in ("STREAMS", "TABLES"):
        kind = what[:-1]
        chosen = [s for s in sources if s.kind == kind]
        if stmt.extended:
            return {**base, "@type": "source_descriptions",
                    "sourceDescriptions": [source_description(engine, s, True) for s in chosen]}
        return {**base, "@type": what.lower(), what.lower(): [source_summary(s) for s in chosen]}
    if what == "TOPICS":
        hidden = properties.hidden_topics(engine.all_properties())
        topics = [t for t in sorted(engine.log.list_topics())
                  if stmt.all_topics or not any(pattern.fullmatch(t) for pattern in hidden)]
        return {**base, "@type": "kafka_topics_extended" if stmt.extended else "kafka_topics",
                "topics": [_topic(engine, t, stmt.extended) for t in topics]}
    if what == "QUERIES" and stmt.extended:
        return {**base, "@type": "query_descriptions",
                "queryDescriptions": [query_description(engine, q) for q in engine.queries.values()]}
    if what == "QUERIES":
        return {**base, "@type": "queries", "queries": [
            {"queryString": q.sql, "sinks": [q.sink.name], "sinkKafkaTopics": [q.sink.topic], "id": q.query_id,
             "statusCount": {q.state: 1}, "queryType": "PERSISTENT", "state": q.state, **_failure(q)}
            for q in engine.queries.values()]}
    if what == "PROPERTIES":
        return {**base, **properties_list(engine)}
    if what == "FUNCTIONS":
        return {**base, "@type": "function_names", "functions": [
            {"name": f.name.upper(), "type": f.kind, "category": f.category}
            for f in engine.registry.list_functions()]}
    if what == "TYPES":
        return {**base, "@type": "type_list",
                "types": {name: _type_schema(t) for name, t in sorted(engine.metastore.types.items())}}
    if what == "VARIABLES":
        return {**base, "@type": "variables",
                "variables": [{"name": k, "value": v} for k, v in sorted(engine.variables.items())]}
    if what == "CONNECTORS":
        from ksql.connect.statements import list_connectors

        return list_connectors(engine.connect, stmt)
    raise KsqlError(f"Unknown SHOW target: {what}")


def properties_list(engine: Engine) -> dict[str, Any]:
    """ksqlDB's PropertiesList: every property in force (defaults, then the server's, then the session's),
    streams configs under their `ksql.streams.` name, each with scope KSQL as ksqlDB lists its own."""
    def listed(name: str) -> str:
        bare_client_config = not name.startswith("ksql.") and properties.resolve(name) is not None
        return properties.STREAMS_PREFIX + name if bare_client_config else name

    default_values = properties.defaults()
    values = dict(default_values)
    values.update({listed(k): str(v) for k, v in engine.config.properties.items()})
    session = {listed(k): str(v) for k, v in engine.session_properties.items()}
    values.update(session)
    return {"@type": "properties",
            "properties": [{"name": k, "scope": "KSQL", "value": v} for k, v in sorted(values.items())],
            "overwrittenProperties": sorted(session),
            "defaultProperties": sorted(k for k, v in values.items() if default_values.get(k) == v)}


def describe(engine: Engine, stmt: ast.Describe) -> dict[str, Any]:
    base = {"statementText": stmt.text, "warnings": []}
    if stmt.name is None:
        kind = (stmt.what or "STREAMS").upper()[:-1]
        chosen = [s for s in sorted(engine.metastore.sources.values(), key=lambda s: s.name) if s.kind == kind]
        return {**base, "@type": "source_descriptions",
                "sourceDescriptions": [source_description(engine, s, stmt.extended) for s in chosen]}
    source = engine.metastore.get(stmt.name)
    if source is None:
        raise KsqlError(f"Could not find STREAM/TABLE '{stmt.name}' in the Metastore")
    return {**base, "@type": "sourceDescription",
            "sourceDescription": source_description(engine, source, stmt.extended)}


def describe_function(engine: Engine, stmt: ast.DescribeFunction) -> dict[str, Any]:
    """ksqlDB's FunctionDescriptionList: the function and each overload's arguments and return type."""
    info = engine.registry.describe(stmt.name)
    name = info.display_name or info.name

    def return_type(overload) -> str:
        returns = overload.returns
        return str(returns) if not callable(returns) or hasattr(returns, "base") else "ANY"

    functions = []
    for overload in info.overloads:
        names = list(overload.param_names) + [f"arg{i}" for i in range(len(overload.param_names),
                                                                         len(overload.params))]
        arguments = [{"name": n, "type": str(t), "description": "",
                      "isVariadic": overload.variadic and i == len(overload.params) - 1}
                     for i, (n, t) in enumerate(zip(names, overload.params, strict=True))]
        functions.append({"arguments": arguments, "returnType": return_type(overload),
                          "description": overload.description or info.description,
                          "argumentTypes": [str(t) for t in overload.params]})
    return {"@type": "describe_function", "statementText": stmt.text, "warnings": [],
            "name": name.upper(), "description": info.description, "author": info.author,
            "version": info.version, "path": "internal", "functions": functions, "type": info.kind}


def explain(engine: Engine, stmt: ast.Explain) -> dict[str, Any]:
    if stmt.query_id is None:
        return {"@type": "queryDescription", "statementText": stmt.text, "warnings": [],
                "queryDescription": _statement_description(engine, stmt.statement)}
    query = engine.queries.get(stmt.query_id) or engine.queries.get(stmt.query_id.upper())
    if query is None:
        raise KsqlError(f"Query with id:{stmt.query_id} does not exist, use SHOW QUERIES to view the full "
                        "set of queries.")
    description = query_description(engine, query)
    return {"@type": "queryDescription", "statementText": stmt.text, "warnings": [],
            "queryDescription": description}


def _statement_description(engine: Engine, stmt: ast.Statement | None) -> dict[str, Any]:
    """ksqlDB's QueryDescription of a statement that is planned, not run: a CREATE ... AS SELECT,
    an INSERT INTO ... SELECT or a push query."""
    if isinstance(stmt, ast.CreateAsSelect):
        plan = engine.plan_query(stmt.query, stmt.name, stmt.kind)
        sink_name, sink_topic, query_type = stmt.name, str(stmt.properties.get("KAFKA_TOPIC", stmt.name)), "PERSISTENT"
    elif isinstance(stmt, ast.InsertInto):
        target = engine.metastore.get(stmt.target)
        if target is None:
            raise KsqlError(f"{stmt.target} does not exist." + engine.metastore.case_hint(stmt.target))
        plan = engine.plan_query(stmt.query, target.name, target.kind)
        sink_name, sink_topic, query_type = target.name, target.topic, "PERSISTENT"
    elif isinstance(stmt, ast.SelectStatement):
        plan = engine.plan_query(dataclasses.replace(stmt.query, limit=None), "", "STREAM", transient=True)
        sink_name, sink_topic, query_type = None, None, "PUSH"
    else:
        raise KsqlError("EXPLAIN takes a query id, or a CREATE ... AS SELECT, INSERT INTO ... SELECT or SELECT "
                        "statement.")
    window = getattr(plan, "window", None) if isinstance(plan, AggregatePlan) else None
    sources = [leaf.source.name for leaf in plan.leaves] if isinstance(plan, JoinPlan) else [plan.source.name]
    return {"id": "", "statementText": getattr(stmt, "text", ""),
            "windowType": window.kind if window is not None else None,
            "fields": [_field(c) for c in plan.schema.key + plan.schema.value], "sources": sorted(set(sources)),
            "sinks": [sink_name] if sink_name else [], **plan_texts(engine, "", plan, sink_name, sink_topic),
            "overriddenProperties": {}, "ksqlHostQueryStatus": {}, "queryType": query_type, "queryErrors": [],
            "tasksMetadata": [], "state": None, "statistics": "", "errorStats": ""}
