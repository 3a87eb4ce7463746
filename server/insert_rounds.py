"""The rows of every /inserts-stream request inserted in shared rounds.

A client sending a row per HTTP chunk would otherwise cost a worker thread hop and
a group commit round per row. Each request instead hands the rows it has read to
InsertRounds and awaits their outcome: while one round runs in a worker thread
(decoding and encoding its rows, then one GroupCommitter.append_many, so one
append and one fsync per partition, shared with the INSERT VALUES writers of that
moment), the rows of every request arriving meanwhile gather for the next round.
A request's rows are acknowledged only once its round has made them durable.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from ksql.engine.log import LogError, Record
from ksql.errors import KsqlError
from server.core import KsqlServer
from server.errors import log_error_message

if TYPE_CHECKING:
    from server.inserts import RowInserter

# per line: None (acknowledged) or why it was refused; or what failed the request's whole append
Outcome = list[str | None] | BaseException


class InsertRounds:
    """Gathers the requests' rows while a round runs; one round (one thread hop) at a time."""

    def __init__(self, server: KsqlServer) -> None:
        self.server = server
        self._pending: list[tuple[RowInserter, list[bytes], asyncio.Future[list[str | None]]]] = []
        self._round: asyncio.Task[None] | None = None
        self.rounds = 0  # rounds run (for tests)

    async def insert(self, inserter: RowInserter, lines: list[bytes]) -> list[str | None]:
        """Insert what is valid of `lines` (JSON objects of column values) into the inserter's target:
        per line None once it is durably in the log, or the message saying why it was refused.
        Raises OSError (a full disk, ...) when none of them could be appended."""
        future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._pending.append((inserter, lines, future))
        if self._round is None:
            self._round = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        """Run rounds until no request waits."""
        taken: list[tuple[RowInserter, list[bytes], asyncio.Future[list[str | None]]]] = []
        try:
            while self._pending:
                taken, self._pending = self._pending, []
                outcomes = await run_in_threadpool(self._insert, [(i, lines) for i, lines, _ in taken])
                self.rounds += 1
                for (_, _, future), outcome in zip(taken, outcomes, strict=True):
                    if future.done():  # the request was cancelled (its client went away)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                taken = []
        except asyncio.CancelledError:  # shutting down
            self._fail(taken, KsqlError("The server is shutting down"))
            raise
        except Exception as err:  # noqa: BLE001 - a bug: each request's response reports it
            self._fail(taken, err)
        finally:
            self._round = None

    def _fail(self, taken: list[tuple[RowInserter, list[bytes], asyncio.Future[list[str | None]]]],
              err: Exception) -> None:
        """Fail the requests of the round that ended with `err`, and those waiting for the next."""
        for _, _, future in taken + self._pending:
            if not future.done():
                future.set_exception(err)
        self._pending = []

    def _insert(self, requests: list[tuple[RowInserter, list[bytes]]]) -> list[Outcome]:
        """One round, in a worker thread: encode the rows of the requests into each target together (a
        call per serde, not per request), then append every request's records in one group commit."""
        alike: dict[tuple[int, int], list[int]] = {}
        for n, (inserter, _) in enumerate(requests):
            alike.setdefault(inserter.encoding, []).append(n)
        encoded: list[tuple[list[str | None], dict[int, list[Record]]]] = [([], {})] * len(requests)
        for indices in alike.values():
            outs = requests[indices[0]][0].encode([requests[n][1] for n in indices])
            for n, out in zip(indices, outs, strict=True):
                encoded[n] = out
        appended = iter(self.server.append_many(
            [(inserter.target.topic, records) for (inserter, _), (_, records) in zip(requests, encoded, strict=True)
             if records]))
        return [_outcome(errors, next(appended) if records else None) for errors, records in encoded]


def _outcome(errors: list[str | None], appended: dict[int, list[int]] | BaseException | None) -> Outcome:
    """The lines' outcomes once their records' append succeeded or failed."""
    if not isinstance(appended, BaseException):
        return errors
    if isinstance(appended, (KsqlError, LogError)):
        message = log_error_message(appended) if isinstance(appended, LogError) else str(appended)
        return [e if e is not None else f"Failed to insert values: {message}" for e in errors]
    return appended

