"""EXPLAIN's texts for a query plan: the logical plan, the execution plan (the physical operators, in
ksqlDB's `> [ STEP ] | Schema: ... | Logger: ...` layout) and the topology Kafka Streams would run, in
its TopologyDescription layout with ksqlDB's operator names (KSTREAM-SOURCE-, WhereFilter, Project,
Aggregate-GroupBy, KTABLE-TOSTREAM-, KSTREAM-SINK-, ...).

The engine does not run a Kafka Streams topology: these texts describe, with the names ksqlDB users
know, what the engine's query does (see ksql.engine.query and ksql.engine.join)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ksql.engine.schema import LogicalSchema
from ksql.planner.aggregation import AggregatePlan
from ksql.planner.analysis import ProjectionPlan
from ksql.planner.expressions import format_expr
from ksql.planner.join import JoinPlan

Plan = ProjectionPlan | AggregatePlan | JoinPlan


def schema_text(schema: LogicalSchema) -> str:
    """ksqlDB's schema text: `NAME TYPE` for each column, KEY columns marked."""
    return ", ".join(f"{c.name} {c.type}{' KEY' if c.is_key else ''}" for c in schema.key + schema.value)


# --- the topology ----------------------------------------------------------------------------------

@dataclass
class _Node:
    kind: str  # Source | Processor | Sink
    name: str
    detail: str  # (topics: [...]) | (stores: [...]) | (topic: ...)
    successors: list[_Node] = field(default_factory=list)
    predecessors: list[_Node] = field(default_factory=list)


class _SubTopology:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []


class Topology:
    """Builds Kafka Streams' TopologyDescription text: generated names take the next index of one
    counter per topology, as StreamsBuilder names its processors."""

    def __init__(self) -> None:
        self.subtopologies: list[_SubTopology] = [_SubTopology()]
        self._index = 0

    def _name(self, prefix: str | None, name: str | None) -> str:
        index = self._index
        self._index += 1
        return name if name is not None else f"{prefix}-{index:010d}"

    def new_subtopology(self) -> None:
        self.subtopologies.append(_SubTopology())

    def source(self, topic: str, name: str | None = None) -> _Node:
        node = _Node("Source", self._name("KSTREAM-SOURCE", name), f"(topics: [{topic}])")
        self.subtopologies[-1].nodes.append(node)
        return node

    def processor(self, after: _Node | list[_Node], prefix: str | None = None, name: str | None = None,
                  stores: tuple[str, ...] = ()) -> _Node:
        node = _Node("Processor", self._name(prefix, name), f"(stores: [{', '.join(stores)}])")
        return self._link(after, node)

    def sink(self, after: _Node, topic: str, name: str | None = None) -> _Node:
        return self._link(after, _Node("Sink", self._name("KSTREAM-SINK", name), f"(topic: {topic})"))

    def _link(self, after: _Node | list[_Node], node: _Node) -> _Node:
        for parent in after if isinstance(after, list) else [after]:
            parent.successors.append(node)
            node.predecessors.append(parent)
        self.subtopologies[-1].nodes.append(node)
        return node

    def text(self) -> str:
        """TopologyDescription.toString(): "Topologies:\\n " then each sub-topology after two spaces, its
        nodes ordered as Kafka Streams' NodeComparator orders them (bigger sub-tree first, then name)."""
        out = ["Topologies:\n "]
        for number, sub in enumerate(self.subtopologies):
            out.append(f"  Sub-topology: {number}\n")
            for node in sorted(sub.nodes, key=lambda n: (-_size(n), n.name)):
                out.append(f"    {node.kind}: {node.name} {node.detail}\n")
                if node.kind != "Sink":
                    out.append(f"      --> {_names(node.successors)}\n")
                if node.kind != "Source":
                    out.append(f"      <-- {_names(node.predecessors)}\n")
            out.append("\n")
        return "".join(out)


def _size(node: _Node) -> int:
    """Kafka Streams' node size: itself plus the sizes of its successors."""
    return 1 + sum(_size(s) for s in node.successors)


def _names(nodes: list[_Node]) -> str:
    return ", ".join(sorted(n.name for n in nodes)) or "none"


def topology(plan: Plan, sink_topic: str | None, repartition_topic: str, changelog_store: str) -> str:
    """The topology text of `plan` writing to `sink_topic` (None: a transient query)."""
    t = Topology()
    if isinstance(plan, JoinPlan):
        last = _join_topology(t, plan)
        if plan.where is not None:
            last = t.processor(last, name="WhereFilter")
        last = t.processor(last, name="Project")
    elif isinstance(plan, AggregatePlan):
        last = _aggregate_topology(t, plan, repartition_topic, changelog_store)
    else:
        last = t.processor(t.source(plan.source.topic), "KSTREAM-TRANSFORMVALUES")
        if plan.source.kind == "TABLE":
            last = t.processor(last, "KTABLE-SOURCE", stores=("KsqlTopic-Reduce",))
        if plan.where is not None:
            last = t.processor(last, name="WhereFilter")
        if plan.table_functions:
            last = t.processor(last, name="FlatMap")
        if plan.rekeyed:
            last = t.processor(last, name="PartitionBy-SelectKey")
        last = t.processor(last, name="Project")
        if plan.source.kind == "TABLE":
            last = t.processor(last, "KTABLE-TOSTREAM")
    if sink_topic is not None:
        t.sink(last, sink_topic)
    else:
        t.processor(last, "KSTREAM-FOREACH")
    return t.text()


def _aggregate_topology(t: Topology, plan: AggregatePlan, repartition_topic: str, store: str) -> _Node:
    last = t.processor(t.source(plan.source.topic), "KSTREAM-TRANSFORMVALUES")
    if plan.source.kind == "TABLE":
        last = t.processor(last, "KTABLE-SOURCE", stores=("KsqlTopic-Reduce",))
    if plan.where is not None:
        last = t.processor(last, name="WhereFilter")
    last = t.processor(last, name="Aggregate-Prepare")
    if plan.groups_by_key:
        last = t.processor(last, name="Aggregate-GroupByKey")
    else:
        last = t.processor(last, name="Aggregate-GroupBy")
        last = t.processor(last, name="Aggregate-GroupBy-repartition-filter")
        t.sink(last, repartition_topic, name="Aggregate-GroupBy-repartition-sink")
        t.new_subtopology()
        last = t.source(repartition_topic, name="Aggregate-GroupBy-repartition-source")
    last = t.processor(last, "KSTREAM-AGGREGATE", stores=(store,))
    if plan.window is not None:
        last = t.processor(last, name="Aggregate-WindowSelect")
        if plan.window.emit_final:
            last = t.processor(last, "KTABLE-SUPPRESS", stores=("Aggregate-Suppress-store",))
    last = t.processor(last, name="Aggregate-Aggregate-ToOutputSchema")
    if plan.having is not None:
        last = t.processor(last, name="Aggregate-HavingFilter")
    last = t.processor(last, name="Aggregate-Project")
    return t.processor(last, "KTABLE-TOSTREAM")


def _join_topology(t: Topology, plan: JoinPlan) -> _Node:
    """Each source read and prefixed with its alias, then one join operator per JOIN of the query."""
    inputs: list[_Node] = []
    sides = ["Left", "Right"] if len(plan.leaves) == 2 else [leaf.alias for leaf in plan.leaves]
    for leaf, side in zip(plan.leaves, sides, strict=True):
        node = t.processor(t.source(leaf.source.topic), "KSTREAM-TRANSFORMVALUES")
        if leaf.source.kind == "TABLE":
            node = t.processor(node, "KTABLE-SOURCE", stores=(f"{leaf.alias}-Reduce",))
        inputs.append(t.processor(node, name=f"PrependAlias{side}"))
    left = inputs[0]
    for number, step in enumerate(plan.steps, start=1):
        right = inputs[step.right]
        name = "Join" if len(plan.steps) == 1 else f"Join-{number}"
        if step.shape == "stream-stream":
            this = t.processor(left, "KSTREAM-JOINTHIS", stores=(f"{name}-this-join-store",))
            other = t.processor(right, "KSTREAM-JOINOTHER", stores=(f"{name}-other-join-store",))
            left = t.processor([this, other], "KSTREAM-MERGE")
        elif step.shape == "stream-table":
            left = t.processor([left, right], name=name, stores=(f"{plan.leaves[step.right].alias}-Reduce",))
        else:
            left = t.processor([left, right], "KTABLE-JOIN" if step.kind == "INNER" else f"KTABLE-{step.kind}JOIN")
    return left


# --- the execution plan and the logical plan ------------------------------------------------------------

def execution_plan(query_id: str, plan: Plan, sink_name: str | None) -> str:
    """ksqlDB's execution plan text: the steps from the sink down to the sources, each indented under
    the step that consumes it."""
    ctx = query_id or "transient"
    out_schema = schema_text(plan.schema)

    def line(depth: int, step: str, schema: str, logger: str) -> str:
        return f"{chr(9) * 2 * depth} > [ {step} ] | Schema: {schema} | Logger: {ctx}.{logger}\n"

    steps: list[tuple[str, str, str]] = []  # top down: (step, schema, logger)
    if sink_name is not None:
        steps.append(("SINK", out_schema, sink_name))
    if isinstance(plan, AggregatePlan):
        steps.append(("PROJECT", out_schema, "Aggregate.Project"))
        if plan.having is not None:
            steps.append(("FILTER", out_schema, "Aggregate.HavingFilter"))
        steps.append(("AGGREGATE" if plan.window is None else "WINDOWED_AGGREGATE", out_schema,
                      "Aggregate.Aggregate"))
        steps.append(("GROUP_BY", schema_text(plan.source.schema), "Aggregate.GroupBy"))
        if plan.where is not None:
            steps.append(("FILTER", schema_text(plan.source.schema), "WhereFilter"))
        steps.append(("SOURCE", schema_text(plan.source.schema), "KsqlTopic.Source"))
        return "".join(line(d, *s) for d, s in enumerate(steps))
    if isinstance(plan, JoinPlan):
        steps.append(("PROJECT", out_schema, "Project"))
        if plan.where is not None:
            steps.append(("FILTER", out_schema, "WhereFilter"))
        text = "".join(line(d, *s) for d, s in enumerate(steps))
        return text + _join_steps(plan, len(steps), line)
    steps.append(("PROJECT", out_schema, "Project"))
    if plan.rekeyed:
        steps.append(("PARTITION_BY", schema_text(plan.source.schema), "PartitionBy"))
    if plan.table_functions:
        steps.append(("FLAT_MAP", schema_text(plan.source.schema), "FlatMap"))
    if plan.where is not None:
        steps.append(("FILTER", schema_text(plan.source.schema), "WhereFilter"))
    steps.append(("SOURCE", schema_text(plan.source.schema), "KsqlTopic.Source"))
    return "".join(line(d, *s) for d, s in enumerate(steps))


def _join_steps(plan: JoinPlan, depth: int, line) -> str:
    """The joins, last first; each has the previous join (or the first source) and its right source."""
    text = ""
    for number in range(len(plan.steps), 0, -1):
        step = plan.steps[number - 1]
        kind = {"stream-stream": "STREAM_STREAM_JOIN", "stream-table": "STREAM_TABLE_JOIN"}.get(
            step.shape, "TABLE_TABLE_JOIN")
        text += line(depth, kind, schema_text(plan.schema), "Join" if len(plan.steps) == 1 else f"Join-{number}")
        right = plan.leaves[step.right]
        text += line(depth + 1, "SOURCE", schema_text(right.source.schema), f"KafkaTopic_{right.alias}.Source")
        depth += 1
    first = plan.leaves[0]
    return text + line(depth, "SOURCE", schema_text(first.source.schema), f"KafkaTopic_{first.alias}.Source")


def _columns(schema: LogicalSchema) -> str:
    return ", ".join(c.name for c in schema.key + schema.value)


def logical_plan(plan: Plan, sink_name: str | None) -> str:
    """The logical plan: one node per line, each indented under the node that consumes it."""
    nodes: list[str] = []
    if sink_name is not None:
        nodes.append(f"DataSinkNode: {sink_name}")
    if isinstance(plan, AggregatePlan):
        nodes.append(f"ProjectNode: {_columns(plan.schema)}")
        if plan.having is not None:
            nodes.append(f"FilterNode (HAVING): {format_expr(plan.having)}")
        window = f" WINDOW {plan.window.kind}" if plan.window is not None else ""
        calls = ", ".join(format_expr(a.call) for a in plan.aggregates)
        nodes.append(f"AggregateNode: GROUP BY {', '.join(format_expr(e) for e in plan.group_exprs)}{window}"
                     f"{' | ' + calls if calls else ''}")
        if plan.where is not None:
            nodes.append(f"FilterNode: {format_expr(plan.where)}")
        nodes.append(f"DataSourceNode: {plan.source.name} ({plan.source.kind})")
    elif isinstance(plan, JoinPlan):
        nodes.append(f"ProjectNode: {_columns(plan.schema)}")
        if plan.where is not None:
            nodes.append(f"FilterNode: {format_expr(plan.where)}")
        for step in reversed(plan.steps):
            right = plan.leaves[step.right]
            nodes.append(f"JoinNode: {step.kind} {step.shape} ON {format_expr(step.left_key)} = "
                         f"{format_expr(step.right_key)} | right: {right.source.name} AS {right.alias}")
        first = plan.leaves[0]
        nodes.append(f"DataSourceNode: {first.source.name} AS {first.alias} ({first.source.kind})")
    else:
        exprs = [format_expr(e) for e in (*plan.key_exprs, *plan.value_exprs)]
        names = [c.name for c in plan.schema.key + plan.schema.value]
        nodes.append("ProjectNode: " + ", ".join(e if e == n else f"{e} AS {n}"
                                                 for e, n in zip(exprs, names, strict=True)))
        if plan.rekeyed:
            nodes.append("PartitionByNode")
        if plan.table_functions:
            nodes.append(f"FlatMapNode: {', '.join(fn.name for fn, _ in plan.table_functions)}")
        if plan.where is not None:
            nodes.append(f"FilterNode: {format_expr(plan.where)}")
        nodes.append(f"DataSourceNode: {plan.source.name} ({plan.source.kind})")
    return "".join(f"{'  ' * depth}{node}\n" for depth, node in enumerate(nodes))
