"""Connectors on a Kafka cluster of two servers: one runs the tasks, the other takes over when it dies.

Both servers follow the command topic, so both know the connector; only the owner of the connect
leader group's partition runs its tasks (no record twice from two servers). When that server is
killed the other resumes from the committed source offsets: every record comes (at least once,
as on Kafka without transactions).
"""

from __future__ import annotations

import time

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.server.harness import ServerProcess, ksql

TOTAL = 3000


def _server(tmp_path, name: str, bootstrap: str, service_id: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, extra_args=["--bootstrap-servers", bootstrap, "--service-id", service_id])


def _task_states(server: ServerProcess, name: str) -> list[str]:
    response = httpx.get(f"{server.url}/connectors/{name}/status", timeout=10)
    return [t["state"] for t in response.json().get("tasks", [])] if response.status_code == 200 else []


def _order_ids(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])  # the runtime creates one partition
    ids: list[int] = []
    idle_until = time.monotonic() + 5
    while time.monotonic() < idle_until:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        ids.append(int(message.key()))
        idle_until = time.monotonic() + 2
    consumer.close()
    return ids


def test_one_server_runs_the_tasks_and_the_other_takes_over(kafka_bootstrap, unique, tmp_path):
    service_id = f"connect{unique}_"
    topic = f"gen-{unique}"
    a = _server(tmp_path, "a", kafka_bootstrap, service_id).start(60)
    b = _server(tmp_path, "b", kafka_bootstrap, service_id).start(60)
    try:
        with a.client(timeout=60) as client:
            ksql(client, f"CREATE SOURCE CONNECTOR GEN WITH ('connector.class'='DatagenConnector', "
                         f"'quickstart'='orders', 'kafka.topic'='{topic}', 'iterations'='{TOTAL}', "
                         f"'messages.per.second'='500');")
        deadline = time.monotonic() + 60
        states: tuple[list[str], list[str]] = ([], [])
        while time.monotonic() < deadline:
            states = (_task_states(a, "GEN"), _task_states(b, "GEN"))
            if sorted(s for side in states for s in side) == ["RUNNING"]:
                break
            time.sleep(0.2)
        assert sorted(s for side in states for s in side) == ["RUNNING"], states  # one server runs it
        leader, follower = (a, b) if states[0] == ["RUNNING"] else (b, a)
        time.sleep(1)
        leader.kill()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _task_states(follower, "GEN") != ["RUNNING"]:
            time.sleep(0.5)
        assert _task_states(follower, "GEN") == ["RUNNING"], follower.output()
        deadline = time.monotonic() + 60
        ids: list[int] = []
        while time.monotonic() < deadline:
            ids = _order_ids(kafka_bootstrap, topic)
            if set(ids) == set(range(TOTAL)):
                break
            time.sleep(1)
        assert set(ids) == set(range(TOTAL))
    finally:
        a.kill()
        b.kill()
