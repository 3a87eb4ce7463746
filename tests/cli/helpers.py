"""Helpers for the `ksql` CLI tests: a real `ksql-server` subprocess, and the CLI in a pseudo-terminal."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pexpect

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `ksql-server` subprocess serving at `url`."""

    def __init__(self, data_dir: Path, properties: dict[str, str], port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "server.log"
        args = [sys.executable, "-m", "server", "--listeners", self.url, "--state-dir", str(data_dir),
                "--log-level", "warning", "--kafka-listener", "none"]
        for name, value in properties.items():
            args += ["-D", f"{name}={value}"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ksql-server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthcheck", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"ksql-server did not start in {STARTUP_SECONDS}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def ksql(self, sql: str) -> list[dict]:
        response = httpx.post(self.url + "/ksql", json={"ksql": sql}, timeout=10.0)
        assert response.status_code == 200, response.text
        return response.json()


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


def plain(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return ANSI.sub("", text)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KSQL_", "NO_COLOR"))}
    env.update(HOME=str(home), KSQL_HISTORY_FILE=str(home / "history"), TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1", PYTHONUNBUFFERED="1", **extra)
    return env


def cli_command() -> list[str]:
    return [sys.executable, "-m", "cli"]


class Repl:
    """The CLI in a pseudo-terminal: send keys, expect output."""

    # a new prompt: prompt_toolkit turns bracketed paste on, then draws "ksql>" (redraws of the line
    # being edited also show "ksql>", without that)
    PROMPT = r"\x1b\[\?2004h[^\n]*?ksql>"

    def __init__(self, args: list[str], home: Path, timeout: float = 15.0):
        command = cli_command()
        self.child = pexpect.spawn(command[0], command[1:] + args, cwd=str(REPO), env=cli_env(home),
                                   encoding="utf-8", timeout=timeout, dimensions=(50, 160))
        self.child.delaybeforesend = None

    def expect(self, pattern, timeout: float | None = None) -> str:
        """Wait for `pattern` (a regex or a list of them); the text before it is returned."""
        self.child.expect(pattern, timeout=timeout if timeout is not None else -1)
        return self.child.before

    def prompt(self) -> str:
        return self.expect(self.PROMPT)

    def line(self, text: str) -> None:
        """Type `text` and press Enter."""
        self.child.send(text + "\r")

    def run(self, text: str) -> str:
        """Type a statement, press Enter, and return what was printed up to the next prompt (plain text)."""
        self.line(text)
        return plain(self.prompt())

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
