"""Kafka's FileStreamSource and FileStreamSink connectors, with their property names.

    FileStreamSource: file, topic, batch.size    one record per line (a STRING value, no key)
    FileStreamSink:   file, topics | topics.regex one line per record

The source's offset is the byte position after the last line it produced (source partition
{"filename": file}), so a restarted task goes on with the next line; a line is produced only once
its newline was written. The sink writes each value on a line of its own and fsyncs in flush(),
before the runtime commits the consumer offsets; see FileStreamSinkTask for how it writes each record
once across crashes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ksql.connect import data
from ksql.connect.api import (
    ConfigDef,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceConnector,
    SourceRecord,
    SourceTask,
)

_IDLE_WAIT_SECONDS = 0.1


class FileStreamSourceConnector(SourceConnector):
    """Reads a file line by line into a topic (one task)."""

    version = "3.7.0"

    def config(self) -> ConfigDef:
        return (ConfigDef()
                .define("file", documentation="Source filename.", importance="HIGH", required=True)
                .define("topic", "LIST", documentation="The topic to publish data to", importance="HIGH",
                        required=True)
                .define("batch.size", "INT", 2000, documentation="The maximum number of records the source "
                                                                 "task can read from the file each time it "
                                                                 "is polled", importance="LOW"))

    def start(self, config: Mapping[str, str]) -> None:
        self.props = dict(config)

    def task_class(self) -> type[FileStreamSourceTask]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [self.props]


class FileStreamSourceTask(SourceTask):
    def start(self, config: Mapping[str, str]) -> None:
        settings = FileStreamSourceConnector().config()
        self.filename = settings.get(config, "file")
        self.topic = settings.get(config, "topic")[0]
        self.batch_size = settings.get(config, "batch.size")
        self.partition = {"filename": self.filename}
        offset = self.context.offset(self.partition) if self.context is not None else None
        self.position = int((offset or {}).get("position", 0))

    def poll(self) -> list[SourceRecord]:
        try:
            with open(self.filename, "rb") as f:
                f.seek(self.position)
                chunk = f.read(1 << 20)
        except FileNotFoundError:
            time.sleep(_IDLE_WAIT_SECONDS)  # Kafka's task also waits for the file to appear
            return []
        records = []
        start = 0
        while len(records) < self.batch_size:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            line = chunk[start:end].rstrip(b"\r").decode("utf-8", "replace")
            start = end + 1
            records.append(SourceRecord(self.topic, None, None, None, data.primitive("string"), line,
                                        source_partition=self.partition,
                                        source_offset={"position": self.position + start}))
        self.position += start
        if not records:
            time.sleep(_IDLE_WAIT_SECONDS)
        return records

    def stop(self) -> None:
        """Nothing held between polls: the file is opened by each poll."""


class FileStreamSinkConnector(SinkConnector):
    """Writes a topic's values to a file, one line each (one task)."""

    version = "3.7.0"

    def config(self) -> ConfigDef:
        return ConfigDef().define("file", documentation="Destination filename.", importance="HIGH", required=True)

    def start(self, config: Mapping[str, str]) -> None:
        self.props = dict(config)

    def task_class(self) -> type[FileStreamSinkTask]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [self.props]


def _read_sink_checkpoint(path: str) -> tuple[int, dict[tuple[str, int], int]] | None:
    """(file length, offsets) of a FileStreamSink's last flush; None when there is none readable."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
        offsets = {(str(topic), int(partition)): int(offset) for topic, partition, offset in doc["offsets"]}
        return int(doc["length"]), offsets
    except (OSError, ValueError, KeyError, TypeError):
        return None


def line_of(value: Any) -> str:
    """A record value as a line: text as it is, structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return orjson.dumps(value, default=str).decode()


class FileStreamSinkTask(SinkTask):
    """Writes each record exactly once, across crashes: every flush() records, in `<file>.offsets`,
    the file's length and the offsets consumed up to it (written beside and renamed into place).
    A restarted task cuts what was written after that flush off the file and asks to consume from
    those offsets, whatever the consumer group committed (a crash can fall between the flush and
    the runtime's commit, which would otherwise write those records again)."""

    def start(self, config: Mapping[str, str]) -> None:
        path = config["file"]
        self.checkpoint = path + ".offsets"
        resume = _read_sink_checkpoint(self.checkpoint)
        if resume is not None and os.path.exists(path) and os.path.getsize(path) >= resume[0]:
            with open(path, "r+b") as f:
                f.truncate(resume[0])
            if self.context is not None:
                self.context.offset(resume[1])
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open until stop()

    def put(self, records: list[SinkRecord]) -> None:
        self.out.write("".join(f"{line_of(r.value)}\n" for r in records))

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.out.flush()
        os.fsync(self.out.fileno())
        doc = {"length": self.out.tell(), "offsets": [[topic, partition, offset]
                                                      for (topic, partition), offset in offsets.items()]}
        tmp = self.checkpoint + ".tmp"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(doc))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.checkpoint)

    def stop(self) -> None:
        self.out.close()
