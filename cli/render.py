"""ksqlDB REST entities (what POST /ksql answers) as the lines ksqlDB's CLI prints for them.

One function per entity type; an entity type the CLI does not know is shown as
JSON rather than dropped. Shapes follow ksqlDB's REST API; where this server's
answer differs (SHOW PROPERTIES as a name -> value object) both are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cli.tables import entity_table, json_text, type_text, value_text

Lines = list[str]


def to_json(value: Any, indent: int | None = 2) -> str:
    return json_text(value, indent)


def entity_lines(entity: dict[str, Any], local_properties: dict[str, str] | None = None) -> Lines:
    """The lines of one entity (empty for entities ksqlDB's CLI prints nothing for)."""
    kind = entity.get("@type")
    if kind == "properties":
        return _properties(entity, local_properties or {})
    renderer = _RENDERERS.get(str(kind))
    if renderer is None:
        if isinstance(entity.get("commandStatus"), dict):
            return _status(entity)
        return to_json(entity).split("\n")
    return renderer(entity)


def warning_lines(entity: dict[str, Any]) -> Lines:
    out = []
    for warning in entity.get("warnings") or []:
        message = warning.get("message") if isinstance(warning, dict) else warning
        if message:
            out.append(f"WARNING: {message}")
    return out


def _status(entity: dict[str, Any]) -> Lines:
    status = entity.get("commandStatus") or {}
    message = status.get("message") or status.get("status") or ""
    return entity_table(["Message"], [[message]])


def _sources(title: str) -> Callable[[dict[str, Any]], Lines]:
    def render(entity: dict[str, Any]) -> Lines:
        rows = [[s.get("name", ""), s.get("topic", ""), s.get("keyFormat", ""), s.get("valueFormat", ""),
                 value_text(bool(s.get("isWindowed")))] for s in entity.get(title.lower() + "s") or []]
        return entity_table([f"{title} Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"], rows)
    return render


def _queries(entity: dict[str, Any]) -> Lines:
    rows = []
    for q in entity.get("queries") or []:
        counts = q.get("statusCount") or {}
        status = ",".join(f"{k}:{v}" for k, v in counts.items()) if counts else q.get("state", "")
        rows.append([q.get("id", ""), q.get("queryType", ""), status, ",".join(q.get("sinks") or []),
                     ",".join(q.get("sinkKafkaTopics") or []), q.get("queryString", "")])
    lines = entity_table(["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"],
                         rows)
    return lines + ["For detailed information on a Query run: EXPLAIN <Query ID>;"]


def _topics(entity: dict[str, Any]) -> Lines:
    rows = []
    for t in entity.get("topics") or []:
        replicas = t.get("replicaInfo") or []
        row = [t.get("name", ""), len(replicas), ", ".join(str(r) for r in replicas)]
        if entity.get("@type") == "kafka_topics_extended":
            row += [t.get("consumerCount", 0), t.get("consumerGroupCount", 0)]
        rows.append(row)
    headers = ["Kafka Topic", "Partitions", "Partition Replicas"]
    if entity.get("@type") == "kafka_topics_extended":
        headers += ["Consumers", "ConsumerGroups"]
    return entity_table(headers, rows)


def _properties(entity: dict[str, Any], local: dict[str, str]) -> Lines:
    props = entity.get("properties") or []
    overwritten = set(entity.get("overwrittenProperties") or [])
    values: dict[str, tuple[str, str]] = {}  # name -> (scope, value)
    if isinstance(props, dict):
        for name, value in props.items():
            values[name] = (_scope(name), value_text(value))
    else:
        for p in props:
            values[str(p.get("name"))] = (str(p.get("scope") or _scope(str(p.get("name")))), value_text(p.get("value")))
    for name, value in local.items():
        values[name] = (_scope(name), value)
    rows = [[name, scope, "SESSION" if name in local or name in overwritten else "SERVER", value]
            for name, (scope, value) in sorted(values.items())]
    return entity_table(["Property", "Scope", "Level", "Value"], rows)


def _scope(name: str) -> str:
    return "KSQL" if name.startswith("ksql.") and not name.startswith("ksql.streams.") else "STREAMS"


def _functions(entity: dict[str, Any]) -> Lines:
    rows = [[f.get("name", ""), f.get("category") or f.get("type", "")]
            for f in sorted(entity.get("functions") or [], key=lambda f: str(f.get("name")))]
    return entity_table(["Function Name", "Category"], rows) + [
        "For detailed information on a function run: DESCRIBE FUNCTION <Function Name>;"]


def _describe_function(entity: dict[str, Any]) -> Lines:
    lines = [f"{'Name':<12}: {entity.get('name', '')}"]
    for label, key in (("Author", "author"), ("Version", "version"), ("Overview", "description"),
                       ("Type", "type"), ("Jar", "path")):
        if entity.get(key):
            lines.append(f"{label:<12}: {entity[key]}")
    lines.append(f"{'Variations':<12}: ")
    for variation in entity.get("functions") or []:
        args = ", ".join(f"{a.get('name', '')} {a.get('type', '')}".strip() + ("..." if a.get("isVariadic") else "")
                         for a in variation.get("arguments") or [])
        lines += ["", f"\t{'Variation':<12}: {entity.get('name', '')}({args})",
                  f"\t{'Returns':<12}: {variation.get('returnType', '')}"]
        if variation.get("description"):
            lines.append(f"\t{'Description':<12}: {variation['description']}")
        for a in variation.get("arguments") or []:
            if a.get("description"):
                lines.append(f"\t{a.get('name', ''):<12}: {a['description']}")
    return [""] + lines


def _types(entity: dict[str, Any]) -> Lines:
    types = entity.get("types") or {}
    return entity_table(["Type Name", "Schema"], [[name, type_text(schema)] for name, schema in sorted(types.items())])


def _variables(entity: dict[str, Any]) -> Lines:
    return variables_table({str(v.get("name")): str(v.get("value")) for v in entity.get("variables") or []})


def variables_table(variables: dict[str, str]) -> Lines:
    return entity_table(["Variable Name", "Value"], [[k, v] for k, v in variables.items()])


def _field_rows(fields: list[dict[str, Any]], window: str | None, is_table: bool) -> list[list[str]]:
    rows = []
    for f in fields:
        text = type_text(f.get("schema"))
        if f.get("type") == "KEY":
            kind = "(primary key)" if is_table else "(key)"
            text = f"{text:<16} {kind}" + (f" (Window type: {window})" if window else "")
        elif f.get("type") == "HEADER":
            key = f.get("headerKey")
            text = f"{text:<16} " + (f"(header('{key}'))" if key else "(headers)")
        rows.append([f.get("name", ""), text])
    return rows


def _schema(fields: list[dict[str, Any]], window: str | None, is_table: bool) -> Lines:
    return entity_table(["Field", "Type"], _field_rows(fields, window, is_table))


def _source_description(d: dict[str, Any]) -> Lines:
    is_table = str(d.get("type", "")).upper() == "TABLE"
    lines = ["", f"{'Name':<20} : {d.get('name', '')}"]
    if not d.get("extended"):
        return lines + _schema(d.get("fields") or [], d.get("windowType"), is_table) + [
            "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;"]
    lines.append(f"{'Type':<20} : {d.get('type', '')}")
    lines.append(f"{'Timestamp field':<20} : {d.get('timestamp') or 'Not set - using <ROWTIME>'}")
    lines.append(f"{'Key format':<20} : {d.get('keyFormat', '')}")
    lines.append(f"{'Value format':<20} : {d.get('valueFormat', '')}")
    if d.get("topic"):
        topic = f"{'Kafka topic':<20} : {d['topic']}"
        if d.get("partitions"):
            topic += f" (partitions: {d['partitions']}, replication: {d.get('replication', 1)})"
        lines.append(topic)
    if d.get("windowType"):
        lines.append(f"{'Window type':<20} : {d['windowType']}")
    lines.append(f"{'Statement':<20} : {d.get('statement', '')}")
    lines.append("")
    lines += _schema(d.get("fields") or [], d.get("windowType"), is_table)
    constraints = d.get("sourceConstraints") or []
    if constraints:
        lines += ["", "Sources that have a DROP constraint on this source", "-" * 50, *map(str, constraints)]
    kind = d.get("type", "")
    for label, key in (("read from", "readQueries"), ("write into", "writeQueries")):
        queries = d.get(key) or []
        if queries:
            lines += ["", f"Queries that {label} this {kind}", "-" * 35]
            lines += [f"{q.get('id')} ({q.get('state', 'UNKNOWN')}) : {q.get('queryString', '')}" for q in queries]
            lines += ["", "For query topology and execution plan please run: EXPLAIN <QueryId>"]
    for label, key in (("Runtime statistics by host", "statistics"), ("Error statistics", "errorStats")):
        if d.get(key):
            lines += ["", label, "-" * len(label), str(d[key])]
    return lines


def _source_descriptions(entity: dict[str, Any]) -> Lines:
    out: Lines = []
    for d in entity.get("sourceDescriptions") or []:
        out += _source_description(d)
    return out


def _query_description(q: dict[str, Any]) -> Lines:
    lines = ["", f"{'ID':<20} : {q.get('id', '')}"]
    if q.get("queryType"):
        lines.append(f"{'Query Type':<20} : {q['queryType']}")
    lines.append(f"{'SQL':<20} : {q.get('statementText', '')}")
    states = q.get("ksqlHostQueryStatus")
    if isinstance(states, dict) and states:
        lines.append(f"{'Host Query Status':<20} : {states}")
    elif q.get("state"):
        lines.append(f"{'Status':<20} : {q['state']}")
    lines.append("")
    lines += _schema(q.get("fields") or [], q.get("windowType"), False)
    lines += ["", "Sources that this query reads from: ", "-" * 35, *map(str, q.get("sources") or []),
              "", "For source description please run: DESCRIBE [EXTENDED] <SourceId>",
              "", "Sinks that this query writes to: ", "-" * 35, *map(str, q.get("sinks") or []),
              "", "For sink description please run: DESCRIBE [EXTENDED] <SinkId>"]
    for label, key in (("Execution plan", "executionPlan"), ("Processing topology", "topology")):
        if q.get(key):
            lines += ["", label, "-" * len(label), *str(q[key]).rstrip().split("\n")]
    overridden = q.get("overriddenProperties") or {}
    if overridden:
        lines += ["", "Overridden Properties", "-" * 21]
        lines += entity_table(["Property", "Value"], [[k, value_text(v)] for k, v in sorted(overridden.items())])
    return lines


def _query_descriptions(entity: dict[str, Any]) -> Lines:
    out: Lines = []
    for q in entity.get("queryDescriptions") or []:
        out += _query_description(q)
    return out


def _assert_topic(entity: dict[str, Any]) -> Lines:
    verb = "exists" if entity.get("exists", True) else "does not exist"
    return [f"Topic {entity.get('topicName', '')} {verb}"]


def _assert_schema(entity: dict[str, Any]) -> Lines:
    subject = entity.get("subject") or entity.get("id") or ""
    verb = "exists" if entity.get("exists", True) else "does not exist"
    return [f"Schema {subject} {verb}"]


def _terminate(entity: dict[str, Any]) -> Lines:
    return entity_table(["Message"], [[f"Query terminated: {entity.get('queryId', '')}"]])


def _connector_info(entity: dict[str, Any]) -> Lines:
    return entity_table(["Message"], [[f"Created connector {(entity.get('info') or {}).get('name', '')}"]])


def _drop_connector(entity: dict[str, Any]) -> Lines:
    return entity_table(["Message"], [[f'Dropped connector "{entity.get("connectorName", "")}"']])


def _connector_list(entity: dict[str, Any]) -> Lines:
    rows = [[c.get("name", ""), str(c.get("type", "")).upper(), c.get("className", ""), c.get("state", "")]
            for c in entity.get("connectors") or []]
    return entity_table(["Connector Name", "Type", "Class", "Status"], rows)


def _connector_description(entity: dict[str, Any]) -> Lines:
    """As ksqlDB's CLI: the connector, its tasks, the streams and tables over its topics, the topics."""
    status = entity.get("status") or {}
    connector = status.get("connector") or {}
    lines = ["", f"{'Name':<20} : {status.get('name', '')}", f"{'Class':<20} : {entity.get('connectorClass', '')}",
             f"{'Type':<20} : {status.get('type', '')}", f"{'State':<20} : {connector.get('state', '')}",
             f"{'WorkerId':<20} : {connector.get('worker_id', '')}"]
    if connector.get("trace"):
        lines.append(f"{'Trace':<20} : {connector['trace']}")
    lines += [""] + entity_table(["Task ID", "State", "Error Trace"], [
        [t.get("id", ""), t.get("state", ""), t.get("trace", "")] for t in status.get("tasks") or []])
    sources = entity.get("sources") or []
    if sources:
        lines += [""] + entity_table(["KSQL Source Name", "Kafka Topic", "Type"], [
            [s.get("name", ""), s.get("topic", ""), s.get("type", "")] for s in sources])
    topics = entity.get("topics") or []
    if topics:
        lines += ["", " Related Topics ", "-" * 16] + [f" {t}" for t in topics] + ["-" * 16]
    return lines


def _warning(entity: dict[str, Any]) -> Lines:
    return [str(entity.get("message", ""))]


_RENDERERS: dict[str, Callable[[dict[str, Any]], Lines]] = {
    "currentStatus": _status,
    "streams": _sources("Stream"),
    "tables": _sources("Table"),
    "queries": _queries,
    "kafka_topics": _topics,
    "kafka_topics_extended": _topics,
    "function_names": _functions,
    "describe_function": _describe_function,
    "type_list": _types,
    "variables": _variables,
    "sourceDescription": lambda e: _source_description(e.get("sourceDescription") or {}),
    "source_descriptions": _source_descriptions,
    "queryDescription": lambda e: _query_description(e.get("queryDescription") or {}),
    "query_descriptions": _query_descriptions,
    "assert_topic": _assert_topic,
    "assert_schema": _assert_schema,
    "terminate_query": _terminate,
    "warning_entity": _warning,
    "connector_info": _connector_info,
    "drop_connector": _drop_connector,
    "connector_list": _connector_list,
    "connector_description": _connector_description,
}
