"""A ksql-server with its Kafka listener on a free port, shared by a test module, and kcat."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.harness import ServerProcess, free_port


@dataclass
class KafkaServer:
    process: ServerProcess
    bootstrap: str

    @property
    def url(self) -> str:
        return self.process.url

    def client(self) -> httpx.Client:
        return self.process.client()


def start_kafka_server(data_dir: Path, properties: dict[str, str] | None = None) -> KafkaServer:
    port = free_port()
    process = ServerProcess(data_dir, properties=properties,
                            extra_args=["--kafka-listener", f"127.0.0.1:{port}"]).start()
    return KafkaServer(process, f"127.0.0.1:{port}")


@pytest.fixture(scope="module")
def kafka_server(tmp_path_factory) -> Iterator[KafkaServer]:
    server = start_kafka_server(tmp_path_factory.mktemp("kafka") / "data")
    yield server
    server.process.terminate()


@pytest.fixture(scope="module")
def kcat(kafka_server: KafkaServer):
    """kcat(args, input=None) -> CompletedProcess against the module's server; skips without kcat."""
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.skip("kcat is not installed (Debian package kcat)")

    def run(args: list[str], input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([path, "-b", kafka_server.bootstrap, *args], input=input, capture_output=True,
                              text=True, timeout=timeout)

    return run
