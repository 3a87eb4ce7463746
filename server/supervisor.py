"""Persistent queries under faults: a failed poll leaves no trace, and the query retries by itself.

Each poll of a query is one transaction (its output, changelog and offset
commits): of the TransactionalLog on the embedded log, of the query's Kafka
producer on Kafka with exactly_once_v2 (where a poll that a rebalance refused
is dropped and the query rebuilt, without an ERROR: the partitions' new owner
processes that input). When a poll fails (the disk is full, an I/O
error, a bug), the supervisor

1. drops what the poll held back (nothing of it reached the log),
2. rebuilds the query's in-memory state from the log (`query.recover()`): an
   aggregation from its changelog, a join by replaying the input it had
   committed, exactly as a restart would. The hot path keeps no undo log, so
   it pays nothing for this; a failure pays the cost of a restore instead. If
   the journal already held the transaction when a later write failed, the
   transaction is decided and is rolled forward first, so the rebuilt state
   includes it;
3. puts the query in ERROR with the reason (SHOW QUERIES, EXPLAIN, /healthcheck)
   and retries it after an exponential backoff (ksqlDB's
   ksql.query.retry.backoff.initial.ms doubling up to ksql.query.retry.backoff.max.ms);
   the first poll that succeeds puts it back to RUNNING.

A RESUME of a query in ERROR retries it at once, and so does the first retry of a query whose
worker process died (server.workers): nothing is wrong with the query itself.

Queries computed by worker processes are polled in two steps so the workers run
in parallel with this thread: every query's next batches are submitted first,
then each query's results are collected and committed, and as soon as a query's
transaction is flushed its following batches are submitted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ksql.engine.log import RebalanceError
from ksql.engine.query import OffloadLost, with_query_error
from server.errors import storage_problem

log = logging.getLogger("ksql.server.queries")

RUNNING, PAUSED, ERROR = "RUNNING", "PAUSED", "ERROR"


def failure_reason(err: Exception) -> str:
    return storage_problem(err) if isinstance(err, OSError) else f"the query failed: {err}"


class PollTransactions(Protocol):
    """A log that makes each poll one transaction: server.txlog's TransactionalLog on the embedded log,
    ksql.engine.log.kafka_eos's ExactlyOnceKafkaLog on Kafka with exactly_once_v2."""

    def transactions(self) -> AbstractContextManager[None]: ...

    def flush(self) -> None: ...

    def rollback(self) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (1, 2, ...): initial, doubling, capped at max."""

    initial_ms: int = 15_000
    max_ms: int = 900_000

    def delay(self, attempt: int) -> float:
        return min(self.initial_ms * 2 ** min(attempt - 1, 62), self.max_ms) / 1000


@dataclass(frozen=True)
class ErrorClassifier:
    """ksql.error.classifier.regex: lines of `<TYPE> <REGEX>` (TYPE: USER or SYSTEM). A query failure whose
    message or exception class name the regex finds gets that type in the query's errors (EXPLAIN's
    queryErrors); the first matching line wins."""

    rules: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def from_config(cls, text: str) -> ErrorClassifier:
        """The classifier the config describes; a line that is not `<TYPE> <REGEX>` is ignored with a
        warning, as ksqlDB ignores it."""
        rules = []
        for line in str(text or "").splitlines():
            kind, _, regex = line.strip().partition(" ")
            if not line.strip():
                continue
            try:
                if kind.upper() not in ("USER", "SYSTEM") or not regex.strip():
                    raise ValueError("expected '<USER|SYSTEM> <regular expression>'")
                rules.append((kind.upper(), re.compile(regex.strip(), re.DOTALL)))
            except (ValueError, re.error) as err:
                log.warning("ignoring ksql.error.classifier.regex line %r: %s", line, err)
        return cls(tuple(rules))

    def classify(self, err: Exception) -> str | None:
        """The type the rules give `err`, None if none matches."""
        texts = (type(err).__name__, str(err))
        return next((kind for kind, pattern in self.rules if any(pattern.search(t) for t in texts)), None)


@dataclass
class Failure:
    """A query in ERROR: why, how often it failed in a row, when it is tried again."""

    query: Any
    message: str
    attempts: int
    retry_at: float
    recovered: bool  # its in-memory state was rebuilt from the log after the failure


class QuerySupervisor:
    """Polls persistent queries, each poll one transaction; failed queries go to ERROR and retry."""

    def __init__(self, txlog: PollTransactions | None, backoff: Backoff,
                 clock: Callable[[], float] = time.monotonic, classifier: ErrorClassifier | None = None):
        self.txlog = txlog
        self.backoff = backoff
        self.classifier = classifier or ErrorClassifier()
        self.clock = clock
        self.failures: dict[str, Failure] = {}

    def poll_all(self, queries: Iterable[Any]) -> int:
        """One poll of every query: how many records they processed."""
        queries = list(queries)
        live = {q.query_id for q in queries}
        for gone in [qid for qid in self.failures if qid not in live]:
            del self.failures[gone]  # terminated
        if self.txlog is None:
            return sum(self.poll(q) for q in queries)
        with self.txlog.transactions():
            for query in queries:
                self._submit(query)
            return sum(self.poll(q) for q in queries)

    def _submit(self, query: Any) -> None:
        """Hand an offloaded query's next batches to its worker (a no-op for other queries); with
        nothing held in the transaction, so a failure here is handled like a failed poll."""
        if query.query_id in self.failures or getattr(query, "offload", None) is None:
            return
        try:
            query.submit()
        except Exception as err:  # noqa: BLE001 - one query's failure must not stop the others
            self._fail(query, err, None)

    def failed(self) -> dict[str, str]:
        """Query id -> why it is in ERROR (a failed query PAUSEd since is not)."""
        failures = list(self.failures.values())  # one step under the GIL: safe beside the runner thread
        return {f.query.query_id: f.message for f in failures if f.query.state == ERROR}

    def poll(self, query: Any) -> int:
        failure = self.failures.get(query.query_id)
        if failure is not None and (query.state == PAUSED or
                                    query.state == ERROR and self.clock() < failure.retry_at):
            return 0
        processed = query.processed
        try:
            if failure is not None:
                if not failure.recovered:
                    self._recover(query)
                query.state = RUNNING
            work = query.poll()
            if self.txlog is not None:
                self.txlog.flush()  # the query's output, state and offsets: one transaction
        except RebalanceError as err:
            # the group gave partitions of this poll to another server before its transaction committed:
            # nothing of it was written, and the new owner processes that input
            query.processed = processed
            self._forget_poll(query, err, failure)
            return 0
        except Exception as err:  # noqa: BLE001 - one query's failure must not stop the others
            query.processed = processed
            self._fail(query, err, failure)
            return 0
        if failure is not None:
            del self.failures[query.query_id]
            log.warning("persistent query %s is running again after %d failed attempts", query.query_id,
                        failure.attempts)
        self._submit(query)  # computed while the other queries are written
        return work

    def _forget_poll(self, query: Any, err: RebalanceError, previous: Failure | None) -> None:
        """Drop a poll whose transaction a rebalance refused and rebuild the query from the committed state."""
        log.info("persistent query %s: %s: its poll is dropped", query.query_id, err)
        if self.txlog is not None:
            self.txlog.rollback()
        try:
            self._recover(query)
        except Exception as again:  # noqa: BLE001 - the state cannot be rebuilt: a failure like any other
            self._fail(query, again, previous)
            return
        if self.txlog is not None:
            self.txlog.rollback()  # the restore re-commits the offsets the log has: nothing to add

    def _recover(self, query: Any) -> None:
        """Finish a decided transaction, then rebuild the query's state from what the log holds."""
        if self.txlog is not None:
            self.txlog.finish()
        query.recover()

    def _fail(self, query: Any, err: Exception, previous: Failure | None) -> None:
        if self.txlog is not None:
            self.txlog.rollback()
        try:
            self._recover(query)
            recovered = True
            if self.txlog is not None:
                self.txlog.rollback()  # the restore re-commits the offsets the log has: nothing to add
        except Exception as again:  # noqa: BLE001 - the fault persists: recover before the retry
            log.debug("persistent query %s: state not rebuilt yet: %s", query.query_id, again)
            recovered = False
        attempts = (previous.attempts if previous is not None else 0) + 1
        delay = 0 if isinstance(err, OffloadLost) and attempts == 1 else self.backoff.delay(attempts)
        message = f"{failure_reason(err)}; retrying in {delay:g} s (attempt {attempts})"
        self.failures[query.query_id] = Failure(query, message, attempts, self.clock() + delay, recovered)
        query.state = ERROR
        kind = self.classifier.classify(err) or ("SYSTEM" if isinstance(err, OSError) else "UNKNOWN")
        query.query_errors = with_query_error(list(getattr(query, "query_errors", ())), message, kind)
        if isinstance(err, OSError):
            log.error("persistent query %s failed: %s (%s)", query.query_id, message, err)
        else:
            log.error("persistent query %s failed: %s", query.query_id, message, exc_info=err)
