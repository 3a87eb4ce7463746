"""Black-box helpers for server tests: start `ksql-server` in a subprocess and talk to it over HTTP.

`ServerProcess` runs the real command (`python -m server`) on a free port with a
temporary data directory; tests see only its HTTP API, as a ksqlDB client would.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A ksql-server subprocess; `url` once `start()` returned.

    `listeners` replaces the default http://127.0.0.1:<free port>; the first one is `url`, and
    `verify` is how clients (and the start-up health check) verify an https:// one."""

    def __init__(self, data_dir: Path, properties: dict[str, str] | None = None,
                 port: int | None = None, extra_args: list[str] | None = None,
                 listeners: list[str] | None = None, verify: ssl.SSLContext | bool = True):
        self.data_dir = data_dir
        self.properties = properties or {}
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.listeners = listeners or [f"http://127.0.0.1:{self.port}"]
        self.verify = verify
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return self.listeners[0]

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [sys.executable, "-m", "server", "--listeners", ",".join(self.listeners),
                "--state-dir", str(self.data_dir),
                "--log-level", "warning", "--kafka-listener", "none", *self.extra_args]
        for name, value in self.properties.items():
            args += ["-D", f"{name}={value}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ksql-server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                # serving: 200, or 503 when a restored query is in ERROR (the health check says which)
                if httpx.get(self.url + "/healthcheck", timeout=1.0, verify=self.verify).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ksql-server did not start in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: a graceful stop."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 10.0), verify=self.verify, **kwargs)


def ksql(client: httpx.Client, sql: str, properties: dict | None = None) -> list[dict]:
    """POST /ksql and return the entities; fails the test on an error response."""
    response = client.post("/ksql", json={"ksql": sql, "streamsProperties": properties or {}})
    assert response.status_code == 200, response.text
    return response.json()


def wait_idle(client: httpx.Client, timeout: float = 60.0) -> None:
    """Wait until every persistent query has caught up with its input (no offset lag left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/clusterStatus").json()["clusterStatus"]
        lags = [q["offsetLag"] for host in status.values() for q in host["hostStoreLags"]["stateStoreLags"].values()]
        if not any(lags):
            return
        time.sleep(0.05)
    raise AssertionError(f"queries did not catch up: {status}")


def query_rows(client: httpx.Client, sql: str) -> list[list]:
    """The rows of a pull query (or a push query with LIMIT) answered on /query."""
    response = client.post("/query", json={"ksql": sql})
    assert response.status_code == 200, response.text[:500]
    return [m["row"]["columns"] for m in response.json() if "row" in m]


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def start_chromium(profile: Path, window: str = "1360,820"):
    """A headless Debian Chromium under Selenium; the test is skipped when either is missing."""
    import pytest

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium "
                    "chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (a dev dependency)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
