"""Kafka's transaction coordinator for this broker: producer ids, epochs and transaction outcomes.

A transactional producer gets, per transactional.id, a producer id and an epoch
(InitProducerId); a new InitProducerId for the same id bumps the epoch, which fences the
older producer (its requests then fail with PRODUCER_FENCED) and aborts what it left open.
A transaction adds partitions (AddPartitionsToTxn) and consumer-group offsets
(AddOffsetsToTxn, TxnOffsetCommit), and ends with EndTxn: a commit or abort marker goes
into every partition it wrote to, and on commit its offsets are committed to the group.

The state of each transactional id is written to the log's transaction index
(`txn_index.set_coordinator_state`) before it takes effect, in the same journal as the
partitions' transactional records. On start (`recover()`), a transaction that was open or
half-ended at a crash is finished consistently: a prepared commit is committed, anything
else aborted (the producer's epoch is bumped, so a producer still holding it is fenced).
A transaction left open longer than its transaction.timeout.ms is aborted the same way.

Runs on the Kafka listener's event loop; writes to the log go to a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.kafka.broker import Broker

log = logging.getLogger("ksql.server.kafka")

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REQUEST = 42
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
OPERATION_NOT_ATTEMPTED = 55
PRODUCER_FENCED = 90

MAX_TRANSACTION_TIMEOUT_MS = 900_000  # transaction.max.timeout.ms
MAX_EPOCH = 32_767

EMPTY, ONGOING = "Empty", "Ongoing"
PREPARE_COMMIT, PREPARE_ABORT = "PrepareCommit", "PrepareAbort"
COMPLETE_COMMIT, COMPLETE_ABORT = "CompleteCommit", "CompleteAbort"

TopicPartition = tuple[str, int]


@dataclass
class Transaction:
    """The coordinator's state of one transactional id."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: str = EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    offsets: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)  # pending, per group
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    expiry: asyncio.TimerHandle | None = None

    def doc(self) -> dict:
        return {"pid": self.producer_id, "epoch": self.producer_epoch, "timeout": self.timeout_ms,
                "state": self.state, "partitions": sorted([t, p] for t, p in self.partitions),
                "groups": sorted(self.groups),
                "offsets": {g: sorted([t, p, o] for (t, p), o in offs.items()) for g, offs in self.offsets.items()}}

    @classmethod
    def of(cls, transactional_id: str, doc: dict) -> Transaction:
        return cls(transactional_id, doc["pid"], doc["epoch"], doc["timeout"], doc["state"],
                   {(t, p) for t, p in doc["partitions"]}, set(doc["groups"]),
                   {g: {(t, p): o for t, p, o in offs} for g, offs in doc["offsets"].items()})


class TransactionCoordinator:
    """Every transactional id of this broker (it coordinates them all)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.index = broker.log.txn_index
        self.transactions: dict[str, Transaction] = {}
        self.by_producer: dict[int, Transaction] = {}
        for tid, doc in self.index.coordinator_state.items():
            txn = Transaction.of(tid, doc)
            self.transactions[tid] = txn
            self.by_producer[txn.producer_id] = txn

    # ------------------------------------------------------------------ start-up

    async def recover(self) -> None:
        """Finish the transactions a crash (or a stop) left open or half-ended."""
        for txn in list(self.transactions.values()):
            if txn.state in (ONGOING, PREPARE_COMMIT, PREPARE_ABORT):
                async with txn.lock:
                    commit = txn.state == PREPARE_COMMIT
                    if not commit:
                        await self._bump_epoch(txn)
                    log.info("transactional id %r: %s the transaction left open at the last stop",
                             txn.transactional_id, "committing" if commit else "aborting")
                    await self._end(txn, commit)

    # ------------------------------------------------------------------ producer ids

    async def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int = -1,
                               producer_epoch: int = -1) -> tuple[int, int, int]:
        """InitProducerId of a transactional id: (error, producer id, epoch)."""
        if not transactional_id:
            return INVALID_REQUEST, -1, -1
        if not 0 < timeout_ms <= MAX_TRANSACTION_TIMEOUT_MS:
            return INVALID_TRANSACTION_TIMEOUT, -1, -1
        txn = self.transactions.get(transactional_id)
        if txn is None:
            txn = Transaction(transactional_id, self.broker.producer_ids.new(), 0, timeout_ms)
            self.transactions[transactional_id] = txn
            self.by_producer[txn.producer_id] = txn
            async with txn.lock:
                await self._persist(txn)
            return NONE, txn.producer_id, txn.producer_epoch
        async with txn.lock:
            if producer_id >= 0 and (producer_id, producer_epoch) != (txn.producer_id, txn.producer_epoch):
                return PRODUCER_FENCED, -1, -1  # an older producer trying to recover: it was replaced
            txn.timeout_ms = timeout_ms
            await self._bump_epoch(txn)
            if txn.state in (ONGOING, PREPARE_ABORT, PREPARE_COMMIT):
                await self._end(txn, txn.state == PREPARE_COMMIT)
            else:
                txn.state = EMPTY
                await self._persist(txn)
            return NONE, txn.producer_id, txn.producer_epoch

    async def _bump_epoch(self, txn: Transaction) -> None:
        """Fence the producer holding the current epoch (a new producer id when epochs run out)."""
        if txn.producer_epoch >= MAX_EPOCH - 1:
            self.by_producer.pop(txn.producer_id, None)
            txn.producer_id, txn.producer_epoch = self.broker.producer_ids.new(), 0
            self.by_producer[txn.producer_id] = txn
        else:
            txn.producer_epoch += 1
        await self._persist(txn)

    # ------------------------------------------------------------------ within a transaction

    def _check(self, txn: Transaction | None, producer_id: int, producer_epoch: int) -> int:
        if txn is None or txn.producer_id != producer_id:
            return INVALID_PRODUCER_ID_MAPPING
        if producer_epoch != txn.producer_epoch:
            return PRODUCER_FENCED
        if txn.state in (PREPARE_COMMIT, PREPARE_ABORT):
            return INVALID_TXN_STATE
        return NONE

    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """AddPartitionsToTxn: the error of each partition (all fail if one does)."""
        txn = self.transactions.get(transactional_id)
        error = self._check(txn, producer_id, producer_epoch)
        if error:
            return dict.fromkeys(partitions, error)
        unknown = {tp for tp in partitions if not self._exists(tp)}
        if unknown:
            return {tp: UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else OPERATION_NOT_ATTEMPTED
                    for tp in partitions}
        assert txn is not None
        async with txn.lock:
            if not set(partitions) <= txn.partitions or txn.state != ONGOING:
                txn.partitions.update(partitions)
                self._begin(txn)
                await self._persist(txn)
        return dict.fromkeys(partitions, NONE)

    async def add_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int, group: str) -> int:
        """AddOffsetsToTxn: the transaction will commit offsets of `group`."""
        txn = self.transactions.get(transactional_id)
        error = self._check(txn, producer_id, producer_epoch)
        if error:
            return error
        assert txn is not None
        async with txn.lock:
            if group not in txn.groups or txn.state != ONGOING:
                txn.groups.add(group)
                self._begin(txn)
                await self._persist(txn)
        return NONE

    async def commit_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int, group: str,
                             offsets: dict[TopicPartition, int]) -> int:
        """TxnOffsetCommit: offsets committed to the group when (if) the transaction commits."""
        txn = self.transactions.get(transactional_id)
        error = self._check(txn, producer_id, producer_epoch)
        if error:
            return error
        assert txn is not None
        if group not in txn.groups or txn.state != ONGOING:
            return INVALID_TXN_STATE  # AddOffsetsToTxn first
        async with txn.lock:
            txn.offsets.setdefault(group, {}).update(offsets)
            await self._persist(txn)
        return NONE

    def _begin(self, txn: Transaction) -> None:
        if txn.state != ONGOING:
            txn.state = ONGOING
            if txn.expiry is not None:
                txn.expiry.cancel()
            txn.expiry = asyncio.get_running_loop().call_later(
                txn.timeout_ms / 1000, lambda: asyncio.ensure_future(self._expire(txn, txn.producer_epoch)))

    async def _expire(self, txn: Transaction, epoch: int) -> None:
        """The transaction outlived its timeout: abort it and fence its producer."""
        async with txn.lock:
            if txn.state != ONGOING or txn.producer_epoch != epoch:
                return
            log.info("transactional id %r: transaction timed out after %d ms: aborting",
                     txn.transactional_id, txn.timeout_ms)
            await self._bump_epoch(txn)
            await self._end(txn, commit=False)

    def produce_error(self, producer_id: int, producer_epoch: int, topic: str, partition: int) -> int:
        """Whether a transactional Produce of this producer may write to topic-partition now."""
        txn = self.by_producer.get(producer_id)
        if txn is None:
            return INVALID_PRODUCER_ID_MAPPING
        if producer_epoch < txn.producer_epoch:
            return PRODUCER_FENCED
        if producer_epoch != txn.producer_epoch:
            return INVALID_PRODUCER_EPOCH
        if txn.state != ONGOING or (topic, partition) not in txn.partitions:
            return INVALID_TXN_STATE
        return NONE

    # ------------------------------------------------------------------ EndTxn

    async def end_transaction(self, transactional_id: str, producer_id: int, producer_epoch: int,
                              commit: bool) -> int:
        """EndTxn: markers into the transaction's partitions; on commit, its offsets to their groups."""
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return INVALID_PRODUCER_ID_MAPPING
        async with txn.lock:
            if producer_epoch != txn.producer_epoch:
                return PRODUCER_FENCED
            if txn.state in (COMPLETE_COMMIT, COMPLETE_ABORT):  # a retry of the request that ended it
                return NONE if txn.state == (COMPLETE_COMMIT if commit else COMPLETE_ABORT) else INVALID_TXN_STATE
            if txn.state != ONGOING:
                return INVALID_TXN_STATE
            await self._end(txn, commit)
            return NONE

    async def _end(self, txn: Transaction, commit: bool) -> None:
        """Prepare (durably), write the markers, commit the offsets, complete. Idempotent from any
        step, which is what recovery relies on. Caller holds txn.lock."""
        if txn.expiry is not None:
            txn.expiry.cancel()
            txn.expiry = None
        txn.state = PREPARE_COMMIT if commit else PREPARE_ABORT
        await self._persist(txn)
        for topic, partition in sorted(txn.partitions):
            if self._exists((topic, partition)) and self.index.first_open(topic, partition, txn.producer_id) is not None:
                await asyncio.to_thread(self.broker.append_marker, topic, partition, txn.producer_id,
                                        txn.producer_epoch, commit)
        if commit:
            for group, offsets in txn.offsets.items():
                live = {tp: o for tp, o in offsets.items() if self._exists(tp)}
                if live:
                    await asyncio.to_thread(self.broker.log.commit, group, live)
        txn.state = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        txn.partitions.clear()
        txn.groups.clear()
        txn.offsets.clear()
        await self._persist(txn)
        self.broker.notify_appended()

    # ------------------------------------------------------------------ helpers

    def pending_offsets(self, group: str) -> set[TopicPartition]:
        """Partitions of `group` with offsets committed by a transaction still open."""
        return {tp for txn in self.transactions.values() if txn.state != COMPLETE_COMMIT
                for tp in txn.offsets.get(group, {})}

    def _exists(self, tp: TopicPartition) -> bool:
        log_ = self.broker.log
        return log_.topic_exists(tp[0]) and 0 <= tp[1] < log_.partitions(tp[0])

    async def _persist(self, txn: Transaction) -> None:
        await asyncio.to_thread(self.index.set_coordinator_state, txn.transactional_id, txn.doc())

