"""ksqlDB's REST query-validation tests (../shared/conformance/rest/*.json) against a running server.

Each case, as ksqlDB's RestTestExecutor runs it: create its topics, send the
statements before the first query to /ksql in one request, produce the inputs
(after the push query started when `waitForActivePushQuery`), send each query to
/query, then compare the responses (admin entities by their listed fields,
query messages one by one), the expected error (status, type, message
contained) and the records on output topics (read back with PRINT). Cases are
isolated by dropping everything they created.

    python tests/server/rest_conformance.py [-k regex] [-v]     # against a fresh server
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REST_DIR_NAME = "rest"
REGISTRY = "/schema-registry"
PUSH_TIMEOUT = 1.0  # seconds without a message before a push query is deemed complete
IDLE_TIMEOUT = 10.0  # seconds persistent queries may take to process a case's inputs
STUCK_SECONDS = 0.5  # a query whose lag does not move for this long is failing, not busy
SERVER_PROPERTIES = {  # as ksqlDB's RestQueryTranslationTest configures its server
    "ksql.streams.auto.offset.reset": "earliest",
    "ksql.query.push.v2.enabled": "true",
    "ksql.log.fsync": "never",  # nothing here needs to survive a power loss
}


def load_file(path: Path) -> list[dict]:
    """The cases of one file (Jackson-style // comments allowed), {FORMAT} variants expanded."""
    text = re.sub(r'(?m)^((?:[^"\n]|"(?:\\.|[^"\\\n])*")*?)\s*//[^\n]*$', r"\1", path.read_text())
    cases = []
    for case in json.loads(text)["tests"]:
        formats = case.get("format")
        if not formats:
            cases.append(case)
            continue
        for fmt in formats:
            variant = json.loads(json.dumps(case).replace("{FORMAT}", fmt))
            variant["name"] = f"{case['name']} - {fmt}"
            cases.append(variant)
    return cases


class FreshServerNeeded(Exception):
    """Schema ids are global and permanent in a registry: a case reusing an earlier case's id needs a new one."""


@dataclass
class Outcome:
    name: str
    passed: bool
    reason: str = ""


@dataclass
class Runner:
    """Runs cases against the server at `url`."""

    url: str
    verbose: bool = False
    restart: Callable[[], str] | None = None  # a fresh server (its URL), for cases that need one
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    # -- plumbing -----------------------------------------------------------------------------------

    def ksql(self, sql: str, properties: dict | None = None) -> httpx.Response:
        return self.client.post("/ksql", json={"ksql": sql, "streamsProperties": properties or {}})

    def _ok(self, sql: str) -> list[dict]:
        response = self.ksql(sql)
        if response.status_code != 200:
            raise AssertionError(f"setup statement failed: {sql}: {response.text}")
        return response.json()

    def reset(self) -> None:
        """Drop every query, stream, table, topic, type, variable and registry subject a case left behind."""
        for subject in self.client.get(f"{REGISTRY}/subjects").json():
            self.client.delete(f"{REGISTRY}/subjects/{subject}")
            self.client.delete(f"{REGISTRY}/subjects/{subject}", params={"permanent": "true"})
        for _ in range(5):
            queries, streams, tables, topics, types, variables = self._ok(
                "SHOW QUERIES; SHOW STREAMS; SHOW TABLES; SHOW TOPICS; SHOW TYPES; SHOW VARIABLES;")
            sources = streams["streams"] + tables["tables"]
            if not (queries["queries"] or sources or topics["topics"] or types["types"] or variables["variables"]):
                return
            script = ["TERMINATE ALL;"] if queries["queries"] else []
            script += [f"DROP {s['type']} IF EXISTS `{s['name']}` DELETE TOPIC;" for s in sources]
            script += [f"DROP TYPE IF EXISTS `{name}`;" for name in types["types"]]
            script += [f"UNDEFINE {v['name']};" for v in variables["variables"]]
            if script and self.ksql("\n".join(script)).status_code != 200:
                for statement in script:  # one failed (e.g. a read-only source's topic): one by one
                    if self.ksql(statement).status_code != 200 and "DELETE TOPIC" in statement:
                        self.ksql(statement.replace(" DELETE TOPIC", ""))
            if not sources:
                for topic in topics["topics"]:
                    self._delete_topic(topic["name"])
        raise AssertionError(f"could not reset the server between cases: {queries, sources, topics, types}")

    def _delete_topic(self, topic: str) -> None:
        escaped = topic.replace("'", "''")
        self._ok(f"CREATE STREAM `__RQTT_TOPIC` (X INT) WITH (KAFKA_TOPIC='{escaped}', VALUE_FORMAT='JSON');")
        self._ok("DROP STREAM `__RQTT_TOPIC` DELETE TOPIC;")

    def create_topics(self, topics: dict[str, int]) -> None:
        """Create topics (there is no topic API: a stream over each, dropped again, leaves it behind)."""
        script = []
        for topic, partitions in topics.items():
            escaped = topic.replace("'", "''")
            script += [f"CREATE STREAM `__RQTT_TOPIC` (X INT) WITH (KAFKA_TOPIC='{escaped}', "
                       f"PARTITIONS={partitions}, VALUE_FORMAT='JSON');", "DROP STREAM `__RQTT_TOPIC`;"]
        if script:
            self._ok("\n".join(script))

    def register_schemas(self, topics: list[dict]) -> str | None:
        """A case's topic schemas (keySchema/valueSchema, their ids and references), through the registry's
        REST API: references first, under their own names."""
        for spec in topics:
            for side in ("key", "value"):
                schema = spec.get(f"{side}Schema")
                if schema is None:
                    continue
                references = []
                for ref in spec.get(f"{side}SchemaReferences") or []:
                    problem = self._register(ref["name"], ref.get("schema"), ref.get("format"), None, [])
                    if problem:
                        return problem
                    references.append({"name": ref["name"], "subject": ref["name"], "version": 1})
                problem = self._register(f"{spec['name']}-{side}", schema, spec.get(f"{side}Format"),
                                         spec.get(f"{side}SchemaId"), references)
                if problem:
                    return problem
        return None

    def _register(self, subject: str, schema: Any, fmt: str | None, schema_id: Any, references: list
                  ) -> str | None:
        schema_type = {"PROTOBUF": "PROTOBUF", "PROTOBUF_NOSR": "PROTOBUF", "JSON_SR": "JSON"}.get(
            str(fmt or "AVRO").upper(), "AVRO")
        text = schema if isinstance(schema, str) and schema_type == "PROTOBUF" else json.dumps(schema)
        body: dict[str, Any] = {"schemaType": schema_type, "schema": text, "references": references}
        if schema_id is not None:
            body["id"] = int(schema_id)
        response = self.client.post(f"{REGISTRY}/subjects/{subject}/versions", json=body)
        if response.status_code != 200:
            if "Overwrite new schema with id" in response.text:
                raise FreshServerNeeded(response.text)
            return f"registering the schema of {subject} failed: {response.text}"
        return None

    def produce(self, inputs: list[dict]) -> str | None:
        """Append the records, in order (one request per run of records to the same topic)."""
        i = 0
        while i < len(inputs):
            topic = inputs[i]["topic"]
            run = []
            while i < len(inputs) and inputs[i]["topic"] == topic:
                run.append({k: inputs[i][k] for k in ("key", "value", "timestamp", "headers", "window")
                            if k in inputs[i]})
                i += 1
            response = self.client.post(f"/topics/{topic}/records", json={"records": run})
            if response.status_code != 200:
                return f"producing to {topic} failed: {response.text}"
        return None

    # -- one case ---------------------------------------------------------------------------------

    def run(self, case: dict) -> Outcome:
        name = case["name"]
        for attempt in range(2):
            try:
                self.reset()
                reason = self._run(case)
            except FreshServerNeeded as err:
                if attempt or self.restart is None:
                    reason = f"the registry keeps an earlier schema under this id: {err}"
                    break
                self.client = httpx.Client(base_url=self.restart(), timeout=30.0)
                continue
            except (AssertionError, httpx.HTTPError, ValueError, KeyError) as err:
                reason = f"{type(err).__name__}: {err}"
            break
        return Outcome(name, reason is None, reason or "")

    def _run(self, case: dict) -> str | None:
        statements = [s.strip() for s in case["statements"]]
        first_query = next((i for i, s in enumerate(statements) if _is_query(s)), len(statements))
        admin, queries = statements[:first_query], statements[first_query:]
        if not all(_is_query(q) for q in queries):
            return "invalid case: queries must come last"
        properties = case.get("properties") or {}
        self.create_topics(_topics(case))
        problem = self.register_schemas(case.get("topics") or [])
        if problem:
            return problem
        expected_error = case.get("expectedError")
        responses: list[tuple[str, Any]] = []
        if admin:
            response = self.ksql("\n".join(admin), properties)
            if response.status_code != 200:
                if expected_error is None:
                    return f"statement failed: {response.status_code} {response.text[:500]}"
                return _check_error(expected_error, response)
            responses += [("admin", e) for e in response.json()]
        wait_for_push = (case.get("inputConditions") or {}).get("waitForActivePushQuery", False)
        if not wait_for_push:
            problem = self.produce(case.get("inputs") or [])
            if problem:
                return problem
            self.wait_idle()
        expected_responses = case.get("responses") or []
        for sql in queries:
            expected = None
            position = len(responses)
            if position < len(expected_responses) and "query" in expected_responses[position]:
                expected = expected_responses[position]["query"]
            status, messages = self.query(sql, properties, expected, case.get("inputs") if wait_for_push else None)
            if status != 200:
                if expected_error is None:
                    return f"query {sql!r} failed: {status} {messages}"
                return _check_error(expected_error, status, messages)
            responses.append(("query", messages))
        if expected_error is not None:
            return f"expected an error ({expected_error.get('message')}), got none"
        problem = _compare_responses(expected_responses, responses)
        if problem:
            return problem
        return self._check_outputs(case.get("outputs") or [])

    def query(self, sql: str, properties: dict, expected: list | None, produce_after_header: list | None
              ) -> tuple[int, Any]:
        """POST /query; (status, messages or error entity). Pull queries are retried until they match."""
        is_push = "EMIT CHANGES" in sql.upper()
        if not is_push:
            response = self.client.post("/query", json={"ksql": sql, "streamsProperties": properties})
            return response.status_code, _json_or_text(response)
        want = None if expected is None else len(expected)
        ends_itself = bool(expected) and "finalMessage" in expected[-1]
        messages: list = []

        def emit(item: str) -> str | None:
            item = item.strip().lstrip("[")
            if item:
                messages.append(json.loads(item))
                if produce_after_header is not None and "header" in messages[-1]:
                    return self.produce(produce_after_header)
            return None

        body = {"ksql": sql, "streamsProperties": properties}
        try:
            with self.client.stream("POST", "/query", json=body, timeout=PUSH_TIMEOUT) as response:
                if response.status_code != 200:
                    response.read()
                    return response.status_code, _json_or_text(response)
                buffer = ""
                deadline = time.monotonic() + PUSH_TIMEOUT
                for chunk in response.iter_text():
                    buffer += chunk
                    *items, buffer = buffer.split(",\n")
                    if _complete(buffer.strip().lstrip("[")):  # a message not followed by another yet
                        items.append(buffer)
                        buffer = ""
                    for item in items:
                        problem = emit(item)
                        if problem:
                            return 500, problem
                    if want is not None and len(messages) >= want and not ends_itself:
                        break
                    if time.monotonic() > deadline:
                        break
                else:
                    rest = buffer.strip()
                    emit(rest[:-1] if rest.endswith("]") else rest)
        except httpx.ReadTimeout:
            pass
        return 200, messages

    def wait_idle(self) -> None:
        """Until every persistent query has processed all its input (their lags, from /clusterStatus);
        a query whose lag stops moving for a while is stuck on an error and not waited for."""
        deadline = time.monotonic() + IDLE_TIMEOUT
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            status = self.client.get("/clusterStatus").json()["clusterStatus"]
            lags = [query["offsetLag"] for host in status.values()
                    for query in host["hostStoreLags"]["stateStoreLags"].values()]
            if not any(lags):
                return
            if lags != last:
                last, since = lags, time.monotonic()
            elif time.monotonic() - since > STUCK_SECONDS:
                return
            time.sleep(0.01)

    def _check_outputs(self, outputs: list[dict]) -> str | None:
        by_topic: dict[str, list[dict]] = {}
        for record in outputs:
            by_topic.setdefault(record["topic"], []).append(record)
        if by_topic:
            self.wait_idle()
        for topic, expected in by_topic.items():
            problem = _compare_records(topic, expected, self.print_topic(topic, len(expected)))
            if problem:
                return problem
        return None

    def print_topic(self, topic: str, limit: int) -> list[dict]:
        """The first `limit` records of a topic, read back with PRINT ... FROM BEGINNING."""
        body = {"ksql": f"PRINT '{topic}' FROM BEGINNING LIMIT {limit};", "streamsProperties": {}}
        records = []
        try:
            with self.client.stream("POST", "/query", json=body, timeout=0.5) as response:
                for line in response.iter_lines():
                    match = re.match(r"rowtime: (.+?) Z, key: (.*), value: (.*), partition: (\d+)$", line)
                    if match:
                        when = dt.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")
                        ts = int(when.replace(tzinfo=dt.UTC).timestamp() * 1000)
                        records.append({"timestamp": ts, "key": match.group(2), "value": match.group(3)})
        except httpx.ReadTimeout:
            pass
        return records


def _complete(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _is_query(sql: str) -> bool:
    return sql.lstrip().upper().startswith(("SELECT ", "SELECT\n", "PRINT "))


def _topics(case: dict) -> dict[str, int]:
    """Topics a case needs before its statements run: declared ones, sources' topics, input topics."""
    topics: dict[str, int] = {}
    for spec in case.get("topics") or []:
        topics[spec["name"]] = int(spec.get("partitions") or 1)
    for sql in case["statements"]:
        if re.match(r"\s*CREATE\s+(OR\s+REPLACE\s+)?(SOURCE\s+)?(STREAM|TABLE)\b", sql, re.I) and \
                not re.search(r"\bAS\s+SELECT\b", sql, re.I) and not re.search(r"\bPARTITIONS\s*=", sql, re.I):
            match = re.search(r"KAFKA_TOPIC\s*=\s*'([^']*)'", sql, re.I)
            if match:
                topics.setdefault(match.group(1), 1)
    for record in case.get("inputs") or []:
        if not any(re.search(rf"KAFKA_TOPIC\s*=\s*'{re.escape(record['topic'])}'[^;]*PARTITIONS\s*=", s, re.I)
                   for s in case["statements"]):
            topics.setdefault(record["topic"], 1)
    return topics


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _check_error(expected: dict, response_or_status: Any, body: Any = None) -> str | None:
    if isinstance(response_or_status, httpx.Response):
        status, body = response_or_status.status_code, _json_or_text(response_or_status)
    else:
        status = response_or_status
    if "status" in expected and status != expected["status"]:
        return f"expected status {expected['status']}, got {status}: {body}"
    if not isinstance(body, dict):
        return f"expected an error entity, got {body!r}"
    kind = expected.get("type", "")
    if kind.endswith("KsqlStatementErrorMessage") and body.get("@type") != "statement_error":
        return f"expected a statement_error, got {body}"
    message = expected.get("message")
    if message is not None and message not in str(body.get("message")):
        return f"expected an error containing {message!r}, got {body.get('message')!r}"
    return None


def _compare_responses(expected: list[dict], actual: list[tuple[str, Any]]) -> str | None:
    if len(actual) < len(expected):
        return f"expected {len(expected)} responses, got {len(actual)}: {actual}"
    for i, want in enumerate(expected):
        [(kind, content)] = want.items()
        got_kind, got = actual[i]
        if kind != got_kind:
            return f"response {i}: expected {kind}, got {got_kind}: {got}"
        if kind == "admin":
            for key, value in content.items():
                if got.get(key) != value:
                    return f"response {i}: expected {key}={value!r}, got {got.get(key)!r} in {got}"
        else:
            problem = _compare_query(content, got)
            if problem:
                return f"response {i}: {problem}"
    return None


def _compare_query(expected: list[dict], actual: list[dict]) -> str | None:
    if len(expected) != len(actual):
        return f"expected {len(expected)} messages, got {len(actual)}:\n  expected {expected}\n  actual   {actual}"
    for want, got in zip(expected, actual, strict=True):
        if "header" in want:
            header = got.get("header")
            if header is None:
                return f"expected a header, got {got}"
            for key, value in want["header"].items():
                name, _, op = key.partition("|")
                have = header.get(name)
                if op == "starts_with" and not str(have).startswith(value):
                    return f"header {name}: expected to start with {value!r}, got {have!r}"
                if not op and have != value:
                    return f"header {name}: expected {value!r}, got {have!r}"
        elif "row" in want:
            row = got.get("row")
            if row is None:
                return f"expected a row, got {got}"
            if not _equal(want["row"].get("columns"), row.get("columns")) or \
                    bool(want["row"].get("tombstone")) != bool(row.get("tombstone")):
                return f"expected row {want['row']}, got {row}"
        elif want != got:
            return f"expected {want}, got {got}"
    return None


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _compare_records(topic: str, expected: list[dict], actual: list[dict]) -> str | None:
    if len(actual) != len(expected):
        return f"topic {topic}: expected {len(expected)} records, got {len(actual)}: {actual}"
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if "timestamp" in want and want["timestamp"] != got["timestamp"]:
            return f"topic {topic} record {i}: expected timestamp {want['timestamp']}, got {got['timestamp']}"
        for side in ("key", "value"):
            if not _printed_equal(want.get(side), got[side]):
                return f"topic {topic} record {i}: expected {side} {want.get(side)!r}, got {got[side]!r}"
    return None


def _printed_equal(expected: Any, printed: str) -> bool:
    """A test file's JSON value against PRINT's text of it."""
    if expected is None:
        return printed in ("<null>", "null")
    if isinstance(expected, str) and printed == expected:
        return True
    try:
        return _equal(expected, json.loads(printed))
    except ValueError:
        return isinstance(expected, (int, float)) and printed == str(expected)


def run_files(url: str, paths: list[Path], pattern: str | None = None, verbose: bool = False,
              only: set[str] | None = None, restart: Callable[[], str] | None = None
              ) -> dict[str, list[Outcome]]:
    """Run the cases of `paths` (those matching `pattern`, or named '<file>: <case>' in `only`);
    `restart` replaces the server with a fresh one and returns its URL."""
    runner = Runner(url, verbose, restart)
    results: dict[str, list[Outcome]] = {}
    for path in paths:
        outcomes = []
        for case in load_file(path):
            name = f"{path.stem}: {case['name']}"
            if (pattern and not re.search(pattern, name)) or (only is not None and name not in only):
                continue
            outcome = runner.run(case)
            outcomes.append(outcome)
            if verbose and not outcome.passed:
                print(f"FAIL {path.stem}: {outcome.name}\n    {outcome.reason[:1500]}")
        results[path.stem] = outcomes
    return results


def summary(results: dict[str, list[Outcome]]) -> str:
    lines = []
    total = passed = 0
    for stem, outcomes in results.items():
        ok = sum(o.passed for o in outcomes)
        lines.append(f"{stem}: {ok}/{len(outcomes)}")
        total += len(outcomes)
        passed += ok
    lines.append(f"{passed} passed, {total - passed} failed ({100 * passed / max(total, 1):.0f}%)")
    return "\n".join(lines)


class Fleet:
    """Starts conformance servers in `directory`, one at a time: restart() replaces the current one."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.server = None

    def restart(self) -> str:
        from tests.server.harness import ServerProcess

        self.stop()
        self.count += 1
        self.server = ServerProcess(self.directory / f"data{self.count}", SERVER_PROPERTIES).start()
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server = None


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.server.harness import SHARED

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="rest/*.json files (default: all)")
    parser.add_argument("-k", dest="pattern", help="only cases whose '<file>: <name>' matches")
    parser.add_argument("-v", dest="verbose", action="store_true", help="show why each case failed")
    parser.add_argument("--url", help="use this running server instead of starting one")
    parser.add_argument("--passing", help="write the names of passing cases to this file")
    args = parser.parse_args()
    paths = [Path(f) for f in args.files] or sorted((SHARED / "conformance" / REST_DIR_NAME).glob("*.json"))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(Path(tmp))
        url = args.url or fleet.restart()
        try:
            results = run_files(url, paths, args.pattern, args.verbose,
                                restart=None if args.url else fleet.restart)
        finally:
            fleet.stop()
    print(summary(results))
    if args.passing:
        names = sorted(f"{stem}: {o.name}" for stem, outcomes in results.items() for o in outcomes if o.passed)
        Path(args.passing).write_text("\n".join(names) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Fleet", "Outcome", "Runner", "SERVER_PROPERTIES", "load_file", "run_files", "summary"]
