"""Push queries over one source share one reader (ksql.engine.push_reader): each record is decoded
once per round however many queries read it, and each query still gets exactly its own rows, in order."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from ksql.engine.codec import RecordDecoder
from ksql.engine.engine import Engine, EngineConfig
from ksql.engine.log import MemoryLog, Record
from ksql.engine.transient import LIMIT_REACHED, SharedProjection, TransientQueries, TransientQuery

PARTITIONS = 2


@pytest.fixture
def engine() -> Engine:
    engine = Engine(MemoryLog(), EngineConfig())
    engine.execute(f"CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', PARTITIONS={PARTITIONS}, "
                   "VALUE_FORMAT='JSON');")
    return engine


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """(partition, offset) -> how many times a record was decoded."""
    counts: Counter = Counter()
    decode = RecordDecoder.decode

    def counting(self: RecordDecoder, records: list[Record]) -> list[tuple]:
        counts.update((r.partition, r.offset) for r in records)
        return decode(self, records)

    monkeypatch.setattr(RecordDecoder, "decode", counting)
    return counts


def _write(engine: Engine, values: range) -> None:
    """V = each value, into partition V % PARTITIONS, in order."""
    for partition in range(PARTITIONS):
        engine.log.append("s", partition, [Record(str(v).encode(), orjson.dumps({"V": v}), 1_700_000_000_000 + v, [])
                                           for v in values if v % PARTITIONS == partition])


def _start(engine: Engine, registry: TransientQueries, sql: str, earliest: bool = False,
           capacity: int = 1000) -> TransientQuery:
    [stmt] = engine.prepare(sql)
    return registry.start(engine, stmt, {"auto.offset.reset": "earliest" if earliest else "latest"},
                          capacity=capacity)


def _run(registry: TransientQueries, queries: list[TransientQuery], got: dict[str, list]) -> None:
    """Rounds of the registry until nothing is left to read, each query's consumer taking all it has."""
    while True:
        for q in queries:
            got.setdefault(q.query_id, []).extend(r.columns[0] for r in q.take(100_000))
        if not registry.poll_all():
            return


def _in_partition_order(values: list[int]) -> bool:
    return all([v for v in values if v % PARTITIONS == p] == sorted(v for v in values if v % PARTITIONS == p)
               for p in range(PARTITIONS))


def test_many_queries_decode_each_record_once_and_get_their_own_rows(engine: Engine, decoded: Counter) -> None:
    registry = TransientQueries()
    _write(engine, range(300))
    early = [_start(engine, registry, "SELECT V FROM S EMIT CHANGES;", earliest=True),
             _start(engine, registry, "SELECT V FROM S WHERE V % 3 = 0 EMIT CHANGES;", earliest=True),
             _start(engine, registry, "SELECT V FROM S EMIT CHANGES LIMIT 7;", earliest=True)]
    late = [_start(engine, registry, "SELECT V FROM S EMIT CHANGES;"),
            _start(engine, registry, "SELECT V FROM S WHERE V > 450 EMIT CHANGES;"),
            _start(engine, registry, "SELECT V FROM S WHERE V % 2 = 1 EMIT CHANGES LIMIT 20;")]
    _write(engine, range(300, 600))
    got: dict[str, list] = {}
    _run(registry, early + late, got)
    _write(engine, range(600, 700))
    _run(registry, early + late, got)

    assert set(decoded.values()) == {1} and len(decoded) == 700
    expected = [range(700), range(0, 700, 3), None, range(300, 700), range(451, 700), None]
    for query, values in zip(early + late, expected, strict=True):
        rows = got[query.query_id]
        assert _in_partition_order(rows)
        if values is not None:
            assert sorted(rows) == list(values)
    limited, limited_odd = got[early[2].query_id], got[late[2].query_id]
    assert len(limited) == 7 and early[2].finished == LIMIT_REACHED
    assert len(limited_odd) == 20 and all(v % 2 == 1 and v >= 300 for v in limited_odd)
    assert late[2].finished == LIMIT_REACHED and not any(q.done for q in early[:2] + late[:2])


def test_a_slow_query_holds_up_nobody_and_catches_up_on_its_own(engine: Engine, decoded: Counter) -> None:
    registry = TransientQueries()
    fast = [_start(engine, registry, "SELECT V FROM S EMIT CHANGES;") for _ in range(3)]
    slow = _start(engine, registry, "SELECT V FROM S WHERE V % 5 = 0 EMIT CHANGES;", capacity=10)
    _write(engine, range(500))
    got: dict[str, list] = {}
    _run(registry, fast, got)  # nobody takes the slow query's rows: its buffer stays full

    assert all(sorted(got[q.query_id]) == list(range(500)) for q in fast)
    assert len(slow.buffer) == 10 and not slow.done
    decoded_while_slow = sum(decoded.values())
    assert decoded_while_slow < 2 * 500  # the fast ones shared every batch; the slow one read a few

    _run(registry, [slow], got)  # its consumer reads again: it catches up from where it stopped
    assert sorted(got[slow.query_id]) == list(range(0, 500, 5)) and _in_partition_order(got[slow.query_id])

    _write(engine, range(500, 508))  # all caught up, with room for what comes: one read for all again
    before = Counter(decoded)
    _run(registry, fast + [slow], got)
    assert decoded - before == Counter({(v % PARTITIONS, v // PARTITIONS): 1 for v in range(500, 508)})
    assert sorted(got[slow.query_id]) == list(range(0, 510, 5))


def test_queries_alone_poll_through_their_reader(engine: Engine) -> None:
    registry = TransientQueries()
    a = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    b = _start(engine, registry, "SELECT V FROM S WHERE V < 3 EMIT CHANGES;")
    assert a.reader is b.reader is not None
    _write(engine, range(10))
    while a.poll():
        pass
    assert sorted(r.columns[0] for r in a.take()) == list(range(10)) and not b.buffer
    while b.poll():
        pass
    assert sorted(r.columns[0] for r in b.take()) == [0, 1, 2]
    registry.close(a.query_id)
    registry.close(b.query_id)
    c = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    assert c.reader is not a.reader  # the closed queries' reader went with them


def test_each_query_is_woken_once_per_round_with_all_its_rows(engine: Engine) -> None:
    registry = TransientQueries()
    queries = [_start(engine, registry, "SELECT V FROM S EMIT CHANGES;") for _ in range(3)]
    wakeups = Counter()
    for q in queries:
        q.listener = lambda q=q: wakeups.update([q.query_id])
    _write(engine, range(100))
    assert registry.poll_all() == 100  # both partitions, one round
    assert wakeups == Counter({q.query_id: 1 for q in queries})
    assert all(len(q.buffer) == 100 for q in queries)
    assert registry.poll_all() == 0 and wakeups == Counter({q.query_id: 1 for q in queries})


def test_queries_with_one_statement_evaluate_each_batch_once_and_share_the_rows(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: Counter = Counter()
    process = SharedProjection.process

    def counting(self: SharedProjection, rows: list[tuple]) -> list:
        evaluated.update(r[1] for r in rows)  # V: each row's value
        return process(self, rows)

    monkeypatch.setattr(SharedProjection, "process", counting)
    registry = TransientQueries()
    same = [_start(engine, registry, "SELECT V, V * 2 AS W FROM S WHERE V % 2 = 0 EMIT CHANGES;") for _ in range(5)]
    limited = _start(engine, registry, "SELECT V, V * 2 AS W FROM S WHERE V % 2 = 0 EMIT CHANGES LIMIT 4;")
    other = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    assert len({id(q.pipeline) for q in same + [limited]}) == 1 and other.pipeline is not same[0].pipeline

    _write(engine, range(100))
    registry.poll_all()
    assert set(evaluated.values()) == {2} and len(evaluated) == 100  # once by the statement, once by `other`
    taken = [q.take(1000) for q in same]
    assert all(len(rows) == 50 and _in_partition_order([r.columns[0] for r in rows]) for rows in taken)
    assert all(r.columns == [r.columns[0], 2 * r.columns[0]] and r.columns[0] % 2 == 0 for r in taken[0])
    assert all(a is b for rows in taken[1:] for a, b in zip(taken[0], rows, strict=True))  # the same row objects
    assert len(limited.take()) == 4 and limited.finished == LIMIT_REACHED


def test_a_query_behind_the_others_takes_its_own_slice_of_a_shared_evaluation(engine: Engine) -> None:
    registry = TransientQueries()
    _write(engine, range(40))
    ahead = _start(engine, registry, "SELECT V FROM S WHERE V > 10 EMIT CHANGES;")
    behind = _start(engine, registry, "SELECT V FROM S WHERE V > 10 EMIT CHANGES;", earliest=True, capacity=7)
    got: dict[str, list] = {}
    _run(registry, [ahead, behind], got)
    assert ahead.pipeline is behind.pipeline
    assert got[ahead.query_id] == [] and sorted(got[behind.query_id]) == list(range(11, 40))
    _write(engine, range(40, 60))
    _run(registry, [ahead, behind], got)
    assert sorted(got[ahead.query_id]) == list(range(40, 60))
    assert sorted(got[behind.query_id]) == list(range(11, 60)) and _in_partition_order(got[behind.query_id])


def test_the_shared_evaluation_goes_with_its_last_query(engine: Engine) -> None:
    registry = TransientQueries()
    a = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    b = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    registry.close(a.query_id)
    c = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;")
    assert c.pipeline is b.pipeline
    registry.close(b.query_id)
    registry.close(c.query_id)
    assert _start(engine, registry, "SELECT V FROM S EMIT CHANGES;").pipeline is not b.pipeline


def _run_at_paces(registry: TransientQueries, paces: dict[TransientQuery, int], got: dict[str, list]) -> None:
    """Rounds until nothing is left, each query's consumer taking its rows only every `pace` rounds."""
    round_ = 0
    while True:
        round_ += 1
        for q, pace in paces.items():
            if round_ % pace == 0:
                got.setdefault(q.query_id, []).extend(r.columns[0] for r in q.take(100_000))
        if not registry.poll_all() and all(not q.buffer for q in paces):
            return


def test_queries_drifting_apart_take_kept_batches_without_decoding_again(engine: Engine, decoded: Counter) -> None:
    registry = TransientQueries()
    queries = [_start(engine, registry, sql, capacity=20) for sql in (
        "SELECT V FROM S EMIT CHANGES;", "SELECT V FROM S EMIT CHANGES;", "SELECT V FROM S WHERE V % 2 = 0 EMIT CHANGES;")]
    _write(engine, range(600))
    got: dict[str, list] = {}
    _run_at_paces(registry, {queries[0]: 1, queries[1]: 3, queries[2]: 7}, got)

    assert set(decoded.values()) == {1} and len(decoded) == 600  # read and decoded once, though far apart
    assert sorted(got[queries[0].query_id]) == sorted(got[queries[1].query_id]) == list(range(600))
    assert sorted(got[queries[2].query_id]) == list(range(0, 600, 2))
    assert all(_in_partition_order(got[q.query_id]) for q in queries)
    assert not any(queries[0].reader._cache.values())  # all caught up: no batch is kept for anyone


def test_kept_batches_are_bounded_and_a_query_behind_them_reads_on_its_own(engine: Engine, decoded: Counter) -> None:
    registry = TransientQueries()
    fast = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;", capacity=50)
    slow = _start(engine, registry, "SELECT V FROM S EMIT CHANGES;", capacity=50)
    assert fast.reader is slow.reader is not None
    fast.reader.cache_records = 100
    _write(engine, range(1000))
    got: dict[str, list] = {}
    _run_at_paces(registry, {fast: 1, slow: 40}, got)

    assert all(sum(len(b) for b in kept) <= 100 + 50 for kept in fast.reader._cache.values())
    assert max(decoded.values()) == 2  # the slow query read again what was no longer kept
    assert sorted(got[fast.query_id]) == sorted(got[slow.query_id]) == list(range(1000))
    assert _in_partition_order(got[fast.query_id]) and _in_partition_order(got[slow.query_id])


def test_a_query_in_a_compacted_gap_takes_the_kept_batch_after_it(engine: Engine, decoded: Counter,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _write(engine, range(80))  # V = 2 * offset in partition 0
    read = engine.log.read

    def compacted(topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        """Partition 0 without offsets 5..9, as compaction leaves a topic."""
        return [r for r in read(topic, partition, offset, max_records + 5) if partition or not 5 <= r.offset < 10
                ][:max_records]

    monkeypatch.setattr(engine.log, "read", compacted)
    registry = TransientQueries()
    [stmt] = engine.prepare("SELECT V FROM S EMIT CHANGES;")
    at_10 = {0: 10, 1: 40}
    fast = registry.start(engine, stmt, {}, resume=at_10)
    behind = registry.start(engine, stmt, {}, resume=at_10, capacity=2)
    registry.poll_all()  # the batch from offset 10 on is kept: `behind` took two of its rows
    in_gap = registry.start(engine, stmt, {}, resume={0: 5, 1: 40})
    got: dict[str, list] = {}
    _run(registry, [fast, behind, in_gap], got)

    assert set(decoded.values()) == {1}
    assert got[in_gap.query_id] == got[fast.query_id] == list(range(20, 80, 2))
