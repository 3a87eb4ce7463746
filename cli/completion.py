"""Tab completion: ksqlDB's keywords and the names the server knows.

Names (streams, tables, their columns, functions, persistent queries, topics)
come from the server with SHOW STREAMS / SHOW TABLES / DESCRIBE / SHOW FUNCTIONS /
SHOW QUERIES / SHOW TOPICS, fetched lazily when a completion is asked for and
fetched again after a statement that may have changed them (CREATE, DROP ...).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from cli.client import ClientError, KsqlClient

KEYWORDS = sorted(set("""
SELECT FROM WHERE GROUP BY HAVING PARTITION EMIT CHANGES FINAL LIMIT WINDOW TUMBLING HOPPING SESSION SIZE
ADVANCE BY RETENTION GRACE PERIOD WITHIN JOIN INNER LEFT RIGHT FULL OUTER ON AS AND OR NOT NULL IS IN
BETWEEN LIKE ESCAPE CASE WHEN THEN ELSE END CAST TRUE FALSE DISTINCT ALL EXISTS IF
CREATE OR REPLACE STREAM TABLE STREAMS TABLES SOURCE WITH INSERT INTO VALUES DROP DELETE TOPIC TOPICS
ALTER ADD COLUMN TYPE TYPES KEY PRIMARY HEADERS HEADER
SHOW LIST DESCRIBE EXTENDED EXPLAIN TERMINATE PAUSE RESUME QUERIES QUERY FUNCTIONS FUNCTION PROPERTIES
VARIABLES PRINT BEGINNING INTERVAL SAMPLE SET UNSET DEFINE UNDEFINE RUN SCRIPT ASSERT SCHEMA TIMEOUT
CONNECTOR CONNECTORS SINK PLUGINS
BOOLEAN INT INTEGER BIGINT DOUBLE DECIMAL VARCHAR STRING BYTES DATE TIME TIMESTAMP ARRAY MAP STRUCT
MILLISECONDS SECONDS MINUTES HOURS DAYS
ROWTIME ROWPARTITION ROWOFFSET WINDOWSTART WINDOWEND
KAFKA_TOPIC VALUE_FORMAT KEY_FORMAT FORMAT PARTITIONS REPLICAS TIMESTAMP_FORMAT VALUE_DELIMITER KEY_DELIMITER
WRAP_SINGLE_VALUE KEY_SCHEMA_ID VALUE_SCHEMA_ID
""".split()))

CLI_WORDS = ["exit", "quit", "help", "output", "version", "clear", "history", "server", "spool",
             "request-pipelining"]

# the word before the cursor's word -> the kinds of name that may follow it, best first
_CONTEXT = {
    "FROM": ("source",), "JOIN": ("source",), "INTO": ("source",), "DESCRIBE": ("source", "keyword"),
    "EXTENDED": ("source",), "STREAM": ("source",), "TABLE": ("source",), "EXISTS": ("source",),
    "TERMINATE": ("query",), "EXPLAIN": ("query", "keyword"), "PAUSE": ("query",), "RESUME": ("query",),
    "PRINT": ("topic",), "FUNCTION": ("function",),
}
_WORD = re.compile(r"[A-Za-z0-9_@]*$")
_PLAIN_IDENTIFIER = re.compile(r"[A-Z_][A-Z0-9_@]*")


@dataclass
class Names:
    sources: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


class NameCache:
    """The server's names, fetched on a connection of its own (completion runs in a thread)."""

    def __init__(self, connect: Callable[[], KsqlClient]):
        self._connect = connect
        self._client: KsqlClient | None = None
        self._lock = threading.Lock()
        self._names = Names()
        self._stale = True

    def invalidate(self) -> None:
        self._stale = True

    def reconnect(self) -> None:
        """The session switched servers: names come from the new one (the client is made again)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._names = Names()
            self._stale = True

    def names(self) -> Names:
        if self._stale:
            with self._lock:
                if self._stale:
                    self._stale = False
                    self._names = self._fetch()
        return self._names

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _entities(self, sql: str) -> list[dict]:
        if self._client is None:
            self._client = self._connect()
        try:
            return [e for e in self._client.ksql(sql, {}, {}) if isinstance(e, dict)]
        except ClientError:
            return []

    def _fetch(self) -> Names:
        names = Names()
        for entity in self._entities("SHOW STREAMS;") + self._entities("SHOW TABLES;"):
            names.sources += [str(s["name"]) for s in entity.get("streams") or entity.get("tables") or []
                              if s.get("name")]
        if names.sources:
            described = self._entities(" ".join(f"DESCRIBE {quote(s)};" for s in names.sources))
            columns = {str(f["name"]) for e in described for f in (e.get("sourceDescription") or {}).get("fields") or []
                       if f.get("name")}
            names.columns = sorted(columns)
        names.functions = list(self._names.functions)  # the built-in functions do not change: fetched once
        if not names.functions:
            for entity in self._entities("SHOW FUNCTIONS;"):
                names.functions += [str(f["name"]) for f in entity.get("functions") or [] if f.get("name")]
        for entity in self._entities("SHOW QUERIES;"):
            names.queries += [str(q["id"]) for q in entity.get("queries") or [] if q.get("id")]
        for entity in self._entities("SHOW TOPICS;"):
            names.topics += [str(t["name"]) for t in entity.get("topics") or [] if t.get("name")]
        return names


def quote(name: str) -> str:
    """A name as it must be written in SQL: bare when it reads back as itself, else back-quoted."""
    return name if _PLAIN_IDENTIFIER.fullmatch(name) and name not in KEYWORDS else "`" + name.replace("`", "``") + "`"


class KsqlCompleter(Completer):
    def __init__(self, cache: NameCache):
        self.cache = cache

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        word = _WORD.search(before).group(0)  # type: ignore[union-attr]
        rest = before[: len(before) - len(word)]
        previous = re.findall(r"[A-Za-z_]+", rest)
        context = _CONTEXT.get(previous[-1].upper(), ()) if previous else ()
        if not word and not context:
            return
        at_start = not rest.strip() or rest.rstrip().endswith(";")
        lower = word.islower()
        seen: set[str] = set()
        for text, meta, is_name in self._candidates(context, at_start):
            if not text.upper().startswith(word.upper()) or text.upper() in seen:
                continue
            seen.add(text.upper())
            if is_name:
                insert = quote(text)
                insert = insert.lower() if lower and not insert.startswith("`") else insert
            else:
                insert = text.lower() if lower or text in CLI_WORDS else text
            yield Completion(insert, start_position=-len(word), display_meta=meta)

    def _candidates(self, context: Iterable[str], at_start: bool) -> Iterator[tuple[str, str, bool]]:
        names = self.cache.names()
        groups = {
            "source": [(n, "stream/table", True) for n in sorted(names.sources)],
            "query": [(n, "query", True) for n in sorted(names.queries)],
            "topic": [(n, "topic", False) for n in sorted(names.topics)],
            "function": [(n, "function", True) for n in sorted(names.functions)],
            "column": [(n, "column", True) for n in sorted(names.columns)],
            "keyword": [(k, "", False) for k in KEYWORDS],
        }
        order = list(context) or ["keyword", "column", "source", "function"]
        for kind in order:
            yield from groups[kind]
        if not context and at_start:
            yield from ((w, "command", False) for w in CLI_WORDS)
