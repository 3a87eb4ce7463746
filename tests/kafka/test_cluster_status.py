"""/clusterStatus on Kafka lists every server sharing the service id, and only those."""

from __future__ import annotations

import time

import httpx

from tests.server.harness import ServerProcess


def _server(tmp_path, name: str, bootstrap: str, service_id: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, {"ksql.server.heartbeat.interval.ms": "200"},
                         extra_args=["--bootstrap-servers", bootstrap, "--service-id", service_id])


def test_cluster_status_lists_the_servers_sharing_the_service_id(kafka_bootstrap, unique, tmp_path) -> None:
    a = _server(tmp_path, "a", kafka_bootstrap, f"status{unique}_").start(60)
    b = _server(tmp_path, "b", kafka_bootstrap, f"status{unique}_").start(60)
    other = _server(tmp_path, "other", kafka_bootstrap, f"other{unique}_").start(60)
    try:
        expected = {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = httpx.get(a.url + "/clusterStatus", timeout=10).json()["clusterStatus"]
            if set(status) == expected:
                break
            time.sleep(0.2)
        assert set(status) == expected
        assert all(host["hostAlive"] for host in status.values())
        assert set(httpx.get(other.url + "/clusterStatus", timeout=10).json()["clusterStatus"]) == {
            f"127.0.0.1:{other.port}"}
        b.kill()  # a dead server is still listed, as not alive
        while time.monotonic() < deadline + 30:
            status = httpx.get(a.url + "/clusterStatus", timeout=10).json()["clusterStatus"]
            if not status[f"127.0.0.1:{b.port}"]["hostAlive"]:
                break
            time.sleep(0.2)
        assert status[f"127.0.0.1:{b.port}"]["hostAlive"] is False
        assert status[f"127.0.0.1:{a.port}"]["hostAlive"] is True
    finally:
        for server in (a, b, other):
            server.kill()
