"""Kafka's FileStreamSource and FileStreamSink connectors, with their property names.

    FileStreamSource: file, topic, batch.size    one record per line (a STRING value, no key)
    FileStreamSink:   file, topics | topics.regex one line per record

The source's offset is the byte position after the last line it produced (source partition
{"filename": file}), so a restarted task goes on with the next line; a line is produced only once
its newline was written. The sink writes each value on a line of its own and fsyncs in flush(),
before the runtime commits the consumer offsets.
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


def line_of(value: Any) -> str:
    """A record value as a line: text as it is, structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return orjson.dumps(value, default=str).decode()


class FileStreamSinkTask(SinkTask):
    def start(self, config: Mapping[str, str]) -> None:
        self.out = open(config["file"], "a", encoding="utf-8")  # noqa: SIM115 - open until stop()

    def put(self, records: list[SinkRecord]) -> None:
        self.out.write("".join(f"{line_of(r.value)}\n" for r in records))

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.out.flush()
        os.fsync(self.out.fileno())

    def stop(self) -> None:
        self.out.close()
