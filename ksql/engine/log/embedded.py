"""EmbeddedLog: a durable, Kafka-like log in a local directory.

Layout under the root directory::

    .lock                                  flock: one EmbeddedLog per directory at a time
    topics/<topic>/topic.json              the TopicConfig as JSON
    topics/<topic>/<partition>/<base>.log  segment: batches of records, named by base offset
    topics/<topic>/<partition>/<base>.index  sparse offset index of that segment
    groups/<quoted group>.<seq>.json       committed consumer-group offsets (newest seq wins)
    .trash/                                half-created / deleted topics, emptied on open

Segment file = a sequence of batches, one per append() call, written with one writev()::

    u32 length      bytes after this field (24 + payload)
    u32 crc         zlib.crc32 of everything after this field
    i64 base_offset
    u32 count       number of records; the top bit (KAFKA_BATCH) marks a Kafka payload
    i64 max_timestamp
    payload         count records: <q ts><i key_len|-1><i value_len|-1><H n_headers>
                    key value, then per header <H name_len><i value_len|-1> name value;
                    or, with KAFKA_BATCH, a Kafka v2 record batch as a Kafka producer sent it
                    (its base offset set): Kafka fetches serve it as it is (read_raw), the
                    engine's reads decode it (see kafka_batch)

Index file = entries <q offset><q position><q max timestamp of the batches before position>,
one for the first batch of the segment and then one per batch starting at least
`index_interval_bytes` after the previous entry (and one after damaged bytes). When a
segment is rolled a sentinel entry (end offset, segment size, segment max timestamp) is
appended and both files are fsynced. The index is never fsynced per append: it is rebuilt
from the log.

Open verifies every batch of every segment (framing, CRC, consecutive offsets: ~0.7 s per
GB), so damage is reported when the server starts, not when a query reaches it:
- damaged bytes followed by an intact batch (found by scanning byte by byte, up to the next
  intact batch the index names) are a hole: logged with topic, partition, offsets and file,
  listed in `EmbeddedLog.damaged`, and skipped by reads. Only their offsets are lost; every
  other record keeps its offset. So is a damaged end of a closed segment;
- a damaged end of the active segment is a write torn by a crash: it is truncated, and its
  offsets are given to the next appends. Committed offsets past the new end move back to it;
- a missing or damaged topic.json stops the open (CorruptLogError, see _read_topic_config).

A commit writes the group's offsets to a new file with the next sequence number (fsynced,
with the directory, unless fsync="never") and then unlinks the previous one: on ext4,
replacing a file by rename costs ~0.7 ms even without fsync (the new data is flushed
first), creating one ~0.08 ms. On open the newest file that parses wins; older and torn
ones (a crash mid-commit) are removed. Files named <quoted group>.json (written by
earlier versions) count as sequence -1. A commit that changes nothing writes nothing.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import json
import logging
import mmap
import os
import shutil
import struct
import threading
import time
import uuid
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import repeat
from urllib.parse import quote

from . import kafka_batch
from .base import (
    NO_HEADERS,
    CorruptLogError,
    EncodedBatch,
    InvalidTopicError,
    Log,
    LogClosedError,
    LogError,
    LogLockedError,
    PartitionOutOfRangeError,
    Record,
    RecordBatch,
    TopicConfig,
    TopicExistsError,
    UnknownTopicError,
    validate_topic,
)
from .transactions import Marker, TransactionIndex

_log = logging.getLogger(__name__)

_LC = struct.Struct("<II")  # length, crc
_REST = struct.Struct("<qIq")  # base_offset, count, max_timestamp
KAFKA_BATCH = 1 << 31  # in a batch's count: its payload is a Kafka record batch
_COUNT = KAFKA_BATCH - 1
_KAFKA_BASE = struct.Struct(">q")  # a Kafka batch's base offset, its first field
_HDR = struct.Struct("<IIqIq")
_HDR_SIZE = _HDR.size  # 28
_REC = struct.Struct("<qiiH")
_REC_SIZE = _REC.size  # 18
_HE = struct.Struct("<Hi")
_HE_SIZE = _HE.size
_IDX = struct.Struct("<qqq")
_IDX_SIZE = _IDX.size  # 24
_MIN_TS = -(2**63)
_DEFAULT_CONFIG = TopicConfig()
_READ_CHUNK = 256 * 1024

FSYNC_POLICIES = ("always", "interval", "never")
_FSYNC_ALIASES = {"none": "never", "off": "never", "os": "never", "batch": "always"}

_fdatasync = getattr(os, "fdatasync", os.fsync)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _raise_fd_limit() -> None:
    """Every partition keeps its active segment open: lift the soft RLIMIT_NOFILE to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass


def _seg_name(base: int) -> str:
    return f"{base:020d}"


# ---------------------------------------------------------------- encoding


def _encode_headers(headers) -> bytes:
    parts = []
    for name, val in headers:
        nb = name.encode("utf-8")
        if val is None:
            parts.append(_HE.pack(len(nb), -1))
            parts.append(nb)
        else:
            parts.append(_HE.pack(len(nb), len(val)))
            parts.append(nb)
            parts.append(val)
    return b"".join(parts)


def _encode_records(records: list[Record]) -> tuple[bytes, int]:
    """The batch payload and the max timestamp."""
    parts: list = []
    ap = parts.append
    pack = _REC.pack
    mx = _MIN_TS
    for r in records:
        k = r.key
        v = r.value
        h = r.headers
        ts = r.timestamp
        if ts > mx:
            mx = ts
        ap(pack(ts, -1 if k is None else len(k), -1 if v is None else len(v), len(h) if h else 0))
        if k:
            ap(k)
        if v:
            ap(v)
        if h:
            ap(_encode_headers(h))
    return b"".join(parts), mx


def _encode_columns(batch: RecordBatch) -> tuple[bytes, int]:
    """_encode_records of a RecordBatch."""
    keys, values, timestamps, headers = batch.keys, batch.values, batch.timestamps, batch.headers
    n = len(keys)
    if n and len(values) == len(timestamps) == len(headers) == n and not any(headers):
        # no headers (the usual case): record heads built by map(), interleaved by slice assignment
        try:
            parts: list = [b""] * (3 * n)
            parts[0::3] = map(_REC.pack, timestamps, map(len, keys), map(len, values), repeat(0, n))
            parts[1::3] = keys
            parts[2::3] = values
            return b"".join(parts), max(timestamps)
        except (TypeError, ValueError, struct.error):  # a None key or value, a bad item: the loop below
            pass
    parts = []
    ap = parts.append
    pack = _REC.pack
    for k, v, ts, h in zip(keys, values, timestamps, headers, strict=True):
        ap(pack(ts, -1 if k is None else len(k), -1 if v is None else len(v), len(h) if h else 0))
        if k:
            ap(k)
        if v:
            ap(v)
        if h:
            ap(_encode_headers(h))
    return b"".join(parts), max(timestamps)


class UndecodedBatch:
    """Records of one partition as the log stores them: runs of encoded records with the offset of
    each run's first. Reading them costs no per-record slicing; decoded() builds the RecordBatch,
    where the records are used (a worker process). Pickles as a few bytes objects."""

    __slots__ = ("runs", "partition", "count")

    def __init__(self, partition: int) -> None:
        self.runs: list[tuple[bytes, int]] = []
        self.partition = partition
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def decoded(self) -> RecordBatch:
        out = RecordBatch([], [], [], [], range(0), self.partition)
        for buf, first in self.runs:
            _decode_columns(buf, 0, len(buf), first, first, len(buf), self.partition, out)
        return out


def _take_undecoded(
    buf: bytes, pos: int, end: int, off: int, skip_below: int, limit: int, partition: int, out: UndecodedBatch
) -> tuple[int, int, int]:
    """_decode_records' contract, keeping the records encoded: only their lengths are read."""
    unpack = _REC.unpack_from
    start, first = pos, off
    while pos < end and (limit > 0 or off < skip_below):
        if off == skip_below:
            start, first = pos, off
        _, kl, vl, hc = unpack(buf, pos)
        pos += _REC_SIZE + (kl if kl > 0 else 0) + (vl if vl > 0 else 0)
        if hc:
            _, pos = _decode_headers(buf, pos, hc)
        if off >= skip_below:
            limit -= 1
        off += 1
    if off > skip_below and off > first:
        out.runs.append((buf[start:pos], first))
        out.count += off - first
    return limit, pos, off


def encode_batch(batch: RecordBatch) -> EncodedBatch:
    """`batch` with its records encoded as append_batch() writes them (see EncodedBatch)."""
    if not len(batch):
        return EncodedBatch(batch, b"", 0)
    try:
        payload, max_ts = _encode_columns(batch)
    except (struct.error, TypeError, AttributeError, UnicodeEncodeError, ValueError) as e:
        raise _bad_records("the log", batch.partition, e) from e
    return EncodedBatch(batch, payload, max_ts)


def _bad_records(topic: str, partition: int, e: Exception) -> TypeError:
    return TypeError(
        f"append to {topic}-{partition}: records need bytes|None key/value, int timestamp, "
        f"list[(str, bytes|None)] headers: {e}"
    )


def _decode_headers(buf: bytes, pos: int, n: int) -> tuple[list, int]:
    headers = []
    unpack = _HE.unpack_from
    for _ in range(n):
        nl, vl = unpack(buf, pos)
        pos += _HE_SIZE
        name = buf[pos : pos + nl].decode("utf-8")
        pos += nl
        if vl >= 0:
            headers.append((name, buf[pos : pos + vl]))
            pos += vl
        else:
            headers.append((name, None))
    return headers, pos


def _decode_records(
    buf: bytes, pos: int, end: int, off: int, skip_below: int, limit: int, partition: int, out: list
) -> tuple[int, int, int]:
    """Decode the records at offsets >= skip_below of one batch payload buf[pos:end] (the first
    has offset `off`) into `out`, at most `limit`. Returns the remaining limit, and the position
    and offset of the first record not consumed (pos == end when the batch is done)."""
    unpack = _REC.unpack_from
    ap = out.append
    while pos < end and limit > 0:
        ts, kl, vl, hc = unpack(buf, pos)
        pos += _REC_SIZE
        if kl >= 0:
            key = buf[pos : pos + kl]
            pos += kl
        else:
            key = None
        if vl >= 0:
            value = buf[pos : pos + vl]
            pos += vl
        else:
            value = None
        if hc:
            headers, pos = _decode_headers(buf, pos, hc)
        else:
            headers = []
        if off >= skip_below:
            ap(Record(key, value, ts, headers, off, partition))
            limit -= 1
        off += 1
    return limit, pos, off


def _decode_columns(
    buf: bytes, pos: int, end: int, off: int, skip_below: int, limit: int, partition: int, out: RecordBatch
) -> tuple[int, int, int]:
    """_decode_records into the lists of a RecordBatch (no per-record objects besides the bytes)."""
    unpack = _REC.unpack_from
    keys, values, timestamps, headers = out.keys, out.values, out.timestamps, out.headers
    if off < skip_below:  # skip the records before `skip_below` without slicing them
        while pos < end and off < skip_below:
            _, kl, vl, hc = unpack(buf, pos)
            pos += _REC_SIZE + (kl if kl > 0 else 0) + (vl if vl > 0 else 0)
            if hc:
                _, pos = _decode_headers(buf, pos, hc)
            off += 1
        if pos >= end:
            return limit, pos, off
    first = off
    kap, vap, tap = keys.append, values.append, timestamps.append
    while pos < end and limit > 0:
        ts, kl, vl, hc = unpack(buf, pos)
        pos += _REC_SIZE
        if kl >= 0:
            kap(buf[pos : pos + kl])
            pos += kl
        else:
            kap(None)
        if vl >= 0:
            vap(buf[pos : pos + vl])
            pos += vl
        else:
            vap(None)
        tap(ts)
        if hc:
            h, pos = _decode_headers(buf, pos, hc)
            headers.append(h)
        else:
            headers.append(NO_HEADERS)
        limit -= 1
        off += 1
    offsets = out.offsets
    if type(offsets) is range and (not offsets or offsets.stop == first):
        out.offsets = range(offsets.start if offsets else first, off)  # the usual case: consecutive
    else:  # offsets lost to damaged bytes (or retention) between the batches read
        out.offsets = [*offsets, *range(first, off)]
    return limit, pos, off


class _TransactionalData(Exception):
    """A partition holding Kafka transactions, which compaction leaves as they are."""


def _pick(batch: RecordBatch, rows: list[int]) -> RecordBatch:
    """The records of `batch` at positions `rows` (ascending)."""
    if len(rows) == len(batch):
        return batch
    offsets = batch.offsets
    return RecordBatch([batch.keys[i] for i in rows], [batch.values[i] for i in rows],
                       [batch.timestamps[i] for i in rows], [batch.headers[i] for i in rows],
                       [offsets[i] for i in rows], batch.partition)


def _consecutive_runs(batch: RecordBatch) -> Iterator[RecordBatch]:
    """`batch` cut where its offsets skip, so that each piece can be written as one log batch."""
    offsets = batch.offsets
    start = 0
    for i in range(1, len(offsets) + 1):
        if i == len(offsets) or offsets[i] != offsets[i - 1] + 1:
            yield batch.slice(start, i) if (start, i) != (0, len(offsets)) else batch
            start = i


def _visible(offsets: Sequence[int], hidden: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of the `offsets` (ascending) outside every [start, end) of `hidden` (sorted)."""
    keep = []
    h = 0
    n = len(hidden)
    for i, o in enumerate(offsets):
        while h < n and hidden[h][1] <= o:
            h += 1
        if h == n or o < hidden[h][0]:
            keep.append(i)
    return keep


# ---------------------------------------------------------------- damage

_NO_LIMIT = 1 << 63  # no upper bound on the offsets of a batch (the active segment)
_TOPIC_FIELDS = {name: type(getattr(_DEFAULT_CONFIG, name)) for name in TopicConfig.__dataclass_fields__}


@dataclass(frozen=True)
class DamagedRange:
    """Offsets [start, end) of a partition lost to damaged bytes [position, resume) of a segment file."""

    topic: str
    partition: int
    start: int
    end: int
    path: str
    position: int
    resume: int
    problem: str

    def __str__(self) -> str:
        lost = f"offsets {self.start}..{self.end - 1}" if self.end > self.start else "no records"
        return (f"{self.topic}-{self.partition}: {lost} lost to corrupt data ({self.problem}) at bytes "
                f"{self.position}..{self.resume} of {self.path}; the records after them are read as usual")


@contextmanager
def _mapped(f, size: int) -> Iterator[memoryview | bytes]:
    """The first `size` bytes of an open file, memory-mapped (zero-copy slices for the CRC)."""
    if size == 0:
        yield b""
        return
    with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
        yield view


def _batch_problem(buf, pos: int, size: int, expected: int, limit: int, exact: bool) -> str | None:
    """What is wrong with the batch at buf[pos:size] (None: intact) whose offsets must start at
    `expected` (exact) or later and end by `limit`."""
    if pos + _HDR_SIZE > size:
        return "batch header cut short"
    length, crc, base, count, _ = _HDR.unpack_from(buf, pos)
    count &= _COUNT
    if length < 24 or pos + 4 + length > size:
        return f"bad batch length {length}"
    if count < 1 or base + count > limit or (base != expected if exact else base < expected):
        return f"batch of offsets {base}..{base + count - 1} where offset {expected} was due"
    if zlib.crc32(buf[pos + 8 : pos + 4 + length]) != crc:
        return "CRC mismatch"
    return None


def _next_intact(buf, start: int, size: int, expected: int, limit: int, hints: Sequence[int]) -> int:
    """Position of the first intact batch at or after `start` with offsets in [expected, limit),
    or `size` if there is none.

    A damaged length says nothing about where the next batch begins, so this looks at every
    byte, but only up to the first intact batch the index (`hints`, sorted) points at. A
    candidate must also be plausible: the records it skips need >= 18 bytes each."""
    bound = size
    for hint in hints[bisect.bisect_left(hints, start):]:
        if hint < size and _batch_problem(buf, hint, size, expected, limit, exact=False) is None:
            bound = hint
            break
    unpack, crc32 = _HDR.unpack_from, zlib.crc32
    for q in range(start, min(bound, size - _HDR_SIZE + 1)):
        length, crc, base, count, _ = unpack(buf, q)
        count &= _COUNT
        if (24 <= length and q + 4 + length <= size and count >= 1 and expected <= base
                and base + count <= limit and base - expected <= (q - start + 1) // _REC_SIZE
                and crc32(buf[q + 8 : q + 4 + length]) == crc):
            return q
    return bound


def _index_positions(index: bytes, size: int) -> list[int]:
    """The batch positions an index file names (sorted; only hints: the file may be damaged too)."""
    whole = index[: len(index) - len(index) % _IDX_SIZE]
    return sorted({pos for _, pos, _ in _IDX.iter_unpack(whole) if 0 < pos < size})


def _read_topic_config(name: str, tdir: str) -> TopicConfig:
    """The TopicConfig in `tdir`/topic.json.

    A missing or damaged file raises CorruptLogError naming it and what is wrong: the log
    refuses to open rather than go on without the topic. Without it, replaying the command
    topic would drop the streams and tables over that topic (and every statement built on
    them), a new topic could not be created in its place, and if it is the command topic
    itself, every statement would be lost. The message says how to repair the file."""
    path = os.path.join(tdir, "topic.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise _bad_topic_config(name, tdir, f"cannot be read ({e.strerror or e})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise _bad_topic_config(name, tdir, f"is not valid JSON (invalid UTF-8 at byte {e.start})") from None
    except RecursionError:
        raise _bad_topic_config(name, tdir, "is not valid JSON (nested too deeply)") from None
    except ValueError as e:
        raise _bad_topic_config(name, tdir, f"is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise _bad_topic_config(name, tdir, f"is not a JSON object but {type(doc).__name__}")
    if "partitions" not in doc:
        raise _bad_topic_config(name, tdir, "has no partitions")
    for field, kind in _TOPIC_FIELDS.items():
        value = doc.get(field, getattr(_DEFAULT_CONFIG, field))
        if type(value) is not kind:
            raise _bad_topic_config(name, tdir, f"has {field} {value!r}, not of type {kind.__name__}")
    config = TopicConfig(**{k: doc[k] for k in _TOPIC_FIELDS if k in doc})
    try:
        validate_topic(name, config)
    except LogError as e:
        raise _bad_topic_config(name, tdir, f"is invalid: {e}") from None
    return config


def _bad_topic_config(name: str, tdir: str, problem: str) -> CorruptLogError:
    partitions = sum(1 for d in os.listdir(tdir) if d.isdigit())
    path = os.path.join(tdir, "topic.json")
    return CorruptLogError(
        f"{path} {problem}: topic {name!r} cannot be opened. Restore the file (e.g. "
        f'{{"partitions": {partitions}, "replicas": 1, "retention_ms": -1, "retention_bytes": -1, '
        f'"cleanup_policy": "delete"}} for its {partitions} partition directories) or move the topic\'s '
        "directory away")


def _read_group_file(path: str) -> tuple[str, dict[tuple[str, int], int]]:
    """(group, committed offsets) of a consumer group file; ValueError saying what is wrong."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("group"), str) or not isinstance(doc.get("offsets"),
                                                                                            list):
        raise ValueError('not an object with a "group" string and an "offsets" list')
    offsets = {}
    for entry in doc["offsets"]:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and type(entry[1]) is int and type(entry[2]) is int):
            raise ValueError(f"offset entry {entry!r} is not [topic, partition, offset]")
        offsets[(entry[0], entry[1])] = entry[2]
    return doc["group"], offsets


# ---------------------------------------------------------------- segments / partitions

_MAX_CURSORS = 4  # per partition: a few readers at different positions keep theirs


def _remember(p: _Partition, next_offset: int, cursor: tuple) -> None:
    """Keep where a read stopped inside a batch (see _Partition.cursors). Caller holds p.lock."""
    cursors = p.cursors
    cursors[next_offset] = cursor
    if len(cursors) > _MAX_CURSORS:
        del cursors[next(iter(cursors))]



def _native_payload(kafka_raw: bytes) -> bytes:
    """A stored Kafka batch's records in this log's own record format."""
    return _encode_columns(kafka_batch.batch_records(kafka_raw))[0]


class _RawBatches:
    """What read_raw collects: Kafka batches as stored, other batches' records decoded."""

    __slots__ = ("batches",)

    def __init__(self) -> None:
        self.batches: list[tuple[int, bytes | RecordBatch]] = []

    def add(self, buf: bytes, start: int, end: int, base: int, count: int, kafka: int, offset: int,
            partition: int) -> int:
        """Collect the batch at buf[start:end]; returns its size in bytes."""
        if kafka:
            self.batches.append((base, buf[start:end]))
        else:
            records = RecordBatch([], [], [], [], range(0), partition)
            _decode_columns(buf, start, end, base, offset, count, partition, records)
            self.batches.append((records.offsets[0], records))
        return end - start


class _Segment:
    __slots__ = (
        "base",
        "log_path",
        "idx_path",
        "size",
        "max_ts",
        "idx_off",
        "idx_pos",
        "idx_ts",
        "holes",
        "rfd",
        "in_use",
        "sparse",
        "marker_path",
    )

    def __init__(self, pdir: str, base: int) -> None:
        self.base = base
        name = _seg_name(base)
        self.log_path = os.path.join(pdir, name + ".log")
        self.idx_path = os.path.join(pdir, name + ".index")
        self.marker_path = os.path.join(pdir, name + ".compacted")
        self.sparse = False  # compacted: offsets between its batches may be missing
        self.size = 0
        self.max_ts = _MIN_TS
        self.idx_off = array("q")
        self.idx_pos = array("q")
        self.idx_ts = array("q")
        # file position of damaged bytes -> (position, offset) of the intact batch after them
        self.holes: dict[int, tuple[int, int]] = {}
        self.rfd: int | None = None  # cached read fd (closed segments), managed by the LRU
        self.in_use = 0

    def last_idx_pos(self) -> int:
        return self.idx_pos[-1] if self.idx_pos else -(1 << 62)


class _Partition:
    __slots__ = (
        "topic",
        "num",
        "dir",
        "lock",
        "segs",
        "bases",
        "next_offset",
        "wfd",
        "deleted",
        "dirty",
        "last_sync",
        "last_retention",
        "config",
        "cursors",
        "cleaned_to",
    )

    def __init__(self, topic: str, num: int, pdir: str, config: TopicConfig) -> None:
        self.config = config
        self.topic = topic
        self.num = num
        self.dir = pdir
        self.lock = threading.Lock()
        self.segs: list[_Segment] = []
        self.bases: list[int] = []
        self.next_offset = 0
        self.wfd: int | None = None  # O_RDWR|O_APPEND fd of the active (last) segment
        self.deleted = False
        self.dirty = False
        self.last_sync = 0.0
        self.last_retention = 0.0
        # next offset -> (segment, buffer, position, batch end in the buffer, file position after
        # the batch) where a read stopped inside a batch: the next read resumes there instead of
        # reading, checking and skipping the batch's first records again (quadratic for big batches)
        self.cursors: dict[int, tuple] = {}
        self.cleaned_to = -1  # end offset of the closed segments the last compaction went through

    @property
    def active(self) -> _Segment:
        return self.segs[-1]


class _Topic:
    __slots__ = ("name", "config", "dir", "parts")

    def __init__(self, name: str, config: TopicConfig, tdir: str) -> None:
        self.name = name
        self.config = config
        self.dir = tdir
        self.parts: list[_Partition] = []


class EmbeddedLog(Log):
    """Durable log rooted at `root`.

    fsync: "always"   - fdatasync the segment before append()/commit() returns (survives
                        kill -9 and power loss once acknowledged);
           "interval" - fdatasync at most every `fsync_interval_ms` (checked on append) and on
                        close()/sync(); survives kill -9, a power loss may lose the last interval;
           "never"    - leave it to the OS page cache: survives kill -9, not power loss.
    clock: wall clock in epoch ms used by retention (injectable for tests).

    `damaged` lists the ranges of offsets lost to corrupt data (found at open, or by a read
    if a file changed since); each is also logged.
    """

    def __init__(
        self,
        root: str,
        fsync: str = "always",
        segment_bytes: int = 64 * 1024 * 1024,
        index_interval_bytes: int = 4096,
        fsync_interval_ms: int = 1000,
        retention_check_interval_ms: int = 30_000,
        max_open_files: int = 256,
        clock: Callable[[], int] | None = None,
        cleaner_interval_ms: int = 15_000,
        min_cleanable_dirty_ratio: float = 0.5,
    ) -> None:
        fsync = _FSYNC_ALIASES.get(fsync, fsync)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, got {fsync!r}")
        if segment_bytes < 1:
            raise ValueError("segment_bytes must be >= 1")
        self.root = os.path.abspath(root)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.index_interval_bytes = index_interval_bytes
        self.fsync_interval = fsync_interval_ms / 1000.0
        self.retention_check_interval = retention_check_interval_ms / 1000.0
        self.max_open_files = max(1, max_open_files)
        self.cleaner_interval = cleaner_interval_ms / 1000.0
        self.min_cleanable_dirty_ratio = min_cleanable_dirty_ratio
        self._cleaner_lock = threading.Lock()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._sync = fsync != "never"
        self._meta_lock = threading.RLock()
        self._fd_lock = threading.Lock()
        self._groups_lock = threading.Lock()
        self._fd_lru: OrderedDict[_Segment, None] = OrderedDict()
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, dict[tuple[str, int], int]] = {}
        self._group_files: dict[str, tuple[int, str]] = {}  # group -> (sequence, path) of its file
        self._closed = False
        self.damaged: list[DamagedRange] = []  # what the open (or a read since) found damaged

        os.makedirs(self.root, exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self._lock_fd)
            raise LogLockedError(f"log directory {self.root} is in use by another EmbeddedLog") from e
        try:
            self._topics_dir = os.path.join(self.root, "topics")
            self._groups_dir = os.path.join(self.root, "groups")
            self._trash_dir = os.path.join(self.root, ".trash")
            for d in (self._topics_dir, self._groups_dir, self._trash_dir):
                os.makedirs(d, exist_ok=True)
            for name in os.listdir(self._trash_dir):
                shutil.rmtree(os.path.join(self._trash_dir, name), ignore_errors=True)
            self._load_topics()
            self._load_groups()
            self._clamp_committed()
            self.txn_index = TransactionIndex(self.root, self._sync)
            self.txn_index.load(self._end_or_none)
            _raise_fd_limit()
        except BaseException:
            self._close_all_fds()
            os.close(self._lock_fd)
            raise
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if fsync == "interval":
            self._flusher = threading.Thread(target=self._flush_loop, name=f"log-flusher:{root}", daemon=True)
            self._flusher.start()
        self._cleaner: threading.Thread | None = None
        if cleaner_interval_ms > 0:
            self._cleaner = threading.Thread(target=self._clean_loop, name=f"log-cleaner:{root}", daemon=True)
            self._cleaner.start()

    # ================================================================ open / recovery

    def _load_topics(self) -> None:
        """Open every topic; damaged metadata stops the open (see _read_topic_config)."""
        for name in sorted(os.listdir(self._topics_dir)):
            tdir = os.path.join(self._topics_dir, name)
            if not os.path.isdir(tdir):
                _log.warning("ignoring %s: not a topic directory", tdir)
                continue
            config = _read_topic_config(name, tdir)
            t = _Topic(name, config, tdir)
            for p in range(config.partitions):
                pdir = os.path.join(tdir, str(p))
                os.makedirs(pdir, exist_ok=True)
                t.parts.append(self._load_partition(name, p, pdir, config))
            self._topics[name] = t

    def _load_partition(self, topic: str, num: int, pdir: str, config: TopicConfig) -> _Partition:
        part = _Partition(topic, num, pdir, config)
        bases = []
        for fn in os.listdir(pdir):
            if fn.endswith(".log") and fn[:-4].isdigit():
                bases.append(int(fn[:-4]))
        bases.sort()
        have = {_seg_name(b) for b in bases}
        for fn in os.listdir(pdir):  # stray index / marker / temp files (a compaction cut short)
            stem, _, ext = fn.partition(".")
            if ext != "log" and (stem not in have or fn.endswith(".cleaned")):
                try:
                    os.unlink(os.path.join(pdir, fn))
                except OSError:
                    pass
        if not bases:
            bases = [0]
        for i, b in enumerate(bases):
            seg = _Segment(pdir, b)
            if not os.path.exists(seg.log_path):  # a partition directory without segments
                open(seg.log_path, "ab").close()
            seg.sparse = os.path.exists(seg.marker_path)
            part.next_offset = self._load_segment(part, seg, bases[i + 1] if i + 1 < len(bases) else None)
            part.segs.append(seg)
        part.bases = [s.base for s in part.segs]
        part.wfd = os.open(part.active.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        part.last_sync = time.monotonic()
        return part

    def _load_segment(self, part: _Partition, seg: _Segment, limit: int | None) -> int:
        """Verify every batch of a segment and rebuild its index; returns the segment's end offset.

        `limit` is the next segment's base offset (a closed segment), None for the active one.
        Damaged bytes followed by an intact batch become a hole that reads skip, reported as a
        DamagedRange; so does a damaged end of a closed segment. A damaged end of the active
        segment is a write cut short by a crash: it is truncated and its offsets are reused.
        """
        size = seg.size = os.path.getsize(seg.log_path)
        try:
            with open(seg.idx_path, "rb") as f:
                on_disk = f.read()
        except FileNotFoundError:
            on_disk = b""
        hints = _index_positions(on_disk, size)
        hi = _NO_LIMIT if limit is None else limit
        expected, max_ts, pos = seg.base, _MIN_TS, 0
        after_hole = False
        torn_at = -1
        with open(seg.log_path, "rb") as f, _mapped(f, size) as buf:
            while pos < size:
                problem = _batch_problem(buf, pos, size, expected, hi, exact=not seg.sparse)
                if problem is None:
                    length, _, base, count, batch_ts = _HDR.unpack_from(buf, pos)
                    count &= _COUNT
                    if after_hole or not seg.idx_pos or pos - seg.idx_pos[-1] >= self.index_interval_bytes:
                        seg.idx_off.append(base)
                        seg.idx_pos.append(pos)
                        seg.idx_ts.append(max_ts)
                        after_hole = False
                    if batch_ts > max_ts:
                        max_ts = batch_ts
                    expected = base + count
                    pos += 4 + length
                    continue
                resume = _next_intact(buf, pos + 1, size, expected, hi, hints)
                if resume == size and limit is None:
                    torn_at = pos
                    break
                resume_offset = _HDR.unpack_from(buf, resume)[2] if resume < size else hi
                self._report(DamagedRange(part.topic, part.num, expected, resume_offset, seg.log_path, pos,
                                          resume, problem))
                seg.holes[pos] = (resume, resume_offset)
                expected, pos, after_hole = resume_offset, resume, True
        if torn_at >= 0:
            _log.warning("%s-%d: truncating the torn tail of %s (%d bytes from byte %d, %s: a write cut short "
                         "by a crash); the partition now ends at offset %d", part.topic, part.num, seg.log_path,
                         size - torn_at, torn_at, problem, expected)
            with open(seg.log_path, "r+b") as f:
                f.truncate(torn_at)
                if self._sync:
                    os.fsync(f.fileno())
            seg.size = torn_at
        elif limit is not None and expected < limit and not seg.sparse:
            self._report(DamagedRange(part.topic, part.num, expected, limit, seg.log_path, size, size,
                                      "the segment ends before the next one begins"))
            expected = limit
        seg.max_ts = max_ts
        if limit is not None:  # the sentinel of a closed segment (see _roll)
            seg.idx_off.append(limit)
            seg.idx_pos.append(seg.size)
            seg.idx_ts.append(max_ts)
        index = b"".join(map(_IDX.pack, seg.idx_off, seg.idx_pos, seg.idx_ts))
        if index != on_disk:
            with open(seg.idx_path, "wb") as f:
                f.write(index)
                if self._sync:
                    os.fsync(f.fileno())
        if limit is not None:
            return limit
        return expected

    def _skip_damage(self, p: _Partition, seg: _Segment, pos: int, expected: int, problem: str) -> tuple[int, int]:
        """A batch found damaged by a read (the file changed after the open): report it, make it a
        hole and return the position and offset where reading resumes. Caller holds p.lock."""
        i = p.segs.index(seg)
        limit = p.segs[i + 1].base if i + 1 < len(p.segs) else p.next_offset
        with open(seg.log_path, "rb") as f:
            size = min(os.fstat(f.fileno()).st_size, seg.size)
            with _mapped(f, size) as buf:
                resume = _next_intact(buf, pos + 1, size, expected, limit, seg.idx_pos)
                resume_offset = _HDR.unpack_from(buf, resume)[2] if resume < size else limit
        if resume >= size:
            resume = seg.size
        self._report(DamagedRange(p.topic, p.num, expected, resume_offset, seg.log_path, pos, resume, problem))
        seg.holes[pos] = (resume, resume_offset)
        return resume, resume_offset

    def _report(self, damage: DamagedRange) -> None:
        self.damaged.append(damage)
        _log.error("%s", damage)

    def _load_groups(self) -> None:
        newest: dict[str, tuple[int, str, dict]] = {}
        stale = []
        for fn in os.listdir(self._groups_dir):
            path = os.path.join(self._groups_dir, fn)
            if not fn.endswith(".json"):
                stale.append(path)  # temp file of an interrupted commit (earlier versions)
                continue
            head, dot, tail = fn[:-5].rpartition(".")
            seq = int(tail) if dot and len(tail) == 20 and tail.isdigit() else -1
            try:
                group, offsets = _read_group_file(path)
            except ValueError as e:
                _log.warning("ignoring unreadable consumer group file %s (torn by a crash?): %s", path, e)
                stale.append(path)
                continue
            cur = newest.get(group)
            if cur is not None and cur[0] >= seq:
                stale.append(path)
                continue
            if cur is not None:
                stale.append(cur[1])
            newest[group] = (seq, path, offsets)
        for path in stale:
            try:
                os.unlink(path)
            except OSError:
                pass
        for group, (seq, path, offsets) in newest.items():
            self._groups[group] = offsets
            self._group_files[group] = (seq, path)

    def _clamp_committed(self) -> None:
        """Move committed offsets past the end of their partition back to the end, durably.

        A power loss can cost a partition its last records (a torn tail truncated at open, or
        writes that never reached the disk) while the group's commit did: the group would skip
        as many of the records appended from now on."""
        for group, offsets in self._groups.items():
            clamped = {}
            for (topic, partition), offset in offsets.items():
                t = self._topics.get(topic)
                if t is not None and partition < len(t.parts) and offset > t.parts[partition].next_offset:
                    clamped[(topic, partition)] = end = t.parts[partition].next_offset
                    _log.warning("consumer group %r: committed offset %d of %s-%d is past the end of the "
                                 "partition (its tail was lost): moved back to %d", group, offset, topic,
                                 partition, end)
            if clamped:
                offsets.update(clamped)
                self._write_group(group, offsets)

    # ================================================================ helpers

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self.root} is closed")

    def _topic(self, name: str) -> _Topic:
        t = self._topics.get(name)
        if t is None:
            self._check_open()
            raise UnknownTopicError(f"unknown topic {name!r}")
        return t

    def _part(self, topic: str, partition: int) -> _Partition:
        t = self._topic(topic)
        if type(partition) is not int or not 0 <= partition < len(t.parts):
            raise PartitionOutOfRangeError(
                f"partition {partition!r} out of range for topic {topic!r} with {len(t.parts)} partition(s)"
            )
        return t.parts[partition]

    def _acquire_fd(self, seg: _Segment) -> int:
        with self._fd_lock:
            if seg.rfd is None:
                seg.rfd = os.open(seg.log_path, os.O_RDONLY)
                self._fd_lru[seg] = None
                if len(self._fd_lru) > self.max_open_files:
                    for old in list(self._fd_lru):
                        if len(self._fd_lru) <= self.max_open_files:
                            break
                        if old.in_use == 0 and old is not seg:
                            os.close(old.rfd)
                            old.rfd = None
                            del self._fd_lru[old]
            else:
                self._fd_lru.move_to_end(seg)
            seg.in_use += 1
            return seg.rfd

    def _release_fd(self, seg: _Segment) -> None:
        with self._fd_lock:
            seg.in_use -= 1

    def _forget_fd(self, seg: _Segment) -> None:
        with self._fd_lock:
            if seg.rfd is not None:
                os.close(seg.rfd)
                seg.rfd = None
                self._fd_lru.pop(seg, None)

    def _close_all_fds(self) -> None:
        with self._fd_lock:
            for seg in self._fd_lru:
                if seg.rfd is not None:
                    os.close(seg.rfd)
                    seg.rfd = None
            self._fd_lru.clear()
        for t in self._topics.values():
            for p in t.parts:
                if p.wfd is not None:
                    os.close(p.wfd)
                    p.wfd = None

    # ================================================================ topics

    def create_topic(self, name: str, config: TopicConfig = _DEFAULT_CONFIG) -> None:
        validate_topic(name, config)
        with self._meta_lock:
            self._check_open()
            if name in self._topics:
                raise TopicExistsError(f"topic {name!r} already exists")
            tmp = os.path.join(self._trash_dir, f"new-{name}-{uuid.uuid4().hex}")
            os.makedirs(tmp)
            with open(os.path.join(tmp, "topic.json"), "w", encoding="utf-8") as f:
                json.dump(asdict(config), f)
                f.flush()
                if self._sync:
                    os.fsync(f.fileno())
            for p in range(config.partitions):
                pdir = os.path.join(tmp, str(p))
                os.makedirs(pdir)
                open(os.path.join(pdir, _seg_name(0) + ".log"), "wb").close()
                if self._sync:
                    _fsync_dir(pdir)
            if self._sync:
                _fsync_dir(tmp)
            tdir = os.path.join(self._topics_dir, name)
            os.rename(tmp, tdir)
            if self._sync:
                _fsync_dir(self._topics_dir)
            t = _Topic(name, config, tdir)
            for p in range(config.partitions):
                t.parts.append(self._load_partition(name, p, os.path.join(tdir, str(p)), config))
            self._topics[name] = t

    def delete_topic(self, name: str) -> None:
        with self._meta_lock:
            t = self._topic(name)
            for p in t.parts:
                with p.lock:
                    p.deleted = True
                    if p.wfd is not None:
                        os.close(p.wfd)
                        p.wfd = None
                    for seg in p.segs:
                        self._forget_fd(seg)
            del self._topics[name]
            gone = os.path.join(self._trash_dir, f"del-{name}-{uuid.uuid4().hex}")
            os.rename(t.dir, gone)
            if self._sync:
                _fsync_dir(self._topics_dir)
            shutil.rmtree(gone, ignore_errors=True)
        self.txn_index.drop_topic(name)
        with self._groups_lock:
            for group, offs in self._groups.items():
                drop = [tp for tp in offs if tp[0] == name]
                if drop:
                    for tp in drop:
                        del offs[tp]
                    self._write_group(group, offs)

    def alter_topic(self, name: str, config: TopicConfig) -> None:
        """Give a topic new settings: retention and cleanup policy apply from now on, and a higher
        partition count adds empty partitions. topic.json is replaced atomically after the new
        partitions' directories exist, so a crash leaves either the old or the new topic."""
        validate_topic(name, config)
        with self._meta_lock:
            self._check_open()
            t = self._topic(name)
            if config.partitions < len(t.parts):
                raise InvalidTopicError(f"topic {name!r} has {len(t.parts)} partitions: it cannot have "
                                        f"{config.partitions} (partitions can only be added)")
            for num in range(len(t.parts), config.partitions):
                pdir = os.path.join(t.dir, str(num))
                os.makedirs(pdir, exist_ok=True)
                open(os.path.join(pdir, _seg_name(0) + ".log"), "ab").close()
                if self._sync:
                    _fsync_dir(pdir)
            tmp = os.path.join(t.dir, f"topic.json.{uuid.uuid4().hex}")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(asdict(config), f)
                f.flush()
                if self._sync:
                    os.fsync(f.fileno())
            os.replace(tmp, os.path.join(t.dir, "topic.json"))
            if self._sync:
                _fsync_dir(t.dir)
            for num in range(len(t.parts), config.partitions):
                t.parts.append(self._load_partition(name, num, os.path.join(t.dir, str(num)), config))
            t.config = config
            for part in t.parts:
                with part.lock:
                    part.config = config

    def topic_exists(self, name: str) -> bool:
        return name in self._topics

    def topic_config(self, name: str) -> TopicConfig:
        return self._topic(name).config

    def list_topics(self) -> list[str]:
        with self._meta_lock:
            return sorted(self._topics)

    def partitions(self, topic: str) -> int:
        return len(self._topic(topic).parts)

    def size_bytes(self, topic: str) -> int | None:
        """The bytes of the topic's segment files (what its retention.bytes counts)."""
        return sum(seg.size for part in self._topic(topic).parts for seg in list(part.segs))

    # ================================================================ append

    def append(self, topic: str, partition: int, records: list[Record]) -> list[int]:
        p = self._part(topic, partition)
        n = len(records)
        if n == 0:
            return []
        try:
            payload, max_ts = _encode_records(records)
        except (struct.error, TypeError, AttributeError, UnicodeEncodeError) as e:
            raise _bad_records(topic, partition, e) from e
        return list(self._append(p, topic, n, payload, max_ts))

    def append_batch(self, topic: str, partition: int, batch: RecordBatch) -> range:
        p = self._part(topic, partition)
        n = len(batch.keys)
        if n == 0:
            return range(0)
        if isinstance(batch, EncodedBatch):
            return self._append(p, topic, n, batch.payload, batch.max_timestamp)
        try:
            payload, max_ts = _encode_columns(batch)
        except (struct.error, TypeError, AttributeError, UnicodeEncodeError, ValueError) as e:
            raise _bad_records(topic, partition, e) from e
        return self._append(p, topic, n, payload, max_ts)

    def append_kafka_batch(self, topic: str, partition: int, raw: bytes | memoryview, count: int,
                           max_timestamp: int) -> range:
        """Store a Kafka v2 record batch of `count` records as it is, its base offset set to the offset
        its first record gets (the caller has checked its CRC and framing: kafka_batch.check_records).

        A transactional batch (a record batch of a Kafka transaction, or its commit or abort marker)
        goes into the transaction index first: committed readers see its records only once the
        transaction commits (see .transactions)."""
        p = self._part(topic, partition)
        if not 0 < count < KAFKA_BATCH or len(raw) < kafka_batch.HEADER_SIZE:
            raise ValueError(f"append to {topic}-{partition}: not a Kafka batch of {count} records")
        intend = None
        txn = kafka_batch.transaction_of(raw)
        if txn is not None:
            producer_id, producer_epoch, marker = txn
            if marker is None:
                def intend(base: int) -> None:
                    self.txn_index.intend_data(topic, partition, producer_id, base, count)
            else:
                def intend(base: int) -> None:
                    self.txn_index.intend_marker(topic, partition, Marker(base, producer_id, producer_epoch, marker))
        return self._append(p, topic, count, memoryview(raw)[_KAFKA_BASE.size:], max_timestamp, kafka=True,
                            intend=intend)

    def _append(self, p: _Partition, topic: str, n: int, payload: bytes | memoryview, max_ts: int,
                kafka: bool = False, intend: Callable[[int], None] | None = None) -> range:
        """Write one batch of n encoded records; returns their offsets. A Kafka batch's payload comes
        without its base offset, which is written here, once the offset is known. `intend(base)` is
        called first, with the base offset the batch will get (the transaction index's write-ahead)."""
        with p.lock:
            self._check_open()
            if p.deleted:
                raise UnknownTopicError(f"unknown topic {topic!r} (deleted)")
            base = p.next_offset
            if intend is not None:
                intend(base)
            if kafka:
                rest = _REST.pack(base, n | KAFKA_BATCH, max_ts) + _KAFKA_BASE.pack(base)
            else:
                rest = _REST.pack(base, n, max_ts)
            head = _LC.pack(4 + len(rest) + len(payload), zlib.crc32(payload, zlib.crc32(rest))) + rest
            total = len(head) + len(payload)
            seg = p.active
            segment_bytes = p.config.segment_bytes if p.config.segment_bytes > 0 else self.segment_bytes
            if seg.size > 0 and seg.size + total > segment_bytes:
                self._roll(p)
                seg = p.active
            pos = seg.size
            try:
                written = os.writev(p.wfd, (head, payload))
                if written != total:  # short write (disk full?): finish it or fail below
                    data = (head + bytes(payload))[written:]
                    while data:
                        k = os.write(p.wfd, data)
                        data = data[k:]
                if self.fsync == "always":
                    _fdatasync(p.wfd)
                elif self.fsync == "interval":
                    now = time.monotonic()
                    if now - p.last_sync >= self.fsync_interval:
                        _fdatasync(p.wfd)
                        p.last_sync = now
                    else:
                        p.dirty = True
            except BaseException:
                try:  # never leave a partial batch in front of future appends
                    os.ftruncate(p.wfd, pos)
                except OSError:
                    pass
                if intend is not None:
                    self.txn_index.forget(base, topic, p.num, n)
                raise
            # acknowledged from here on: bookkeeping first, then the (rebuildable) index
            entry_ts = seg.max_ts  # max timestamp of the batches before `pos`
            seg.size = pos + total
            if max_ts > entry_ts:
                seg.max_ts = max_ts
            p.next_offset = base + n
            if pos == 0 or pos - seg.last_idx_pos() >= self.index_interval_bytes:
                seg.idx_off.append(base)
                seg.idx_pos.append(pos)
                seg.idx_ts.append(entry_ts)
                try:
                    fd = os.open(seg.idx_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    try:
                        os.write(fd, _IDX.pack(base, pos, entry_ts))
                    finally:
                        os.close(fd)
                except OSError as e:  # the index is sparse and rebuilt on open: not fatal
                    _log.warning("%s: index write failed: %s", seg.idx_path, e)
            cfg = p.config
            if cfg.retention_ms >= 0 or cfg.retention_bytes >= 0:
                now = time.monotonic()
                if now - p.last_retention >= self.retention_check_interval:
                    p.last_retention = now
                    self._retain(p, cfg, self._clock())
        return range(base, base + n)

    def _roll(self, p: _Partition) -> None:
        """Close the active segment (sentinel index entry, fsync) and start a new one.

        On failure the partition keeps appending to the old segment."""
        old = p.active
        seg = _Segment(p.dir, p.next_offset)
        new_fd = os.open(seg.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fd = os.open(old.idx_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, _IDX.pack(p.next_offset, old.size, old.max_ts))
                if self._sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._sync:
                os.fsync(p.wfd)
                _fsync_dir(p.dir)
        except BaseException:
            os.close(new_fd)
            try:
                os.unlink(seg.log_path)
            except OSError:
                pass
            raise
        old.idx_off.append(p.next_offset)
        old.idx_pos.append(old.size)
        old.idx_ts.append(old.max_ts)
        os.close(p.wfd)
        p.wfd = new_fd
        p.dirty = False
        p.segs.append(seg)
        p.bases.append(seg.base)
        cfg = p.config
        if cfg.retention_ms >= 0 or cfg.retention_bytes >= 0:
            p.last_retention = time.monotonic()
            self._retain(p, cfg, self._clock())

    # ================================================================ read

    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        """Records as the Log contract says; of a partition Kafka transactions wrote into, only the
        committed ones, up to the last stable offset (read_raw has them all)."""
        if self.txn_index.active(topic, partition):
            return self._read_committed(topic, partition, offset, max_records, columns=False)
        out: list[Record] = []
        self._read(topic, partition, offset, max_records, _decode_records, out)
        return out

    def read_batch(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> RecordBatch:
        """read() as columns."""
        if self.txn_index.active(topic, partition):
            return self._read_committed(topic, partition, offset, max_records, columns=True)
        out = RecordBatch([], [], [], [], range(0), partition)
        self._read(topic, partition, offset, max_records, _decode_columns, out)
        return out

    def _read_committed(self, topic: str, partition: int, offset: int, max_records: int, columns: bool):
        """Records below the last stable offset, without aborted records and markers. Reads on
        past hidden records so a reader is never handed nothing while committed records follow."""
        stop = self.txn_index.stable_end(topic, partition, self.end_offset(topic, partition))
        while True:
            count = min(max_records, stop - offset)
            if columns:
                raw = RecordBatch([], [], [], [], range(0), partition)
                if count > 0:
                    self._read(topic, partition, offset, count, _decode_columns, raw)
                offsets = raw.offsets
            else:
                raw = []
                if count > 0:
                    self._read(topic, partition, offset, count, _decode_records, raw)
                offsets = [r.offset for r in raw]
            if not offsets:
                return raw
            end = offsets[-1] + 1
            hidden = self.txn_index.hidden_ranges(topic, partition, offsets[0], end)
            if end > stop:  # markers take no part of the count: a read can pass the stable offset
                hidden = sorted([*hidden, (stop, end)])
            if not hidden:
                return raw
            keep = _visible(offsets, hidden)
            if keep:
                if len(keep) == len(offsets):
                    return raw
                if not columns:
                    return [raw[i] for i in keep]
                return RecordBatch([raw.keys[i] for i in keep], [raw.values[i] for i in keep],
                                   [raw.timestamps[i] for i in keep], [raw.headers[i] for i in keep],
                                   [offsets[i] for i in keep], partition)
            if end >= stop:
                return RecordBatch([], [], [], [], range(0), partition) if columns else []
            offset = end

    def read_raw(self, topic: str, partition: int, offset: int, max_bytes: int
                 ) -> list[tuple[int, bytes | RecordBatch]]:
        """The stored batches from the one holding `offset`, about max_bytes of them (at least one):
        (base offset, the Kafka batch as stored) for Kafka batches, (first offset, its records from
        `offset` on) for the others. What a Kafka fetch serves."""
        out = _RawBatches()
        self._read(topic, partition, offset, max_bytes, None, out)
        return out.batches

    def read_undecoded(self, topic: str, partition: int, offset: int, max_records: int = 1000
                       ) -> UndecodedBatch | RecordBatch:
        if self.txn_index.active(topic, partition):  # Kafka transactions: only committed records, decoded
            return self._read_committed(topic, partition, offset, max_records, columns=True)
        out = UndecodedBatch(partition)
        self._read(topic, partition, offset, max_records, _take_undecoded, out)
        return out

    def _read(self, topic: str, partition: int, offset: int, max_records: int, decode, out) -> None:
        """Decode the records at offsets >= `offset` (at most max_records) with `decode` into `out`;
        with decode None, collect the stored batches into `out` (a _RawBatches, max_records in bytes)."""
        p = self._part(topic, partition)
        with p.lock:
            self._check_open()
            if p.deleted:
                raise UnknownTopicError(f"unknown topic {topic!r} (deleted)")
            segs = p.segs
            if offset < segs[0].base:
                offset = segs[0].base
            if offset >= p.next_offset or max_records <= 0:
                return
            i = bisect.bisect_right(p.bases, offset) - 1
            limit = max_records
            resume = None  # file position in segs[i] of the batch after a resumed one
            cursor = p.cursors.pop(offset, None) if p.cursors and decode is not None else None
            if cursor is not None and cursor[0] is segs[i]:  # (else retention dropped its segment)
                seg, buf, pos, end, resume = cursor
                limit, pos, offset = decode(buf, pos, end, offset, offset, limit, p.num, out)
                if pos < end:
                    _remember(p, offset, (seg, buf, pos, end, resume))
                    return
            nseg = len(segs)
            while i < nseg and limit > 0:
                seg = segs[i]
                end = segs[i + 1].base if i + 1 < nseg else p.next_offset
                if offset < end:
                    limit = self._read_segment(p, seg, i == nseg - 1, offset, limit, decode, out, resume)
                resume = None
                offset = end
                i += 1

    def _read_segment(
        self, p: _Partition, seg: _Segment, active: bool, offset: int, limit: int, decode, out,
        pos: int | None = None,
    ) -> int:
        """Decode from the batch at file position `pos` (default: found with the index), whose
        first offset is `offset`. Damaged bytes found at open are skipped (seg.holes); a batch
        damaged since is reported and skipped the same way (_skip_damage)."""
        if pos is None:
            j = bisect.bisect_right(seg.idx_off, offset) - 1
            pos, expected = (seg.idx_pos[j], seg.idx_off[j]) if j >= 0 else (0, seg.base)
        else:
            expected = offset
        size = seg.size
        holes = seg.holes
        if active:
            fd = p.wfd
        else:
            fd = self._acquire_fd(seg)
        try:
            buf = b""
            bstart = pos
            partition = p.num
            while pos < size and limit > 0:
                if holes and pos in holes:
                    pos, expected = holes[pos]
                    continue
                rel = pos - bstart
                if len(buf) - rel < _HDR_SIZE:
                    buf = os.pread(fd, min(_READ_CHUNK, size - pos), pos)
                    bstart, rel = pos, 0
                    if len(buf) < _HDR_SIZE:
                        pos, expected = self._skip_damage(p, seg, pos, expected, "batch header cut short")
                        continue
                length, crc, base, raw_count, _ = _HDR.unpack_from(buf, rel)
                count = raw_count & _COUNT
                total = 4 + length
                if base + count <= offset:
                    pos += total
                    expected = base + count
                    continue
                if len(buf) - rel < total:
                    buf = os.pread(fd, min(max(_READ_CHUNK, total), size - pos), pos)
                    bstart, rel = pos, 0
                    if len(buf) < total:
                        pos, expected = self._skip_damage(p, seg, pos, expected, f"bad batch length {length}")
                        continue
                if zlib.crc32(memoryview(buf)[rel + 8 : rel + total]) != crc:
                    pos, expected = self._skip_damage(p, seg, pos, expected, "CRC mismatch")
                    continue
                start, end = rel + _HDR_SIZE, rel + total
                kafka = raw_count & KAFKA_BATCH
                if decode is None:  # read_raw: the stored batches themselves
                    limit -= out.add(buf, start, end, base, count, kafka, offset, partition)
                    pos += total
                    expected = base + count
                    continue
                batch_buf = buf
                if kafka and kafka_batch.is_control(buf, start):  # a transaction marker: no record
                    pos += total
                    expected = base + count
                    continue
                if kafka:  # the engine reads records: the Kafka batch's, in this log's own format
                    try:
                        batch_buf = _native_payload(buf[start:end])
                    except kafka_batch.KafkaBatchError as e:
                        pos, expected = self._skip_damage(p, seg, pos, expected, f"Kafka batch: {e}")
                        continue
                    start, end = 0, len(batch_buf)
                if decode is _take_undecoded and base >= offset and count <= limit:  # all of it, unread
                    out.runs.append((batch_buf[start:end], base))
                    out.count += count
                    limit, stop, next_offset = limit - count, end, base + count
                else:
                    limit, stop, next_offset = decode(batch_buf, start, end, base, offset, limit, partition, out)
                pos += total
                expected = base + count
                if stop < end:  # the limit was reached inside this batch
                    _remember(p, next_offset, (seg, batch_buf, stop, end, pos))
        finally:
            if not active:
                self._release_fd(seg)
        return limit

    def start_offset(self, topic: str, partition: int) -> int:
        p = self._part(topic, partition)
        with p.lock:
            return p.segs[0].base

    def _end_or_none(self, topic: str, partition: int) -> int | None:
        """The end offset of a partition, None if it does not exist (at open)."""
        t = self._topics.get(topic)
        return t.parts[partition].next_offset if t is not None and 0 <= partition < len(t.parts) else None

    def end_offset(self, topic: str, partition: int) -> int:
        p = self._part(topic, partition)
        with p.lock:
            return p.next_offset

    # ================================================================ retention

    def enforce_retention(self, now_ms: int | None = None) -> None:
        """Apply retention to every partition now (also runs on segment roll and, at most every
        `retention_check_interval_ms`, on append)."""
        now = self._clock() if now_ms is None else now_ms
        with self._meta_lock:
            topics = list(self._topics.values())
        for t in topics:
            cfg = t.config
            if cfg.retention_ms < 0 and cfg.retention_bytes < 0:
                continue
            for p in t.parts:
                with p.lock:
                    if not p.deleted:
                        self._retain(p, cfg, now)

    def _retain(self, p: _Partition, cfg: TopicConfig, now_ms: int) -> None:
        """Delete whole closed segments: the oldest while their newest record is older than
        now - retention_ms, then the oldest while the partition exceeds retention_bytes.
        The active segment is never deleted. Caller holds p.lock."""
        segs = p.segs
        drop = 0
        if cfg.retention_ms >= 0:
            cutoff = now_ms - cfg.retention_ms
            while drop < len(segs) - 1 and segs[drop].max_ts < cutoff:
                drop += 1
        if cfg.retention_bytes >= 0:
            total = sum(s.size for s in segs[drop:])
            while drop < len(segs) - 1 and total > cfg.retention_bytes:
                total -= segs[drop].size
                drop += 1
        if not drop:
            return
        for seg in segs[:drop]:
            self._forget_fd(seg)
            for path in (seg.log_path, seg.idx_path, seg.marker_path):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        del segs[:drop]
        p.bases = [s.base for s in segs]
        if self._sync:
            _fsync_dir(p.dir)

    # ================================================================ compaction

    def compact(self, now_ms: int | None = None, force: bool = False) -> int:
        """Compact the closed segments of every topic whose cleanup_policy includes compact; returns
        the number of records removed. Runs in the background every `cleaner_interval_ms` on the
        partitions whose not-yet-compacted closed segments make up at least
        `min_cleanable_dirty_ratio` of their closed bytes (`force`: every partition)."""
        now = self._clock() if now_ms is None else now_ms
        removed = 0
        with self._cleaner_lock:
            with self._meta_lock:
                parts = [(t.name, p) for t in self._topics.values() if t.config.compacted for p in t.parts]
            for topic, p in parts:
                if self._stop.is_set():
                    break
                removed += self._compact_partition(topic, p, now, force)
        return removed

    def _clean_loop(self) -> None:
        while not self._stop.wait(self.cleaner_interval):
            try:
                self.compact()
            except Exception as e:  # keep cleaning; the segments are left as they were
                _log.warning("log compaction failed: %s", e)

    def _compact_partition(self, topic: str, p: _Partition, now_ms: int, force: bool) -> int:
        """Keep, in the closed segments, the record of each key with the highest offset among them.

        The active segment is left alone (as Kafka's cleaner does), so a key's latest record in a
        closed segment stays even when the active segment has a newer one. Records keep their
        offsets: a compacted segment is rewritten as batches of consecutive offsets and marked
        sparse (its `.compacted` file) so that the gaps are not taken for damage. Tombstones go
        once their segment is older than delete_retention_ms; records without a key are kept.
        Closed segments never change, so they are read without the partition's lock; each one
        is swapped for its compacted copy under it."""
        with p.lock:
            if p.deleted or self._closed or len(p.segs) < 2:
                return 0
            closed = p.segs[:-1]
            end = p.segs[-1].base
        total = sum(seg.size for seg in closed)
        dirty = sum(seg.size for seg in closed if seg.base >= p.cleaned_to)
        if total == 0 or not force and (p.cleaned_to >= end or dirty < self.min_cleanable_dirty_ratio * total):
            return 0
        latest: dict[bytes, int] = {}
        try:
            for seg in closed:
                for batch in self._segment_batches(seg):
                    for key, offset in zip(batch.keys, batch.offsets, strict=True):
                        if key is not None:
                            latest[key] = offset
        except _TransactionalData as why:  # markers and aborted data must stay where readers expect them
            _log.debug("not compacting %s-%d: %s", topic, p.num, why)
            return 0
        removed = 0
        horizon = now_ms - p.config.delete_retention_ms
        for seg in closed:
            if self._stop.is_set():
                return removed
            try:
                written_ms = int(os.stat(seg.log_path).st_mtime * 1000)
            except FileNotFoundError:  # deleted by retention meanwhile
                continue
            drop_tombstones = written_ms < horizon
            kept: list[RecordBatch] = []
            count = dropped = 0
            for batch in self._segment_batches(seg):
                keep = [i for i, (key, value, offset) in enumerate(zip(batch.keys, batch.values, batch.offsets,
                                                                      strict=True))
                        if key is None or (latest[key] == offset and (value is not None or not drop_tombstones))]
                count += len(batch)
                dropped += len(batch) - len(keep)
                if keep:
                    kept.append(_pick(batch, keep))
            if dropped and self._replace_segment(p, seg, kept, written_ms):
                removed += dropped
        p.cleaned_to = end
        return removed

    def _segment_batches(self, seg: _Segment) -> Iterator[RecordBatch]:
        """The intact batches of a closed segment (holes skipped), each as a RecordBatch."""
        try:
            f = open(seg.log_path, "rb")
        except FileNotFoundError:  # deleted by retention meanwhile
            return
        with f, _mapped(f, min(seg.size, os.fstat(f.fileno()).st_size)) as buf:
            size, pos = len(buf), 0
            while pos + _HDR_SIZE <= size:
                if pos in seg.holes:
                    pos = seg.holes[pos][0]
                    continue
                length, _, base, count, _ = _HDR.unpack_from(buf, pos)
                if length < 24 or pos + 4 + length > size:
                    return
                chunk = bytes(buf[pos : pos + 4 + length])
                if count & KAFKA_BATCH:  # as a Kafka producer sent it: its records, in this log's columns
                    raw = chunk[_HDR_SIZE:]
                    if kafka_batch.transaction_of(raw) is not None:
                        raise _TransactionalData(f"{seg.log_path} holds Kafka transactions")
                    out = kafka_batch.batch_records(raw)
                    out.offsets = range(base, base + (count & _COUNT))
                else:
                    out = RecordBatch([], [], [], [], range(0), 0)
                    _decode_columns(chunk, _HDR_SIZE, len(chunk), base, base, count, 0, out)
                yield out
                pos += 4 + length

    def _replace_segment(self, p: _Partition, seg: _Segment, kept: list[RecordBatch], written_ms: int) -> bool:
        """Write `kept` (batches of ascending offsets) as the segment's compacted copy and swap it in.

        The copy is written and fsynced beside the segment, the marker is made, then a rename
        replaces the segment: a crash leaves either segment whole (a stray copy is removed at open).
        False when the segment went away meanwhile (retention, topic deleted, log closed)."""
        new = _Segment(p.dir, seg.base)
        new.sparse = True
        tmp = seg.log_path + ".cleaned"
        parts: list[bytes] = []
        pos = 0
        for batch in kept:
            for run in _consecutive_runs(batch):
                payload, max_ts = _encode_columns(run)
                rest = _REST.pack(run.offsets[0], len(run), max_ts)
                head = _LC.pack(24 + len(payload), zlib.crc32(payload, zlib.crc32(rest))) + rest
                if not new.idx_pos or pos - new.idx_pos[-1] >= self.index_interval_bytes:
                    new.idx_off.append(run.offsets[0])
                    new.idx_pos.append(pos)
                    new.idx_ts.append(new.max_ts)
                parts += (head, payload)
                pos += len(head) + len(payload)
                new.max_ts = max(new.max_ts, max_ts)
        new.size = pos
        with p.lock:
            i = bisect.bisect_left(p.bases, seg.base)
            if p.deleted or self._closed or i >= len(p.segs) - 1 or p.segs[i] is not seg:
                return False
            limit = p.segs[i + 1].base
            new.idx_off.append(limit)
            new.idx_pos.append(new.size)
            new.idx_ts.append(new.max_ts)
            with open(tmp, "wb") as f:
                f.writelines(parts)
                if self._sync:
                    os.fsync(f.fileno())
            os.utime(tmp, ns=(written_ms * 1_000_000, written_ms * 1_000_000))
            if not seg.sparse:
                with open(seg.marker_path, "wb") as f:
                    if self._sync:
                        os.fsync(f.fileno())
            self._forget_fd(seg)
            os.replace(tmp, seg.log_path)
            with open(seg.idx_path, "wb") as f:
                f.write(b"".join(map(_IDX.pack, new.idx_off, new.idx_pos, new.idx_ts)))
            if self._sync:
                _fsync_dir(p.dir)
            p.segs[i] = new
            p.cursors.clear()
        return True

    # ================================================================ consumer groups

    def _group_path(self, group: str, seq: int) -> str:
        name = quote(group, safe="")
        if len(name) > 200:
            name = name[:100] + "-" + hashlib.sha1(group.encode("utf-8")).hexdigest()
        return os.path.join(self._groups_dir, f"{name}.{seq:020d}.json")

    def _write_group(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Write the group's next file, then drop the previous one (see the module docstring)."""
        seq, old = self._group_files.get(group, (-1, None))
        seq += 1
        path = self._group_path(group, seq)
        doc = {"group": group, "offsets": [[t, p, o] for (t, p), o in sorted(offsets.items())]}
        data = json.dumps(doc).encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
            if self._sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        os.close(fd)
        if self._sync:
            _fsync_dir(self._groups_dir)
        self._group_files[group] = (seq, path)
        if old is not None:
            try:
                os.unlink(old)
            except OSError as e:  # harmless: the newer file wins on open
                _log.warning("could not remove %s: %s", old, e)

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if not isinstance(group, str) or not group:
            raise ValueError(f"invalid consumer group {group!r}")
        for (topic, partition), off in offsets.items():
            self._part(topic, partition)
            if type(off) is not int or off < 0:
                raise ValueError(f"invalid offset {off!r} for {topic}-{partition}")
        with self._groups_lock:
            self._check_open()
            prev = self._groups.get(group)
            if prev is not None and all(prev.get(tp, -1) == off for tp, off in offsets.items()):
                return  # nothing changed: no file to write
            cur = dict(prev or {})
            cur.update(offsets)
            self._write_group(group, cur)
            self._groups[group] = cur

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        with self._groups_lock:
            g = self._groups.get(group)
            return None if g is None else g.get((topic, partition))

    def groups(self) -> list[str]:
        """The consumer groups with committed offsets, sorted."""
        with self._groups_lock:
            return sorted(self._groups)

    def group_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """Every offset committed for `group`, by (topic, partition)."""
        with self._groups_lock:
            return dict(self._groups.get(group) or {})

    def delete_group(self, group: str) -> bool:
        """Forget the group's committed offsets, durably; False if it had none."""
        with self._groups_lock:
            self._check_open()
            if group not in self._groups:
                return False
            _, path = self._group_files.pop(group)
            del self._groups[group]
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            if self._sync:
                _fsync_dir(self._groups_dir)
            return True

    # ================================================================ lifecycle

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval):
            try:
                self._sync_parts(only_dirty=True)
            except Exception as e:  # pragma: no cover - keep flushing
                _log.warning("background fsync failed: %s", e)

    def _sync_parts(self, only_dirty: bool) -> None:
        with self._meta_lock:
            parts = [p for t in self._topics.values() for p in t.parts]
        for p in parts:
            if only_dirty and not p.dirty:
                continue
            with p.lock:
                if p.wfd is not None and not p.deleted:
                    _fdatasync(p.wfd)
                    p.dirty = False
                    p.last_sync = time.monotonic()

    def sync(self) -> None:
        """fdatasync every partition's active segment (meaningful for fsync="interval"/"never")."""
        self._check_open()
        self._sync_parts(only_dirty=False)

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        for thread in (self._flusher, self._cleaner):
            if thread is not None and thread is not threading.current_thread():
                thread.join()
        with self._meta_lock:
            if self._closed:
                return
            if self.fsync == "interval":
                try:
                    self._sync_parts(only_dirty=True)
                except OSError as e:  # pragma: no cover
                    _log.warning("sync on close failed: %s", e)
            parts = [p for t in self._topics.values() for p in t.parts]
            for p in parts:
                p.lock.acquire()
            try:
                self._closed = True
                self._close_all_fds()
                for p in parts:
                    p.deleted = True
                self._topics.clear()
            finally:
                for p in parts:
                    p.lock.release()
            self.txn_index.close()
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)

    def __del__(self):  # pragma: no cover - best effort
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


__all__ = ["DamagedRange", "EmbeddedLog", "FSYNC_POLICIES", "LogError"]
